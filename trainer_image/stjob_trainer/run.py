"""One training run, start to finish: check, load data, load model, train, save, report.

Both entry points (``stjob-trainer`` in the cluster, ``stjob train`` on a laptop) call :func:`run_job`;
they differ only in the reporter, the paths and how failures become exit codes (entrypoint.py).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import torch
import transformers
from sentence_transformers.base.model import BaseModel
from sentence_transformers.base.model_card import BaseModelCardData
from sentence_transformers.base.trainer import BaseTrainer
from transformers import EarlyStoppingCallback, PrinterCallback, TrainerCallback
from transformers.trainer_utils import TrainOutput

from stjob.api import SentenceTransformerJob
from stjob.api.contract import LABEL_MAP_FILE, RunLayout
from stjob.api.recipes import DataFacts, Resolution, resolve
from stjob.api.spec import SentenceTransformerJobSpec
from stjob.api.status import OutputStatus
from stjob.errors import DataError, StorageError
from stjob_trainer.callbacks import (
    LOSS_HEAD_FILE,
    LossHeadCheckpointCallback,
    ReportingCallback,
    StopOnFlagCallback,
)
from stjob_trainer.checkpoints import check_resume, data_fingerprint, find_resume_checkpoint, run_fingerprint
from stjob_trainer.data_loading import LoadedData, load_data
from stjob_trainer.evaluation_report import EvaluationReport, append_to_card, check_gate_metric, gate_verdict
from stjob_trainer.evaluation_sets import EvaluationSet, load_evaluation_sets
from stjob_trainer.evaluators import EvaluationPlan
from stjob_trainer.families import family_of
from stjob_trainer.hub import hub_repo_id, hub_token, push_model
from stjob_trainer.losses import gathers_across_devices
from stjob_trainer.metrics_log import MetricsLog, read_metrics
from stjob_trainer.outcome import write_result
from stjob_trainer.reporting import NullReporter, Reporter
from stjob_trainer.signals import StopFlag, TrainingInterrupted
from stjob_trainer.training_args import build_training_args, report_to
from stjob_trainer.world import current_world

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a successful run produced."""

    run_dir: Path
    model_path: Path
    metrics_path: Path
    result_path: Path | None
    hub_url: str | None
    global_step: int
    resumed_from: str | None
    primary_metric: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    evaluation: EvaluationReport | None = None


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def prepare_run_dir(output_dir: Path, project_name: str) -> RunLayout:
    """Create ``{output}/{projectName}/checkpoints``; StorageError when the output cannot be written."""
    run = RunLayout.of(output_dir, project_name)
    try:
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        # One probe per process: under torchrun every rank probes the same (possibly shared) folder at once.
        probe = run.root / f".write-test-{current_world().rank}-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise StorageError(f"output folder {run.root} is not writable: {exc}") from exc
    return run


def save_model(model: BaseModel, model_dir: Path) -> bool:
    """Save the final model with its generated model card; returns whether the card could be written.

    The card normally needs nothing from the Hub, but any failure there must not lose the model.
    """
    try:
        model.save_pretrained(str(model_dir))
        return True
    except OSError:
        raise  # storage problems are real failures (classified as StorageError)
    except Exception as exc:
        logger.warning("model card generation failed (%s); saving the model without it", exc)
        model.save_pretrained(str(model_dir), create_model_card=False)
        return False


