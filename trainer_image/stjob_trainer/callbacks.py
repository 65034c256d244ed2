"""Trainer callbacks: stop-and-save on SIGTERM, and progress/metrics reporting."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from stjob.api.status import Metrics
from stjob.api.status import Progress as ProgressStatus
from stjob_trainer.finite import check_divergence
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

    def _report(self, state: TrainerState, *, final_samples_per_second: float | None = None) -> None:
        progress = self.progress(state)
        if final_samples_per_second is not None:
            # The Trainer's own end-of-training figure, the one result.json and the summary carry: the
            # run ends showing one throughput, not a live estimate next to a different final one.
            progress = progress.model_copy(
                update={"samples_per_second": round(final_samples_per_second, 2), "eta_seconds": 0}
            )
        self.last_progress = progress
        self.reporter.update(progress, self.metrics)

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
        """Record losses and evaluation metrics (the Trainer logs evaluation results here too).

        A NaN/infinite loss stops the run (TrainingDiverged, on every rank: the logged loss is the world's
        mean); other non-finite values (a correlation over constant scores) are left out with a warning.
        """
        if not logs:
            return
        check_divergence(logs, state.global_step)
        if not state.is_world_process_zero:
            return
        all_logs, logs = logs, {k: v for k, v in logs.items() if not isinstance(v, float) or math.isfinite(v)}
        if len(logs) < len(all_logs):
            dropped = ", ".join(f"{k} = {v}" for k, v in all_logs.items() if k not in logs)
            self.reporter.note(f"step {state.global_step}: not a finite number, reported as null: {dropped}")
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
        if state.best_metric is not None and key and math.isfinite(state.best_metric):
            updates["best_metric_value"] = max(float(state.best_metric), updates.get("best_metric_value", -1e300))
        if updates:
            self.metrics = self.metrics.model_copy(update=updates)
        if self.metrics_log is not None:
            self.metrics_log.append(state.global_step, state.epoch, all_logs)
        if key and key in logs:
            self.reporter.note(
                f"step {state.global_step} epoch {state.epoch or 0:.2f}: {self.primary_metric} = {logs[key]:.4f}"
                + (f"  eval_loss = {logs['eval_loss']:.4f}" if "eval_loss" in logs else "")
            )
        final = logs.get("train_samples_per_second")
        self._report(state, final_samples_per_second=float(final) if isinstance(final, (int, float)) else None)


#: File in each checkpoint with the loss's own weights (SoftmaxLoss's classifier is not part of the model).
LOSS_HEAD_FILE = "stjob_loss_head.pt"


def loss_head_state(loss: Any) -> dict[str, Any]:
    """The loss's parameters that are not the model's (empty for most losses).

    By identity, not by name: a wrapping loss reaches the model under other names too (SpladeLoss holds it
    as ``model``, ``loss.model`` and in each regulariser), and a copy of the model in every checkpoint
    would triple its size.
    """
    model = getattr(loss, "model", None)
    shared = {id(t) for t in (*model.parameters(), *model.buffers())} if isinstance(model, torch.nn.Module) else set()
    return {
        k: v.detach()
        for k, v in loss.state_dict(keep_vars=True).items()
        if id(v) not in shared and not k.startswith("model.")
    }


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
