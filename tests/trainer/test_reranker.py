"""The reranker family (``model.type: reranker``): real tiny CrossEncoder trainings from every shape it takes.

The model is the tiny BERT (a plain encoder: the CrossEncoder puts a fresh classification head on it).
Everything the embedding family's run does is checked here too: evaluation report, card, metrics,
checkpoints and resume, early stopping, Hub push.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pytest
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.cross_encoder import losses as ce_losses

from stjob.api import SentenceTransformerJob
from stjob.api.shapes import FAMILY_SHAPES
from stjob.api.spec import ModelSpec
from stjob.errors import DataError
from stjob_trainer.evaluation_report import CARD_HEADING
from stjob_trainer.families import family_of
from stjob_trainer.metrics_log import read_metrics
from stjob_trainer.reranker import (
    VALIDATION_NEGATIVES,
    RerankerFamily,
    build_reranker_loss,
    labelled_rows,
    load_reranker,
    rerank_samples,
)
from stjob_trainer.run import run_job
from stjob_trainer.signals import StopFlag, TrainingInterrupted
from tests.support import shared_data
from tests.trainer.family_checks import (
    EARLY_STOPPING_TRAINING,
    StopAfter,
    assert_pushed,
    assert_stopped_early_keeping_the_best,
    fake_hub,
)
from tests.trainer.jobs import make_job

MINED = {"hardNegatives": {"numNegatives": 2}}


def reranker_job(trainer: str, folder: Path, model: Path, **overrides: Any) -> SentenceTransformerJob:
    """:func:`make_job` with ``model.type: reranker``."""
    model_overrides = overrides.pop("model", {})
    return make_job(trainer, folder, model, model={"type": "reranker", **model_overrides}, **overrides)


@pytest.fixture(scope="session")
def msrp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Binary pair_class data: MSRP paraphrase pairs, label 1 = paraphrase (96 train, 32 valid rows)."""
    folder = tmp_path_factory.mktemp("data-msrp")
    for name, source, n in (("train", "msrp/msr-para-train.tsv", 96), ("valid", "msrp/msr-para-val.tsv", 32)):
        with shared_data(source).open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:n]
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence1", "sentence2", "label"])
            writer.writerows([[r["#1 String"], r["#2 String"], r["Quality"]] for r in rows])
    return folder


# trainer, data folder ("msrp" or the shared per-shape one), loss, mined negatives, primary metric, steps
CASES = [
    ("pair_class", "msrp", "BinaryCrossEntropyLoss", False, "average_precision", 6),
    ("pair_class", "pair_class", "CrossEntropyLoss", False, "f1_macro", 6),
    ("pair_score", "pair_score", "BinaryCrossEntropyLoss", False, "spearman", 6),
    ("pair", "pair", "MultipleNegativesRankingLoss", False, "mrr@10", 6),
    ("qa", "qa", "MultipleNegativesRankingLoss", False, "mrr@10", 6),
    ("qa", "qa", "MultipleNegativesRankingLoss", True, "mrr@10", 6),
    ("qa", "qa", "BinaryCrossEntropyLoss", True, "mrr@10", 18),  # 96 pairs x (1 positive + 2 negatives)
    ("pair", "pair", "LambdaLoss", True, "mrr@10", 6),
    ("qa", "qa", "ListNetLoss", True, "mrr@10", 6),
]


def test_the_cases_cover_every_trainer_and_loss_of_the_family() -> None:
    rows = FAMILY_SHAPES["reranker"]
    assert {c[0] for c in CASES} == set(rows)
    assert {c[2] for c in CASES} == {loss for shape in rows.values() for loss in shape.losses}
    losses: dict[str, tuple[str, ...]] = {t: shape.losses for t, shape in rows.items()}
    assert all(c[2] in losses[c[0]] for c in CASES)  # pair and qa share their code path


@pytest.mark.parametrize(
    ("trainer", "data", "loss", "mined", "primary", "steps"), CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES]
)
def test_each_shape_and_loss_trains_evaluates_and_saves(
    trainer: str,
    data: str,
    loss: str,
    mined: bool,
    primary: str,
    steps: int,
    tmp_path: Path,
    tiny_bert_dir: Path,
    dataset_dir: Callable[[str], Path],
    msrp_dir: Path,
) -> None:
    folder = msrp_dir if data == "msrp" else dataset_dir(data)
    job = reranker_job(trainer, folder, tiny_bert_dir, loss={"name": loss}, data=MINED if mined else {})
    result = run_job(job, output_dir=tmp_path)

    assert result.primary_metric == primary
    assert result.global_step == steps
    model = CrossEncoder(str(result.model_path), device="cpu")
    assert model.num_labels == (3 if loss == "CrossEntropyLoss" else 1)
    assert model.max_seq_length == 64
    scores = model.predict([("what is the capital of france", "Paris is the capital of France.")])
    assert len(scores) == 1

    summary = json.loads((result.run_dir / "result.json").read_text())
    assert summary["outcome"] == "Succeeded" and summary["loss"] == loss
    assert summary["metrics"]["primaryMetric"] == primary
    assert isinstance(summary["metrics"]["baseline"], float)
    report = summary["evaluation"]["metrics"]
    assert report[primary]["delta"] == pytest.approx(report[primary]["final"] - report[primary]["baseline"])
    if primary == "mrr@10":
        assert "ndcg@10" in report and "map" in report

    card = (result.model_path / "README.md").read_text(encoding="utf-8")
    assert "CrossEncoder" in card
    assert CARD_HEADING in card and f"| **{primary}** | {report[primary]['baseline']:.4f} |" in card

    events = read_metrics(result.metrics_path)
    assert events[0]["baseline"] is True and events[0]["step"] == 0
    assert any(f"eval_{primary}" in e and e["step"] == steps for e in events)


