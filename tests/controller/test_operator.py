"""Integration: the real Kopf loop against the kmock emulator. Each test takes a second or two.

The emulator runs no controllers: the tests play the Job controller, the kubelet and Kueue by
creating pods and patching ``/status`` (which emits the watch events a real cluster would).
"""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.controller import kube
from tests.controller.conftest import STJOBS, OperatorFactory, wait_until
from tests.controller.factories import resource

OWNER = {"apiVersion": "stjob.dev/v1alpha1", "kind": "SentenceTransformerJob", "name": "sick", "uid": "uid-1", "controller": True}  # fmt: skip
CHILDREN = [
    ("v1/configmaps", "sick-spec"),
    ("v1/serviceaccounts", "sick-trainer"),
    ("rbac.authorization.k8s.io/v1/roles", "sick-trainer"),
    ("rbac.authorization.k8s.io/v1/rolebindings", "sick-trainer"),
    (kube.JOBS, "sick"),
]


async def _start_job(kmock: Any, **spec: Any) -> dict[str, Any]:
    await kube.wait_watching(kmock)
    await kube.create(kmock, STJOBS, resource(**spec))
    job: dict[str, Any] = await wait_until(lambda: kube.get(kmock, kube.JOBS, "ml", "sick"), what="the Job")
    return job


def _events(kmock: Any) -> list[tuple[str, str]]:
    """(type, reason) of the Events the operator posted about the resource.

    Read from the requests: Kopf names Events by generateName, which kmock does not implement.
    """
    found = []
    for request in list(kmock):
        if request.method.value == "POST" and str(request.url).endswith("/events"):
            body = request.data or {}
            if body.get("involvedObject", {}).get("name") == "sick":
                found.append((str(body.get("type")), str(body.get("reason"))))
    return found


async def test_create_builds_owned_children_and_reports_pending(emulator: Any, operator: OperatorFactory) -> None:
    async with operator():
        job = await _start_job(emulator)
        status = await kube.wait_phase(emulator, "Pending")
    for res, name in CHILDREN:
        child = kube.get(emulator, res, "ml", name)
        assert child is not None, name
        # kmock has no garbage collector: the owner reference is what makes deletion cascade.
        assert child["metadata"]["ownerReferences"] == [OWNER], name
        assert child["metadata"]["labels"]["stjob.dev/job-name"] == "sick"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "trainer:test"
    assert job["spec"]["suspend"] is False
    assert status["jobName"] == "sick"
    assert status["observedGeneration"] == 1
    assert kube.condition(status, "Reconciling")["status"] == "True"
    assert kube.condition(status, "Ready")["status"] == "False"


async def test_progress_to_running_then_succeeded_keeps_trainer_fields(
    emulator: Any, operator: OperatorFactory
) -> None:
    async with operator():
        await _start_job(emulator)
        await kube.create_pod(emulator)
        await kube.patch_status(
            emulator, kube.PODS, "ml", "sick-abc",
            {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": {"running": {"startedAt": "2026-01-01T00:01:00Z"}}}]},
        )  # fmt: skip
        running = await kube.wait_phase(emulator, "Running")
        # The trainer reports progress on its own keys; the operator must never overwrite them.
        await kube.patch_status(emulator, STJOBS, "ml", "sick", {"progress": {"step": 10, "percent": 50}})
        done = {"exitCode": 0, "startedAt": "2026-01-01T00:01:00Z", "message": json.dumps({"outcome": "Succeeded", "modelPath": "/output/sick/model"})}  # fmt: skip
        await kube.patch_status(
            emulator, kube.PODS, "ml", "sick-abc",
            {"phase": "Succeeded", "containerStatuses": [{"name": "trainer", "state": {"terminated": done}}]},
        )  # fmt: skip
        await kube.patch_status(
            emulator, kube.JOBS, "ml", "sick",
            {"completionTime": "2026-01-01T01:00:00Z", "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T01:00:00Z"}]},
        )  # fmt: skip
        status = await kube.wait_phase(emulator, "Succeeded")
        await wait_until(lambda: ("Normal", "Succeeded") in _events(emulator), what="the Succeeded Event")
    assert running["startTime"] == "2026-01-01T00:01:00Z"
    assert status["startTime"] == "2026-01-01T00:01:00Z"
    assert status["completionTime"] == "2026-01-01T01:00:00Z"
    assert status["progress"] == {"step": 10, "percent": 50}
    assert kube.condition(status, "Ready") | {"lastTransitionTime": None} == {
        "type": "Ready", "status": "True", "reason": "Succeeded", "message": "training finished: model at /output/sick/model",
        "lastTransitionTime": None, "observedGeneration": 1,
    }  # fmt: skip
    assert ("Normal", "Running") in _events(emulator)


