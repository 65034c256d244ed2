"""End to end on a real cluster (kind): CRD, operator in-process, a stand-in trainer, Pending -> Succeeded.

kind create cluster && make e2e
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import kopf
import kubernetes
import pytest
from kopf.testing import KopfRunner

from stjob.controller.handlers import register
from stjob.controller.settings import OperatorSettings

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "crds" / "stjob.dev_sentencetransformerjobs.yaml"
# A stand-in trainer: writes the success termination message and exits 0 (no GPU, no model).
STAND_IN = "busybox:1.36"
SUCCESS = json.dumps({"outcome": "Succeeded", "modelPath": "/output/e2e/model"})


def kubectl(*args: str, stdin: str | None = None) -> str:
    """Run kubectl against $KUBECONFIG; fail the test with its stderr."""
    done = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture()
def namespace(kube_config: Any) -> Any:
    """A throwaway namespace (deleted with everything in it)."""
    name = f"stjob-e2e-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "--server-side", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "crd/sentencetransformerjobs.stjob.dev", "--timeout=60s")
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def _phase(namespace: str) -> str:
    out = kubectl("get", "stjob", "e2e", "-n", namespace, "-o", "jsonpath={.status.phase}")
    return out.strip()


async def test_pending_to_succeeded_with_a_stand_in_trainer(namespace: str) -> None:
    registry = kopf.OperatorRegistry()
    # Kopf's own API client logs in from the same kubeconfig.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    config = OperatorSettings(namespaces=namespace, trainer_image=STAND_IN, metrics_port=0, health_port=0)
    register(registry, config)
    resource = {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": {"name": "e2e", "namespace": namespace},
        "spec": {
            "trainer": "pair",
            "data": {"path": "sentence-transformers/all-nli"},
            "resources": {"gpus": 0, "memory": "64Mi", "shmSize": "16Mi"},
            "runPolicy": {"backoffLimit": 0, "activeDeadlineSeconds": 300},
        },
    }
    runner = KopfRunner(["run", "--standalone", "-n", namespace], registry=registry, timeout=30)
    with runner:
        kubectl("apply", "-f", "-", stdin=json.dumps(resource))
        phases = await _follow(namespace, until="Succeeded", timeout=240)
    assert phases[0] in ("Pending", "Running")
    assert phases[-1] == "Succeeded"
    status = json.loads(kubectl("get", "stjob", "e2e", "-n", namespace, "-o", "jsonpath={.status}"))
    assert status["jobName"] == "e2e"
    assert status["completionTime"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert "/output/e2e/model" in ready["message"]


async def _follow(namespace: str, until: str, timeout: float) -> list[str]:
    """The phases seen, in order, until ``until`` (or fail on Failed / timeout)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = await asyncio.to_thread(_phase, namespace)
        if phase and (not seen or seen[-1] != phase):
            seen.append(phase)
            if phase == until or phase == "Failed":
                break
        await asyncio.sleep(1)
    assert seen and seen[-1] == until, f"phases seen: {seen}"
    return seen


@pytest.fixture(autouse=True)
def _stand_in_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the trainer command with a shell one-liner that succeeds like the trainer does."""
    from stjob.controller import builders

    script = f"echo '{SUCCESS}' > /dev/termination-log"

    def command(spec: Any, name: str) -> list[str]:
        return ["sh", "-c", script]

    monkeypatch.setattr(builders, "trainer_command", command)
    _ = kubernetes  # the kube_config fixture configured the default client
