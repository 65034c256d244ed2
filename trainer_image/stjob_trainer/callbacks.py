"""Trainer callbacks: stop-and-save on SIGTERM, and progress/metrics reporting."""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from stjob.api.status import Metrics
from stjob.api.status import Progress as ProgressStatus
from stjob_trainer.metrics_log import MetricsLog
from stjob_trainer.reporting import Reporter
from stjob_trainer.signals import StopFlag


class StopOnFlagCallback(TrainerCallback):  # type: ignore[misc]
    """After the step in which the flag was set: save a checkpoint and end training."""

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self.stopped_at: int | None = None

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        """Turn a pending stop request into a checkpoint save plus a stop (on every rank at the same step)."""
        if self._stop_requested(args):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control

    def _stop_requested(self, args: TrainingArguments) -> bool:
        """The local flag, agreed across ranks under torchrun.

        torchrun forwards SIGTERM to all workers, but each sees it at its own step boundary; a rank that
        stopped to save while its peers ran one more step would leave them waiting in a collective. One
        MAX all-reduce of a single number per step makes every rank stop after the same step.
        """
        local = self.flag.is_set()
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return local
        if torch.distributed.get_world_size() < 2:
            return local
        vote = torch.tensor([1 if local else 0], dtype=torch.int32, device=args.device)
        torch.distributed.all_reduce(vote, op=torch.distributed.ReduceOp.MAX)
        return bool(vote.item())


class ReportingCallback(TrainerCallback):  # type: ignore[misc]
    """Turns the Trainer's step, log and evaluation events into reporter updates and metrics.jsonl lines.

    Only the world's process zero reports. Throughput counts the samples of this session (a resumed
    run does not count the steps it skipped).
    """

    def __init__(
        self,
        reporter: Reporter,
        *,
        metrics_log: MetricsLog | None,
        primary_metric: str | None,
        effective_batch_size: int,
    ) -> None:
        self.reporter = reporter
        self.metrics_log = metrics_log
        self.primary_metric = primary_metric
        self.effective_batch_size = effective_batch_size
        self.metrics = Metrics(primary_metric=primary_metric)
        self._start_time: float | None = None
        self._start_step = 0
        self.last_progress: ProgressStatus | None = None

    # --- what goes into the status ------------------------------------------------------------

    def progress(self, state: TrainerState) -> ProgressStatus:
        """Progress at the current step: percent, ETA and throughput from this session's pace."""
        step, total = state.global_step, state.max_steps or None
        elapsed = time.monotonic() - self._start_time if self._start_time is not None else 0.0
        done = step - self._start_step
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        eta = int((total - step) / rate) if rate and total else None
        return ProgressStatus(
            epoch=round(state.epoch, 4) if state.epoch is not None else None,
            step=step,
            total_steps=total,
            percent=min(100, int(100 * step / total)) if total else None,
            eta_seconds=eta,
            samples_per_second=round(rate * self.effective_batch_size, 2) if rate else None,
            effective_batch_size=self.effective_batch_size,
        )

    def _report(self, state: TrainerState) -> None:
        self.last_progress = self.progress(state)
        self.reporter.update(self.last_progress, self.metrics)

    # --- Trainer events -------------------------------------------------------------------------

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Start the clock (after a resume, from the resumed step)."""
        self._start_time = time.monotonic()
        self._start_step = state.global_step
        if state.is_world_process_zero:
            self._report(state)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        """Keep the bar moving; the Kubernetes reporter throttles on its own."""
        if state.is_world_process_zero:
            self._report(state)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record losses and evaluation metrics (the Trainer logs evaluation results here too)."""
        if not state.is_world_process_zero or not logs:
            return
        updates: dict[str, Any] = {}
        if "loss" in logs:
            updates["train_loss"] = float(logs["loss"])
        if "eval_loss" in logs:
            updates["eval_loss"] = float(logs["eval_loss"])
        key = f"eval_{self.primary_metric}" if self.primary_metric else None
        if key and key in logs:
            value = float(logs[key])
            best = self.metrics.best_metric_value
            updates["primary_metric_value"] = value
            updates["best_metric_value"] = value if best is None else max(best, value)
        if state.best_metric is not None and key:
            updates["best_metric_value"] = max(float(state.best_metric), updates.get("best_metric_value", -1e300))
        if updates:
            self.metrics = self.metrics.model_copy(update=updates)
        if self.metrics_log is not None:
            self.metrics_log.append(state.global_step, state.epoch, logs)
        if key and key in logs:
            self.reporter.note(
                f"step {state.global_step} epoch {state.epoch or 0:.2f}: {self.primary_metric} = {logs[key]:.4f}"
                + (f"  eval_loss = {logs['eval_loss']:.4f}" if "eval_loss" in logs else "")
            )
        self._report(state)


#: File in each checkpoint with the loss's own weights (SoftmaxLoss's classifier is not part of the model).
LOSS_HEAD_FILE = "stjob_loss_head.pt"


def loss_head_state(loss: Any) -> dict[str, Any]:
    """The loss's parameters that are not the model's (empty for most losses)."""
    return {k: v for k, v in loss.state_dict().items() if not k.startswith("model.")}


class LossHeadCheckpointCallback(TrainerCallback):  # type: ignore[misc]
    """Saves the loss's own weights next to each checkpoint, so a resumed run continues with them."""

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        """Write the head into the checkpoint the Trainer just saved (rank 0)."""
        head = loss_head_state(self.loss)
        checkpoint = os.path.join(args.output_dir or "", f"checkpoint-{state.global_step}")
        if head and state.is_world_process_zero and os.path.isdir(checkpoint):
            torch.save(head, os.path.join(checkpoint, LOSS_HEAD_FILE))
