"""Fault-injection fixtures: the controller suite's emulator and operator, the trainer suite's datasets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest

from tests.controller.conftest import emulator, operator
from tests.faults import injection
from tests.trainer.conftest import dataset_dir

__all__ = ["dataset_dir", "emulator", "operator"]


@pytest.fixture(autouse=True)
def _no_termination_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never touch a real /dev/termination-log; tests read the trainer's message from here.
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))


@pytest.fixture(autouse=True)
def _faults_answer_before_any_write(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An API error the test injects writes nothing (as on a real API server); creates go into a ledger."""
    monkeypatch.setattr(kmock.KubernetesEmulator, "_handle", injection.handle_with_faults)
    if "emulator" not in request.fixturenames:
        yield
        return
    emulator: Any = request.getfixturevalue("emulator")
    injection.ledger(emulator)
    yield
    injection.forget(emulator)
