"""The operator as a production controller, on the emulator: what it sends and what it leaves behind.

A job's whole life is writes only (no GET or LIST once the watches are open), nothing but the status
is ever written onto the resource (no finalizer, no annotations), a delete and a re-apply of the same
name wait for the garbage collector instead of reporting a stale Job, and of two replicas one acts.
The same points on a real API server: tests/kube/test_operator_production.py.
"""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import json
from typing import Any

from stjob.controller.settings import OperatorSettings
from tests.controller import kube
from tests.controller.api_calls import Call, operator_calls
from tests.controller.conftest import STJOBS, OperatorFactory, wait_until
from tests.controller.factories import resource

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
RUNNING = {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": {"running": {"startedAt": "2026-01-01T00:01:00Z"}}}]}  # fmt: skip
DONE = {"exitCode": 0, "startedAt": "2026-01-01T00:01:00Z", "message": json.dumps({"outcome": "Succeeded", "modelPath": "/output/sick/model"})}  # fmt: skip
SUCCEEDED = {"phase": "Succeeded", "containerStatuses": [{"name": "trainer", "state": {"terminated": DONE}}]}
COMPLETE = {"completionTime": "2026-01-01T01:00:00Z", "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T01:00:00Z"}]}  # fmt: skip
CHILD_PLURALS = ("configmaps", "serviceaccounts", "roles", "rolebindings", "jobs")


def events_about(emulator: Any, name: str = "sick") -> list[dict[str, Any]]:
    """The Event bodies posted about resource ``name``, in order."""
    return [
        dict(r.data)
        for r in list(emulator)
        if r.method.value == "POST"
        and str(r.url.path).endswith("/events")
        and (r.data or {}).get("involvedObject", {}).get("name") == name
    ]


def status_patches(emulator: Any, name: str = "sick") -> list[dict[str, Any]]:
    """The status patches the operator sent for ``name``, in order."""
    return [
        dict(r.data or {}).get("status", {})
        for r in list(emulator)
        if r.method.value == "PATCH" and str(r.url.path).endswith(f"/sentencetransformerjobs/{name}/status")
    ]


async def _live_a_lifecycle(emulator: Any) -> None:
    await kube.create(emulator, STJOBS, resource())
    await kube.wait_phase(emulator, "Pending")
    await kube.create_pod(emulator)
    await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", RUNNING)
    await kube.wait_phase(emulator, "Running")
    await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", SUCCEEDED)
    await kube.patch_status(emulator, kube.JOBS, "ml", "sick", COMPLETE)
    await kube.wait_phase(emulator, "Succeeded")
    await wait_until(
        lambda: any(e["reason"] == "Succeeded" for e in events_about(emulator)), what="the Succeeded Event"
    )


async def test_a_lifecycle_is_writes_only_and_the_resource_keeps_only_its_status(
    emulator: Any, operator: OperatorFactory
) -> None:
    async with operator():
        await kube.wait_watching(emulator)
        opened = len(list(emulator))
        await _live_a_lifecycle(emulator)
        calls = operator_calls(list(emulator)[opened:])
    stored = kube.get(emulator, STJOBS, "ml", "sick") or {}
    reads = [c for c in calls if c.verb in ("get", "list")]
    assert reads == [], f"a Job or Pod event was decided with a read: {reads}"
    on_resource = [c for c in calls if c.resource == "sentencetransformerjobs" and c.verb != "watch"]
    assert on_resource == [], f"bookkeeping written onto the resource: {on_resource}"
    writes = [c for c in calls if c.verb != "watch"]
    creates = sorted(c.resource for c in writes if c.verb == "create" and c.resource != "events")
    assert creates == sorted(CHILD_PLURALS)
    # 5 children; then per transition (Pending, PodPending, Running, [Completing], Succeeded) one status
    # patch and at most one Event. Issue 13 measured 27 calls (9 + 10 + 8) for the same lifecycle.
    assert len(writes) <= 16, [f"{c.verb} {c.resource}" for c in writes]
    assert not stored["metadata"].get("finalizers")
    assert not [a for a in stored["metadata"].get("annotations") or {} if "kopf" in a]
    assert "kopf" not in stored.get("status", {})


