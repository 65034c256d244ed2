"""Non-finite numbers (issue 14 item 3): null plus a warning in every JSON that leaves the trainer, and a
NaN loss stops the run with its own reason."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from transformers import TrainerControl, TrainerState, TrainingArguments

from stjob.api.status import Metrics, OutputStatus, Progress
from stjob_trainer import families
from stjob_trainer.callbacks import ReportingCallback
from stjob_trainer.entrypoint import execute
from stjob_trainer.finite import TrainingDiverged, json_safe
from stjob_trainer.metrics_log import MetricsLog, read_metrics
from stjob_trainer.outcome import write_result
from stjob_trainer.reporting import NullReporter, status_patch
from tests.trainer.jobs import job_document
from tests.trainer.test_callbacks import Recorder

NAN, INF = float("nan"), float("inf")


def strict_json(text: str) -> Any:
    """Parse as an API server would: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_safe_replaces_nested_non_finite_values(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="stjob_trainer.finite"):
        clean = json_safe({"metrics": {"baseline": NAN, "best": -INF, "ok": 0.5}, "list": [1.0, INF]}, what="x")

    assert clean == {"metrics": {"baseline": None, "best": None, "ok": 0.5}, "list": [1.0, None]}
    assert "x: not a finite number, written as null: metrics.baseline (nan), metrics.best (-inf), list[1]" in (
        caplog.text
    )


def test_result_json_is_always_json(tmp_path: Path) -> None:
    path = write_result(tmp_path, {"outcome": "Succeeded", "metrics": {"baseline": NAN, "best": -INF}})

    assert strict_json(path.read_text())["metrics"] == {"baseline": None, "best": None}


def test_status_patch_is_always_json() -> None:
    body = status_patch(Progress(step=3, samples_per_second=INF), Metrics(train_loss=NAN), OutputStatus())

    # In a merge patch null clears the field: an unknown value replaces the stale one.
    assert strict_json(json.dumps(body)) == {
        "status": {"progress": {"step": 3, "samplesPerSecond": None}, "metrics": {"trainLoss": None}, "output": {}}
    }


def _callback(tmp_path: Path) -> tuple[ReportingCallback, Recorder, TrainerState]:
    recorder = Recorder()
    callback = ReportingCallback(
        recorder, metrics_log=MetricsLog(tmp_path / "metrics.jsonl"), primary_metric="spearman_cosine",
        effective_batch_size=8,
    )  # fmt: skip
    state = TrainerState(max_steps=10)
    state.global_step = 4
    return callback, recorder, state


def test_a_nan_correlation_is_reported_as_null_with_a_note(tmp_path: Path) -> None:
    callback, recorder, state = _callback(tmp_path)
    args, control = TrainingArguments(output_dir=str(tmp_path), report_to=[]), TrainerControl()
    state.best_metric = -INF  # what the Trainer keeps when every evaluation was NaN

    callback.on_log(args, state, control, logs={"eval_loss": 0.3, "eval_spearman_cosine": NAN})

    _, metrics = recorder.updates[-1]
    assert metrics.primary_metric_value is None and metrics.best_metric_value is None
    assert metrics.eval_loss == 0.3
    assert "step 4: not a finite number, reported as null: eval_spearman_cosine = nan" in recorder.notes
    assert read_metrics(tmp_path / "metrics.jsonl")[-1]["eval_spearman_cosine"] is None


@pytest.mark.parametrize("logs", [{"loss": NAN}, {"loss": 0.5, "grad_norm": INF}, {"loss": -INF}])
def test_a_non_finite_loss_stops_the_run(tmp_path: Path, logs: dict[str, float]) -> None:
    callback, _, state = _callback(tmp_path)
    args, control = TrainingArguments(output_dir=str(tmp_path), report_to=[]), TrainerControl()

    with pytest.raises(TrainingDiverged) as info:
        callback.on_log(args, state, control, logs=logs)

    assert info.value.reason == "Diverged"
    assert info.value.exit_code == 3
    assert info.value.message.startswith("training diverged at step 4: ")


def test_every_rank_stops_on_divergence(tmp_path: Path) -> None:
    callback, _, state = _callback(tmp_path)
    state.is_world_process_zero = False  # the logged loss is the world's mean: every rank sees it

    with pytest.raises(TrainingDiverged):
        callback.on_log(
            TrainingArguments(output_dir=str(tmp_path), report_to=[]), state, TrainerControl(), {"loss": NAN}
        )


# ------------------------------------------------------------------------------------------ end to end


class _NaNLoss(torch.nn.Module):
    """The real loss times NaN: what a diverged run computes."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.model = inner.model

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        loss: torch.Tensor = self.inner(*args, **kwargs)
        return loss * float("nan")


def _run(tmp_path: Path, data: Path, model: Path) -> tuple[int, dict[str, Any], Path]:
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump(job_document("pair_score", data, model)), encoding="utf-8")
    code = execute(config, output_dir=tmp_path / "out", local=False, reporter=NullReporter())
    return code, json.loads((tmp_path / "termination-log").read_text()), tmp_path / "out" / "test-pair-score"


def test_a_nan_loss_fails_the_run_as_diverged(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = families.build_loss
    monkeypatch.setattr(families, "build_loss", lambda *a, **k: _NaNLoss(real(*a, **k)))

    code, termination, run = _run(tmp_path, dataset_dir("pair_score"), tiny_model_dir)

    assert code == 3
    assert termination["reason"] == "Diverged"
    assert termination["message"].startswith("training diverged at step ")
    assert strict_json((run / "result.json").read_text())["reason"] == "Diverged"


def test_a_constant_validation_set_gives_json_and_nulls(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(dataset_dir("pair_score") / "train.csv", data / "train.csv")
    rows = (dataset_dir("pair_score") / "valid.csv").read_text().splitlines()
    constant = [rows[0]] + [",".join([*line.rsplit(",", 1)[:1], "0.5"]) for line in rows[1:]]
    (data / "valid.csv").write_text("\n".join(constant) + "\n")

    code, termination, run = _run(tmp_path, data, tiny_model_dir)

    assert code == 0, termination
    metrics = strict_json((run / "result.json").read_text())["metrics"]
    assert metrics["baseline"] is None and metrics["best"] is None
    for line in (run / "metrics.jsonl").read_text().splitlines():
        strict_json(line)
