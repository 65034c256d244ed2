"""The trainer under fire: SIGTERM/SIGKILL mid-epoch, a half-written checkpoint, a flaky status API,
a full disk, malformed data end to end, and the Hub token.

Already proven elsewhere: SIGTERM → checkpoint + exit 143 + Interrupted message (tests/trainer/test_entrypoint.py,
here only the time bound is added); an empty checkpoint folder is skipped (tests/trainer/test_run.py); the 36
malformed datasets raise DataError naming file/row/column (tests/trainer/test_data_loading.py, here they go
through the process entry point); reporter failures never raise (tests/trainer/test_reporting.py, with a fake).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

from stjob.errors import EXIT_DATA_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_STORAGE_ERROR
from stjob_trainer import hub
from stjob_trainer import run as run_module
from stjob_trainer.entrypoint import execute
from stjob_trainer.reporting import KubernetesReporter, NullReporter
from stjob_trainer.run import run_job
from tests.trainer.jobs import job_document, make_job, write_dataset
from tests.trainer.test_data_loading import BAD, COLUMNS, Bad, write

ROOT = Path(__file__).resolve().parents[2]
CANARY = "hf_CANARYcanaryCANARY1234"
#: Kubernetes' default terminationGracePeriodSeconds: SIGKILL follows SIGTERM after this long.
GRACE_SECONDS = 30


def _job_file(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _termination(tmp_path: Path) -> dict[str, Any]:
    message: dict[str, Any] = json.loads((tmp_path / "termination-log").read_text(encoding="utf-8"))
    return message


# ------------------------------------------------------------------------------ malformed data, end to end


@pytest.mark.parametrize("case", BAD, ids=[case.id for case in BAD])
def test_malformed_data_exits_4_with_a_data_error_termination_message(tmp_path: Path, case: Bad) -> None:
    data = tmp_path / "data"
    write(data, case.files)
    doc = job_document(case.trainer, data / case.path, "no-model-needed", data={"validSplit": case.valid})
    doc["spec"]["data"]["columns"] = COLUMNS[case.trainer]
    code = execute(
        _job_file(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )
    assert code == EXIT_DATA_ERROR == 4
    message = _termination(tmp_path)
    assert message["outcome"] == "Failed" and message["reason"] == "DataError"
    text = str(message["message"])
    assert case.file in text and str(data) in text
    if case.row is not None:
        assert f"row {case.row}" in text
    if case.column is not None:
        assert f"column {case.column!r}" in text
    assert len(json.dumps(message).encode()) <= 4096


# ------------------------------------------------------------------------------ full disk


@contextlib.contextmanager
def small_volume(mountpoint: Path, *, size: str = "64k", read_only: bool = False) -> Iterator[Path]:
    """A real filesystem that is full (``size``) or read-only at ``mountpoint``: a tmpfs (needs root)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    command = ["mount", "-t", "tmpfs", "-o", options, "stjob-test", str(mountpoint)]
    mounted = subprocess.run(command, capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for a real full disk (needs root): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.parametrize(
    ("where", "read_only", "code"),
    [("checkpoints", False, errno.ENOSPC), ("model", False, errno.ENOSPC), ("checkpoints", True, errno.EROFS)],
)
def test_full_or_read_only_output_volume_exits_6_with_storage_error(
    tmp_path: Path, tiny_model_dir: Path, where: str, read_only: bool, code: int
) -> None:
    """A real 64 KiB tmpfs (or a read-only one) where the checkpoints or the final model go."""
    data = write_dataset(tmp_path / "data", "pair_score", n_train=32, n_valid=16)
    doc = job_document("pair_score", data, tiny_model_dir)
    output = tmp_path / "out"
    with small_volume(output / "test-pair-score" / where, read_only=read_only):
        result = execute(_job_file(tmp_path / "job.yaml", doc), output_dir=output, local=False, reporter=NullReporter())
    assert result == EXIT_STORAGE_ERROR == 6, _termination(tmp_path)
    message = _termination(tmp_path)
    assert message["outcome"] == "Failed" and message["reason"] == "StorageError"
    assert "cannot write the output" in message["message"] and os.strerror(code) in message["message"]


def test_quota_exceeded_on_the_final_model_exits_6(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EDQUOT: no quota-enabled filesystem to mount here, so this one errno is raised by hand."""
    data = write_dataset(tmp_path / "data", "pair_score", n_train=32, n_valid=16)

    def over_quota(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), "/output/test-pair-score/model/model.safetensors")

    monkeypatch.setattr(SentenceTransformer, "save_pretrained", over_quota)
    doc = job_document("pair_score", data, tiny_model_dir)
    result = execute(
        _job_file(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )
    assert result == EXIT_STORAGE_ERROR == 6
    message = _termination(tmp_path)
    assert message["reason"] == "StorageError" and os.strerror(errno.EDQUOT) in message["message"]


# ------------------------------------------------------------------------------ the status API misbehaves


class _StatusApi(BaseHTTPRequestHandler):
    """Answers the first ``failures`` status PATCHes with 500/429 (then hangs up once), then 200."""

    failures: ClassVar[list[int]] = []
    received: ClassVar[list[dict[str, Any]]] = []
    answered: ClassVar[list[int]] = []

    def do_PATCH(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        code = self.failures.pop(0) if self.failures else 200
        self.answered.append(code)
        if code == 200:
            self.received.append(body)
        payload = json.dumps({"kind": "Status", "code": code} if code != 200 else body).encode()
        self.send_response(code)
        if code == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture()
def status_api() -> Iterator[tuple[str, type[_StatusApi]]]:
    _StatusApi.failures, _StatusApi.received, _StatusApi.answered = [500, 429, 500, 429, 503], [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _StatusApi
    server.shutdown()
    server.server_close()


def test_status_api_errors_never_stop_training_and_the_final_patch_catches_up(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path], status_api: tuple[str, type[_StatusApi]]
) -> None:
    from kubernetes import client

    url, server = status_api
    configuration = client.Configuration(host=url)
    configuration.retries = 0
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    reporter = KubernetesReporter("sick", "ml", api=api, min_interval=0.05, close_timeout=10)
    job = make_job("pair_score", dataset_dir("pair_score"), tiny_model_dir, training={"loggingSteps": 1})
    result = run_job(job, output_dir=tmp_path, reporter=reporter)
    assert result.model_path.is_dir()
    assert server.answered[:5] == [500, 429, 500, 429, 503]  # every injected error was served
    assert reporter.patches_failed >= 5
    final = server.received[-1]["status"]
    assert final["progress"]["step"] == result.global_step
    assert final["progress"]["percent"] == 100
    assert final["output"]["modelPath"] == str(result.model_path)


# ------------------------------------------------------------------------------ signals


def _start_training(tmp_path: Path, tiny_model_dir: Path, **training: Any) -> tuple[subprocess.Popen[str], Path]:
    data = write_dataset(tmp_path / "data", "pair_score", n_train=1200, n_valid=16)
    doc = job_document("pair_score", data, tiny_model_dir, training={"epochs": 3, "batchSize": 8, **training})
    config = _job_file(tmp_path / "job.yaml", doc)
    env = {
        **os.environ,
        "STJOB_TERMINATION_LOG": str(tmp_path / "termination-log"),
        "STJOB_OUTPUT_DIR": str(tmp_path / "out"),
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "stjob_trainer", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    return process, tmp_path / "out" / "test-pair-score"


def _read_until(process: subprocess.Popen[str], predicate: Callable[[], bool], timeout: float) -> str:
    """Drain the output until ``predicate()`` holds (checked per line); fail after ``timeout``."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if predicate():
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen[-30:])
    raise AssertionError("the trainer ended early:\n" + "".join(seen[-30:]))


@pytest.mark.slow
def test_sigterm_mid_epoch_exits_within_the_grace_period(tmp_path: Path, tiny_model_dir: Path) -> None:
    process, _run_dir = _start_training(tmp_path, tiny_model_dir, loggingSteps=1)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the Trainer prints one dict per logged step in container mode
            if "'loss'" in line:
                break
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=GRACE_SECONDS + 30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == EXIT_INTERRUPTED
    assert took < GRACE_SECONDS, f"exited {took:.1f}s after SIGTERM: the kubelet would have SIGKILLed it"
    message = _termination(tmp_path)
    assert message["outcome"] == "Interrupted"
    assert (Path(message["checkpoint"]) / "trainer_state.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["no trainer_state.json", "truncated trainer_state.json", "empty folder"])
def test_sigkill_then_restart_resumes_from_the_newest_complete_checkpoint(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    # A checkpoint every 2 steps (evaluation schedule); kill hard once one is complete.
    process, run_dir = _start_training(
        tmp_path, tiny_model_dir, loggingSteps=1, evalStrategy="steps", evalSteps=2, saveTotalLimit=2
    )
    checkpoints = run_dir / "checkpoints"

    def complete() -> list[Path]:
        return sorted(checkpoints.glob("checkpoint-*/trainer_state.json")) if checkpoints.is_dir() else []

    try:
        _read_until(process, lambda: bool(complete()), 180)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "termination-log").exists() or "Succeeded" not in (tmp_path / "termination-log").read_text()
    good = max((p.parent for p in complete()), key=lambda p: int(p.name.split("-")[1]))
    # The newest folder was cut off mid-save: a copy of the good one, damaged.
    cut = checkpoints / f"checkpoint-{int(good.name.split('-')[1]) + 1}"
    shutil.rmtree(cut, ignore_errors=True)
    if damage == "empty folder":
        cut.mkdir()
    else:
        shutil.copytree(good, cut)
        state = cut / "trainer_state.json"
        if damage == "no trainer_state.json":
            state.unlink()
        else:
            state.write_text(state.read_text()[: len(state.read_text()) // 2])
    # The restart: the same job file on the same volume (resuming needs the same data and schedule).
    from stjob.api import SentenceTransformerJob

    loaded: list[str] = []
    original = SentenceTransformerTrainer.train

    def spy(self: Any, resume_from_checkpoint: Any = None, **kwargs: Any) -> Any:
        loaded.append(str(resume_from_checkpoint))
        return original(self, resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    monkeypatch.setattr(SentenceTransformerTrainer, "train", spy)
    job = SentenceTransformerJob.model_validate(yaml.safe_load((tmp_path / "job.yaml").read_text()))
    result = _resume(job, tmp_path / "out")
    assert loaded == [str(good)], f"resumed from {loaded}, the newest complete one is {good}"
    assert result.resumed_from == str(good)
    assert (result.model_path / "model.safetensors").is_file()


def _resume(job: Any, output_dir: Path) -> Any:
    """Resume, and end training two steps after the resume point (the rest of 3 epochs proves nothing more)."""
    from transformers import TrainerCallback

    from stjob_trainer.signals import StopFlag, TrainingInterrupted

    class StopSoon(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = state.global_step

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= self.start + 2:
                control.should_training_stop = True
            return control

    try:
        return run_job(job, output_dir=output_dir, stop_flag=StopFlag(), callbacks=[StopSoon()])
    except TrainingInterrupted as exc:  # pragma: no cover - only with a real SIGTERM
        raise AssertionError(exc) from exc


# ------------------------------------------------------------------------------ the Hub token


class _FakeHub:
    def __init__(self, token: str, fail: bool) -> None:
        self.token, self.fail = token, fail

    def create_repo(self, **kwargs: Any) -> None:
        logging.getLogger("huggingface_hub").debug("create_repo %s", kwargs)

    def upload_folder(self, **kwargs: Any) -> None:
        if self.fail:  # a library that puts the credentials into its error text
            raise RuntimeError(f"401 Unauthorized: invalid token {self.token} (Authorization: Bearer {self.token})")


@pytest.mark.parametrize("upload_fails", [False, True], ids=["push-succeeds", "push-fails"])
def test_hub_token_never_reaches_files_logs_or_the_termination_message(
    tmp_path: Path,
    tiny_model_dir: Path,
    dataset_dir: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    upload_fails: bool,
) -> None:
    monkeypatch.setenv("HF_TOKEN", CANARY)
    monkeypatch.setattr(hub, "_hf_api", lambda token: _FakeHub(token, upload_fails))
    hub_section = {"projectName": "canary", "hub": {"push": True, "username": "me", "tokenSecretRef": {"name": "hf"}}}
    doc = job_document("pair_score", dataset_dir("pair_score"), tiny_model_dir, output=hub_section)
    caplog.set_level(logging.DEBUG)
    code = execute(
        _job_file(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )
    assert code == (EXIT_OK if not upload_fails else 1)
    leaks = [str(p) for p in (tmp_path / "out").rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaks == []
    assert CANARY not in (tmp_path / "termination-log").read_text()
    assert CANARY not in (tmp_path / "job.yaml").read_text()
    assert [r.getMessage() for r in caplog.records if CANARY in r.getMessage() or CANARY in (r.exc_text or "")] == []
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err


def test_an_error_quoting_the_token_is_redacted_everywhere(
    tmp_path: Path,
    dataset_dir: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Any failure whose text carries the token (a library echoing credentials) must not spread it."""
    monkeypatch.setenv("HF_TOKEN", CANARY)

    def leaky(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"401 Unauthorized for token {CANARY}; Authorization: Bearer {CANARY}")

    monkeypatch.setattr(run_module, "load_data", leaky)
    hub_section = {"projectName": "canary", "hub": {"push": True, "username": "me", "tokenSecretRef": {"name": "hf"}}}
    doc = job_document("pair_score", dataset_dir("pair_score"), "unused", output=hub_section)
    caplog.set_level(logging.DEBUG)
    code = execute(
        _job_file(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )
    assert code == 1
    message = _termination(tmp_path)
    assert message["outcome"] == "Failed" and "401 Unauthorized" in message["message"]
    assert CANARY not in json.dumps(message)
    leaks = [str(p) for p in (tmp_path / "out").rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaks == []
    assert [r.getMessage() for r in caplog.records if CANARY in r.getMessage() or CANARY in (r.exc_text or "")] == []
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