def run_job(
    job: SentenceTransformerJob,
    *,
    output_dir: Path,
    base_dir: Path | None = None,
    data_root: Path | None = None,
    cache_dir: Path | None = None,
    reporter: Reporter | None = None,
    stop_flag: StopFlag | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    print_logs: bool = True,
    fresh: bool = False,
) -> RunResult:
    """Train ``job`` and write the run folder ``{output_dir}/{projectName}`` (contract layout).

    Order matters: spec-level checks (tracker, Hub token) and the output folder first, then the data
    (DataError before any model download), then the model. Resumes from the newest complete
    checkpoint. Raises TrainingInterrupted after saving a checkpoint when ``stop_flag`` is set.
    ``print_logs``: keep the Trainer's log lines on stdout (pod logs); locally the progress bar shows them.
    Checkpoints trained from another spec or other data stop the run (CheckpointMismatch) unless
    ``fresh``, which deletes them first.
    """
    spec = job.spec
    reporter = reporter or NullReporter()
    stop_flag = stop_flag or StopFlag()
    started_at, t0 = _utc_now(), time.monotonic()

    trackers, token = check_prerequisites(spec)
    run = prepare_run_dir(output_dir, spec.output.project_name)
    data = load_training_data(spec, base_dir=base_dir, data_root=data_root, cache_dir=cache_dir)
    recipe = resolve_recipe(spec, data, reporter)
    spec = recipe.apply(spec)  # from here on every tunable field is explicit: what the recipe resolved
    extra_sets = load_evaluation_sets(
        spec, base_dir=base_dir, data_root=data_root, batch_size=spec.hyperparameters.batch_size
    )
    rows = data_fingerprint((data.train, data.valid), data.label_names)
    fingerprint = run_fingerprint(spec, rows)
    check_resume(run.checkpoints, fingerprint, fresh=fresh, discard=(run.metrics,))  # before the model loads
    model, loss = load_model_and_loss(spec, data, base_dir=base_dir)
    data = family_of(spec).training_data(
        spec, data, model, run=run, data_fingerprint=rows, reporter=reporter, base_dir=base_dir
    )
    plan = plan_evaluation(spec, data, loss, extra=extra_sets)
    if spec.evaluation.gate is not None and plan is None:
        raise DataError("evaluation.gate needs validation rows to judge the model; the validation split is empty")
    setup = build_trainer(
        spec,
        run=run,
        data=data,
        model=model,
        loss=loss,
        plan=plan,
        trackers=trackers,
        reporter=reporter,
        stop_flag=stop_flag,
        callbacks=callbacks,
        print_logs=print_logs,
    )
    resume, baseline = resume_or_measure_baseline(setup, reporter)
    check_gate_metric(spec.evaluation.gate, baseline)  # a misspelt metric fails now, not after training
    train_output = train(setup, resume, stop_flag, reporter)

    model_dir = run.model
    hub_url: str | None = None
    result_path: Path | None = None
    summary: dict[str, Any] = {}
    report: EvaluationReport | None = None
    if setup.trainer.is_world_process_zero():
        report = evaluation_report(setup, baseline or logged_baseline(run), reporter)
        card = save_final_model(spec, setup, data, model_dir)
        if report is not None and card:
            append_to_card(model_dir, report)
        failed = gate_verdict(spec.evaluation.gate, report, model_dir) if report is not None else None
        if failed is not None:  # the model stays on the output volume; nothing is pushed
            reporter.close(OutputStatus(model_path=str(model_dir)), evaluation=report.summary() if report else None)
            raise failed
        hub_url = push_to_hub(spec, model_dir, token)
        summary = summarize(setup, train_output, baseline)
        timings = {"startedAt": started_at, "finishedAt": _utc_now(), "seconds": round(time.monotonic() - t0, 2)}
        if card:
            append_recipe_to_card(model_dir, recipe)
        result = result_record(spec, setup, model_dir=model_dir, card=card, hub_url=hub_url, resume=resume)
        result["recipe"] = recipe.to_json()
        evaluation = {"evaluation": report.to_json()} if report is not None else {}
        result_path = write_result(run.root, {**result, "metrics": summary, **evaluation, "timings": timings})
    reporter.close(
        OutputStatus(model_path=str(model_dir), hub_url=hub_url),
        evaluation=report.summary() if report is not None else None,
    )
    return RunResult(
        run_dir=run.root,
        model_path=model_dir,
        metrics_path=run.metrics,
        result_path=result_path,
        hub_url=hub_url,
        global_step=setup.trainer.state.global_step,
        resumed_from=str(resume) if resume else None,
        primary_metric=setup.primary,
        summary=summary,
        evaluation=report,
    )


# The steps of run_job, in order.


def check_prerequisites(spec: SentenceTransformerJobSpec) -> tuple[list[str], str | None]:
    """The tracker list and the Hub token: a missing tracker package or token fails before any work."""
    trackers = report_to(spec.tracking.log)
    token = hub_token() if spec.output.hub.push else None
    return trackers, token


