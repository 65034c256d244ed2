"""The Hub token never leaves the trainer: a canary of no known shape, real runs, everything they send or write.

The token arrives as it does in the pod (``HF_TOKEN``, from the Secret reference), the trainer runs as its
own process (``python -m stjob_trainer``) with the real Kubernetes reporter talking TLS to a recording API
server, and the Hub is a recording server that refuses the token and quotes it back in its error (a library
or a service echoing credentials). The canary is random letters and digits, so only the exact-value
redaction can hide it: no pattern (``hf_``, Bearer, AWS) matches it. Scanned: every request to the API
server and every request to the Hub except its Authorization header (where the token belongs), stdout,
stderr, the termination message, and every file under the output root (result.json, metrics.jsonl, ...).
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from stjob.api import contract
from stjob.errors import EXIT_DATA_ERROR
from stjob_trainer.reporting import PROGRESS_INTERVAL_ENV
from tests.support.recording_api import (
    SERVICE_ACCOUNT_TOKEN,
    Recorded,
    RecordingServer,
    hostile_hub_answer,
    in_cluster,
    trainer_command,
)
from tests.trainer.jobs import job_document, write_dataset

ROOT = Path(__file__).resolve().parents[2]
#: Generous: the tiny model trains in seconds; this only stops a hung process from hanging the suite.
PROCESS_TIMEOUT_S = 600


def no_shape_canary() -> str:
    """24 random letters and digits (starting with a letter that makes no known prefix), matched by no pattern."""
    alphabet = string.ascii_letters + string.digits
    canary = "q" + "".join(secrets.choice(alphabet) for _ in range(23))
    assert contract.redact(canary) == canary, "the canary must have no recognisable shape"
    return canary


@dataclass
class Run:
    """One trainer process and everything it left behind."""

    code: int
    stdout: str
    stderr: str
    termination: str
    output_root: Path
    api: list[Recorded]
    hub: list[Recorded]


def run_trainer(tmp_path: Path, doc: dict[str, Any], token: str) -> Run:
    """``python -m stjob_trainer`` as in the pod: HF_TOKEN, the in-cluster reporter, a hostile Hub."""
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(doc), encoding="utf-8")
    output_root, termination = tmp_path / "out", tmp_path / "termination-log"
    with in_cluster(tmp_path / "cluster") as (api, cluster), RecordingServer(hostile_hub_answer) as hub:
        env = {
            **{k: v for k, v in os.environ.items() if k != contract.ENV_HF_TOKEN},
            **cluster.env,
            contract.ENV_HF_TOKEN: token,
            contract.ENV_REPORTER: contract.REPORTER_KUBERNETES,
            contract.ENV_NAME: str(doc["metadata"]["name"]),
            contract.ENV_NAMESPACE: "ml",
            contract.ENV_OUTPUT_DIR: str(output_root),
            contract.ENV_TERMINATION_LOG: str(termination),
            PROGRESS_INTERVAL_ENV: "0",  # a progress line per step: more text to scan
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "0",  # the push must reach the stand-in Hub
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        proc = subprocess.run(
            trainer_command(cluster, "--config", str(job)),
            env=env,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_S,
            check=False,
        )
        text = termination.read_text(encoding="utf-8") if termination.exists() else ""
        return Run(proc.returncode, proc.stdout, proc.stderr, text, output_root, api.recorded(), hub.recorded())


def leaks(run: Run, canary: str) -> list[str]:
    """Every place the canary shows up (empty: none)."""
    found = [f"api request {r.method} {r.path}" for r in run.api if canary in r.text_without()]
    found += [f"hub request {r.method} {r.path}" for r in run.hub if canary in r.text_without("Authorization")]
    found += [name for name, text in (("stdout", run.stdout), ("stderr", run.stderr)) if canary in text]
    found += ["termination message"] if canary in run.termination else []
    files = [p for p in run.output_root.rglob("*") if p.is_file()] if run.output_root.exists() else []
    found += [str(p) for p in files if canary.encode() in p.read_bytes()]
    return found


PUSH = {"projectName": "canary", "hub": {"push": True, "username": "me", "tokenSecretRef": {"name": "hf"}}}


def test_a_trained_run_whose_push_is_refused_leaks_the_token_nowhere(tmp_path: Path, tiny_model_dir: Path) -> None:
    canary = no_shape_canary()
    data = write_dataset(tmp_path / "data", "pair_score", n_train=32, n_valid=16)
    doc = job_document("pair_score", data, tiny_model_dir, output=PUSH, training={"loggingSteps": 1})
    run = run_trainer(tmp_path, doc, canary)
    # The token really flowed: it reached the Hub (and only in Authorization), which refused it.
    assert run.hub and all(r.header("Authorization") == f"Bearer {canary}" for r in run.hub), run.stderr[-3000:]
    assert run.code != 0 and "Failed" in run.termination, run.stderr[-3000:]
    # The real reporter patched the status over TLS with the ServiceAccount token, progress and metrics included.
    status = "/namespaces/ml/sentencetransformerjobs/test-pair-score/status"
    patches = [r for r in run.api if r.method == "PATCH" and r.path.endswith(status)]
    assert patches and all(
        (r.header("Authorization") or "").lower() == f"bearer {SERVICE_ACCOUNT_TOKEN}" for r in patches
    )
    assert any(b'"progress"' in r.body and b'"metrics"' in r.body for r in patches)
    # What the run wrote: the scan below must have something to scan.
    run_dir = run.output_root / "canary"
    assert (run_dir / contract.METRICS_FILE).is_file() and (run_dir / contract.RESULT_FILE).is_file()
    assert leaks(run, canary) == []
    # The Hub's error quoted the token back; the message says so, masked by the token's exact value.
    assert f"The credential {contract.REDACTED} was rejected" in run.termination, run.termination


def test_a_bad_data_row_leaks_the_token_nowhere(tmp_path: Path, tiny_model_dir: Path) -> None:
    canary = no_shape_canary()
    data = write_dataset(tmp_path / "data", "pair_score", n_train=32, n_valid=16)
    with (data / "train.csv").open("a", encoding="utf-8") as train:
        train.write(f"a sentence,another one,{canary}\n")  # the token quoted in the data: the error names the value
    doc = job_document("pair_score", data, tiny_model_dir, output=PUSH)
    run = run_trainer(tmp_path, doc, canary)
    assert run.code == EXIT_DATA_ERROR, run.stderr[-3000:]
    assert leaks(run, canary) == []
    # Row 34 counts the header line; the quoted value was masked by its exact value (no pattern matches it).
    assert "DataError" in run.termination and "row 34" in run.termination, run.termination
    assert f"'{contract.REDACTED}'" in run.termination


@pytest.mark.parametrize("canary", ["hf_CANARYcanaryCANARY1234", "Bearer abcdefgh12345678"])
def test_a_token_of_known_shape_is_no_canary(canary: str) -> None:
    """The reason the canary above is random: these are masked by their shape alone, exact-value masking unused."""
    assert contract.redact(canary) != canary
