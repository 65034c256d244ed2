"""Map the spec's training section onto ``SentenceTransformerTrainingArguments`` (every parameter honoured)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.base.training_args import BaseTrainingArguments
from sentence_transformers.sentence_transformer import SentenceTransformerTrainingArguments

from stjob.errors import ConfigError
from stjob_trainer.losses import uses_in_batch_negatives
from stjob_trainer.world import current_world

if TYPE_CHECKING:
    from stjob.api.spec import SentenceTransformerJobSpec

#: Python packages each tracking backend needs, and what to install.
TRACKER_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "mlflow": (("mlflow",), "mlflow"),
    "wandb": (("wandb",), "wandb"),
    "trackio": (("trackio",), "trackio"),
}


#: AutoTrain's ``adamw_torch`` is torch's AdamW; its fused kernel is the same algorithm and what transformers
#: itself defaults to. The unfused per-tensor loop cost ~15% of a MiniLM step on CPU (bench/RESULTS.md).
FUSED_OPTIMIZERS: dict[str, str] = {"adamw_torch": "adamw_torch_fused"}


def trainer_optimizer(name: str) -> str:
    """The transformers ``optim`` for a spec optimizer name (same algorithm, fastest implementation)."""
    return FUSED_OPTIMIZERS.get(name, name)


def auto_logging_steps(n_train: int, batch_size: int) -> int:
    """AutoTrain's automatic interval (``loggingSteps: -1``): a fifth of an epoch's batches, 1 to 25."""
    return min(max(int(0.2 * n_train / batch_size), 1), 25)


def report_to(backend: str) -> list[str]:
    """The Trainer ``report_to`` list; ConfigError naming the package to install when it is missing."""
    if backend == "none":
        return []
    modules, package = TRACKER_PACKAGES[backend]
    if not any(importlib.util.find_spec(module) is not None for module in modules):
        raise ConfigError(f"tracking.log {backend}: the package is not installed; install {package!r} in the image")
    return [backend]


def ddp_backend(spec: SentenceTransformerJobSpec) -> str | None:
    """NCCL between GPUs, gloo between CPU processes; None for one process.

    Only under torchrun with more than one process: a backend makes the arguments set up a process group.
    """
    if not current_world().is_distributed:
        return None
    return "nccl" if spec.resources.gpus > 0 else "gloo"


def build_training_args(
    spec: SentenceTransformerJobSpec,
    *,
    output_dir: Path,
    n_train: int,
    primary_metric: str | None,
    trackers: list[str],
    args_class: type[BaseTrainingArguments] = SentenceTransformerTrainingArguments,
) -> BaseTrainingArguments:
    """Training arguments for ``spec``; ``primary_metric`` (evaluator key) drives best model and early stopping.

    Evaluation happens only with a validation split and ``evalStrategy`` other than ``no``. Checkpoints
    follow the evaluation schedule (best-model loading needs a checkpoint at every evaluation); without
    evaluation they are saved every epoch. ``trackers``: :func:`report_to` of the spec, checked before any work.
    ``args_class``: the model family's arguments class (the same fields for every family).
    """
    t, hp = spec.training, spec.hyperparameters
    logging_steps = t.logging_steps if t.logging_steps > 0 else auto_logging_steps(n_train, hp.batch_size)
    evaluates = spec.evaluates and primary_metric is not None
    eval_strategy = t.eval_strategy if evaluates else "no"
    eval_steps = (t.eval_steps or logging_steps) if eval_strategy == "steps" else None
    # Checkpoints follow evaluations, so every evaluated step has a checkpoint to pick as the best.
    extra: dict[str, Any] = {"save_steps": eval_steps} if eval_steps is not None else {}
    return args_class(
        output_dir=str(output_dir),
        run_name=spec.output.project_name,
        num_train_epochs=hp.epochs,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        learning_rate=hp.learning_rate,
        # transformers 5: a float below 1 is a ratio of the total steps (warmup_ratio is deprecated).
        warmup_steps=hp.warmup_ratio,
        gradient_accumulation_steps=t.gradient_accumulation,
        optim=trainer_optimizer(t.optimizer),
        lr_scheduler_type=t.scheduler,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        data_seed=t.seed,
        logging_strategy="steps",
        logging_steps=logging_steps,
        # Log a NaN/inf loss as it is (the default filter hides it): it stops the run (stjob_trainer.finite).
        logging_nan_inf_filter=False,
        auto_find_batch_size=t.auto_find_batch_size,
        fp16=t.mixed_precision == "fp16",
        bf16=t.mixed_precision == "bf16",
        use_cpu=spec.resources.gpus == 0,
        # Pinned host memory only speeds up copies to a GPU; on CPU torch warns about it on every run.
        dataloader_pin_memory=spec.resources.gpus > 0,
        ddp_backend=ddp_backend(spec),
        eval_strategy=eval_strategy,
        eval_steps=eval_steps,
        save_strategy=eval_strategy if evaluates else "epoch",
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=evaluates,
        metric_for_best_model=primary_metric if evaluates else None,
        greater_is_better=True if evaluates else None,
        report_to=trackers,
        # In-batch negatives: a repeated text in a batch would be a false negative.
        batch_sampler=(
            BatchSamplers.NO_DUPLICATES if uses_in_batch_negatives(spec.loss_name) else BatchSamplers.BATCH_SAMPLER
        ),
        # Progress goes through our reporters (rich bar locally, status patches in the cluster).
        disable_tqdm=True,
        push_to_hub=False,  # the final push is ours (hub.py): the token stays out of the arguments
        **extra,
    )