def load_training_data(
    spec: SentenceTransformerJobSpec, *, base_dir: Path | None, data_root: Path | None, cache_dir: Path | None
) -> LoadedData:
    """The splits, checked row by row (DataError before any model download)."""
    data = load_data(spec, base_dir=base_dir, data_root=data_root, cache_dir=cache_dir)
    logger.info(
        "data: %d training rows, %s validation rows (%s)",
        len(data.train),
        len(data.valid) if data.valid is not None else "no",
        data.source,
    )
    return data


def resolve_recipe(spec: SentenceTransformerJobSpec, data: LoadedData, reporter: Reporter) -> Resolution:
    """The recipe's choices for this data (row count, label count), logged and shown before training."""
    labels = len(data.label_names) if data.label_names is not None else None
    resolution = resolve(spec, DataFacts(n_train=len(data.train), n_labels=labels))
    for line in resolution.lines():
        logger.info(line)
    reporter.note(
        f"recipe {resolution.recipe} ({resolution.case}): {resolution.loss}, {resolution.epochs} epoch(s), "
        f"lr {resolution.learning_rate:g}, batch {resolution.batch_size}"
    )
    return resolution


def load_model_and_loss(
    spec: SentenceTransformerJobSpec, data: LoadedData, *, base_dir: Path | None
) -> tuple[BaseModel, torch.nn.Module]:
    """The seeded model and its loss (the loss may hold trainable weights, e.g. a classifier head)."""
    # Seed before anything random is created (a loss head, pooling weights), not only in the Trainer.
    transformers.set_seed(spec.training.seed)
    started = time.monotonic()
    logger.info("loading model %s ...", spec.model.name)
    model, loss = family_of(spec).load_model_and_loss(
        spec,
        data,
        base_dir=base_dir,
        device="cpu" if spec.resources.gpus == 0 else None,
        world_size=current_world().size,
    )
    logger.info("model loaded in %.0f s (on %s)", time.monotonic() - started, model.device)
    return model, loss


def plan_evaluation(
    spec: SentenceTransformerJobSpec,
    data: LoadedData,
    loss: torch.nn.Module,
    *,
    extra: Sequence[EvaluationSet] = (),
) -> EvaluationPlan | None:
    """The evaluator and its primary metric (plus the extra sets' evaluators for the report); None without
    a (non-empty) validation split or evaluation."""
    if not (spec.evaluates and data.valid is not None and len(data.valid) > 0):
        return None
    plan = family_of(spec).build_evaluator(
        spec,
        data.valid,
        loss=loss,
        label_names=data.label_names,
        batch_size=spec.hyperparameters.batch_size,
    )
    return replace(plan, extra=tuple(s.evaluator for s in extra))


@dataclass
class TrainerSetup:
    """The configured Trainer and what the later steps need to know about it."""

    trainer: BaseTrainer
    model: BaseModel
    loss: torch.nn.Module
    plan: EvaluationPlan | None
    checkpoints_dir: Path
    metrics_log: MetricsLog | None
    effective_batch: int

    @property
    def primary(self) -> str | None:
        """The evaluator's primary metric (best model, early stopping, progress), None without evaluation."""
        return self.plan.primary_metric if self.plan is not None else None


