"""Run folders as ``stjob train`` leaves them, for the page's tests and its screenshot.

The shapes the trainer writes: ``result.json`` as ``run_job`` and ``_write_failed_result`` do,
``metrics.jsonl`` as ``MetricsLog``, the checkpoints' fingerprint as ``check_resume``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from stjob.api.contract import RunLayout

NOW = time.time()
EVENTS = [
    {"time": "2026-11-29T21:19:27+00:00", "step": 0, "epoch": 0.0, "baseline": True, "eval_spearman_cosine": 0.52},
    {"time": "2026-11-29T21:19:28+00:00", "step": 1, "epoch": 0.5, "loss": 4.53, "learning_rate": 0.0},
    {"time": "2026-11-29T21:19:28+00:00", "step": 2, "epoch": 1.0, "loss": 4.12, "learning_rate": 3e-05},
    {"time": "2026-11-29T21:19:29+00:00", "step": 2, "epoch": 1.0, "eval_loss": 4.38, "eval_spearman_cosine": 0.61},
]
SUCCEEDED = {
    "outcome": "Succeeded",
    "trainer": "pair_score",
    "loss": "CoSENTLoss",
    "baseModel": "sentence-transformers/all-MiniLM-L6-v2",
    "modelPath": "runs/sick/model",
    "hubUrl": None,
    "globalStep": 2,
    "epoch": 1.0,
    "metrics": {
        "baseline": 0.52,
        "best": 0.61,
        "lastEval": {"eval_loss": 4.38, "eval_spearman_cosine": 0.61},
        "primaryMetric": "spearman_cosine",
        "trainLoss": 4.3,
    },
    "evaluation": {
        "primaryMetric": "spearman_cosine",
        "metrics": {
            "spearman_cosine": {"baseline": 0.52, "final": 0.61, "delta": 0.09},
            "pearson_cosine": {"baseline": 0.45, "final": 0.55, "delta": 0.1},
        },
    },
    "timings": {"startedAt": "2026-11-29T21:19:27+00:00", "finishedAt": "2026-11-29T21:19:29+00:00", "seconds": 2.4},
}
FINGERPRINT = {
    "spec": {"trainer": "pair", "model": {"name": "tiny-bert"}, "training": {"epochs": 4}, "loss": {}},
    "data": "sha256:0",
}


def write_run(
    runs: Path,
    name: str,
    result: dict[str, Any] | None = None,
    events: list[dict[str, Any]] = EVENTS,
    fingerprint: dict[str, Any] | None = None,
    age_s: float = 0,
) -> RunLayout:
    layout = RunLayout.of(runs, name)
    layout.root.mkdir(parents=True)
    layout.metrics.write_text("".join(json.dumps(e) + "\n" for e in events))
    if result is not None:
        layout.result.write_text(json.dumps(result))
    if fingerprint is not None:
        layout.checkpoints.mkdir()
        layout.fingerprint.write_text(json.dumps(fingerprint))
    for path in (layout.metrics, layout.result):
        if path.exists():
            os.utime(path, (NOW - age_s, NOW - age_s))
    return layout
