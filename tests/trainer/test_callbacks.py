"""Trainer events → status fields, and the stop-and-save callback."""

from __future__ import annotations

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from stjob.api.status import EvaluationSummary, Metrics, OutputStatus, Progress
from stjob_trainer import callbacks as callbacks_module
from stjob_trainer.callbacks import ReportingCallback, StopOnFlagCallback
from stjob_trainer.signals import StopFlag


class Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[Progress, Metrics]] = []
        self.notes: list[str] = []

    def update(self, progress: Progress, metrics: Metrics) -> None:
        self.updates.append((progress, metrics))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def close(self, output: OutputStatus | None = None, evaluation: EvaluationSummary | None = None) -> None:
        pass


def test_progress_and_metrics_from_trainer_events(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]  # a fake clock: throughput and ETA follow from it exactly, whatever the machine's load
    monkeypatch.setattr(callbacks_module.time, "monotonic", lambda: now[0])
    args = TrainingArguments(output_dir="/tmp/unused", report_to=[])
    state = TrainerState(max_steps=100)
    state.global_step, state.epoch = 10, 0.5
    recorder = Recorder()
    callback = ReportingCallback(recorder, metrics_log=None, primary_metric="spearman_cosine", effective_batch_size=32)
    control = TrainerControl()
    callback.on_train_begin(args, state, control)  # resumed at step 10
    now[0] += 10  # 10 s for the next 20 steps
    state.global_step = 30
    callback.on_log(args, state, control, logs={"loss": 0.5})
    state.global_step = 40
    callback.on_log(args, state, control, logs={"eval_loss": 0.4, "eval_spearman_cosine": 0.7})
    state.global_step = 50
    callback.on_log(args, state, control, logs={"eval_loss": 0.45, "eval_spearman_cosine": 0.6})

    progress, metrics = recorder.updates[-1]
    assert progress.step == 50 and progress.total_steps == 100 and progress.percent == 50
    assert progress.effective_batch_size == 32
    assert progress.samples_per_second == pytest.approx(128)  # 40 steps since the resume / 10 s x 32
    assert progress.eta_seconds == 12  # 50 steps left at 4 steps/s
    assert metrics.train_loss == 0.5 and metrics.eval_loss == 0.45
    assert metrics.primary_metric == "spearman_cosine"
    assert metrics.primary_metric_value == 0.6 and metrics.best_metric_value == 0.7
    assert any("spearman_cosine = 0.7000" in note for note in recorder.notes)


def test_stop_flag_saves_and_stops() -> None:
    flag = StopFlag()
    callback = StopOnFlagCallback(flag)
    args = TrainingArguments(output_dir="/tmp/unused", report_to=[])
    state, control = TrainerState(), TrainerControl()
    state.global_step = 7
    callback.on_step_end(args, state, control)
    assert not control.should_save and not control.should_training_stop
    flag.set()
    callback.on_step_end(args, state, control)
    assert control.should_save and control.should_training_stop and callback.stopped_at == 7
