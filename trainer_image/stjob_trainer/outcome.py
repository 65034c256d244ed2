"""The run's outcome for the operator and for people: the termination message and ``result.json``.

The message's shape, keys and 4 KiB limit are the operator/trainer wire (``stjob.api.contract``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from stjob.api import contract
from stjob.api.contract import TerminationMessage
from stjob_trainer.finite import json_safe
from stjob_trainer.world import current_world

logger = logging.getLogger(__name__)

DEFAULT_TERMINATION_LOG = Path(contract.TERMINATION_LOG)


def termination_log_path() -> Path | None:
    """The contract's termination log from the environment, else Kubernetes' default path when it is
    writable, else None (a laptop)."""
    configured = os.environ.get(contract.ENV_TERMINATION_LOG)
    if configured:
        return Path(configured)
    if DEFAULT_TERMINATION_LOG.exists() and os.access(DEFAULT_TERMINATION_LOG, os.W_OK):
        return DEFAULT_TERMINATION_LOG
    return None


def write_termination_message(message: TerminationMessage, path: Path | None = None) -> None:
    """Write the outcome where Kubernetes picks it up; a failure to write is logged, never raised."""
    target = path or termination_log_path()
    if target is None:
        return
    if current_world().local_size > 1 and _already_failed(target):
        # Several torchrun workers share the pod's one message: the first failure is the cause; what the
        # others say afterwards (Interrupted by torchrun's SIGTERM, a broken collective) is a consequence.
        return
    try:
        target.write_text(message.to_json(), encoding="utf-8")
    except OSError as exc:
        logger.warning("cannot write the termination message to %s: %s", target, exc)


def _already_failed(path: Path) -> bool:
    try:
        existing = TerminationMessage.parse(path.read_text(encoding="utf-8"))
    except OSError:
        return False
    return existing is not None and existing.outcome == "Failed"


def write_result(run_dir: Path, result: dict[str, Any]) -> Path:
    """``{run}/result.json``: the final summary (outcome, metrics, model path, hub URL, timings)."""
    path = run_dir / contract.RESULT_FILE
    tmp = path.with_suffix(".json.tmp")
    # NaN/Infinity (a constant validation set, a -inf "best") is no JSON: null plus a warning.
    safe = json_safe(result, what=str(path))
    tmp.write_text(json.dumps(safe, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # readers never see a half-written file
    return path
