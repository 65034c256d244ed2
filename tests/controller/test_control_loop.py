"""The control loop without Kopf: indices as plain dicts, a recording API, the watch played by hand.

These pin what the operator sends for each event (nothing, where nothing changed), that its own
writes are not repeated before their echo arrives, and that per-resource state is pruned.
"""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from stjob.controller import applied_spec
from stjob.controller.compat import CURRENT, ServerSupport
from stjob.controller.control_loop import ControlLoop, Indices
from stjob.controller.kube_api import ApiError, Resource
from stjob.controller.settings import OperatorSettings
from tests.controller.factories import resource

KEY = ("ml", "sick")


class RecordingApi:
    """An API server in a dict: records each call as (verb, plural[/sub], name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("get", res.plural, name))
        return copy.deepcopy(self.objects.get((res.plural, namespace, name)))

    async def create(self, res: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("create", res.plural, name))
        if (res.plural, namespace, name) in self.objects:
            raise ApiError(409, "AlreadyExists", f"{name} exists")
        stored = copy.deepcopy(body)
        stored["metadata"].setdefault("uid", f"uid-{res.plural}-{name}")
        self.objects[res.plural, namespace, name] = stored
        return copy.deepcopy(stored)

    async def patch(
        self, res: Resource, namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]:
        self.calls.append(("patch", res.plural + (f"/{subresource}" if subresource else ""), name))
        stored = self.objects.setdefault((res.plural, namespace, name), {"metadata": {"name": name}})
        for field, value in patch.items():
            if isinstance(value, dict):
                stored.setdefault(field, {}).update(value)
            else:
                stored[field] = value
        return copy.deepcopy(stored)

    async def close(self) -> None:
        pass

    def take(self) -> list[tuple[str, str, str]]:
        """The calls since the last take."""
        calls, self.calls = self.calls, []
        return calls


class World:
    """The indices the watches would fill, and the loop under test."""

    def __init__(self, leading: bool = True, support: ServerSupport = CURRENT, allow_unsupported: bool = False) -> None:
        self.api = RecordingApi()
        self.resources: dict[tuple[str, str], list[Any]] = {}  # (bodies the test edits in place)
        self.jobs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.pods: dict[tuple[str, str], list[dict[str, Any]]] = {}
        indices = Indices(self.resources, self.jobs, self.pods)
        config = OperatorSettings(
            metrics_port=0, health_port=0, trainer_image="trainer:test", allow_unsupported_kubernetes=allow_unsupported
        )
        self.loop = ControlLoop(self.api, config, indices, instance="test-0", support=support)  # type: ignore[arg-type]
        self.loop.leading = leading

    def add(self, body: dict[str, Any]) -> None:
        self.resources[KEY] = [body]

    def created(self, body: dict[str, Any]) -> dict[str, Any]:
        """The resource as both the watch and the API server have it after ``kubectl apply``."""
        self.add(body)
        self.api.objects["sentencetransformerjobs", "ml", "sick"] = copy.deepcopy(body)
        return body

    def echo(self) -> None:
        """The watch delivers what the operator wrote: the resource's status and the Job."""
        stored = self.api.objects.get(("sentencetransformerjobs", "ml", "sick"), {})
        for body in self.resources.get(KEY, []):
            body["status"] = copy.deepcopy(stored.get("status") or {})
        job = self.api.objects.get(("jobs", "ml", "sick"))
        if job is not None:
            self.jobs[KEY] = [copy.deepcopy(job)]

    async def reconcile(self) -> list[tuple[str, str, str]]:
        self.loop.queue.kick(KEY)
        await asyncio.sleep(0)
        await asyncio.wait_for(self.settled(), 5)
        return self.api.take()

    async def settled(self) -> None:
        while len(self.loop.queue._states):
            await asyncio.sleep(0.005)


CREATE = [
    ("create", "configmaps", "sick-spec"),
    ("create", "serviceaccounts", "sick-trainer"),
    ("create", "roles", "sick-trainer"),
    ("create", "rolebindings", "sick-trainer"),
    ("create", "jobs", "sick"),
    ("patch", "sentencetransformerjobs/status", "sick"),
    ("create", "events", "?"),
]


