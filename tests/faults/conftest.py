"""Fault-injection fixtures: the controller suite's emulator and operator, the trainer suite's datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller.conftest import emulator, operator
from tests.trainer.conftest import dataset_dir

__all__ = ["dataset_dir", "emulator", "operator"]


@pytest.fixture(autouse=True)
def _no_termination_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never touch a real /dev/termination-log; tests read the trainer's message from here.
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))
