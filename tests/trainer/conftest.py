"""Trainer test fixtures: per-shape datasets from the shared corpora (built once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.trainer.jobs import write_dataset


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``dataset_dir("pair_score")`` → a folder with train.csv (96 rows) and valid.csv (32 rows)."""
    cache: dict[str, Path] = {}

    def get(trainer: str) -> Path:
        if trainer not in cache:
            cache[trainer] = write_dataset(tmp_path_factory.mktemp(f"data-{trainer}"), trainer)
        return cache[trainer]

    return get


@pytest.fixture(autouse=True)
def _no_termination_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never touch a real /dev/termination-log from tests; tests that read it set their own path.
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))
