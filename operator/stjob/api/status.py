"""The SentenceTransformerJob status, following the Kubernetes API conventions.

Ownership: the operator writes ``phase``, ``conditions``, ``observedGeneration``, ``startTime``,
``completionTime`` and ``jobName``; the trainer writes ``progress``, ``metrics``, ``output`` and ``evaluation``.
Neither patches the other's fields (merge patches touch only the keys they name).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from stjob.api.spec import ApiModel

Phase = Literal["Pending", "Queued", "Running", "Succeeded", "Failed", "Suspended"]
#: Phases a job never leaves: the operator stops assessing it, ``stjob watch`` stops following it.
TERMINAL_PHASES: tuple[Phase, ...] = ("Succeeded", "Failed")
ConditionStatus = Literal["True", "False", "Unknown"]
#: Condition types. Ready/Reconciling/Stalled follow kstatus (Flux); the others tell the job's story.
ConditionType = Literal["Ready", "Reconciling", "Stalled", "Admitted", "Running", "Succeeded", "Failed", "Suspended"]


class Condition(ApiModel):
    """One condition, shaped like metav1.Condition."""

    type: str = Field(..., description="Condition type, e.g. Ready, Running, Succeeded, Failed, Suspended.")
    status: ConditionStatus = Field(..., description="True, False or Unknown.")
    reason: str = Field(..., description="CamelCase reason a program can act on, e.g. DataError, Unschedulable.")
    message: str | None = Field(None, description="Human-readable details.")
    last_transition_time: str = Field(..., description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="The spec generation this condition was set for.")


class Progress(ApiModel):
    """Training progress, written by the trainer (throttled)."""

    epoch: float | None = Field(None, description="Current (fractional) epoch.")
    step: int | None = Field(None, description="Optimizer steps done.")
    total_steps: int | None = Field(None, description="Optimizer steps planned.")
    percent: int | None = Field(None, ge=0, le=100, description="step / totalSteps, in percent.")
    eta_seconds: int | None = Field(None, description="Estimated seconds to the end of training.")
    samples_per_second: float | None = Field(None, description="Training throughput over the whole world.")
    effective_batch_size: int | None = Field(
        None, description="batchSize x gradientAccumulation x world size: samples per optimizer step."
    )


class Metrics(ApiModel):
    """Summary metrics, written by the trainer. The full history stays in the output folder."""

    train_loss: float | None = Field(None, description="Latest logged training loss.")
    eval_loss: float | None = Field(None, description="Latest evaluation loss.")
    primary_metric: str | None = Field(None, description="Name of the metric used for early stopping and best model.")
    primary_metric_value: float | None = Field(None, description="Latest value of the primary metric.")
    best_metric_value: float | None = Field(None, description="Best value of the primary metric so far.")


class EvaluationSummary(ApiModel):
    """The primary metric of the base model and of the trained one: did fine-tuning help?

    Compact on purpose: every metric of the report is in the run folder's ``result.json``.
    """

    primary_metric: str = Field(..., description="The evaluator's primary metric, e.g. spearman_cosine.")
    baseline: float | None = Field(None, description="The base model's score, measured before training.")
    final: float | None = Field(None, description="The trained model's score, with the same evaluator.")
    delta: float | None = Field(None, description="final - baseline (positive: fine-tuning helped).")


class OutputStatus(ApiModel):
    """Where the results went."""

    model_path: str | None = Field(None, description="Folder of the final model (on the output volume).")
    hub_url: str | None = Field(None, description="Hugging Face Hub URL of the pushed model.")


class SentenceTransformerJobStatus(ApiModel):
    """Observed state."""

    observed_generation: int | None = Field(None, description="The spec generation the operator last acted on.")
    phase: Phase | None = Field(None, description="Pending, Queued, Running, Succeeded, Failed or Suspended.")
    conditions: list[Condition] = Field(default_factory=list, description="Conditions (Kubernetes conventions).")
    start_time: str | None = Field(None, description="When the trainer first started running (RFC 3339).")
    completion_time: str | None = Field(None, description="When the job succeeded or failed (RFC 3339).")
    job_name: str | None = Field(None, description="Name of the Kubernetes Job running the trainer.")
    progress: Progress | None = Field(None, description="Training progress (from the trainer).")
    metrics: Metrics | None = Field(None, description="Summary metrics (from the trainer).")
    output: OutputStatus | None = Field(None, description="Results (from the trainer).")
    evaluation: EvaluationSummary | None = Field(
        None, description="Base model vs trained model on the primary metric (from the trainer)."
    )
    kopf: dict[str, Any] | None = Field(
        None, description="Kopf's own bookkeeping (handler progress); kept so structural pruning does not drop it."
    )


def format_duration(seconds: float) -> str:
    """``5m10s``, ``1h02m``, ``42s``: an ETA or elapsed time, as the CLI and the trainer's logs show it."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def evaluation_text(evaluation: dict[str, Any]) -> str | None:
    """``spearman_cosine 0.7012 -> 0.7810 (+0.0798)`` from a camelCase ``status.evaluation``; None when
    there is nothing to show (the CLI's status and train output)."""
    name = evaluation.get("primaryMetric")
    if not name:
        return None

    def num(value: Any, sign: str = "") -> str:
        return f"{value:{sign}.4f}" if isinstance(value, (int, float)) else "-"

    text = f"{name} {num(evaluation.get('baseline'))} -> {num(evaluation.get('final'))}"
    delta = evaluation.get("delta")
    return f"{text} ({num(delta, '+')})" if delta is not None else text
