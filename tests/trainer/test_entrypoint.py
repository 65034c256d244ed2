"""The trainer process: exit codes, termination message, result.json, SIGTERM, and ``stjob train``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stjob.cli import app
from stjob.errors import (
    EXIT_CONFIG_ERROR,
    EXIT_DATA_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_QUALITY_GATE,
    NON_RETRYABLE_EXIT_CODES,
)
from stjob_trainer import families
from stjob_trainer import run as run_module
from stjob_trainer.entrypoint import execute
from stjob_trainer.reporting import NullReporter
from tests.trainer.jobs import job_document, write_dataset

REPO = Path(__file__).resolve().parents[2]


def _write_job(path: Path, doc: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _termination(tmp_path: Path) -> dict[str, object]:
    return json.loads((tmp_path / "termination-log").read_text(encoding="utf-8"))


def test_success_writes_termination_message_and_result(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    config = _write_job(tmp_path / "job.yaml", job_document("triplet", dataset_dir("triplet"), tiny_model_dir))
    code = execute(config, output_dir=tmp_path / "out", local=False, reporter=NullReporter())
    assert code == EXIT_OK
    message = _termination(tmp_path)
    model_path = tmp_path / "out" / "test-triplet" / "model"
    assert message == {"outcome": "Succeeded", "modelPath": str(model_path)}
    assert (model_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "out" / "test-triplet" / "result.json").read_text())["outcome"] == "Succeeded"


def test_a_missed_quality_gate_keeps_the_model_pushes_nothing_and_fails_for_good(
    tmp_path: Path,
    tiny_model_dir: Path,
    dataset_dir: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_TESTtokenNEVERused1234567890")
    pushed: list[Path] = []
    monkeypatch.setattr(run_module, "push_model", lambda folder, *a, **kw: pushed.append(folder) or "https://hf.co/x")
    doc = job_document(
        "pair_score",
        dataset_dir("pair_score"),
        tiny_model_dir,
        evaluation={"gate": {"minImprovement": 1.0}},  # no fine-tuning gains a full point of Spearman
        output={"projectName": "gated", "hub": {"push": True, "username": "alice", "tokenSecretRef": {"name": "hf"}}},
    )
    code = execute(
        _write_job(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )

    assert code == EXIT_QUALITY_GATE and EXIT_QUALITY_GATE in NON_RETRYABLE_EXIT_CODES
    message = _termination(tmp_path)
    assert message["outcome"] == "Failed" and message["reason"] == "QualityGateFailed"
    assert "spearman_cosine" in str(message["message"]) and "at least +1.0000" in str(message["message"])
    run_dir = tmp_path / "out" / "gated"
    assert (run_dir / "model" / "model.safetensors").is_file()  # kept on the output volume
    assert pushed == []
    result = json.loads((run_dir / "result.json").read_text())
    assert result["reason"] == "QualityGateFailed"
    assert set(result["evaluation"]["metrics"]["spearman_cosine"]) == {"baseline", "final", "delta"}

    # The same job with a gate it clears (a tolerated loss of a full point) ships.
    doc["spec"]["evaluation"] = {"gate": {"metric": "pearson_cosine", "minImprovement": -1.0}}
    code = execute(
        _write_job(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out2", local=False, reporter=NullReporter()
    )
    assert code == EXIT_OK and len(pushed) == 1


def test_a_gate_on_an_unknown_metric_fails_before_training(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    doc = job_document(
        "pair_score", dataset_dir("pair_score"), tiny_model_dir, evaluation={"gate": {"metric": "spearman_cosin"}}
    )
    code = execute(
        _write_job(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )
    assert code == EXIT_CONFIG_ERROR
    message = str(_termination(tmp_path)["message"])
    assert "evaluation.gate.metric 'spearman_cosin'" in message and "spearman_cosine" in message
    assert not list((tmp_path / "out").rglob("checkpoint-*"))


def test_bad_data_fails_with_data_error_before_any_model_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("sentence1,sentence2,score\na,b,0.5\nc,d,abc\n", encoding="utf-8")

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not be loaded before the data is validated")

    monkeypatch.setattr(families, "load_model", no_model)
    doc = job_document("pair_score", data, "no-such-org/no-such-model", data={"validSplit": None})
    config = _write_job(tmp_path / "job.yaml", doc)
    code = execute(config, output_dir=tmp_path / "out", local=False, reporter=NullReporter())
    assert code == EXIT_DATA_ERROR
    message = _termination(tmp_path)
    assert message["outcome"] == "Failed" and message["reason"] == "DataError"
    assert "train.csv" in str(message["message"]) and "abc" in str(message["message"])
    result = json.loads((tmp_path / "out" / "test-pair-score" / "result.json").read_text())
    assert result["outcome"] == "Failed" and result["reason"] == "DataError"


def test_unknown_model_is_a_config_error(tmp_path: Path, dataset_dir: Callable[[str], Path]) -> None:
    doc = job_document("pair_score", dataset_dir("pair_score"), "no-such-org/no-such-model-xyz")
    config = _write_job(tmp_path / "job.yaml", doc)
    assert execute(config, output_dir=tmp_path / "out", local=False, reporter=NullReporter()) == EXIT_CONFIG_ERROR
    message = _termination(tmp_path)
    assert message["reason"] == "ConfigError" and "no-such-org/no-such-model-xyz" in str(message["message"])


def test_invalid_spec_is_a_config_error(tmp_path: Path) -> None:
    doc = job_document("triplet", tmp_path, "m")
    doc["spec"]["data"]["columns"] = {}  # triplet without sentence3
    config = _write_job(tmp_path / "job.yaml", doc)
    assert execute(config, output_dir=tmp_path / "out", local=False, reporter=NullReporter()) == EXIT_CONFIG_ERROR
    assert "sentence3" in str(_termination(tmp_path)["message"])


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_dataset(tmp_path / "data", "pair_score", n_train=1200, n_valid=16)
    doc = job_document("pair_score", data, tiny_model_dir, training={"epochs": 3, "batchSize": 8, "loggingSteps": 1})
    config = _write_job(tmp_path / "job.yaml", doc)
    termination = tmp_path / "termination-log"
    env = {
        **os.environ,
        "STJOB_TERMINATION_LOG": str(termination),
        "STJOB_OUTPUT_DIR": str(tmp_path / "out"),
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "stjob_trainer", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    seen = []
    for line in proc.stdout:  # the Trainer prints one dict per logged step in container mode
        seen.append(line)
        if "'loss'" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    output = "".join(seen) + rest
    assert proc.returncode == EXIT_INTERRUPTED, output
    message = json.loads(termination.read_text())
    assert message["outcome"] == "Interrupted"
    checkpoint = Path(str(message["checkpoint"]))
    assert checkpoint.parent == tmp_path / "out" / "test-pair-score" / "checkpoints"
    assert (checkpoint / "trainer_state.json").is_file()
    assert not (tmp_path / "out" / "test-pair-score" / "model").exists()


def test_stjob_train_cli(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "project"
    write_dataset(folder / "data", "pair_score", n_train=32, n_valid=16)
    # Relative paths in the job file resolve against the job file's folder.
    doc = job_document("pair_score", Path("data"), tiny_model_dir)
    config = _write_job(folder / "job.yaml", doc)
    result = CliRunner().invoke(app, ["train", str(config), "--output-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "test-pair-score" / "model" / "modules.json").is_file()
    assert (tmp_path / "runs" / "test-pair-score" / "metrics.jsonl").is_file()