DATA_ERROR = json.dumps({"outcome": "Failed", "reason": "DataError", "message": "file /data/sick/train.csv, row 17, column 'score'"})  # fmt: skip
# What the trainer writes when the model missed spec.evaluation.gate (stjob_trainer.evaluation_report).
QUALITY_GATE = json.dumps({"outcome": "Failed", "reason": "QualityGateFailed", "message": "quality gate: spearman_cosine 0.7012 -> 0.6500 (-0.0512), the gate asks for at least +0.0100; the model stays in /output/sick/model and was not pushed"})  # fmt: skip
FAILURES = [
    # (id, pod status, job status or None, expected phase, reason, message fragment)
    ("oom-killed",
     {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]},
     {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]},
     "Failed", "OOMKilled", "memory"),
    ("data-error",
     {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": {"exitCode": 4, "message": DATA_ERROR}}}]},
     {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]},
     "Failed", "DataError", "row 17"),
    ("quality-gate-failed",
     {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": {"exitCode": 8, "message": QUALITY_GATE}}}]},
     {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]},
     "Failed", "QualityGateFailed", "spearman_cosine 0.7012 -> 0.6500"),
    ("quality-gate-failed-exit-code-only",  # the message lost (a log tail instead): the exit code says it
     {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": {"exitCode": 8, "message": "Traceback ..."}}}]},
     {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]},
     "Failed", "QualityGateFailed", ""),
    ("unschedulable",
     {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/4 nodes: Insufficient nvidia.com/gpu"}]},
     None, "Pending", "Unschedulable", "Insufficient nvidia.com/gpu"),
    ("image-pull-backoff",
     {"phase": "Pending", "containerStatuses": [{"name": "trainer", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]},
     None, "Pending", "ImagePullBackOff", "Back-off pulling"),
]  # fmt: skip


@pytest.mark.parametrize(("pod_status", "job_status", "phase", "reason", "fragment"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])  # fmt: skip
async def test_pod_failure_reasons_reach_the_status(
    emulator: Any,
    operator: OperatorFactory,
    pod_status: dict[str, Any],
    job_status: dict[str, Any] | None,
    phase: str,
    reason: str,
    fragment: str,
) -> None:
    async with operator():
        await _start_job(emulator)
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", pod_status)
        if job_status is not None:
            await kube.patch_status(emulator, kube.JOBS, "ml", "sick", job_status)
        status = await wait_until(
            lambda: (s := kube.status_of(emulator)).get("phase") == phase and kube.condition(s, "Ready").get("reason") == reason and s,
            what=f"{phase}/{reason}",
        )  # fmt: skip
        await wait_until(lambda: ("Warning", reason) in _events(emulator), what=f"a Warning Event {reason}")
    assert fragment in kube.condition(status, "Ready")["message"]
    if phase == "Failed":
        assert kube.condition(status, "Failed")["reason"] == reason
        assert kube.condition(status, "Stalled")["status"] == "True"
        assert status["completionTime"]


async def test_suspend_and_resume(emulator: Any, operator: OperatorFactory) -> None:
    async with operator():
        await _start_job(emulator)
        await kube.wait_phase(emulator, "Pending")
        await kube.patch(emulator, STJOBS, "ml", "sick", {"metadata": {"generation": 2}, "spec": {"suspend": True}})
        await wait_until(lambda: (kube.get(emulator, kube.JOBS, "ml", "sick") or {})["spec"]["suspend"] is True, what="Job suspended")  # fmt: skip
        suspended = await kube.wait_phase(emulator, "Suspended")
        await kube.patch(emulator, STJOBS, "ml", "sick", {"metadata": {"generation": 3}, "spec": {"suspend": False}})
        await wait_until(lambda: (kube.get(emulator, kube.JOBS, "ml", "sick") or {})["spec"]["suspend"] is False, what="Job resumed")  # fmt: skip
        resumed = await kube.wait_phase(emulator, "Pending")
    assert kube.condition(suspended, "Suspended")["status"] == "True"
    assert kube.condition(suspended, "Reconciling")["status"] == "False"
    assert suspended["observedGeneration"] == 2
    assert resumed["observedGeneration"] == 3
    assert kube.condition(resumed, "Suspended")["status"] == "False"


async def test_kueue_queued_then_admitted_without_fighting_kueue(emulator: Any, operator: OperatorFactory) -> None:
    async with operator():
        job = await _start_job(emulator, queueName="team-a", scheduling={"priorityClassName": "high"})
        queued = await kube.wait_phase(emulator, "Queued")
        # Kueue admits by un-suspending the Job; the operator must leave it so.
        await kube.patch(emulator, kube.JOBS, "ml", "sick", {"spec": {"suspend": False}})
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", {"phase": "Running"})
        running = await kube.wait_phase(emulator, "Running")
        assert (kube.get(emulator, kube.JOBS, "ml", "sick") or {})["spec"]["suspend"] is False
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    # Kueue takes the priority from the pod template's priorityClassName (no WorkloadPriorityClass label).
    assert "kueue.x-k8s.io/priority-class" not in job["metadata"]["labels"]
    assert kube.condition(queued, "Admitted")["status"] == "False"
    assert kube.condition(running, "Admitted")["status"] == "True"
    job_patches = [r for r in list(emulator) if r.method.value == "PATCH" and "/jobs/sick" in str(r.url)]
    assert len(job_patches) == 1  # only the test's (Kueue's) un-suspend


async def test_invalid_spec_fails_with_config_error_and_creates_nothing(
    emulator: Any, operator: OperatorFactory
) -> None:
    body = resource(trainer="triplet")  # triplet needs data.columns.sentence3
    body["spec"]["resources"] = {"gpus": -1}
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, body)
        status = await kube.wait_phase(emulator, "Failed")
        await wait_until(lambda: ("Warning", "ConfigError") in _events(emulator), what="the ConfigError Event")
    failed = kube.condition(status, "Failed")
    assert failed["reason"] == "ConfigError"
    assert "spec.resources.gpus" in failed["message"]
    assert "greater than or equal to 0" in failed["message"]
    for res, name in CHILDREN:
        assert kube.get(emulator, res, "ml", name) is None, name


