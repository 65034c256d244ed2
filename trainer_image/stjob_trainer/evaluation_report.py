"""The evaluation report: every metric of the base model and of the trained one, with the delta.

The same evaluator scores both (the baseline before training, the final model after it), so the numbers
compare. The report goes to ``result.json`` (all metrics), the model card (a table) and the resource's
``status.evaluation`` (the primary metric only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stjob.api.spec import QualityGateSpec
from stjob.api.status import EvaluationSummary
from stjob.errors import ConfigError, QualityGateFailed

#: The Trainer prefixes evaluator keys with this; the report names metrics without it.
EVAL_PREFIX = "eval_"
#: The model card section the report appends (a heading people and tests can find).
CARD_HEADING = "## Fine-tuning report: base model vs fine-tuned"


def _strip(scores: dict[str, Any]) -> dict[str, float]:
    return {k.removeprefix(EVAL_PREFIX): float(v) for k, v in scores.items() if isinstance(v, (int, float))}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class MetricComparison:
    """One metric before and after training."""

    baseline: float | None
    final: float | None

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.final is None:
            return None
        return self.final - self.baseline


@dataclass(frozen=True)
class EvaluationReport:
    """Per metric: baseline, final, delta; ``primary`` is the evaluator's primary metric."""

    primary: str
    metrics: dict[str, MetricComparison]

    @classmethod
    def compare(cls, primary: str, baseline: dict[str, Any], final: dict[str, Any]) -> EvaluationReport:
        """``baseline`` and ``final`` as evaluators or the Trainer return them (with or without ``eval_``)."""
        before, after = _strip(baseline), _strip(final)
        names = [*after, *(k for k in before if k not in after)]
        return cls(
            primary,
            {n: MetricComparison(_finite(before.get(n)), _finite(after.get(n))) for n in names},
        )

    @property
    def primary_comparison(self) -> MetricComparison:
        return self.metrics.get(self.primary, MetricComparison(None, None))

    def to_json(self) -> dict[str, Any]:
        """The ``evaluation`` part of ``result.json``."""
        return {
            "primaryMetric": self.primary,
            "metrics": {
                name: {"baseline": m.baseline, "final": m.final, "delta": m.delta} for name, m in self.metrics.items()
            },
        }

    def summary(self) -> EvaluationSummary:
        """The compact ``status.evaluation``: the primary metric only."""
        m = self.primary_comparison
        return EvaluationSummary(primary_metric=self.primary, baseline=m.baseline, final=m.final, delta=m.delta)

    def markdown(self) -> str:
        """A base-vs-fine-tuned table for the model card (primary metric first, in bold)."""
        names = [self.primary, *(n for n in self.metrics if n != self.primary)] if self.primary in self.metrics else []
        names = names or list(self.metrics)
        lines = [
            CARD_HEADING,
            "",
            "Scored with the same evaluators before and after fine-tuning, on the validation split and on "
            "any extra evaluation set (`evaluation.datasets`: its metrics carry the set's name).",
            "",
            "| Metric | Base model | Fine-tuned | Delta |",
            "|:--|--:|--:|--:|",
        ]
        for name in names:
            m = self.metrics[name]
            label = f"**{name}**" if name == self.primary else name
            lines.append(f"| {label} | {_num(m.baseline)} | {_num(m.final)} | {_num(m.delta, signed=True)} |")
        return "\n".join(lines) + "\n"


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def append_to_card(model_dir: Path, report: EvaluationReport) -> bool:
    """Append the table to the saved model card; False when there is no card to extend."""
    card = model_dir / "README.md"
    if not card.is_file():
        return False
    text = card.read_text(encoding="utf-8").rstrip("\n")
    card.write_text(f"{text}\n\n{report.markdown()}", encoding="utf-8")
    return True


def check_gate_metric(gate: QualityGateSpec | None, scores: dict[str, Any]) -> None:
    """ConfigError before training when the gate names a metric the evaluator does not report."""
    names = _strip(scores)
    if gate is not None and gate.metric is not None and names and gate.metric not in names:
        raise ConfigError(
            f"evaluation.gate.metric {gate.metric!r} is not one of the evaluator's metrics: {', '.join(sorted(names))}"
        )


def gate_verdict(gate: QualityGateSpec | None, report: EvaluationReport, model_dir: Path) -> QualityGateFailed | None:
    """None when there is no gate or the model clears it, else the failure to raise (after saving)."""
    if gate is None:
        return None
    metric = gate.metric or report.primary
    m = report.metrics.get(metric, MetricComparison(None, None))
    if m.delta is not None and m.delta >= gate.min_improvement:
        return None
    change = f"{_num(m.baseline)} -> {_num(m.final)}" + (f" ({m.delta:+.4f})" if m.delta is not None else "")
    return QualityGateFailed(
        f"quality gate: {metric} {change}, the gate asks for at least {gate.min_improvement:+.4f}; "
        f"the model stays in {model_dir} and was not pushed",
        evaluation=report.to_json(),
    )
