"""Find the checkpoint to resume from: the newest complete one under ``{run}/checkpoints``."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: The Trainer writes this last; a folder without it was cut off mid-save and cannot be resumed.
COMPLETE_MARKER = "trainer_state.json"


def is_complete(checkpoint: Path) -> bool:
    """Whether a checkpoint folder was saved to the end: its marker exists and is whole JSON.

    The Trainer writes the marker last but not atomically, so a kill during that write leaves a cut-off
    file; resuming from it would crash on every retry.
    """
    try:
        state = json.loads((checkpoint / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict)


def checkpoint_step(checkpoint: Path) -> int | None:
    """The global step in a ``checkpoint-{step}`` folder name, else None."""
    match = _CHECKPOINT.match(checkpoint.name)
    return int(match.group(1)) if match else None


def find_resume_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest complete checkpoint (by step), skipping incomplete ones; None when there is none."""
    if not checkpoints_dir.is_dir():
        return None
    candidates = sorted(
        ((step, path) for path in checkpoints_dir.iterdir() if (step := checkpoint_step(path)) is not None),
        reverse=True,
    )
    for _step, path in candidates:
        if path.is_dir() and is_complete(path):
            return path
        logger.warning("skipping incomplete checkpoint %s (no complete %s)", path, COMPLETE_MARKER)
    return None
