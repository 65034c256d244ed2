"""`stjob status / watch / logs` read the resource from a cluster — here the kmock emulator."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stjob.cli import app
from stjob.cluster_view import describe, progress_line, watch
from stjob.errors import EXIT_CLUSTER_ERROR, EXIT_TIMEOUT

runner = CliRunner()
RESOURCE = ("stjob.dev/v1alpha1/sentencetransformerjobs", "team-a", "sick")

RUNNING: dict[str, Any] = {
    "apiVersion": "stjob.dev/v1alpha1",
    "kind": "SentenceTransformerJob",
    "metadata": {"name": "sick", "namespace": "team-a", "generation": 1},
    "spec": {"trainer": "pair_score", "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"}},
    "status": {
        "phase": "Running",
        "observedGeneration": 1,
        "jobName": "sick",
        "progress": {
            "epoch": 0.42,
            "step": 120,
            "totalSteps": 282,
            "percent": 42,
            "etaSeconds": 310,
            "samplesPerSecond": 61.5,
        },
        "metrics": {
            "trainLoss": 2.13,
            "primaryMetric": "eval_spearman_cosine",
            "primaryMetricValue": 0.8123,
            "bestMetricValue": 0.8123,
        },
        "evaluation": {"primaryMetric": "spearman_cosine", "baseline": 0.7, "final": 0.8123, "delta": 0.1123},
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Training",
                "message": "step 120/282",
                "lastTransitionTime": "2026-11-27T10:00:00Z",
                "observedGeneration": 1,
            },
            {
                "type": "Running",
                "status": "True",
                "reason": "PodRunning",
                "message": "",
                "lastTransitionTime": "2026-11-27T10:00:00Z",
                "observedGeneration": 1,
            },
        ],
    },
}


def test_progress_line() -> None:
    line = progress_line(RUNNING["status"], width=10)
    assert line.startswith("[####......]  42%")
    assert "step 120/282" in line and "ETA 5m10s" in line and "61.5 samples/s" in line
    assert progress_line({}) == "no progress reported yet"


def test_describe_shows_phase_metrics_and_conditions() -> None:
    text = describe(RUNNING)
    assert "Phase:      Running" in text
    assert "eval_spearman_cosine 0.8123" in text
    assert "Running      True     PodRunning" in text
    assert "Evaluation: spearman_cosine 0.7000 -> 0.8123 (+0.1123) (base model -> fine-tuned)" in text
    assert "Evaluation" not in describe({"status": {"phase": "Running"}})


def test_watch_stops_at_a_terminal_phase() -> None:
    states = iter(
        [
            {"status": {"phase": "Pending"}},
            {"status": {"phase": "Pending"}},
            {"status": {"phase": "Running"}},
            {"status": {"phase": "Succeeded"}},
        ]
    )
    seen = [o["status"]["phase"] for o in watch(lambda: next(states), sleep=lambda _: None)]
    assert seen == ["Pending", "Running", "Succeeded"]


@pytest.fixture
def kubeconfig(kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    kmock.resources.load_bundled()
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
        f"clusters: [{{name: k, cluster: {{server: '{kmock.url}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: k, context: {cluster: k, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    return config


async def invoke(*args: str) -> Any:
    # The emulator serves on this event loop: the sync client must run in a thread.
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def test_status_against_the_emulator(kmock: Any, kubeconfig: Path) -> None:
    kmock.objects[RESOURCE] = RUNNING
    result = await invoke("status", "sick", "-n", "team-a")
    assert result.exit_code == 0, result.output
    assert "Phase:      Running" in result.output
    assert "[" in result.output and "42%" in result.output
    result = await invoke("status", "sick", "-n", "team-a", "-o", "json")
    assert '"phase": "Running"' in result.output


async def test_status_of_a_missing_job_fails(kmock: Any, kubeconfig: Path) -> None:
    result = await invoke("status", "nope", "-n", "team-a")
    assert result.exit_code == EXIT_CLUSTER_ERROR
    assert "sentencetransformerjob team-a/nope not found" in result.stderr
    assert result.stdout == ""


async def test_status_json_is_the_whole_resource_on_stdout(kmock: Any, kubeconfig: Path) -> None:
    kmock.objects[RESOURCE] = RUNNING
    result = await invoke("status", "sick", "-n", "team-a", "-o", "json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["metadata"]["name"] == "sick" and printed["status"]["phase"] == "Running"


async def test_watch_gives_up_with_the_timeout_code(kmock: Any, kubeconfig: Path) -> None:
    kmock.objects[RESOURCE] = RUNNING
    result = await invoke("watch", "sick", "-n", "team-a", "--interval", "0.01", "--timeout", "0.05")
    assert result.exit_code == EXIT_TIMEOUT
    assert "still Running after 0.05 s" in result.stderr


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening, held for the test: connections are refused, and no other process
    can take it meanwhile (a port closed again could be reused before the command connects)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


KUBECONFIG_OK = (
    "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
    "clusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
    "users: [{{name: u, user: {{token: not-a-secret}}}}]\n"
    "contexts: [{{name: k, context: {{cluster: k, user: u}}}},\n"
    "           {{name: dangling, context: {{cluster: gone, user: u}}}}]\n"
)


@pytest.mark.parametrize(
    ("case", "kubeconfig_text", "extra", "expected"),
    [
        ("missing", None, [], "no kubeconfig: KUBECONFIG="),
        ("broken YAML", "clusters: [\n", [], "is not usable: while parsing"),
        ("no current context", "apiVersion: v1\nkind: Config\n", [], "kubectl config use-context NAME"),
        ("wrong --context", KUBECONFIG_OK, ["--context", "prod"], "--context prod: no such context"),
        ("dangling context", KUBECONFIG_OK, ["--context", "dangling"], "context dangling: Expected object with name"),
        ("unreachable server", KUBECONFIG_OK, [], "cannot reach the API server https://127.0.0.1:"),
    ],
)
@pytest.mark.parametrize("command", ["status", "watch", "logs"])
def test_unusable_cluster_says_which_and_what_to_do(
    command: str,
    case: str,
    kubeconfig_text: str | None,
    extra: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refused_port: int,
) -> None:
    config = tmp_path / "kubeconfig"
    if kubeconfig_text is not None:
        config.write_text(kubeconfig_text.format(port=refused_port))
    monkeypatch.setenv("KUBECONFIG", str(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = runner.invoke(app, [command, "sick", *extra])
    assert result.exit_code == EXIT_CLUSTER_ERROR, result.output
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line: no traceback, no urllib3 dump
    assert "Service host/port" not in result.stderr


async def test_watch_exits_1_on_failed(kmock: Any, kubeconfig: Path) -> None:
    failed = {
        **RUNNING,
        "status": {
            "phase": "Failed",
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DataError",
                    "message": "file train.csv, row 3",
                    "lastTransitionTime": "2026-11-27T10:00:00Z",
                }
            ],
        },
    }
    kmock.objects[RESOURCE] = failed
    result = await invoke("watch", "sick", "-n", "team-a", "--interval", "0.01", "--timeout", "5")
    assert result.exit_code == 1
    assert "DataError" in result.output


async def test_logs_of_the_trainer_pod(kmock: Any, kubeconfig: Path) -> None:
    kmock.objects["v1/pods", "team-a", "sick-abcde"] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sick-abcde", "namespace": "team-a", "labels": {"stjob.dev/job-name": "sick"}},
    }
    kmock["get /api/v1/namespaces/team-a/pods/sick-abcde/log"] << "epoch 1: loss 0.5\n"
    result = await invoke("logs", "sick", "-n", "team-a")
    assert result.exit_code == 0, result.output
    assert "epoch 1: loss 0.5" in result.output