def build_trainer(
    spec: SentenceTransformerJobSpec,
    *,
    run: RunLayout,
    data: LoadedData,
    model: BaseModel,
    loss: torch.nn.Module,
    plan: EvaluationPlan | None,
    trackers: list[str],
    reporter: Reporter,
    stop_flag: StopFlag,
    callbacks: Sequence[TrainerCallback],
    print_logs: bool,
) -> TrainerSetup:
    """Training arguments, callbacks (reporting, stop flag, loss head, early stopping) and the Trainer."""
    world, family = current_world(), family_of(spec)
    primary = plan.primary_metric if plan else None
    args = build_training_args(
        spec,
        output_dir=run.checkpoints,
        n_train=len(data.train),
        primary_metric=primary,
        trackers=trackers,
        args_class=family.args_class,
    )
    if "tensorboard" in trackers:
        # The TensorBoard callback reads its folder from the environment; keep it next to the model.
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run.tensorboard)

    effective_batch = spec.hyperparameters.batch_size * spec.training.gradient_accumulation * args.world_size
    if args.world_size > 1 and world.is_rank_zero:
        # Every rank sees a 1/world_size shard per epoch; the one line that says how the world looks.
        logger.info(
            "distributed: world size %d (%s processes per node), backend %s, effective batch %d, "
            "in-batch negatives gathered across devices: %s",
            args.world_size,
            world.local_size,
            args.ddp_backend,
            effective_batch,
            gathers_across_devices(loss),
        )
    metrics_log = MetricsLog(run.metrics) if world.is_rank_zero else None
    reporting = ReportingCallback(
        reporter, metrics_log=metrics_log, primary_metric=primary, effective_batch_size=effective_batch
    )
    trainer_callbacks: list[TrainerCallback] = [
        reporting,
        *callbacks,
        StopOnFlagCallback(stop_flag),  # after the caller's callbacks: a flag they raise counts this step
        LossHeadCheckpointCallback(loss),
    ]
    if plan is not None and spec.early_stopping_active:
        es = spec.training.early_stopping
        trainer_callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=es.patience, early_stopping_threshold=es.threshold)
        )
    trainer = family.trainer_class(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=family.eval_dataset(spec, data) if plan is not None else None,
        loss=loss,
        evaluator=plan.evaluator if plan is not None else None,
        callbacks=trainer_callbacks,
    )
    if not print_logs:
        trainer.remove_callback(PrinterCallback)
    return TrainerSetup(
        trainer=trainer,
        model=model,
        loss=loss,
        plan=plan,
        checkpoints_dir=run.checkpoints,
        metrics_log=metrics_log,
        effective_batch=effective_batch,
    )


def resume_or_measure_baseline(setup: TrainerSetup, reporter: Reporter) -> tuple[Path | None, dict[str, float]]:
    """The checkpoint to resume from (with its loss head restored), else the zero-shot baseline scores.

    The baseline is what fine-tuning is measured against; a resumed run already logged it.
    """
    resume = find_resume_checkpoint(setup.checkpoints_dir)
    if resume is not None:
        reporter.note(f"resuming from {resume}")
        head = resume / LOSS_HEAD_FILE
        if head.is_file():
            setup.loss.load_state_dict(torch.load(head, map_location=setup.model.device), strict=False)
        return resume, {}
    plan, primary = setup.plan, setup.primary
    if plan is None or not current_world().is_rank_zero:
        return None, {}
    started = time.monotonic()
    reporter.note(f"measuring the base model on the validation split ({primary}) ...")
    baseline = {f"eval_{k}": v for k, v in plan.report_scores(setup.model).items()}
    if setup.metrics_log is not None:
        setup.metrics_log.append(0, 0.0, {"baseline": True, **baseline})
    reporter.note(
        f"before training: {primary} = {baseline.get(f'eval_{primary}', float('nan')):.4f}"
        f" ({time.monotonic() - started:.0f} s)"
    )
    return None, baseline


def logged_baseline(run: RunLayout) -> dict[str, float]:
    """The baseline a resumed run measured in its first session (``metrics.jsonl``), else empty."""
    for event in read_metrics(run.metrics):
        if event.get("baseline") is True:
            return {k: float(v) for k, v in event.items() if k.startswith("eval_") and isinstance(v, (int, float))}
    return {}


def evaluation_report(setup: TrainerSetup, baseline: dict[str, float], reporter: Reporter) -> EvaluationReport | None:
    """Score the final (best) model with the baseline's evaluator; None without evaluation (rank 0)."""
    plan = setup.plan
    if plan is None:
        return None
    final = plan.report_scores(setup.trainer.model)
    report = EvaluationReport.compare(plan.primary_metric, baseline, final)
    m = report.primary_comparison
    reporter.note(
        f"evaluation: {plan.primary_metric} base model {_score(m.baseline)}, fine-tuned {_score(m.final)}"
        + (f" ({m.delta:+.4f})" if m.delta is not None else "")
    )
    return report


