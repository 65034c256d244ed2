"""The run's outcome for the operator and for people: the termination message and ``result.json``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Kubernetes reads at most 4096 bytes of a termination message.
MAX_TERMINATION_BYTES = 4096
DEFAULT_TERMINATION_LOG = Path("/dev/termination-log")


def termination_log_path() -> Path | None:
    """``$STJOB_TERMINATION_LOG``, else /dev/termination-log when it is writable, else None."""
    configured = os.environ.get("STJOB_TERMINATION_LOG")
    if configured:
        return Path(configured)
    if DEFAULT_TERMINATION_LOG.exists() and os.access(DEFAULT_TERMINATION_LOG, os.W_OK):
        return DEFAULT_TERMINATION_LOG
    return None


def termination_message(payload: dict[str, Any]) -> str:
    """JSON of ``payload`` within 4 KiB: the ``message`` is shortened first, then optional keys dropped."""
    data = {k: v for k, v in payload.items() if v is not None}
    text = json.dumps(data, ensure_ascii=False)
    if len(text.encode()) <= MAX_TERMINATION_BYTES:
        return text
    message = str(data.get("message", ""))
    overflow = len(text.encode()) - MAX_TERMINATION_BYTES
    if message:
        keep = max(0, len(message.encode()) - overflow - 8)
        data["message"] = message.encode()[:keep].decode(errors="ignore") + " …"
        text = json.dumps(data, ensure_ascii=False)
    for key in [k for k in data if k not in ("outcome", "reason", "message")]:
        if len(text.encode()) <= MAX_TERMINATION_BYTES:
            break
        del data[key]
        text = json.dumps(data, ensure_ascii=False)
    return text


def write_termination_message(payload: dict[str, Any], path: Path | None = None) -> None:
    """Write the outcome where Kubernetes picks it up; a failure to write is logged, never raised."""
    target = path or termination_log_path()
    if target is None:
        return
    if int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1 and _already_failed(target):
        # Several torchrun workers share the pod's one message: the first failure is the cause; what the
        # others say afterwards (Interrupted by torchrun's SIGTERM, a broken collective) is a consequence.
        return
    try:
        target.write_text(termination_message(payload), encoding="utf-8")
    except OSError as exc:
        logger.warning("cannot write the termination message to %s: %s", target, exc)


def _already_failed(path: Path) -> bool:
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(existing, dict) and existing.get("outcome") == "Failed"


def write_result(run_dir: Path, result: dict[str, Any]) -> Path:
    """``{run}/result.json``: the final summary (outcome, metrics, model path, hub URL, timings)."""
    path = run_dir / "result.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)  # readers never see a half-written file
    return path
