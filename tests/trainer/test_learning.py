"""Training learns: the weights move, the logged loss falls, and AutoTrain's default optimizer really steps.

The tiny BERT (tests/conftest.py) and a fixed seed keep this fast and repeatable; the pretrained-model
check (the score beats the baseline by a margin) is in tests/trainer/test_minilm.py (slow).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from stjob_trainer.metrics_log import read_metrics
from stjob_trainer.run import run_job
from tests.trainer.jobs import make_job

#: The loss (mean of the last three logged steps against the first three: one batch is noisy) must fall
#: by at least this fraction.
MIN_LOSS_DROP = 0.05


class OptimizerSpy(TrainerCallback):  # type: ignore[misc]
    """Records the optimizer the Trainer built, and whether each step changed any parameter."""

    def __init__(self) -> None:
        self.optimizer: Any = None
        self.steps_that_moved: list[bool] = []
        self._before: list[torch.Tensor] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        self.optimizer = optimizer

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._before = [p.detach().clone() for p in model.parameters() if p.requires_grad]

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        after = [p.detach() for p in model.parameters() if p.requires_grad]
        self.steps_that_moved.append(any(not torch.equal(a, b) for a, b in zip(after, self._before, strict=True)))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    (file,) = folder.rglob("model.safetensors")
    return load_file(str(file))


def test_default_optimizer_is_fused_adamw_and_every_step_moves_the_weights(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    """AutoTrain's adamw_torch runs as torch's fused AdamW: it must be that optimizer, and it must step."""
    spy = OptimizerSpy()
    job = make_job(
        "pair_score",
        dataset_dir("pair_score"),
        tiny_model_dir,
        training={"epochs": 6, "learningRate": 2e-3, "warmupRatio": 0.0, "seed": 7, "loggingSteps": 1},
    )
    assert job.spec.training.optimizer == "adamw_torch"  # the AutoTrain default, unchanged by the test
    result = run_job(job, output_dir=tmp_path, callbacks=[spy])

    inner = getattr(spy.optimizer, "optimizer", spy.optimizer)  # accelerate wraps it
    assert isinstance(inner, torch.optim.AdamW) and inner.defaults.get("fused") is True, inner
    assert spy.steps_that_moved and all(spy.steps_that_moved), spy.steps_that_moved

    before, after = _weights(tiny_model_dir), _weights(result.model_path)
    assert before.keys() == after.keys()
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) > len(before) // 2, f"only {len(changed)} of {len(before)} tensors changed"

    losses = [event["loss"] for event in read_metrics(result.metrics_path) if "loss" in event]
    assert len(losses) >= 10, losses
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first * (1 - MIN_LOSS_DROP), f"the loss did not fall: {losses}"
