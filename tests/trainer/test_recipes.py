"""The trainer under ``training.recipe``: it runs what the recipe resolves for the data, and records it."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from stjob.api import SentenceTransformerJob
from stjob_trainer.run import run_job
from tests.support import shared_data
from tests.trainer.jobs import job_document


def msrp_folder(folder: Path, n_train: int = 48, n_valid: int = 16) -> Path:
    """Binary paraphrase labels (MSRP Quality 0/1): the pair_class case ``recommended`` tells apart."""
    for name, source, n in (("train", "msr-para-train.tsv", n_train), ("valid", "msr-para-val.tsv", n_valid)):
        with shared_data(f"msrp/{source}").open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:n]
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence1", "sentence2", "label"])
            writer.writerows([r["#1 String"], r["#2 String"], r["Quality"]] for r in rows)
    return folder


def recipe_job(data: Path, model: Path, loss: str | None = None, **training: Any) -> SentenceTransformerJob:
    doc = job_document("pair_class", data, model)
    doc["spec"]["training"] = {"recipe": "recommended", **training}  # nothing else explicit: the recipe decides
    if loss is not None:
        doc["spec"]["loss"] = {"name": loss}
    return SentenceTransformerJob.model_validate(doc)


def test_recommended_binary_pair_class_trains_contrastive_and_records_it(
    tmp_path: Path, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = recipe_job(msrp_folder(tmp_path / "data"), tiny_model_dir)
    with caplog.at_level(logging.INFO, logger="stjob_trainer.run"):
        result = run_job(job, output_dir=tmp_path / "out")

    assert result.primary_metric == "cosine_accuracy"  # the cosine-threshold evaluator of the binary loss
    assert result.global_step == 3  # 48 rows / the recipe's batch 16, the recipe's one epoch
    record = json.loads((result.run_dir / "result.json").read_text())
    assert record["loss"] == "OnlineContrastiveLoss"
    assert record["recipe"]["name"] == "recommended" and record["recipe"]["case"] == "binary labels"
    assert record["recipe"]["fields"]["loss.name"] == {"value": "OnlineContrastiveLoss", "from": "recipe"}
    assert record["recipe"]["fields"]["training.batchSize"] == {"value": 16, "from": "recipe"}
    card = (result.model_path / "README.md").read_text(encoding="utf-8")
    assert "## Training recipe (stjob)" in card and "loss.name: OnlineContrastiveLoss  (from the recipe)" in card
    assert "recipe recommended for pair_class (binary labels)" in caplog.text
    assert job.spec.training.batch_size is None  # the job itself is not changed


def test_an_explicit_field_beats_the_recipe_in_the_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    job = recipe_job(msrp_folder(tmp_path / "data"), tiny_model_dir, loss="SoftmaxLoss", batchSize=24)
    result = run_job(job, output_dir=tmp_path / "out")

    assert result.primary_metric == "accuracy"  # SoftmaxLoss's classifier accuracy
    assert result.global_step == 2  # 48 rows / the explicit batch 24
    fields = json.loads((result.run_dir / "result.json").read_text())["recipe"]["fields"]
    assert fields["loss.name"] == {"value": "SoftmaxLoss", "from": "spec"}
    assert fields["training.batchSize"] == {"value": 24, "from": "spec"}
    assert fields["training.epochs"] == {"value": 1, "from": "recipe"}
