"""Loss and evaluation curves from a run's ``metrics.jsonl`` (``stjob plot RUN_DIR``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from stjob.api import contract
from stjob.errors import DataError

# Keys of an evaluation event that are bookkeeping, not a metric worth a curve.
_EVAL_BOOKKEEPING = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "eval_loss")


@dataclass
class Curves:
    """Series read from a metrics file: x is the optimizer step."""

    train_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_loss: list[tuple[int, float]] = field(default_factory=list)
    eval_metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def read_curves(metrics_file: Path) -> Curves:
    """Parse ``metrics.jsonl``; a broken line is a DataError naming the line."""
    curves = Curves()
    try:
        lines = metrics_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read metrics: {exc.strerror}", file=str(metrics_file)) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not JSON: {exc.msg}", file=str(metrics_file), row=number) from None
        step = event.get("step")
        if not isinstance(step, int):
            continue
        if _is_number(event.get("loss")):
            curves.train_loss.append((step, float(event["loss"])))
        if _is_number(event.get("eval_loss")):
            curves.eval_loss.append((step, float(event["eval_loss"])))
        for key, value in event.items():
            if key.startswith("eval_") and key not in _EVAL_BOOKKEEPING and _is_number(value):
                curves.eval_metrics.setdefault(key, []).append((step, float(value)))
    return curves


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def plot_run(run_dir: Path, out: Path | None = None, metrics: list[str] | None = None) -> Path:
    """Draw training/eval loss and eval metrics to a PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics_file = run_dir / contract.METRICS_FILE if run_dir.is_dir() else run_dir
    curves = read_curves(metrics_file)
    if not curves.train_loss and not curves.eval_metrics and not curves.eval_loss:
        raise DataError("no loss or evaluation metric to plot", file=str(metrics_file))
    wanted = {k: v for k, v in curves.eval_metrics.items() if not metrics or k in metrics}
    panels = 2 if wanted else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    loss_ax = axes[0][0]
    if curves.train_loss:
        loss_ax.plot(*zip(*curves.train_loss, strict=True), label="train loss")
    if curves.eval_loss:
        loss_ax.plot(*zip(*curves.eval_loss, strict=True), marker="o", label="eval loss")
    loss_ax.set(xlabel="step", ylabel="loss", title="Loss")
    loss_ax.legend()
    loss_ax.grid(alpha=0.3)
    if wanted:
        metric_ax = axes[0][1]
        for key, series in sorted(wanted.items()):
            metric_ax.plot(*zip(*series, strict=True), marker="o", label=key.removeprefix("eval_"))
        metric_ax.set(xlabel="step", ylabel="value", title="Evaluation")
        metric_ax.legend(fontsize="small")
        metric_ax.grid(alpha=0.3)
    fig.suptitle(run_dir.name if run_dir.is_dir() else run_dir.parent.name)
    fig.tight_layout()
    target = out or (metrics_file.parent / "metrics.png")
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
