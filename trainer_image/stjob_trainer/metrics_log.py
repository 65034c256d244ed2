"""``metrics.jsonl``: one JSON object per log or evaluation event, in the run folder (rank 0)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends ``{"time", "step", "epoch", ...logged values}`` lines; the file survives restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, step: int, epoch: float | None, values: dict[str, Any]) -> None:
        """One event; non-finite floats become null (JSON has no NaN)."""
        record: dict[str, Any] = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "step": step}
        record["epoch"] = round(epoch, 4) if epoch is not None else None
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            if isinstance(value, (int, float, str, bool)) or value is None:
                record[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All events of a run folder's metrics.jsonl (for tests and tools)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
