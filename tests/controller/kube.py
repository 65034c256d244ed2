"""Test-side helpers to poke the emulator like a cluster's controllers (Job controller, kubelet, Kueue)."""

from __future__ import annotations

from typing import Any

from tests.controller.conftest import STJOBS, WAIT, wait_until

JOBS = "batch/v1/jobs"
PODS = "v1/pods"


def get(kmock: Any, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The stored object, or None when absent or deleted."""
    try:
        obj = kmock.objects[resource, namespace, name]
    except KeyError:
        return None
    if obj.deleted:
        return None
    return dict(obj.raw)


def status_of(kmock: Any, namespace: str = "ml", name: str = "sick") -> dict[str, Any]:
    """The resource's status ({} before the operator wrote one)."""
    body = get(kmock, STJOBS, namespace, name) or {}
    return dict(body.get("status") or {})


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    """One condition of a status ({} when absent)."""
    return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})


def _path(resource: str, namespace: str, name: str | None = None) -> str:
    group_version, plural = resource.rsplit("/", 1)
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{base}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


async def create(kmock: Any, resource: str, body: dict[str, Any]) -> None:
    """POST an object, as kubectl would."""
    response = await kmock.post(_path(resource, body["metadata"]["namespace"]), json=body)
    assert response.status < 300, await response.text()


async def patch_status(kmock: Any, resource: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    """Merge-patch an object's status subresource (emits MODIFIED, as a controller's write would)."""
    response = await kmock.patch(
        _path(resource, namespace, name) + "/status",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status < 300, await response.text()


async def patch(kmock: Any, resource: str, namespace: str, name: str, body: dict[str, Any]) -> None:
    """Merge-patch an object (e.g. the user flipping spec.suspend)."""
    response = await kmock.patch(
        _path(resource, namespace, name), json=body, headers={"Content-Type": "application/merge-patch+json"}
    )
    assert response.status < 300, await response.text()


async def create_pod(
    kmock: Any, name: str = "sick-abc", owner: str = "sick", created: str = "2026-01-01T00:00:05Z"
) -> None:
    """The Job controller creating a trainer pod."""
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "labels": {"stjob.dev/job-name": owner},
            "creationTimestamp": created,
        },
        "spec": {"containers": [{"name": "trainer", "image": "trainer:test"}]},
        "status": {"phase": "Pending"},
    }
    await create(kmock, PODS, body)


async def wait_phase(kmock: Any, phase: str, name: str = "sick", timeout: float = WAIT) -> dict[str, Any]:
    """Wait until the resource shows ``phase``; returns its status."""
    result: dict[str, Any] = await wait_until(
        lambda: (s := status_of(kmock, name=name)).get("phase") == phase and s, timeout, f"{name} phase {phase}"
    )
    return result


async def wait_watching(kmock: Any) -> None:
    """Kopf replays a watch's objects as ADDED: create resources once the watch is open."""
    await wait_until(lambda: len(kmock["watch " + STJOBS]) > 0, what="the operator's watch")
