"""Which checkpoint a restart resumes from, and only when it was trained from the same spec and data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import pytest
import yaml

from stjob.api import SentenceTransformerJobSpec
from stjob.errors import EXIT_CONFIG_ERROR, EXIT_OK
from stjob_trainer.checkpoints import (
    FINGERPRINT_FILE,
    CheckpointMismatch,
    check_resume,
    data_fingerprint,
    find_resume_checkpoint,
    run_fingerprint,
)
from stjob_trainer.entrypoint import execute
from stjob_trainer.reporting import NullReporter
from tests.trainer.jobs import job_document


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


# ------------------------------------------------------------------------------------------ fingerprint


def _spec(**training: Any) -> SentenceTransformerJobSpec:
    return SentenceTransformerJobSpec.model_validate(
        {"trainer": "pair", "data": {"path": "owner/data"}, "training": {"learningRate": 3e-5, **training}}
    )


def _data(*texts: str) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"anchor": list(texts), "positive": [t.upper() for t in texts]})


FINGERPRINT = run_fingerprint(_spec(), data_fingerprint([_data("a", "b"), None], None))


def test_first_run_records_its_fingerprint(tmp_path: Path) -> None:
    assert check_resume(tmp_path / "checkpoints", FINGERPRINT) is None
    recorded = json.loads((tmp_path / "checkpoints" / FINGERPRINT_FILE).read_text())
    assert recorded == FINGERPRINT
    assert recorded["spec"]["training"]["learningRate"] == 3e-5


def test_same_spec_and_data_resume(tmp_path: Path) -> None:
    check_resume(tmp_path, FINGERPRINT)
    newest = _checkpoint(tmp_path, 3, complete=True)

    assert check_resume(tmp_path, run_fingerprint(_spec(), data_fingerprint([_data("a", "b"), None], None))) == newest


def test_changed_spec_refuses_to_resume_and_names_the_field(tmp_path: Path) -> None:
    check_resume(tmp_path, FINGERPRINT)
    _checkpoint(tmp_path, 3, complete=True)

    with pytest.raises(CheckpointMismatch) as info:
        check_resume(tmp_path, run_fingerprint(_spec(learningRate=0.5), FINGERPRINT["data"]))

    assert info.value.exit_code == 3
    assert "checkpoint-3 was trained from another spec or data (changed: training.learningRate)" in info.value.message
    assert "stjob train --fresh" in info.value.message


def test_changed_data_refuses_to_resume(tmp_path: Path) -> None:
    check_resume(tmp_path, FINGERPRINT)
    _checkpoint(tmp_path, 3, complete=True)

    with pytest.raises(CheckpointMismatch, match=r"changed: the data \(its rows\)"):
        check_resume(tmp_path, run_fingerprint(_spec(), data_fingerprint([_data("a", "c"), None], None)))


def test_output_and_resources_do_not_count(tmp_path: Path) -> None:
    spec = _spec().model_copy(update={"output": _spec().output.model_copy(update={"project_name": "elsewhere"})})
    assert run_fingerprint(spec, "d") == run_fingerprint(_spec(), "d")


def test_checkpoints_without_a_fingerprint_are_not_resumed(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 3, complete=True)

    with pytest.raises(CheckpointMismatch, match="records no spec/data fingerprint"):
        check_resume(tmp_path, FINGERPRINT)


def test_fresh_deletes_the_old_checkpoints_and_metrics(tmp_path: Path) -> None:
    check_resume(tmp_path / "checkpoints", FINGERPRINT)
    _checkpoint(tmp_path / "checkpoints", 3, complete=True)
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 3}\n')
    changed = run_fingerprint(_spec(learningRate=0.5), FINGERPRINT["data"])

    assert check_resume(tmp_path / "checkpoints", changed, fresh=True, discard=[metrics]) is None

    assert not (tmp_path / "checkpoints" / "checkpoint-3").exists()
    assert not metrics.exists()
    assert json.loads((tmp_path / "checkpoints" / FINGERPRINT_FILE).read_text()) == changed


# ------------------------------------------------------------------------------------------ end to end


def test_a_finished_run_rerun_with_a_changed_spec_stops_instead_of_resuming(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    """Issue 14 item 1: same projectName, learning rate 0.5 -> a clear stop (exit 3), old run untouched."""
    config = tmp_path / "job.yaml"
    document = job_document("pair_score", dataset_dir("pair_score"), tiny_model_dir, training={"epochs": 1})
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    out = tmp_path / "out"
    assert execute(config, output_dir=out, local=False, reporter=NullReporter()) == EXIT_OK
    run = out / "test-pair-score"
    result_before = (run / "result.json").read_text()
    metrics_before = (run / "metrics.jsonl").read_text()

    changed = job_document("pair_score", dataset_dir("pair_score"), tiny_model_dir, training={"learningRate": 0.5})
    config.write_text(yaml.safe_dump(changed), encoding="utf-8")
    code = execute(config, output_dir=out, local=False, reporter=NullReporter())

    assert code == EXIT_CONFIG_ERROR
    message = json.loads((tmp_path / "termination-log").read_text())["message"]
    assert "was trained from another spec or data (changed: training.learningRate)" in message
    assert "stjob train --fresh" in message
    assert (run / "metrics.jsonl").read_text() == metrics_before  # no fake line appended
    assert json.loads((run / "result.json").read_text())["outcome"] == "Failed"
    assert json.loads(result_before)["outcome"] == "Succeeded"

    assert execute(config, output_dir=out, local=False, reporter=NullReporter(), fresh=True) == EXIT_OK
    result = json.loads((run / "result.json").read_text())
    assert result["resumedFrom"] is None
    assert result["metrics"]["baseline"] is not None  # a fresh run measures its own baseline
    assert sum('"baseline": true' in line for line in (run / "metrics.jsonl").read_text().splitlines()) == 1
