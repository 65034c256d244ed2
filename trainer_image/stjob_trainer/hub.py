"""Push the final model to the Hugging Face Hub as ``{username}/{projectName}`` (private by default).

The token comes only from the environment (``HF_TOKEN``, filled from the Secret by the operator); it is
never logged, never written to disk and never put into the training arguments.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from stjob.api.contract import ENV_HF_TOKEN
from stjob.errors import ConfigError

logger = logging.getLogger(__name__)


def hub_repo_id(username: str, project_name: str) -> str:
    """The Hub repository the model goes to."""
    return f"{username}/{project_name}"


def hub_token() -> str:
    """The Hub token from the environment; ConfigError when a push was asked for without one."""
    token = os.environ.get(ENV_HF_TOKEN, "").strip()
    if not token:
        raise ConfigError(
            f"output.hub.push needs the Hub token in ${ENV_HF_TOKEN} (from output.hub.tokenSecretRef); it is not set"
        )
    return token


def _hf_api(token: str) -> Any:
    # Seam for tests: the upload is replaced there; everything else runs for real.
    from huggingface_hub import HfApi

    return HfApi(token=token)


def push_model(model_dir: Path, repo_id: str, *, private: bool, token: str) -> str:
    """Create the repository (if needed) and upload the model folder; returns the model's Hub URL."""
    api = _hf_api(token)
    logger.info("pushing %s to the Hub as %s (private=%s)", model_dir, repo_id, private)
    api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(model_dir),
        repo_type="model",
        commit_message="Upload model trained with stjob",
    )
    return f"https://huggingface.co/{repo_id}"
