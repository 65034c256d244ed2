"""Which checkpoint a restart resumes from."""

from __future__ import annotations

from pathlib import Path

from stjob_trainer.checkpoints import find_resume_checkpoint


def _checkpoint(root: Path, step: int, *, complete: bool) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_newest_complete_checkpoint_by_step(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 9, complete=True)
    newest = _checkpoint(tmp_path, 10, complete=True)  # 10 > 9 numerically, though "10" < "9" as text
    _checkpoint(tmp_path, 12, complete=False)  # cut off mid-save
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "runs").mkdir()
    assert find_resume_checkpoint(tmp_path) == newest


def test_nothing_to_resume(tmp_path: Path) -> None:
    assert find_resume_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 3, complete=False)
    assert find_resume_checkpoint(tmp_path) is None
