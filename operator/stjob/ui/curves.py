"""The job page's curves: the trainer's metrics history, from the run folder or from the pod's log.

A run folder (``stjob train``, or a cluster job's output volume mounted here) has ``metrics.jsonl``,
keyed by step. A cluster job's folder is usually out of reach; its pod log still has every logged
event, one Python dict per line as the Hugging Face Trainer prints it (``{'loss': '1.43', 'epoch':
0.5}``, values as text since transformers 5), keyed by epoch. ui.js draws either.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

from stjob.api.contract import RunLayout

#: Lines of the pod log read for its metric events (the page's log tail shows fewer).
LOG_METRICS_LINES = 5000
#: A metric line is short; longer lines are not parsed (a log line is user-controlled text).
_MAX_LINE = 4096


def read_metrics(runs_dir: Path | None, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The trainer's metrics.jsonl for a job's project under a local runs folder; [] when absent."""
    if runs_dir is None:
        return []
    output = (obj.get("spec") or {}).get("output") or {}
    project = output.get("projectName") or (obj.get("metadata") or {}).get("name", "")
    path = RunLayout.of(runs_dir, str(project)).metrics
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return records


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def log_records(text: str) -> list[dict[str, Any]]:
    """The Trainer's logged events in a pod log: dicts with a loss or an ``eval_*`` value, numbers as floats."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")) or len(line) > _MAX_LINE:
            continue
        try:
            parsed = ast.literal_eval(line)  # literals only: nothing in the line is executed
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if not isinstance(parsed, dict):
            continue
        numbers = {str(k): n for k, v in parsed.items() if (n := _number(v)) is not None}
        if "loss" in numbers or any(k.startswith("eval_") for k in numbers):
            records.append(numbers)
    return records