async def test_events_say_stjob_operator_once_per_transition(emulator: Any, operator: OperatorFactory) -> None:
    config = OperatorSettings(
        metrics_port=0, health_port=0, trainer_image="trainer:test", pod_name="stjob-operator-abc"
    )
    async with operator(config):
        await kube.wait_watching(emulator)
        await _live_a_lifecycle(emulator)
    events = events_about(emulator)
    assert {e["source"]["component"] for e in events} == {"stjob-operator"}
    assert {e["reportingComponent"] for e in events} == {"stjob-operator"}
    assert {e["reportingInstance"] for e in events} == {"stjob-operator-abc"}
    reasons = [e["reason"] for e in events]
    assert reasons[0] == "PodPending" and reasons[-1] == "Succeeded" and "Running" in reasons
    assert len(reasons) == len(set(reasons)), f"an Event twice for one transition: {reasons}"
    assert all(e["involvedObject"]["uid"] == "uid-1" for e in events)


async def test_the_finalizer_of_the_previous_version_is_removed(emulator: Any, operator: OperatorFactory) -> None:
    """Resources from before this version carry Kopf's finalizer: it goes at the first sight of them."""
    body = resource()
    body["metadata"]["finalizers"] = [KOPF_FINALIZER]
    await kube.create(emulator, STJOBS, body)
    async with operator():
        await wait_until(lambda: not (kube.get(emulator, STJOBS, "ml", "sick") or {})["metadata"].get("finalizers"), what="the finalizer removed")  # fmt: skip
        await kube.wait_phase(emulator, "Pending")


async def test_delete_with_the_operator_stopped_completes_at_once(emulator: Any, operator: OperatorFactory) -> None:
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", RUNNING)
        await kube.wait_phase(emulator, "Running")  # an unfinished resource, the case that used to hang
    response = await emulator.delete("/apis/stjob.dev/v1alpha1/namespaces/ml/sentencetransformerjobs/sick")
    assert response.status < 300
    assert kube.get(emulator, STJOBS, "ml", "sick") is None, "the delete waits for a finalizer"


async def test_delete_then_reapply_waits_for_the_garbage_collector_and_never_reports_the_old_job(
    emulator: Any, operator: OperatorFactory
) -> None:
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource(uid="uid-old"))
        await kube.wait_phase(emulator, "Pending")
        response = await emulator.delete("/apis/stjob.dev/v1alpha1/namespaces/ml/sentencetransformerjobs/sick")
        assert response.status < 300
        # kmock has no garbage collector: the old children stay until the test removes them.
        await kube.create(emulator, STJOBS, resource(uid="uid-new"))
        waiting = await wait_until(lambda: kube.condition(kube.status_of(emulator), "Ready").get("reason") == "WaitingForGarbageCollection" and kube.status_of(emulator), what="waiting for the GC")  # fmt: skip
        await wait_until(lambda: any(e["reason"] == "WaitingForGarbageCollection" for e in events_about(emulator)), what="its Event")  # fmt: skip
        # The garbage collector: the old Job first (its DELETED event must not make the new one "Creating").
        for plural, name in [("apis/batch/v1", "jobs/sick"), ("api/v1", "configmaps/sick-spec"), ("api/v1", "serviceaccounts/sick-trainer"), ("apis/rbac.authorization.k8s.io/v1", "roles/sick-trainer"), ("apis/rbac.authorization.k8s.io/v1", "rolebindings/sick-trainer")]:  # fmt: skip
            kind, child = name.split("/")
            assert (await emulator.delete(f"/{plural}/namespaces/ml/{kind}/{child}")).status < 300
        job = await wait_until(lambda: kube.get(emulator, kube.JOBS, "ml", "sick"), what="the new Job")
        await kube.wait_phase(emulator, "Pending")
        await wait_until(lambda: kube.condition(kube.status_of(emulator), "Ready").get("reason") == "PodPending", what="PodPending")  # fmt: skip
    assert waiting["phase"] == "Pending"
    assert "uid-old" in kube.condition(waiting, "Ready")["message"]
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-new"
    reasons = [kube.condition(p, "Ready").get("reason") for p in status_patches(emulator) if p.get("conditions")]
    assert "Creating" not in reasons, reasons


