"""The sparse family (``model.type: sparse``): real tiny SPLADE trainings from pair, qa and triplet data.

The model is the tiny BERT with a randomly initialised masked-LM head (``tiny_mlm_dir``): its SPLADE
vectors have the tokenizer's 30522 dimensions. Everything the embedding family's run does is checked
again here: evaluation report, card, metrics, checkpoints and resume, early stopping, Hub push.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pytest
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sparse_encoder import SparseEncoder, SparseEncoderTrainingArguments
from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss
from sentence_transformers.sparse_encoder.modules import SpladePooling

from stjob.api import SentenceTransformerJob
from stjob.api.spec import ModelSpec
from stjob.errors import ConfigError
from stjob_trainer.callbacks import LOSS_HEAD_FILE, loss_head_state
from stjob_trainer.evaluation_report import CARD_HEADING
from stjob_trainer.families import family_of
from stjob_trainer.metrics_log import read_metrics
from stjob_trainer.run import run_job
from stjob_trainer.signals import StopFlag, TrainingInterrupted
from stjob_trainer.sparse import (
    DOCUMENT_REGULARIZER_WEIGHT,
    FAMILY,
    QUERY_REGULARIZER_WEIGHT,
    build_sparse_loss,
    load_sparse_model,
)
from stjob_trainer.training_args import build_training_args
from tests.support.mlm_checkpoints import build_minilm_mlm
from tests.trainer.family_checks import (
    EARLY_STOPPING_TRAINING,
    StopAfter,
    assert_pushed,
    assert_stopped_early_keeping_the_best,
    fake_hub,
)
from tests.trainer.jobs import make_job, write_dataset

PRIMARY = {"pair": "dot_ndcg@10", "qa": "dot_ndcg@10", "triplet": "dot_accuracy"}
#: The tokenizer's vocabulary: a SPLADE vector has one dimension per token.
VOCABULARY = 30522


def sparse_job(trainer: str, data_dir: Path, model_dir: Path, **overrides: Any) -> SentenceTransformerJob:
    """:func:`make_job` with ``model.type: sparse``."""
    model_overrides = overrides.pop("model", {})
    return make_job(trainer, data_dir, model_dir, model={"type": "sparse", **model_overrides}, **overrides)


@pytest.mark.parametrize("trainer", ["pair", "qa", "triplet"])
def test_each_shape_trains_evaluates_and_saves(
    trainer: str, tmp_path: Path, tiny_mlm_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = sparse_job(trainer, dataset_dir(trainer), tiny_mlm_dir)
    assert job.spec.loss_name == "SpladeLoss"
    result = run_job(job, output_dir=tmp_path)

    assert result.primary_metric == PRIMARY[trainer]
    assert result.global_step == 6  # 96 rows / batch 16, one epoch
    model = SparseEncoder(str(result.model_path), device="cpu")
    assert model.max_seq_length == 64
    assert any(isinstance(m, SpladePooling) for m in model)
    embedding = model.encode(["what is the capital of france"], convert_to_tensor=True)
    assert embedding.shape[-1] == VOCABULARY

    summary = json.loads((result.run_dir / "result.json").read_text())
    assert summary["outcome"] == "Succeeded" and summary["loss"] == "SpladeLoss"
    assert summary["metrics"]["primaryMetric"] == PRIMARY[trainer]
    assert isinstance(summary["metrics"]["baseline"], float)
    # The report compares the base model and the trained one, sparsity included.
    report = summary["evaluation"]["metrics"]
    primary = report[PRIMARY[trainer]]
    assert primary["delta"] == pytest.approx(primary["final"] - primary["baseline"])
    sparsity = ("query_active_dims", "corpus_active_dims") if trainer != "triplet" else ("active_dims",)
    for metric in sparsity:
        assert any(name.endswith(metric) for name in report), (metric, sorted(report))
    if trainer != "triplet":
        assert "dot_mrr@10" in report

    card = (result.model_path / "README.md").read_text(encoding="utf-8")
    assert "SparseEncoder" in card
    assert CARD_HEADING in card and f"| **{PRIMARY[trainer]}** | {primary['baseline']:.4f} |" in card

    events = read_metrics(result.metrics_path)
    assert events[0]["baseline"] is True and events[0]["step"] == 0
    assert any(f"eval_{PRIMARY[trainer]}" in e and e["step"] == 6 for e in events)
    # sentence-transformers ramps the FLOPS regulariser weights up during training and logs them.
    weights = [e["document_regularizer_weight"] for e in events if "document_regularizer_weight" in e]
    assert weights and weights[-1] == pytest.approx(DOCUMENT_REGULARIZER_WEIGHT)


def test_the_loss_is_splade_over_in_batch_negatives_with_both_regularisers(tiny_mlm_dir: Path) -> None:
    model = load_sparse_model(ModelSpec(name=str(tiny_mlm_dir), max_seq_length=32), device="cpu")
    assert model.max_seq_length == 32
    loss: Any = build_sparse_loss(model)
    assert isinstance(loss, SpladeLoss) and isinstance(loss.loss, SparseMultipleNegativesRankingLoss)
    assert loss.document_regularizer_weight == DOCUMENT_REGULARIZER_WEIGHT
    assert loss.query_regularizer_weight == QUERY_REGULARIZER_WEIGHT
    # The loss reaches the model under four names; none of it is a "head" to save beside a checkpoint.
    assert loss_head_state(loss) == {}


def test_training_arguments_are_the_sparse_trainers_with_the_no_duplicates_sampler(
    tmp_path: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = sparse_job("pair", dataset_dir("pair"), tmp_path)
    family = family_of(job.spec)
    assert family is FAMILY and family.args_class is SparseEncoderTrainingArguments
    args = build_training_args(
        job.spec,
        output_dir=tmp_path,
        n_train=96,
        primary_metric="dot_ndcg@10",
        trackers=[],
        args_class=SparseEncoderTrainingArguments,
    )
    assert isinstance(args, SparseEncoderTrainingArguments)
    # In-batch negatives: a repeated text in a batch would be a false negative.
    assert args.batch_sampler == BatchSamplers.NO_DUPLICATES
    assert args.metric_for_best_model == "dot_ndcg@10"


def test_a_checkpoint_without_a_masked_lm_head_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.type sparse needs a checkpoint with a masked-LM head"):
        load_sparse_model(ModelSpec(name=str(tiny_model_dir)), device="cpu")


def test_hard_negatives_are_mined_by_the_named_embedding_model(
    tmp_path: Path, tiny_mlm_dir: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    mining = {"model": str(tiny_model_dir), "numNegatives": 1}
    job = sparse_job("qa", dataset_dir("qa"), tiny_mlm_dir, data={"validSplit": None, "hardNegatives": mining})
    result = run_job(job, output_dir=tmp_path)
    mined = datasets.load_from_disk(str(result.run_dir / "hard-negatives"))
    assert mined.column_names == ["query", "answer", "negative_1"]
    assert result.global_step > 0


def test_stop_saves_a_checkpoint_and_a_restart_resumes_from_it(
    tmp_path: Path, tiny_mlm_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = sparse_job("qa", dataset_dir("qa"), tiny_mlm_dir, training={"loggingSteps": 1})
    flag = StopFlag()
    with pytest.raises(TrainingInterrupted) as excinfo:
        run_job(job, output_dir=tmp_path, stop_flag=flag, callbacks=[StopAfter(flag, 3)])
    checkpoint = tmp_path / job.spec.output.project_name / "checkpoints" / "checkpoint-3"
    assert excinfo.value.checkpoint == str(checkpoint)
    assert (checkpoint / "trainer_state.json").is_file()
    # SpladeLoss holds the model itself (and its regularisers do): no second copy of it beside the weights.
    assert not (checkpoint / LOSS_HEAD_FILE).exists()

    result = run_job(job, output_dir=tmp_path)
    assert result.resumed_from == str(checkpoint)
    assert result.global_step == 6
    events = read_metrics(result.metrics_path)
    assert [e["step"] for e in events if "loss" in e] == [1, 2, 3, 4, 5, 6]
    # The regulariser ramp continues from the resumed step (its schedule is a function of the step).
    weights = [e["document_regularizer_weight"] for e in events if "loss" in e]
    assert weights == sorted(weights) and weights[-1] == pytest.approx(DOCUMENT_REGULARIZER_WEIGHT)
    assert result.evaluation is not None and result.evaluation.primary_comparison.baseline is not None


def test_early_stopping_and_best_model_use_the_primary_metric(
    tmp_path: Path, tiny_mlm_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = sparse_job(
        "pair",
        dataset_dir("pair"),
        tiny_mlm_dir,
        training=EARLY_STOPPING_TRAINING,
    )
    assert_stopped_early_keeping_the_best(run_job(job, output_dir=tmp_path), "dot_ndcg@10")


def test_hub_push_uploads_the_sparse_model(
    tmp_path: Path, tiny_mlm_dir: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    apis = fake_hub(monkeypatch, "hf_TESTsparseTOKEN1234567890")
    job = sparse_job(
        "qa",
        dataset_dir("qa"),
        tiny_mlm_dir,
        output={
            "projectName": "trec-splade",
            "hub": {"push": True, "username": "alice", "tokenSecretRef": {"name": "hf"}},
        },
    )
    result = run_job(job, output_dir=tmp_path)

    assert_pushed(result, apis, "alice/trec-splade")


@pytest.mark.slow
def test_minilm_with_a_tied_mlm_head_trains_as_a_sparse_encoder(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The slow tier: the bundled MiniLM's encoder under a BERT masked-LM head (tests/support/mlm_checkpoints)."""
    model_dir = build_minilm_mlm(tmp_path_factory.mktemp("minilm-mlm"))
    data = write_dataset(tmp_path / "data", "qa", n_train=32, n_valid=16)
    job = sparse_job("qa", data, model_dir, model={"maxSeqLength": 32})
    result = run_job(job, output_dir=tmp_path / "out")

    assert result.global_step == 2
    assert result.evaluation is not None
    ndcg = result.evaluation.metrics["dot_ndcg@10"]
    assert ndcg.baseline is not None and ndcg.final is not None
    model = SparseEncoder(str(result.model_path), device="cpu")
    assert model.encode(["who wrote the iron lady"], convert_to_tensor=True).shape[-1] == VOCABULARY
