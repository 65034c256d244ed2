"""Sparse (SPLADE) family: TREC-QA dev retrieval before/after `stjob train`, and samples/s vs a plain script.

Model (no masked-LM checkpoint ships offline; tests/support/mlm_checkpoints.py builds both): ``tiny``
(default), a random 2-layer BertForMaskedLM (hidden 128) with MiniLM's tokenizer, trained from scratch;
``minilm``, all-MiniLM-L6-v2's encoder with a BERT masked-LM head tied to its word embeddings (~20x the
cost per step: on 2 shared cores, 4 steps took 5 minutes). Data: TREC-QA train's positive (question,
answer) pairs (``qa``), the dev positives as validation split (never the test split).

1. Quality: `stjob train` with ``model.type: sparse`` and evaluation each epoch; the trainer's own report
   (SparseInformationRetrievalEvaluator: each dev question against the dev positives) gives NDCG@10,
   MRR@10 and the active dimensions of queries and documents, base model vs fine-tuned. Then both models
   against every distinct dev candidate (negatives included), the corpus of bench/quality.py's ``qa`` task.
2. Throughput: the same training without evaluation, `stjob train` vs ``bench/sparse.py --plain`` (a
   minimal SparseEncoder + SparseEncoderTrainer script, same loss, sampler and hyperparameters),
   interleaved; ratio of the Trainer's train_samples_per_second.

    nice -n 5 .venv/bin/python bench/sparse.py [--model tiny|minilm] [--epochs 4] [--threads 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREC = Path(os.environ.get("STJOB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "trecqa"
VENV_BIN = Path(sys.executable).parent
#: Shared by both sides of the throughput comparison (and the quality run).
BATCH, MAX_SEQ_LENGTH, SEED = 16, 64, 42
#: Learning rate per model: the tiny one learns from scratch, MiniLM's encoder is pre-trained.
LEARNING_RATES = {"tiny": 5e-4, "minilm": 1e-4}


def plain_main(argv: list[str]) -> None:
    """The baseline: what a user would write with sentence-transformers alone (prints one JSON line)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, required=True)
    args = parser.parse_args(argv)

    from datasets import load_dataset
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sparse_encoder import (
        SparseEncoder,
        SparseEncoderTrainer,
        SparseEncoderTrainingArguments,
    )
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    model = SparseEncoder(args.model, device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    train = load_dataset("csv", data_files=args.train, split="train")
    loss = SpladeLoss(
        model,
        loss=SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=3e-5,
        query_regularizer_weight=5e-5,
    )
    training_args = SparseEncoderTrainingArguments(
        output_dir=args.output,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=BATCH,
        learning_rate=args.lr,
        warmup_steps=0.1,
        seed=SEED,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SparseEncoderTrainer(model=model, args=training_args, train_dataset=train, loss=loss)
    result = trainer.train()
    model.save_pretrained(f"{args.output}/model")
    print(json.dumps({"samples_per_second": result.metrics["train_samples_per_second"]}))


def all_candidates_scores(model_path: Path) -> dict[str, float]:
    """NDCG@10 / MRR@10 of each dev question against every dev candidate (bench/quality.py's qa corpus)."""
    from quality import trecqa_groups
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

    corpus_ids: dict[str, str] = {}
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for qi, (question, candidates) in enumerate(trecqa_groups(TREC / "dev.csv").items()):
        ids = {answer: corpus_ids.setdefault(answer, f"d{len(corpus_ids)}") for answer, _ in candidates}
        positives = {ids[answer] for answer, label in candidates if label == 1}
        if positives:
            queries[f"q{qi}"], relevant[f"q{qi}"] = question, positives
    model = SparseEncoder(str(model_path), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    corpus = {cid: text for text, cid in corpus_ids.items()}
    scores = SparseInformationRetrievalEvaluator(queries, corpus, relevant, mrr_at_k=[10], ndcg_at_k=[10])(model)
    return {"ndcg@10": scores["dot_ndcg@10"], "mrr@10": scores["dot_mrr@10"], "corpus": len(corpus)}


def write_pairs(src: Path, dst: Path) -> int:
    """The positive (question, answer) pairs of a TREC-QA split."""
    with src.open(encoding="utf-8", newline="") as f:
        rows = [(r["qtext"], r["atext"]) for r in csv.DictReader(f) if r["label"] == "1"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("question", "answer"), *rows])
    return len(rows)


def job_yaml(model: Path, *, epochs: int, lr: float, evaluate: bool) -> str:
    valid = ", validSplit: valid" if evaluate else ""
    return (
        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: bench-sparse}\n"
        "spec:\n  trainer: qa\n"
        f"  model: {{type: sparse, name: '{model}', maxSeqLength: {MAX_SEQ_LENGTH}}}\n"
        f"  data: {{path: trecqa{valid}, columns: {{sentence1: question, sentence2: answer}}}}\n"
        f"  training: {{epochs: {epochs}, batchSize: {BATCH}, learningRate: {lr}, warmupRatio: 0.1, seed: {SEED}"
        + (", evalStrategy: epoch, earlyStopping: {enabled: false}" if evaluate else "")
        + "}\n  output: {projectName: bench-sparse}\n  resources: {gpus: 0}\n"
    )


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and stdout; exits with the tail of the output when the command fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.perf_counter() - t0, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=("tiny", "minilm"), default="tiny")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the quality run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="throughput rounds (stjob and plain each)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from tests.support.mlm_checkpoints import build_minilm_mlm, build_tiny_mlm

    work = Path(tempfile.mkdtemp(prefix="stjob-bench-sparse-"))
    lr = LEARNING_RATES[args.model]
    if args.model == "tiny":
        model = build_tiny_mlm(work / "tiny-mlm", hidden=128)
    else:
        model = build_minilm_mlm(work / "minilm-mlm")
    n_train = write_pairs(TREC / "train.csv", work / "trecqa" / "train.csv")
    n_valid = write_pairs(TREC / "dev.csv", work / "trecqa" / "valid.csv")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    print(f"TREC-QA: {n_train} training / {n_valid} dev pairs; {args.model}, lr {lr}, {args.threads} threads")

    if not args.skip_quality:
        job = work / "quality.yaml"
        job.write_text(job_yaml(model, epochs=args.epochs, lr=lr, evaluate=True), encoding="utf-8")
        wall, _ = run([str(VENV_BIN / "stjob"), "train", str(job), "--output-dir", str(work / "quality")], env)
        result = json.loads((work / "quality" / "bench-sparse" / "result.json").read_text())
        metrics = result["evaluation"]["metrics"]
        print(f"\nquality: {args.epochs} epoch(s), {result['globalStep']} steps, {wall:.0f} s wall")
        print("| metric (TREC-QA dev) | base model | fine-tuned | delta |\n|---|---|---|---|")
        for name in ("dot_ndcg@10", "dot_mrr@10", "dot_accuracy@1", "query_active_dims", "corpus_active_dims"):
            m = metrics[name]
            print(f"| {name} | {m['baseline']:.4f} | {m['final']:.4f} | {m['delta']:+.4f} |", flush=True)
        base, tuned = all_candidates_scores(model), all_candidates_scores(work / "quality" / "bench-sparse" / "model")
        for name in ("ndcg@10", "mrr@10"):
            print(
                f"| dot_{name}, all {base['corpus']:.0f} dev candidates | {base[name]:.4f} | {tuned[name]:.4f} | "
                f"{tuned[name] - base[name]:+.4f} |",
                flush=True,
            )

    if args.skip_throughput:
        return
    job = work / "throughput.yaml"
    job.write_text(job_yaml(model, epochs=1, lr=lr, evaluate=False), encoding="utf-8")
    results: dict[str, list[float]] = {"stjob": [], "plain": []}
    for i in range(args.repeats):
        for name in ("plain", "stjob") if i % 2 else ("stjob", "plain"):
            out = work / f"{name}-{i}"
            if name == "stjob":
                wall, _ = run([str(VENV_BIN / "stjob"), "train", str(job), "--output-dir", str(out)], env)
                result = json.loads((out / "bench-sparse" / "result.json").read_text())
                sps = float(result["metrics"]["trainSamplesPerSecond"])
            else:
                plain = [sys.executable, __file__, "--plain", "--model", str(model), "--output", str(out)]
                wall, stdout = run([*plain, "--lr", str(lr), "--train", str(work / "trecqa" / "train.csv")], env)
                sps = float(json.loads(stdout.strip().splitlines()[-1])["samples_per_second"])
            results[name].append(sps)
            print(f"round {i} {name:6s}: {sps:6.2f} samples/s (wall {wall:.0f} s)", flush=True)
    ratios = [s / p for s, p in zip(results["stjob"], results["plain"], strict=True)]
    print(
        f"\nthroughput: stjob {statistics.median(results['stjob']):.2f} samples/s, plain "
        f"{statistics.median(results['plain']):.2f}; stjob/plain per round {', '.join(f'{r:.3f}' for r in ratios)}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:
        plain_main(sys.argv[2:])
    else:
        main()