async def test_two_replicas_one_acts_and_a_stopped_leader_hands_over(emulator: Any, operator: OperatorFactory) -> None:
    def replica(name: str) -> OperatorSettings:
        return OperatorSettings(
            metrics_port=0, health_port=0, trainer_image="trainer:test", pod_name=name,
            leader_election=True, lease_namespace="stjob-system", lease_duration_seconds=2, lease_retry_seconds=0.2,
        )  # fmt: skip

    def holder() -> str | None:
        lease = kube.get(emulator, "coordination.k8s.io/v1/leases", "stjob-system", "stjob-operator") or {}
        return (lease.get("spec") or {}).get("holderIdentity")

    async with operator(replica("replica-b")):
        async with operator(replica("replica-a")):
            await wait_until(lambda: holder() in ("replica-a", "replica-b"), what="a leader")
            first = holder()
            await kube.wait_watching(emulator)
            await kube.create(emulator, STJOBS, resource())
            await kube.wait_phase(emulator, "Pending")
            await wait_until(lambda: events_about(emulator), what="the Pending Event")
        # replica-a stopped (and released the Lease if it held it): replica-b leads now.
        await wait_until(lambda: holder() == "replica-b", what="the handover")
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", RUNNING)
        await kube.wait_phase(emulator, "Running")
        await wait_until(
            lambda: any(e["reason"] == "Running" for e in events_about(emulator)), what="the Running Event"
        )
    posts = [c for c in operator_calls(emulator) if c.verb == "create" and c.resource in CHILD_PLURALS]
    assert sorted(c.resource for c in posts) == sorted(CHILD_PLURALS), "both replicas created children"
    events = events_about(emulator)
    reasons = [e["reason"] for e in events]
    assert len(reasons) == len(set(reasons)), f"an Event twice for one transition: {reasons}"
    assert {e["reportingInstance"] for e in events if e["reason"] == "Running"} == {"replica-b"}
    assert first is not None


def test_call_parsing() -> None:
    from tests.controller.api_calls import parse

    assert parse("GET", "/apis/batch/v1/jobs", {"watch": "true"}) == Call("watch", "batch", "jobs", None, None, "GET", "/apis/batch/v1/jobs")  # fmt: skip
    assert parse("PATCH", "/apis/stjob.dev/v1alpha1/namespaces/ml/sentencetransformerjobs/sick/status", {}) == Call("patch", "stjob.dev", "sentencetransformerjobs/status", "ml", "sick", "PATCH", "/apis/stjob.dev/v1alpha1/namespaces/ml/sentencetransformerjobs/sick/status")  # fmt: skip
    assert parse("GET", "/api/v1/namespaces/ml/configmaps/x", {}) == Call("get", "", "configmaps", "ml", "x", "GET", "/api/v1/namespaces/ml/configmaps/x")  # fmt: skip
    assert parse("GET", "/apis/batch/v1", {}) is None


async def test_a_failure_is_counted_once_for_the_alert(emulator: Any, operator: OperatorFactory) -> None:
    """StjobJobFailed reads stjob_job_failures_total: one increment per failure, however many events."""
    from stjob.controller import metrics

    def failures() -> float:
        return metrics.REGISTRY.get_sample_value("stjob_job_failures_total", {"reason": "DataError"}) or 0.0

    before = failures()
    data_error = {
        "exitCode": 4,
        "message": json.dumps({"outcome": "Failed", "reason": "DataError", "message": "row 3"}),
    }
    async with operator():
        await kube.wait_watching(emulator)
        await kube.create(emulator, STJOBS, resource())
        await wait_until(lambda: kube.get(emulator, kube.JOBS, "ml", "sick"), what="the Job")
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": data_error}}]})  # fmt: skip
        await kube.patch_status(emulator, kube.JOBS, "ml", "sick", {"conditions": [{"type": "Failed", "status": "True", "reason": "PodFailurePolicy"}]})  # fmt: skip
        await kube.wait_phase(emulator, "Failed")
        await kube.patch_status(emulator, kube.JOBS, "ml", "sick", {"failed": 1})  # one more event
        await wait_until(lambda: any(e["reason"] == "DataError" for e in events_about(emulator)), what="the Event")
    assert failures() - before == 1
