"""The spec → SentenceTransformerTrainingArguments mapping, field by field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer import SentenceTransformerTrainingArguments

from stjob.errors import ConfigError
from stjob_trainer.training_args import auto_logging_steps, build_training_args, report_to
from tests.trainer.jobs import make_job


def _args(
    tmp_path: Path, trainer: str = "pair_score", n_train: int = 1000, primary: str | None = "m", **spec: object
) -> SentenceTransformerTrainingArguments:
    job = make_job(trainer, tmp_path, "unused-model", **spec)
    return build_training_args(
        job.spec,
        output_dir=tmp_path / "ckpt",
        n_train=n_train,
        primary_metric=primary,
        trackers=report_to(job.spec.tracking.log),
    )


def test_every_hyperparameter_is_mapped(tmp_path: Path) -> None:
    args = _args(
        tmp_path,
        training={
            "epochs": 4,
            "batchSize": 32,
            "learningRate": 2e-5,
            "warmupRatio": 0.2,
            "gradientAccumulation": 3,
            "optimizer": "adafactor",
            "scheduler": "cosine",
            "weightDecay": 0.01,
            "maxGradNorm": 0.5,
            "seed": 7,
            "loggingSteps": 13,
            "autoFindBatchSize": True,
            "mixedPrecision": "bf16",
            "saveTotalLimit": 3,
            "evalStrategy": "steps",
            "evalSteps": 50,
        },
        output={"projectName": "proj"},
    )
    assert args.output_dir == str(tmp_path / "ckpt")
    assert args.run_name == "proj"
    assert args.num_train_epochs == 4
    assert args.per_device_train_batch_size == 32
    assert args.per_device_eval_batch_size == 32
    assert args.learning_rate == 2e-5
    assert args.warmup_steps == pytest.approx(0.2)  # transformers 5: a float < 1 is the warm-up ratio
    assert args.gradient_accumulation_steps == 3
    assert args.optim == "adafactor"
    assert args.lr_scheduler_type == "cosine"
    assert args.weight_decay == 0.01
    assert args.max_grad_norm == 0.5
    assert args.seed == 7
    assert args.data_seed == 7
    assert args.logging_steps == 13
    assert args.auto_find_batch_size is True
    assert args.bf16 is True and args.fp16 is False
    assert args.save_total_limit == 3
    assert args.eval_strategy == "steps" and args.eval_steps == 50
    assert args.save_strategy == "steps" and args.save_steps == 50
    assert args.load_best_model_at_end is True
    assert args.metric_for_best_model == "m"
    assert args.greater_is_better is True
    assert args.use_cpu is True
    assert args.report_to == []
    assert args.push_to_hub is False and args.hub_token is None


def test_fp16_on_gpu_spec(tmp_path: Path) -> None:
    args = _args(tmp_path, training={"mixedPrecision": "fp16"}, resources={"gpus": 1})
    assert args.fp16 is True and args.bf16 is False
    assert args.use_cpu is False


def test_defaults_follow_autotrain(tmp_path: Path) -> None:
    job = make_job("pair_score", tmp_path, "m")
    spec = job.spec.model_copy(update={"training": type(job.spec.training)()})
    args = build_training_args(spec, output_dir=tmp_path, n_train=1000, primary_metric="m", trackers=[])
    assert args.num_train_epochs == 3 and args.per_device_train_batch_size == 8
    assert args.learning_rate == 3e-5 and args.warmup_steps == pytest.approx(0.1)
    # adamw_torch (AutoTrain's default) runs as torch's fused AdamW: same algorithm, one kernel.
    assert args.optim == "adamw_torch_fused" and args.lr_scheduler_type == "linear"
    assert args.seed == 42 and args.save_total_limit == 1
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    assert args.logging_steps == 25  # int(0.2 * 1000 / 8) = 25


@pytest.mark.parametrize(("rows", "batch", "expected"), [(1000, 8, 25), (100, 8, 2), (10, 16, 1), (10**6, 8, 25)])
def test_auto_logging_steps(rows: int, batch: int, expected: int) -> None:
    assert auto_logging_steps(rows, batch) == expected


def test_eval_steps_default_to_logging_interval(tmp_path: Path) -> None:
    args = _args(tmp_path, training={"evalStrategy": "steps", "loggingSteps": 7})
    assert args.eval_steps == 7 and args.save_steps == 7


def test_no_validation_split_means_no_evaluation_and_epoch_checkpoints(tmp_path: Path) -> None:
    args = _args(tmp_path, primary=None, data={"validSplit": None})
    assert args.eval_strategy == "no"
    assert args.save_strategy == "epoch"
    assert args.load_best_model_at_end is False
    assert args.metric_for_best_model is None


def test_eval_strategy_no_saves_each_epoch(tmp_path: Path) -> None:
    args = _args(tmp_path, training={"evalStrategy": "no"})
    assert args.eval_strategy == "no" and args.save_strategy == "epoch" and args.load_best_model_at_end is False


@pytest.mark.parametrize(
    ("trainer", "loss", "sampler"),
    [
        ("pair", None, BatchSamplers.NO_DUPLICATES),
        ("qa", "CachedMultipleNegativesRankingLoss", BatchSamplers.NO_DUPLICATES),
        ("triplet", None, BatchSamplers.NO_DUPLICATES),
        ("triplet", "TripletLoss", BatchSamplers.BATCH_SAMPLER),
        ("pair_score", None, BatchSamplers.BATCH_SAMPLER),
        ("pair_class", None, BatchSamplers.BATCH_SAMPLER),
    ],
)
def test_in_batch_negative_losses_get_the_no_duplicates_sampler(
    tmp_path: Path, trainer: str, loss: str | None, sampler: BatchSamplers
) -> None:
    assert _args(tmp_path, trainer=trainer, loss={"name": loss}).batch_sampler == sampler


def test_tensorboard_report_to(tmp_path: Path) -> None:
    assert _args(tmp_path, tracking={"log": "tensorboard"}).report_to == ["tensorboard"]


@pytest.mark.parametrize("backend", ["mlflow", "wandb", "trackio"])
def test_missing_tracker_package_is_a_config_error(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match=f"install '{backend}'"):
        report_to(backend)