def test_the_reranker_family_dispatches_to_cross_encoder_pieces(tiny_bert_dir: Path) -> None:
    job = reranker_job("qa", tiny_bert_dir, tiny_bert_dir)
    assert isinstance(family_of(job.spec), RerankerFamily)
    assert not isinstance(family_of(make_job("qa", tiny_bert_dir, tiny_bert_dir).spec), RerankerFamily)
    model = load_reranker(ModelSpec(name=str(tiny_bert_dir), max_seq_length=32), num_labels=1, device="cpu")
    assert model.max_seq_length == 32
    assert isinstance(
        build_reranker_loss("MultipleNegativesRankingLoss", model), ce_losses.MultipleNegativesRankingLoss
    )
    assert isinstance(build_reranker_loss("LambdaLoss", model), ce_losses.LambdaLoss)


def test_mined_rows_become_the_input_each_loss_reads() -> None:
    mined = datasets.Dataset.from_dict(
        {"query": ["q1", "q2"], "answer": ["a1", "a2"], "negative_1": ["n1", "n3"], "negative_2": ["n2", "n4"]}
    )
    assert labelled_rows(mined, "MultipleNegativesRankingLoss") is mined
    pairs = labelled_rows(mined, "BinaryCrossEntropyLoss")
    assert pairs.column_names == ["query", "document", "label"]
    assert pairs[:3] == {"query": ["q1"] * 3, "document": ["a1", "n1", "n2"], "label": [1.0, 0.0, 0.0]}
    lists = labelled_rows(mined, "ListNetLoss")
    assert lists[1] == {"query": "q2", "documents": ["a2", "n3", "n4"], "labels": [1, 0, 0]}


def test_validation_samples_hold_each_query_once_with_its_own_answers_as_positives() -> None:
    queries = ["q1", "q1", *(f"q{i}" for i in range(2, 30))]
    answers = ["a1", "a1b", *(f"a{i}" for i in range(2, 30))]
    samples = rerank_samples(queries, answers)
    assert len(samples) == 29
    first = samples[0]
    assert first["query"] == "q1" and first["positive"] == ["a1", "a1b"]
    assert len(first["negative"]) == VALIDATION_NEGATIVES and not set(first["negative"]) & {"a1", "a1b"}
    assert rerank_samples(queries, answers) == samples  # a fixed pick: every evaluation scores the same lists


def test_binary_cross_entropy_needs_probabilities(tmp_path: Path, tiny_bert_dir: Path) -> None:
    (tmp_path / "train.csv").write_text("sentence1,sentence2,score\na,b,4.5\nc,d,1.0\n", encoding="utf-8")
    job = reranker_job("pair_score", tmp_path, tiny_bert_dir, data={"validSplit": None})
    with pytest.raises(DataError, match=r"scores must lie in \[0, 1\] \(found 1 to 4\.5\)"):
        run_job(job, output_dir=tmp_path / "out")


def test_binary_cross_entropy_on_three_classes_points_to_cross_entropy(
    tmp_path: Path, tiny_bert_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = reranker_job("pair_class", dataset_dir("pair_class"), tiny_bert_dir)
    with pytest.raises(DataError, match="use CrossEntropyLoss"):
        run_job(job, output_dir=tmp_path)


def test_stop_saves_a_checkpoint_and_a_restart_resumes_from_it(
    tmp_path: Path, tiny_bert_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = reranker_job("pair_score", dataset_dir("pair_score"), tiny_bert_dir, training={"loggingSteps": 1})
    flag = StopFlag()
    with pytest.raises(TrainingInterrupted) as excinfo:
        run_job(job, output_dir=tmp_path, stop_flag=flag, callbacks=[StopAfter(flag, 3)])
    checkpoint = tmp_path / job.spec.output.project_name / "checkpoints" / "checkpoint-3"
    assert excinfo.value.checkpoint == str(checkpoint)
    assert (checkpoint / "trainer_state.json").is_file()

    result = run_job(job, output_dir=tmp_path)
    assert result.resumed_from == str(checkpoint)
    assert result.global_step == 6
    events = read_metrics(result.metrics_path)
    assert [e["step"] for e in events if "loss" in e] == [1, 2, 3, 4, 5, 6]
    assert result.evaluation is not None and result.evaluation.primary_comparison.baseline is not None


def test_early_stopping_and_best_model_use_the_primary_metric(
    tmp_path: Path, tiny_bert_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = reranker_job(
        "qa",
        dataset_dir("qa"),
        tiny_bert_dir,
        training=EARLY_STOPPING_TRAINING,
    )
    assert_stopped_early_keeping_the_best(run_job(job, output_dir=tmp_path), "mrr@10")


def test_hub_push_uploads_the_reranker(
    tmp_path: Path, tiny_bert_dir: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    apis = fake_hub(monkeypatch, "hf_TESTrerankerTOKEN123456789")
    job = reranker_job(
        "qa",
        dataset_dir("qa"),
        tiny_bert_dir,
        output={
            "projectName": "trec-reranker",
            "hub": {"push": True, "username": "alice", "tokenSecretRef": {"name": "hf"}},
        },
    )
    result = run_job(job, output_dir=tmp_path)

    assert_pushed(result, apis, "alice/trec-reranker")
