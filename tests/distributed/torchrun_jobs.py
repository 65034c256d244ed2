"""Run a job under the same torchrun command the operator builds, on CPU (gloo), and read what it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stjob.api import SentenceTransformerJob, contract
from stjob.controller.builders import trainer_command
from stjob_trainer.metrics_log import read_metrics

SPY_DIR = Path(__file__).resolve().parent / "status_spy"
#: Environment torchrun (or a parent torchrun, were pytest itself launched by one) would leak into the run.
_DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK")


@dataclass
class TorchrunResult:
    """What a torchrun'ed trainer left behind: exit code, combined log, run folder, status patches."""

    returncode: int
    log: str
    run_dir: Path
    termination: dict[str, Any] | None
    patches: list[dict[str, Any]]

    @property
    def result(self) -> dict[str, Any]:
        """``result.json`` (rank 0 writes it on success)."""
        loaded: dict[str, Any] = json.loads((self.run_dir / "result.json").read_text())
        return loaded

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The lines of ``metrics.jsonl``."""
        return read_metrics(self.run_dir / "metrics.jsonl")


def local_command(job: SentenceTransformerJob, config: Path) -> list[str]:
    """The operator's container command for ``job``, pointed at this interpreter and a local job file."""
    command = trainer_command(job.spec, job.metadata.name)
    assert command[:3] == ["python", "-m", "stjob_trainer.launch"], command
    assert command[-2:] == ["--config", contract.CONFIG_PATH], command
    return [sys.executable, *command[1:-1], str(config)]


def run_under_torchrun(document: dict[str, Any], tmp_path: Path, *, timeout: float = 240) -> TorchrunResult:
    """Write ``document`` as the job file and run it like a pod would (reporter, paths, termination log)."""
    job = SentenceTransformerJob.model_validate(document)
    config = tmp_path / "job.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    output, spy, termination = tmp_path / "output", tmp_path / "status-patches.jsonl", tmp_path / "termination-log"
    env = {key: value for key, value in os.environ.items() if key not in _DISTRIBUTED_ENV}
    env.update(
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf-home"),
        # The container contract (docs/contracts.md), with local folders instead of volumes.
        STJOB_NAME=job.metadata.name,
        STJOB_NAMESPACE="ml",
        STJOB_REPORTER="kubernetes",
        STJOB_OUTPUT_DIR=str(output),
        STJOB_TERMINATION_LOG=str(termination),
        STJOB_TEST_STATUS_SPY=str(spy),
        PYTHONPATH=os.pathsep.join([str(SPY_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    completed = subprocess.run(
        local_command(job, config),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    patches = [json.loads(line) for line in spy.read_text().splitlines()] if spy.exists() else []
    message = json.loads(termination.read_text()) if termination.exists() else None
    return TorchrunResult(
        returncode=completed.returncode,
        log=completed.stdout + completed.stderr,
        run_dir=output / job.spec.output.project_name,
        termination=message,
        patches=patches,
    )
