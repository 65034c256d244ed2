"""Integration: the real Kopf loop (kmock) with a 2-node job — one Indexed Job, one headless Service,
and a status that follows both pods. The test plays the Job controller and the kubelet.
"""

# ruff: noqa: E501  (pod and Job status literals: one object per line reads better than wrapped)

from __future__ import annotations

import json
from typing import Any

from tests.controller import kube
from tests.controller.conftest import STJOBS, OperatorFactory, wait_until
from tests.controller.factories import resource

SERVICES = "v1/services"
TWO_NODES: dict[str, Any] = {"resources": {"gpus": 4}, "distributed": {"nodes": 2}}
DATA_ERROR = json.dumps({"outcome": "Failed", "reason": "DataError", "message": "file /data/sick/train.csv, row 17, column 'score'"})  # fmt: skip


async def _start_two_node_job(kmock: Any) -> dict[str, Any]:
    await kube.wait_watching(kmock)
    await kube.create(kmock, STJOBS, resource(**TWO_NODES))
    job: dict[str, Any] = await wait_until(lambda: kube.get(kmock, kube.JOBS, "ml", "sick"), what="the Job")
    return job


async def _index_pods_running(kmock: Any) -> None:
    """The Job controller creates one pod per completion index ({job}-{index}-{suffix}); both start."""
    for index in (0, 1):
        name = f"sick-{index}-abcde"
        await kube.create_pod(kmock, name=name, created=f"2026-01-01T00:00:0{index + 5}Z")
        running = {"running": {"startedAt": f"2026-01-01T00:01:0{index}Z"}}
        await kube.patch_status(kmock, kube.PODS, "ml", name, {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": running}]})  # fmt: skip


def _requests(kmock: Any, method: str, plural: str) -> list[Any]:
    return [r for r in list(kmock) if r.method.value == method and str(r.url).split("?")[0].endswith(f"/namespaces/ml/{plural}")]  # fmt: skip


async def test_two_nodes_get_one_indexed_job_and_one_headless_service(emulator: Any, operator: OperatorFactory) -> None:
    async with operator():
        job = await _start_two_node_job(emulator)
        service = await wait_until(lambda: kube.get(emulator, SERVICES, "ml", "sick"), what="the Service")
        await _index_pods_running(emulator)
        running = await kube.wait_phase(emulator, "Running")
    assert len(_requests(emulator, "POST", "jobs")) == 1
    assert len(_requests(emulator, "POST", "services")) == 1
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"] == "sick"
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert running["startTime"] == "2026-01-01T00:01:00Z"  # the earliest trainer of the gang
    assert kube.condition(running, "Running")["status"] == "True"


async def test_one_failed_index_fails_the_gang_with_the_trainers_reason(
    emulator: Any, operator: OperatorFactory
) -> None:
    async with operator():
        await _start_two_node_job(emulator)
        await _index_pods_running(emulator)
        await kube.wait_phase(emulator, "Running")
        # Index 1 hits bad data (exit 4, the launcher keeps the code); index 0 is still running.
        terminated = {"exitCode": 4, "message": DATA_ERROR, "startedAt": "2026-01-01T00:01:01Z"}
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-1-abcde", {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": terminated}}]})  # fmt: skip
        # podFailurePolicy FailJob matches exit code 4 on any index: the Job controller fails the whole Job.
        await kube.patch_status(emulator, kube.JOBS, "ml", "sick", {"conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy", "message": "Container trainer for pod ml/sick-1-abcde failed with exit code 4 matching FailJob rule at index 0"},
        ]})  # fmt: skip
        failed = await kube.wait_phase(emulator, "Failed")
    ready = kube.condition(failed, "Failed")
    assert ready["reason"] == "DataError"
    assert "row 17" in ready["message"]
    assert kube.condition(failed, "Stalled")["status"] == "True"
