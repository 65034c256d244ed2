"""Real tiny trainings: every shape end to end, seeds, maxSeqLength, resume, tracking, Hub push."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from stjob_trainer.evaluation_report import CARD_HEADING
from stjob_trainer.metrics_log import read_metrics
from stjob_trainer.run import run_job
from stjob_trainer.signals import StopFlag, TrainingInterrupted
from tests.trainer.family_checks import (
    EARLY_STOPPING_TRAINING,
    StopAfter,
    assert_stopped_early_keeping_the_best,
    fake_hub,
)
from tests.trainer.jobs import make_job

PRIMARY = {
    "pair": "cosine_mrr@10",
    "qa": "cosine_mrr@10",
    "triplet": "cosine_accuracy",
    "pair_class": "accuracy",
    "pair_score": "spearman_cosine",
}


@pytest.mark.parametrize("trainer", ["pair", "pair_class", "pair_score", "triplet", "qa"])
def test_each_shape_trains_evaluates_and_saves(
    trainer: str, tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = make_job(trainer, dataset_dir(trainer), tiny_model_dir)
    result = run_job(job, output_dir=tmp_path)

    run_dir = tmp_path / job.spec.output.project_name
    assert result.run_dir == run_dir and result.model_path == run_dir / "model"
    assert result.primary_metric == PRIMARY[trainer]
    assert result.global_step == 6  # 96 rows / batch 16, one epoch
    model = SentenceTransformer(str(result.model_path), device="cpu")
    assert model.max_seq_length == 64
    card = (result.model_path / "README.md").read_text(encoding="utf-8")
    assert PRIMARY[trainer].split("@")[0].replace("cosine_", "") in card.lower()

    summary = json.loads((run_dir / "result.json").read_text())
    assert summary["outcome"] == "Succeeded"
    assert summary["modelPath"] == str(result.model_path)
    assert summary["metrics"]["primaryMetric"] == PRIMARY[trainer]
    assert isinstance(summary["metrics"]["baseline"], float)
    assert isinstance(summary["metrics"]["best"], float)
    # The evaluation report: the same evaluator on the base model and the trained one, per metric.
    report = summary["evaluation"]
    assert report["primaryMetric"] == PRIMARY[trainer]
    primary = report["metrics"][PRIMARY[trainer]]
    assert primary["baseline"] == summary["metrics"]["baseline"]
    assert primary["delta"] == pytest.approx(primary["final"] - primary["baseline"])
    assert all(set(m) == {"baseline", "final", "delta"} for m in report["metrics"].values())
    assert result.evaluation is not None and result.evaluation.summary().final == primary["final"]
    assert CARD_HEADING in card and f"| **{PRIMARY[trainer]}** | {primary['baseline']:.4f} |" in card

    events = read_metrics(run_dir / "metrics.jsonl")
    assert events[0]["baseline"] is True and events[0]["step"] == 0
    assert any("loss" in e for e in events)
    assert any(f"eval_{PRIMARY[trainer]}" in e and e["step"] == 6 for e in events)
    assert all({"time", "step", "epoch"} <= e.keys() for e in events)

    label_map = result.model_path / "label_map.json"
    if trainer == "pair_class":
        assert json.loads(label_map.read_text()) == {"labels": ["CONTRADICTION", "ENTAILMENT", "NEUTRAL"]}
    else:
        assert not label_map.exists()


def _losses(run_dir: Path) -> list[float]:
    return [e["loss"] for e in read_metrics(run_dir / "metrics.jsonl") if "loss" in e]


def test_same_seed_same_losses(tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]) -> None:
    def losses(seed: int, out: str) -> list[float]:
        job = make_job(
            "pair_class",  # SoftmaxLoss: a randomly initialised head, shuffled batches
            dataset_dir("pair_class"),
            tiny_model_dir,
            data={"validSplit": None},
            training={"seed": seed, "loggingSteps": 1},
        )
        return _losses(run_job(job, output_dir=tmp_path / out).run_dir)

    first, second, other = losses(3, "a"), losses(3, "b"), losses(4, "c")
    assert len(first) == 6
    assert first == second
    assert first != other


def test_max_seq_length_is_applied(tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]) -> None:
    job = make_job(
        "pair_score", dataset_dir("pair_score"), tiny_model_dir, model={"maxSeqLength": 12}, data={"validSplit": None}
    )
    result = run_job(job, output_dir=tmp_path)
    model = SentenceTransformer(str(result.model_path), device="cpu")
    assert model.max_seq_length == 12
    features = model.tokenize(["a fairly long sentence " * 20])
    assert features["input_ids"].shape[1] == 12


def test_plain_transformers_model_gets_mean_pooling(
    tmp_path: Path, tiny_bert_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = make_job("pair_score", dataset_dir("pair_score"), tiny_bert_dir, data={"validSplit": None})
    result = run_job(job, output_dir=tmp_path)
    modules = json.loads((result.model_path / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling"]
    pooling = json.loads((result.model_path / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean" or pooling.get("pooling_mode_mean_tokens") is True


def test_stop_saves_a_checkpoint_and_a_restart_resumes_from_it(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = make_job("pair_class", dataset_dir("pair_class"), tiny_model_dir, training={"loggingSteps": 1})
    flag = StopFlag()
    with pytest.raises(TrainingInterrupted) as excinfo:
        run_job(job, output_dir=tmp_path, stop_flag=flag, callbacks=[StopAfter(flag, 3)])
    checkpoints = tmp_path / job.spec.output.project_name / "checkpoints"
    assert excinfo.value.checkpoint == str(checkpoints / "checkpoint-3")
    assert (checkpoints / "checkpoint-3" / "trainer_state.json").is_file()
    assert (checkpoints / "checkpoint-3" / "stjob_loss_head.pt").is_file()  # SoftmaxLoss head travels along
    # A half-written newer checkpoint (no trainer_state.json) must be skipped.
    (checkpoints / "checkpoint-5").mkdir()

    result = run_job(job, output_dir=tmp_path)
    assert result.resumed_from == str(checkpoints / "checkpoint-3")
    assert result.global_step == 6
    steps = [e["step"] for e in read_metrics(result.metrics_path) if "loss" in e]
    assert steps == [1, 2, 3, 4, 5, 6]  # continuity: the second session logged 4, 5, 6 only
    # The baseline was measured in the first session; the report of the resumed one still has it.
    baseline = next(e for e in read_metrics(result.metrics_path) if e.get("baseline"))
    assert result.evaluation is not None
    assert result.evaluation.primary_comparison.baseline == baseline["eval_accuracy"]


def test_tensorboard_tracking(tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]) -> None:
    job = make_job("pair_score", dataset_dir("pair_score"), tiny_model_dir, tracking={"log": "tensorboard"})
    result = run_job(job, output_dir=tmp_path)
    assert list((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))


def test_early_stopping_and_best_model_use_the_primary_metric(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = make_job(
        "pair_score",
        dataset_dir("pair_score"),
        tiny_model_dir,
        training=EARLY_STOPPING_TRAINING,
    )
    assert_stopped_early_keeping_the_best(run_job(job, output_dir=tmp_path), "spearman_cosine")


def test_hub_push_keeps_the_token_secret(
    tmp_path: Path,
    tiny_model_dir: Path,
    dataset_dir: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "hf_TESTtokenNEVERwritten1234567890"
    apis = fake_hub(monkeypatch, token)
    job = make_job(
        "pair_score",
        dataset_dir("pair_score"),
        tiny_model_dir,
        output={
            "projectName": "sick-sts",
            "hub": {"push": True, "username": "alice", "tokenSecretRef": {"name": "hf"}},
        },
    )
    caplog.set_level(logging.DEBUG)
    result = run_job(job, output_dir=tmp_path)

    assert result.hub_url == "https://huggingface.co/alice/sick-sts"
    assert apis[0].token == token
    (create_name, create), (upload_name, upload) = apis[0].calls
    assert create_name == "create_repo" and create["repo_id"] == "alice/sick-sts" and create["private"] is True
    assert upload_name == "upload_folder" and upload["folder_path"] == str(result.model_path)
    assert json.loads((result.run_dir / "result.json").read_text())["hubUrl"] == result.hub_url
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert all(token not in record.getMessage() for record in caplog.records)


def test_hub_push_without_token_fails_before_training(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stjob.errors import ConfigError

    monkeypatch.delenv("HF_TOKEN", raising=False)
    job = make_job(
        "pair_score",
        dataset_dir("pair_score"),
        tiny_model_dir,
        output={"hub": {"push": True, "username": "alice", "tokenSecretRef": {"name": "hf"}}},
    )
    with pytest.raises(ConfigError, match="HF_TOKEN"):
        run_job(job, output_dir=tmp_path)
    assert not (tmp_path / job.spec.output.project_name).exists()
