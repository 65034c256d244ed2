"""Reporters: Kubernetes status patches (throttled, never raising) and the local progress bar."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import pytest
from rich.console import Console

from stjob.api import SentenceTransformerJobStatus
from stjob.api.status import EvaluationSummary, Metrics, OutputStatus, Progress
from stjob_trainer.reporting import (
    KubernetesReporter,
    LocalReporter,
    NullReporter,
    ProgressLog,
    progress_text,
    reporter_from_env,
    status_patch,
)

#: Seconds: a generous bound on waits for the reporter's thread (they end as soon as it acts).
WAIT = 60.0


class FakeApi:
    """Records merge patches; fails while ``down`` is True."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.down = False

    def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> None:
        if self.down:
            raise ConnectionError("API server unreachable")
        group, version, namespace, plural, name, body = args
        self.calls.append(
            {"path": (group, version, namespace, plural, name), "body": body, "content_type": kwargs["_content_type"]}
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _progress(step: int) -> Progress:
    return Progress(step=step, total_steps=100, percent=step, epoch=step / 100, effective_batch_size=16)


def test_patch_body_is_a_valid_status_with_only_trainer_keys() -> None:
    body = status_patch(_progress(5), Metrics(train_loss=0.5, primary_metric="m"), OutputStatus(model_path="/o/m"))
    assert set(body) == {"status"} and set(body["status"]) == {"progress", "metrics", "output"}
    assert body["status"]["progress"] == {
        "step": 5,
        "totalSteps": 100,
        "percent": 5,
        "epoch": 0.05,
        "effectiveBatchSize": 16,
    }
    assert body["status"]["metrics"] == {"trainLoss": 0.5, "primaryMetric": "m"}
    SentenceTransformerJobStatus.model_validate(body["status"])


def test_the_final_patch_carries_the_evaluation_summary() -> None:
    api = FakeApi()
    reporter = KubernetesReporter("job", "ns", api=api, min_interval=60, background=False, clock=Clock())
    evaluation = EvaluationSummary(primary_metric="accuracy", baseline=0.5, final=0.75, delta=0.25)
    reporter.close(OutputStatus(model_path="/o/m"), evaluation=evaluation)
    status = api.calls[-1]["body"]["status"]
    assert status["evaluation"] == {"primaryMetric": "accuracy", "baseline": 0.5, "final": 0.75, "delta": 0.25}
    assert SentenceTransformerJobStatus.model_validate(status).evaluation == evaluation


def test_patches_are_throttled_and_carry_the_latest_values() -> None:
    api, clock = FakeApi(), Clock()
    reporter = KubernetesReporter("job", "ns", api=api, min_interval=10, background=False, clock=clock)
    for step in range(1, 6):
        reporter.update(_progress(step), Metrics())
        clock.now += 1
    assert len(api.calls) == 1  # the first one goes out at once, the rest wait for the interval
    assert api.calls[0]["path"] == ("stjob.dev", "v1alpha1", "ns", "sentencetransformerjobs", "job")
    assert api.calls[0]["content_type"] == "application/merge-patch+json"
    clock.now += 5
    reporter.update(_progress(6), Metrics(train_loss=0.1))
    assert len(api.calls) == 2
    assert api.calls[1]["body"]["status"]["progress"]["step"] == 6
    reporter.update(_progress(7), Metrics())
    reporter.close(OutputStatus(model_path="/output/p/model"))  # flushed at the end regardless of the throttle
    assert len(api.calls) == 3
    assert api.calls[2]["body"]["status"]["progress"]["step"] == 7
    assert api.calls[2]["body"]["status"]["output"] == {"modelPath": "/output/p/model"}


def test_api_failures_never_raise_and_are_caught_up(caplog: pytest.LogCaptureFixture) -> None:
    api, clock = FakeApi(), Clock()
    api.down = True
    reporter = KubernetesReporter("job", "ns", api=api, min_interval=10, background=False, clock=clock)
    with caplog.at_level(logging.WARNING):
        for step in range(3):
            reporter.update(_progress(step), Metrics())
            clock.now += 11
    assert reporter.patches_failed == 3 and not api.calls
    assert sum("failed" in r.getMessage() for r in caplog.records) == 1  # one warning per outage
    api.down = False
    clock.now += 11
    reporter.update(_progress(9), Metrics())
    assert api.calls[-1]["body"]["status"]["progress"]["step"] == 9


class StuckApi:
    """An API server that accepts the connection and never answers (until released)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> None:
        self.entered.set()
        self.release.wait()
        raise ConnectionError("gave up")


def test_a_stuck_api_server_never_blocks_training() -> None:
    """Updates only hand values to the worker thread: all of them return while a patch hangs."""
    api = StuckApi()
    reporter = KubernetesReporter("job", "ns", api=api, min_interval=0.0, close_timeout=0.1)
    reporter.update(_progress(0), Metrics())
    assert api.entered.wait(WAIT), "the worker never sent the first patch"
    done = threading.Event()

    def train() -> None:
        for step in range(1, 50):
            reporter.update(_progress(step), Metrics())
        done.set()

    threading.Thread(target=train, daemon=True).start()
    assert done.wait(WAIT), "update() blocked behind a hanging status patch"
    reporter.close(OutputStatus(model_path="/m"))  # gives up after close_timeout; the patch is still hanging
    assert reporter.patches_sent == 0
    api.release.set()


def test_unreachable_api_server_is_counted_and_never_raises() -> None:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # nothing listens there
    configuration.retries = 0
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    reporter = KubernetesReporter("job", "ns", api=api, min_interval=0.05, close_timeout=2)
    for step in range(50):
        reporter.update(_progress(step), Metrics())
    reporter.close(OutputStatus(model_path="/m"))
    assert reporter.patches_failed >= 1 and reporter.patches_sent == 0


def test_background_reporter_sends_the_final_values() -> None:
    api = FakeApi()
    reporter = KubernetesReporter("job", "ns", api=api, min_interval=60)
    for step in range(20):
        reporter.update(_progress(step), Metrics())
    reporter.close(OutputStatus(model_path="/m"))
    assert 1 <= len(api.calls) <= 2
    assert api.calls[-1]["body"]["status"]["progress"]["step"] == 19
    assert api.calls[-1]["body"]["status"]["output"] == {"modelPath": "/m"}


def test_reporter_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    assert isinstance(reporter_from_env(local=True), NullReporter)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert isinstance(reporter_from_env(local=True), LocalReporter)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)  # piped, redirected, CI
    assert isinstance(reporter_from_env(local=True), ProgressLog)
    monkeypatch.setenv("STJOB_REPORTER", "kubernetes")
    monkeypatch.setenv("STJOB_NAME", "job")
    monkeypatch.setenv("STJOB_NAMESPACE", "ns")
    reporter = reporter_from_env(local=False)
    assert isinstance(reporter, KubernetesReporter)
    reporter.close_timeout = 0.1
    reporter.close()
    monkeypatch.delenv("STJOB_NAME")
    assert isinstance(reporter_from_env(local=False), NullReporter)


def test_local_reporter_shows_progress() -> None:
    out = io.StringIO()
    reporter = LocalReporter(Console(file=out, width=120, force_terminal=False))
    reporter.update(_progress(50), Metrics(train_loss=0.25, primary_metric="spearman_cosine", primary_metric_value=0.8))
    reporter.note("before training: spearman_cosine = 0.7")
    reporter.close()
    text = out.getvalue()
    assert "50/100" in text and "spearman_cosine 0.8000" in text and "before training" in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_log_writes_a_line_per_interval_and_the_final_state() -> None:
    lines: list[str] = []
    clock = FakeClock()
    log = ProgressLog(interval=10, emit=lines.append, clock=clock)
    for step in range(0, 31):
        clock.now = step * 1.0  # one step per second
        log.update(_progress(step), Metrics(train_loss=1.0 / (step + 1)))
    log.note("step 30 epoch 1.00: spearman_cosine = 0.8000")
    log.close()
    steps = [line.split()[1] for line in lines if line.startswith("step ") and "%" in line]
    assert steps == ["0/100", "10/100", "20/100", "30/100"]
    assert lines[-1].startswith("step 30 epoch 1.00")  # nothing pending: the last state was shown at step 30
    log.update(_progress(31), Metrics())
    log.close()
    assert lines[-1].startswith("step 31/100")  # the final state always shows
    log.update(_progress(31), Metrics())
    log.close()
    assert sum(line.startswith("step 31/100") for line in lines) == 1  # and only once


def test_progress_text_is_one_plain_line() -> None:
    progress = Progress(step=40, total_steps=94, percent=42, epoch=0.43, eta_seconds=70, samples_per_second=7.94)
    text = progress_text(progress, Metrics(train_loss=4.55291, primary_metric="spearman_cosine"))
    assert text == "step 40/94 (42%)  epoch 0.43  loss 4.5529  7.9 samples/s  ETA 1m10s"


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STJOB_PROGRESS_INTERVAL", "0")
    assert ProgressLog().interval == 0
    monkeypatch.setenv("STJOB_PROGRESS_INTERVAL", "soon")
    assert ProgressLog().interval == 10


def test_the_pod_log_gets_progress_lines_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stjob_trainer.progress")
    reporter = KubernetesReporter("job", "ns", api=FakeApi(), background=False, min_interval=60)
    reporter.update(_progress(5), Metrics(train_loss=0.5))
    reporter.close()
    assert "step 5/100 (5%)" in caplog.text and "loss 0.5000" in caplog.text


def test_status_metrics_are_rounded_for_kubectl_but_not_the_history() -> None:
    from stjob.api.status import Metrics
    from stjob_trainer.reporting import status_patch

    patch = status_patch(None, Metrics(primary_metric="spearman_cosine", primary_metric_value=0.8623990561382061), None)
    assert patch["status"]["metrics"] == {"primaryMetric": "spearman_cosine", "primaryMetricValue": 0.8624}
