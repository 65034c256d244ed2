"""Termination message (≤ 4 KiB JSON) and result.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stjob.api.contract import MAX_TERMINATION_BYTES, TerminationMessage
from stjob_trainer import outcome
from stjob_trainer.outcome import write_result, write_termination_message

SUCCEEDED = TerminationMessage(outcome="Succeeded")


def test_message_is_compact_json_without_nulls() -> None:
    text = TerminationMessage(outcome="Succeeded", model_path="/output/p/model", hub_url=None).to_json()
    assert json.loads(text) == {"outcome": "Succeeded", "modelPath": "/output/p/model"}


def test_long_messages_are_cut_to_4_kib() -> None:
    text = TerminationMessage(outcome="Failed", reason="DataError", message="é" * 10_000).to_json()
    assert len(text.encode()) <= MAX_TERMINATION_BYTES
    data = json.loads(text)
    assert data["reason"] == "DataError" and data["message"].endswith("…")


def test_path_from_env_and_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "t"))
    write_termination_message(SUCCEEDED)
    assert json.loads((tmp_path / "t").read_text()) == {"outcome": "Succeeded"}
    monkeypatch.delenv("STJOB_TERMINATION_LOG")
    monkeypatch.setattr(outcome, "DEFAULT_TERMINATION_LOG", tmp_path / "missing")
    assert outcome.termination_log_path() is None
    (tmp_path / "dev-log").write_text("")
    monkeypatch.setattr(outcome, "DEFAULT_TERMINATION_LOG", tmp_path / "dev-log")
    assert outcome.termination_log_path() == tmp_path / "dev-log"


def test_unwritable_termination_log_is_not_fatal(tmp_path: Path) -> None:
    write_termination_message(SUCCEEDED, path=tmp_path / "no" / "such" / "dir")


def test_result_json(tmp_path: Path) -> None:
    path = write_result(tmp_path, {"outcome": "Succeeded", "metrics": {"best": 0.5}})
    assert json.loads(path.read_text())["metrics"] == {"best": 0.5}
    assert not list(tmp_path.glob("*.tmp"))