async def test_restart_creates_no_duplicates_and_catches_up(emulator: Any, operator: OperatorFactory) -> None:
    async with operator():
        await _start_job(emulator)
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", {"phase": "Running"})
        await kube.wait_phase(emulator, "Running")
    # While the operator is down, the trainer fails on bad data and the Job controller gives up.
    terminated = {"exitCode": 4, "message": DATA_ERROR}
    await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": terminated}}]})  # fmt: skip
    await kube.patch_status(emulator, kube.JOBS, "ml", "sick", {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]})  # fmt: skip
    assert kube.status_of(emulator)["phase"] == "Running"
    async with operator():
        status = await wait_until(
            lambda: (s := kube.status_of(emulator)).get("phase") == "Failed" and s, what="catch-up"
        )
    assert kube.condition(status, "Failed")["reason"] == "DataError"
    creates = [r for r in list(emulator) if r.method.value == "POST" and "/namespaces/ml/" in str(r.url) and "/events" not in str(r.url)]  # fmt: skip
    created_kinds = sorted(str(r.url).rsplit("/", 1)[-1] for r in creates)
    assert created_kinds == sorted(["sentencetransformerjobs", "configmaps", "serviceaccounts", "roles", "rolebindings", "jobs", "pods"])  # fmt: skip


async def test_an_orphan_in_the_way_is_reported_not_adopted(emulator: Any, operator: OperatorFactory) -> None:
    orphan = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sick-spec", "namespace": "ml"}, "data": {"job.yaml": "stale"}}  # fmt: skip
    await kube.create(emulator, "v1/configmaps", orphan)
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        blocked = await wait_until(lambda: kube.condition(kube.status_of(emulator), "Ready").get("reason") == "ChildConflict" and kube.status_of(emulator), what="ChildConflict")  # fmt: skip
        await wait_until(lambda: ("Warning", "ChildConflict") in _events(emulator), what="the ChildConflict Event")
        assert kube.get(emulator, kube.JOBS, "ml", "sick") is None
        # The admin removes the orphan; the next event on the resource (or the retry) creates ours.
        response = await emulator.delete("/api/v1/namespaces/ml/configmaps/sick-spec")
        assert response.status < 300
        await kube.patch(emulator, STJOBS, "ml", "sick", {"metadata": {"labels": {"touched": "yes"}}})
        await wait_until(lambda: kube.get(emulator, kube.JOBS, "ml", "sick"), what="the Job")
    assert blocked["phase"] == "Pending"
    assert "not owned by this job" in kube.condition(blocked, "Ready")["message"]
    patches = [r for r in list(emulator) if r.method.value == "PATCH" and "/configmaps/" in str(r.url)]
    assert patches == []  # never patched: the operator holds no patch on ConfigMaps