def _names_events(calls: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [(verb, plural, "?" if plural == "events" else name) for verb, plural, name in calls]


async def test_a_lifecycle_sends_only_writes_and_never_repeats_one_before_its_echo() -> None:
    world = World()
    world.created(resource())
    assert _names_events(await world.reconcile()) == CREATE
    # A Pod or Job event before the watch has shown the Job and the status: nothing again.
    assert await world.reconcile() == []
    world.echo()
    assert await world.reconcile() == []
    # The kubelet starts the trainer: one status patch and one Event, from the index alone.
    pod = {"metadata": {"name": "sick-abc", "namespace": "ml", "creationTimestamp": "2026-01-01T00:00:05Z"}, "status": {"phase": "Running"}}  # fmt: skip
    world.pods[KEY] = [pod]
    assert _names_events(await world.reconcile()) == [("patch", "sentencetransformerjobs/status", "sick"), ("create", "events", "?")]  # fmt: skip
    assert await world.reconcile() == []
    world.echo()
    assert await world.reconcile() == []
    await world.loop.close()


async def test_deleting_the_resource_prunes_its_state() -> None:
    world = World()
    body = world.created(resource())
    await world.reconcile()
    assert KEY in world.loop.memory
    del world.resources[KEY]
    world.loop.resource_event("DELETED", body)
    assert len(world.loop.memory) == 0
    assert len(world.loop.queue) == 0
    await world.loop.close()


async def test_the_resources_are_kept_from_their_events() -> None:
    """No Kopf index for the resources: their on.event handler keeps them (one Kopf handler per event)."""
    world = World()
    body = resource()
    world.api.objects["sentencetransformerjobs", "ml", "sick"] = copy.deepcopy(body)
    world.loop.resource_event(None, body)  # listed at start
    assert world.resources[KEY] == [body]
    await asyncio.wait_for(world.settled(), 5)
    assert _names_events(world.api.take()) == CREATE
    world.loop.resource_event("DELETED", body)
    assert KEY not in world.resources and len(world.loop.memory) == 0
    await world.loop.close()


async def test_the_previous_resources_job_is_not_taken_for_ours() -> None:
    """Delete and re-apply: the old Job (old uid) is still there; the new resource waits, never 'Creating'."""
    world = World()
    old = resource(uid="uid-old")
    world.api.objects["sentencetransformerjobs", "ml", "sick"] = copy.deepcopy(old)
    world.add(old)
    await world.reconcile()
    world.echo()
    new = resource(uid="uid-new")
    world.api.objects["sentencetransformerjobs", "ml", "sick"] = copy.deepcopy(new)
    world.loop.resource_event("DELETED", old)
    world.add(new)
    calls = await world.reconcile()
    assert ("create", "jobs", "sick") not in calls  # the ConfigMap of uid-old is in the way first
    status = world.api.objects["sentencetransformerjobs", "ml", "sick"]["status"]
    assert status["phase"] == "Pending"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "WaitingForGarbageCollection"
    assert "uid-old" in ready["message"]
    assert len(world.loop.queue._timers) == 1  # tried again shortly, without waiting for an event
    # The garbage collector removes the old children; the old Job's DELETED event brings a reconcile.
    for key in [k for k in world.api.objects if k[0] != "sentencetransformerjobs"]:
        del world.api.objects[key]
    world.jobs.pop(KEY)
    calls = _names_events(await world.reconcile())
    assert calls[:5] == CREATE[:5]
    assert world.api.objects["jobs", "ml", "sick"]["metadata"]["ownerReferences"][0]["uid"] == "uid-new"
    await world.loop.close()


async def test_observed_generation_stays_when_the_spec_change_was_not_applied() -> None:
    world = World()
    body = world.created(resource())
    await world.reconcile()
    world.echo()
    digest = world.jobs[KEY][0]["metadata"]["annotations"][applied_spec.SPEC_DIGEST_ANNOTATION]
    # An edit the API server should have refused (no CEL on this server): generation 2, new epochs.
    body["metadata"]["generation"] = 2
    body["spec"]["training"] = {"epochs": 9}
    await world.reconcile()
    world.echo()
    assert body["status"]["observedGeneration"] == 1
    assert world.jobs[KEY][0]["metadata"]["annotations"][applied_spec.SPEC_DIGEST_ANNOTATION] == digest
    # Suspending is a change the operator does apply, but the epochs edit is still not applied.
    body["metadata"]["generation"] = 3
    body["spec"]["suspend"] = True
    calls = await world.reconcile()
    assert ("patch", "jobs", "sick") in calls
    world.echo()
    assert body["status"]["observedGeneration"] == 1
    # Undo the edit: generation 4 is applied.
    body["metadata"]["generation"] = 4
    del body["spec"]["training"]
    await world.reconcile()
    world.echo()
    assert body["status"]["observedGeneration"] == 4
    await world.loop.close()


async def test_a_burst_of_kicks_is_one_reconcile_and_a_standby_does_nothing() -> None:
    world = World(leading=False)
    world.created(resource())
    for _ in range(10):
        world.loop.child_event("ml", {"stjob.dev/job-name": "sick"}, "pod")
    await asyncio.sleep(0.05)
    assert world.api.take() == [] and world.loop.queue.runs == 0
    world.loop.start_leading()  # taking over: every known resource once
    for _ in range(10):
        world.loop.child_event("ml", {"stjob.dev/job-name": "sick"}, "pod")
    await asyncio.wait_for(world.settled(), 5)
    assert world.loop.queue.runs == 1
    assert _names_events(world.api.take()) == CREATE
    await world.loop.close()


@pytest.mark.parametrize(("status", "delay"), [(500, 10.0), (429, 1.0), (403, 60.0)])
async def test_a_failed_write_is_retried_after_a_delay(status: int, delay: float) -> None:
    world = World()
    body = resource()
    world.add(body)

    async def refuse(*_: Any, **__: Any) -> Any:
        raise ApiError(status, "Nope", "refused", retry_after=1.0 if status == 429 else None)

    world.api.create = refuse  # type: ignore[method-assign]
    await world.reconcile()
    (timer,) = world.loop.queue._timers.values()
    remaining = timer.when() - asyncio.get_running_loop().time()
    assert delay - 0.5 < remaining <= delay
    await world.loop.close()


async def test_a_namespace_being_deleted_drops_the_work_without_a_retry_or_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The API server refuses new objects there for good; the resource goes with the namespace."""
    world = World()
    world.add(resource())
    message = 'configmaps "sick-spec" is forbidden: unable to create new content in namespace ml because it is being terminated'

    async def refuse(*_: Any, **__: Any) -> Any:
        raise ApiError(403, "Forbidden", message)

    world.api.create = refuse  # type: ignore[method-assign]
    with caplog.at_level("INFO"):
        await world.reconcile()
    assert world.loop.queue._timers == {}
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    await world.loop.close()


async def test_the_trainers_progress_and_the_operators_own_echo_need_no_reconcile() -> None:
    world = World()
    body = world.created(resource())
    await world.reconcile()
    world.echo()
    runs = world.loop.queue.runs
    world.loop.resource_event("MODIFIED", body)  # the echo of the status patch
    body["status"]["progress"] = {"step": 10}  # the trainer reports
    world.loop.resource_event("MODIFIED", body)
    await asyncio.sleep(0.02)
    assert world.loop.queue.runs == runs
    body["metadata"]["annotations"] = {"touched": "now"}  # an admin asks for a reconcile
    world.loop.resource_event("MODIFIED", body)
    await asyncio.wait_for(world.settled(), 5)
    assert world.loop.queue.runs == runs + 1
    await world.loop.close()


async def test_the_status_echo_that_arrives_while_the_event_is_posted_needs_no_reconcile() -> None:
    """The watch often shows the status patch before the Event's POST returns: still the operator's own write."""
    world = World()
    body = world.created(resource())
    create = world.api.create

    async def create_then_echo(res: Resource, namespace: str, sent: dict[str, Any]) -> dict[str, Any]:
        if res.plural == "events":
            world.echo()
            world.loop.resource_event("MODIFIED", body)
        return await create(res, namespace, sent)

    world.api.create = create_then_echo  # type: ignore[method-assign,assignment]
    assert _names_events(await world.reconcile()) == CREATE
    assert world.loop.queue.runs == 1
    await world.loop.close()


async def test_the_jobs_added_event_needs_no_reconcile_but_its_progress_and_deletion_do() -> None:
    world = World()
    world.created(resource())
    await world.reconcile()
    job = copy.deepcopy(world.api.objects["jobs", "ml", "sick"])
    labels = job["metadata"]["labels"]
    world.jobs[KEY] = [job]
    world.loop.child_event("ml", labels, "job", job)  # the Job as created: the creating reconcile saw it
    assert len(world.loop.queue) == 0
    started = {**job, "status": {"active": 1}}
    world.loop.child_event("ml", labels, "job", started)
    assert len(world.loop.queue) == 1
    await asyncio.wait_for(world.settled(), 5)
    world.loop.child_event("ml", labels, "job", None)  # deleted (no body)
    assert len(world.loop.queue) == 1
    await asyncio.wait_for(world.settled(), 5)
    await world.loop.close()


OLD_SERVER = ServerSupport((1, 20), "v1.20.2")
DATA_ERROR = {"exitCode": 4, "message": '{"outcome": "Failed", "reason": "DataError", "message": "row 3"}'}


async def test_an_old_server_refuses_every_resource_unless_allowed() -> None:
    world = World(support=OLD_SERVER)
    world.created(resource())
    calls = _names_events(await world.reconcile())
    assert calls == [("patch", "sentencetransformerjobs/status", "sick"), ("create", "events", "?")]
    status = world.api.objects["sentencetransformerjobs", "ml", "sick"]["status"]
    assert status["phase"] == "Failed"
    assert next(c for c in status["conditions"] if c["type"] == "Failed")["reason"] == "UnsupportedKubernetes"
    await world.loop.close()


async def test_the_degraded_mode_fails_a_data_error_and_stops_the_job() -> None:
    world = World(support=OLD_SERVER, allow_unsupported=True)
    body = world.created(resource())
    await world.reconcile()
    assert "podFailurePolicy" not in world.api.objects["jobs", "ml", "sick"]["spec"]
    world.echo()
    pod = {"metadata": {"name": "sick-abc", "namespace": "ml"}, "status": {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": DATA_ERROR}}]}}  # fmt: skip
    world.pods[KEY] = [pod]
    calls = await world.reconcile()
    assert ("patch", "jobs", "sick") in calls
    assert world.api.objects["jobs", "ml", "sick"]["spec"]["parallelism"] == 0
    world.echo()
    assert body["status"]["phase"] == "Failed"
    assert await world.reconcile() == []
    await world.loop.close()
