"""Find the checkpoint to resume from: the newest complete one under ``{run}/checkpoints``, and only
when it was trained from the same spec and data (``stjob_fingerprint.json`` in that folder)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from stjob.api.contract import FINGERPRINT_FILE
from stjob.api.spec import SentenceTransformerJobSpec
from stjob.errors import ConfigError

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


# ------------------------------------------------------------------------------------------ fingerprint

#: The spec sections that decide what training does; output, resources, scheduling and the like do not.
FINGERPRINTED_SECTIONS = ("trainer", "model", "training", "loss")
FRESH_HINT = (
    "start fresh with `stjob train --fresh` (deletes these checkpoints), or use a new output.projectName, "
    "or delete the checkpoints folder"
)


class CheckpointMismatch(ConfigError):
    """The checkpoints to resume from were trained from another spec or other data."""


def data_fingerprint(splits: Sequence[datasets.Dataset | None], label_names: Sequence[str] | None) -> str:
    """A digest of the loaded rows (canonical columns, in order) and the label names."""
    digest = hashlib.sha256()
    for split in splits:
        digest.update(b"\x00split")
        if split is None:
            continue
        for column, values in split.to_dict().items():
            digest.update(json.dumps([column, values], ensure_ascii=False).encode())
    digest.update(json.dumps(list(label_names or ())).encode())
    return f"sha256:{digest.hexdigest()}"


def run_fingerprint(spec: SentenceTransformerJobSpec, data_digest: str) -> dict[str, Any]:
    """What a run trains from: the deciding spec sections (as the API stores them) and the data digest."""
    stored = spec.model_dump(by_alias=True, mode="json", include=set(FINGERPRINTED_SECTIONS))
    return {"spec": stored, "data": data_digest}


def _differences(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            change
            for key in sorted(set(old) | set(new), key=str)
            for change in _differences(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        ]
    return [] if old == new else [path or "spec"]


def check_resume(
    checkpoints_dir: Path, fingerprint: dict[str, Any], *, fresh: bool = False, discard: Sequence[Path] = ()
) -> Path | None:
    """The checkpoint to resume from, after making sure it was trained from ``fingerprint``.

    Raises :class:`CheckpointMismatch` (exit 3) naming what changed, instead of silently resuming a run
    that was trained from another spec or other data. ``fresh``: delete the folder's checkpoints (and
    the files in ``discard``, e.g. the old metrics log) and start from scratch. Records ``fingerprint``
    for the checkpoints this run will write.
    """
    record = checkpoints_dir / FINGERPRINT_FILE
    resume = find_resume_checkpoint(checkpoints_dir)
    if resume is not None and not fresh:
        try:
            recorded = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        if not isinstance(recorded, dict):
            raise CheckpointMismatch(
                f"{resume} records no spec/data fingerprint (an older trainer or a foreign folder), so resuming "
                f"could mix two runs; {FRESH_HINT}"
            )
        changed = _differences(recorded.get("spec"), fingerprint["spec"])
        if recorded.get("data") != fingerprint["data"]:
            changed.append("the data (its rows)")
        if changed:
            raise CheckpointMismatch(
                f"{resume} was trained from another spec or data (changed: {', '.join(changed)}); resuming would "
                f"mix two runs; {FRESH_HINT}"
            )
        return resume
    if fresh and checkpoints_dir.is_dir():
        for path in checkpoints_dir.iterdir():
            if checkpoint_step(path) is not None and path.is_dir():
                shutil.rmtree(path)
        for path in discard:
            path.unlink(missing_ok=True)
        if resume is not None:
            logger.warning("--fresh: deleted the checkpoints in %s; training from scratch", checkpoints_dir)
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(f".{os.getpid()}.tmp")  # every torchrun rank writes the same content
    tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(record)
    return None