async def test_foreign_child_is_not_stolen(emulator: Any, operator: OperatorFactory) -> None:
    theirs = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sick-spec", "namespace": "ml", "ownerReferences": [{"apiVersion": "v1", "kind": "Other", "name": "x", "uid": "other", "controller": True}]}}  # fmt: skip
    await kube.create(emulator, "v1/configmaps", theirs)
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        await wait_until(lambda: "belongs to Other x" in json.dumps(kube.get(emulator, STJOBS, "ml", "sick")), what="Kopf's retry note")  # fmt: skip
    assert kube.get(emulator, kube.JOBS, "ml", "sick") is None
    cm = kube.get(emulator, "v1/configmaps", "ml", "sick-spec") or {}
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "other"


async def test_metrics_endpoint_counts_reconciles_and_phases(emulator: Any, operator: OperatorFactory) -> None:
    import socket
    import urllib.request

    from stjob.controller.settings import OperatorSettings

    # The port stays bound (not listening, SO_REUSEADDR as the metrics server sets it) until the operator
    # serves on it: no other process can be handed it in between.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        config = OperatorSettings(metrics_port=port, health_port=0, trainer_image="trainer:test")
        async with operator(config):
            await _start_job(emulator)
            await kube.wait_phase(emulator, "Pending")

            def scrape() -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return str(response.read().decode())

            text = await _scrape_until(scrape)
    assert 'stjob_reconciles_total{kind="resource"}' in text
    assert "stjob_reconcile_duration_seconds_bucket" in text
    assert 'stjob_jobs_by_phase{phase="Pending"} 1.0' in text
    assert "stjob_time_to_running_seconds_count" in text


async def _scrape_until(scrape: Any) -> str:
    """Scrape off the loop (the index may lag the status patch by one watch event)."""
    import asyncio

    for _ in range(100):
        text: str = await asyncio.to_thread(scrape)
        if 'stjob_jobs_by_phase{phase="Pending"} 1.0' in text:
            return text
        await asyncio.sleep(0.05)
    return text