def _score(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "-"


def train(setup: TrainerSetup, resume: Path | None, stop_flag: StopFlag, reporter: Reporter) -> TrainOutput:
    """Run the Trainer; TrainingInterrupted (naming the checkpoint to resume from) when stopped by SIGTERM."""
    stop_flag.training_started = True
    train_output: TrainOutput = setup.trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stop_flag.is_set():
        latest = find_resume_checkpoint(setup.checkpoints_dir)
        reporter.close()
        raise TrainingInterrupted(
            f"stopped by SIGTERM at step {setup.trainer.state.global_step}; checkpoint {latest}; "
            "a restart resumes from it",
            checkpoint=str(latest) if latest else None,
        )
    return train_output


def save_final_model(spec: SentenceTransformerJobSpec, setup: TrainerSetup, data: LoadedData, model_dir: Path) -> bool:
    """Save the (best) model, its card and, for label targets, the label map; returns whether the card was written."""
    if spec.output.hub.push and spec.output.hub.username:
        card_data = cast("BaseModelCardData", setup.model.model_card_data)
        card_data.set_model_id(hub_repo_id(spec.output.hub.username, spec.output.project_name))
    card = save_model(setup.trainer.model, model_dir)
    logger.info("saved the final model to %s (step %d)", model_dir, setup.trainer.state.global_step)
    if data.label_names is not None:  # only shapes with a label target have label names
        (model_dir / LABEL_MAP_FILE).write_text(
            json.dumps({"labels": data.label_names}, indent=2) + "\n", encoding="utf-8"
        )
    return card


def append_recipe_to_card(model_dir: Path, recipe: Resolution) -> None:
    """Append the resolved recipe (each tunable field, and whether the spec or the recipe set it) to the card."""
    card = model_dir / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8").rstrip("\n")
        body = "\n".join(f"- {line.strip()}" for line in recipe.lines()[1:])
        card.write_text(f"{text}\n\n## Training recipe (stjob)\n\n{recipe.lines()[0]}\n\n{body}\n", encoding="utf-8")


def push_to_hub(spec: SentenceTransformerJobSpec, model_dir: Path, token: str | None) -> str | None:
    """Push the saved model when the spec asks for it; the model's URL, else None."""
    if not (spec.output.hub.push and spec.output.hub.username and token):
        return None
    repo_id = hub_repo_id(spec.output.hub.username, spec.output.project_name)
    return push_model(model_dir, repo_id, private=spec.output.hub.private, token=token)


def summarize(setup: TrainerSetup, train_output: TrainOutput, baseline: dict[str, float]) -> dict[str, Any]:
    """The metrics part of ``result.json``: training loss, baseline, best and last evaluation, throughput."""
    primary, state = setup.primary, setup.trainer.state
    last_eval: dict[str, Any] = next((e for e in reversed(state.log_history) if primary and f"eval_{primary}" in e), {})
    return {
        "trainLoss": train_output.training_loss,
        "primaryMetric": primary,
        "baseline": baseline.get(f"eval_{primary}") if primary else None,
        "best": state.best_metric,
        "lastEval": {k: v for k, v in last_eval.items() if isinstance(v, (int, float))},
        "trainRuntimeSeconds": train_output.metrics.get("train_runtime"),
        "trainSamplesPerSecond": train_output.metrics.get("train_samples_per_second"),
    }


def result_record(
    spec: SentenceTransformerJobSpec,
    setup: TrainerSetup,
    *,
    model_dir: Path,
    card: bool,
    hub_url: str | None,
    resume: Path | None,
) -> dict[str, Any]:
    """``result.json`` of a successful run without its metrics and timings: outcome, model, steps."""
    state = setup.trainer.state
    return {
        "outcome": "Succeeded",
        "trainer": spec.trainer,
        "loss": spec.loss_name,
        "baseModel": spec.model.name,
        "modelPath": str(model_dir),
        "modelCard": card,
        "hubUrl": hub_url,
        "globalStep": state.global_step,
        "epoch": state.epoch,
        "bestCheckpoint": state.best_model_checkpoint,
        "resumedFrom": str(resume) if resume else None,
        "effectiveBatchSize": setup.effective_batch,
    }
