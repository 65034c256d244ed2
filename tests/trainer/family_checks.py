"""Checks every model family's run shares (embedding, reranker, sparse): stop and resume, early stopping, Hub push."""

from __future__ import annotations

import json
from typing import Any

import pytest
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from stjob_trainer import hub
from stjob_trainer.run import RunResult
from stjob_trainer.signals import StopFlag

#: Nothing improves at this learning rate, so early stopping (patience 1) must end training at step 4:
#: evaluations at 2 and 4, no improvement at 4.
EARLY_STOPPING_TRAINING: dict[str, Any] = {
    "epochs": 5,
    "learningRate": 1e-9,
    "evalStrategy": "steps",
    "evalSteps": 2,
    "earlyStopping": {"patience": 1, "threshold": 0.5},
}


class StopAfter(TrainerCallback):  # type: ignore[misc]
    """Plays the SIGTERM handler: raises the stop flag once ``step`` is reached."""

    def __init__(self, flag: StopFlag, step: int) -> None:
        self.flag, self.step = flag, step

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if state.global_step >= self.step:
            self.flag.set()


def assert_stopped_early_keeping_the_best(result: RunResult, primary_metric: str) -> None:
    """A run with :data:`EARLY_STOPPING_TRAINING` stopped at step 4 and kept step 2's model by ``primary_metric``."""
    assert result.global_step == 4
    state = json.loads(next(result.run_dir.glob("checkpoints/checkpoint-*/trainer_state.json")).read_text())
    assert state["best_model_checkpoint"].endswith("checkpoint-2")
    key = f"eval_{primary_metric}"
    assert state["best_metric"] == pytest.approx(
        next(e[key] for e in state["log_history"] if e.get("step") == 2 and key in e)
    )


class FakeHubApi:
    """Stands in for ``huggingface_hub.HfApi``: records the token and the calls."""

    def __init__(self, token: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.token, self.calls = token, calls

    def create_repo(self, **kwargs: Any) -> None:
        self.calls.append(("create_repo", kwargs))

    def upload_folder(self, **kwargs: Any) -> None:
        self.calls.append(("upload_folder", kwargs))


def fake_hub(monkeypatch: pytest.MonkeyPatch, token: str) -> list[FakeHubApi]:
    """Sets ``HF_TOKEN`` and replaces the Hub client; returns the clients the run creates (calls on each)."""
    monkeypatch.setenv("HF_TOKEN", token)
    apis: list[FakeHubApi] = []

    def make(t: str) -> FakeHubApi:
        apis.append(FakeHubApi(t, []))
        return apis[-1]

    monkeypatch.setattr(hub, "_hf_api", make)
    return apis


def assert_pushed(result: RunResult, apis: list[FakeHubApi], repo_id: str) -> None:
    """The run created ``repo_id`` and uploaded its model folder, whose card names the repository."""
    assert result.hub_url == f"https://huggingface.co/{repo_id}"
    calls = apis[0].calls
    assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
    assert calls[1][1]["folder_path"] == str(result.model_path)
    assert repo_id in (result.model_path / "README.md").read_text(encoding="utf-8")
