"""The imperative shell: read the cluster, call the pure builders and status logic, write the result.

No Kopf here (handlers convert errors and post Events); no state survives a call: every decision is
taken from what the API server returns, so a restarted operator picks up exactly where it was.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from stjob.api import SentenceTransformerJobSpec
from stjob.controller import builders, naming, status_logic
from stjob.controller.kube_api import JOBS, PODS, STJOBS, ApiError, KubeApi, resource_of
from stjob.controller.ownership import adoption_patch
from stjob.controller.settings import OperatorSettings
from stjob.controller.status_logic import TERMINAL_PHASES, Verdict


def utc_now() -> str:
    """RFC 3339 in UTC, to the second (what metav1.Time serialises to)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Outcome:
    """What one reconcile saw and wrote; handlers turn it into Events and metrics."""

    body: Mapping[str, Any]
    before: Verdict | None
    after: Verdict
    patch: Mapping[str, Any]

    @property
    def changed(self) -> bool:
        """Whether the phase or the reason moved (worth an Event)."""
        return self.before is None or (self.before.phase, self.before.reason) != (self.after.phase, self.after.reason)

    @property
    def started_now(self) -> str | None:
        """The startTime this reconcile set for the first time, if any."""
        start = self.patch.get("startTime")
        had = (self.body.get("status") or {}).get("startTime")
        return str(start) if start and not had else None


class KeyedLocks:
    """One lock per resource: a Job event and a Pod event of the same resource must not interleave."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    @contextmanager
    def hold(self, namespace: str, name: str) -> Iterator[None]:
        """Serialise reconciles of one resource (within this process)."""
        with self._guard:
            lock = self._locks.setdefault((namespace, name), threading.Lock())
        with lock:
            yield


def ensure_child(api: KubeApi, desired: dict[str, Any]) -> dict[str, Any]:
    """Create the child, or verify and adopt the one that is already there (never a duplicate)."""
    return create_or_adopt(api, desired)[0]


def create_or_adopt(api: KubeApi, desired: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``ensure_child``, also telling whether this call created the object (True) or found it."""
    resource, meta = resource_of(desired), desired["metadata"]
    try:
        return api.create(resource, meta["namespace"], desired), True
    except ApiError as exc:
        if exc.status != 409:
            raise
    existing = api.get(resource, meta["namespace"], meta["name"])
    if existing is None:
        # Deleted between our POST and GET (an old incarnation being collected): retry later.
        raise ApiError(409, "Conflict", f"{desired['kind']} {meta['name']} is being deleted")
    return adopt(api, existing, desired), False


def adopt(api: KubeApi, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Patch an existing child to carry our labels and owner reference (raises ChildConflictError)."""
    patch = adoption_patch(existing, desired)
    if not patch:
        return existing
    meta = desired["metadata"]
    return api.patch(resource_of(desired), meta["namespace"], meta["name"], patch)


def sync_suspend(api: KubeApi, spec: SentenceTransformerJobSpec, job: dict[str, Any]) -> dict[str, Any]:
    """Make the Job's ``spec.suspend`` follow the resource (but leave a queued Job to Kueue)."""
    want = builders.desired_job_suspend(spec)
    if want is None or bool(job.get("spec", {}).get("suspend")) == want:
        return job
    meta = job["metadata"]
    return api.patch(JOBS, meta["namespace"], meta["name"], {"spec": {"suspend": want}})


def list_pods(api: KubeApi, namespace: str, name: str) -> list[dict[str, Any]]:
    """The trainer pods of one resource (filtered here too: not every server honours selectors)."""
    pods = api.list(PODS, namespace, label_selector=f"{naming.LABEL_JOB_NAME}={name}")
    return [pod for pod in pods if naming.owner_name_of(pod.get("metadata", {}).get("labels")) == name]


def refresh_status(
    api: KubeApi,
    spec: SentenceTransformerJobSpec,
    body: Mapping[str, Any],
    job: Mapping[str, Any] | None,
    pods: list[dict[str, Any]] | None = None,
) -> Outcome:
    """Derive the status from the Job and Pods and merge-patch the operator's keys (only if changed).

    ``pods`` is listed when not given (a Job this reconcile has just created has none yet).
    """
    meta = body["metadata"]
    current = body.get("status") or {}
    if pods is None:
        pods = list_pods(api, meta["namespace"], meta["name"])
    new = status_logic.next_status(spec, meta, job, pods, current, utc_now())
    return _write_status(api, body, new)


def _write_status(api: KubeApi, body: Mapping[str, Any], new: dict[str, Any]) -> Outcome:
    meta, current = body["metadata"], body.get("status") or {}
    patch = status_logic.status_patch(current, new)
    if patch:
        api.patch(STJOBS, meta["namespace"], meta["name"], {"status": patch}, subresource="status")
    after = status_logic.verdict_of(new)
    assert after is not None  # next_status always sets a phase
    return Outcome(body=body, before=status_logic.verdict_of(current), after=after, patch=patch)


def reconcile(
    api: KubeApi,
    spec: SentenceTransformerJobSpec,
    body: Mapping[str, Any],
    settings: OperatorSettings,
    *,
    new: bool = False,
) -> Outcome:
    """Children present and owned, Job suspended as asked, status true: from the cluster alone.

    ``body`` must be fresh (read under the resource's lock). A finished resource is left alone: its
    Job may be gone (ttlSecondsAfterFinished) and must not be created again. ``new`` (a create
    event) skips looking for the Job first: the POSTs answer 409 for children that already exist.
    """
    meta = body["metadata"]
    current = body.get("status") or {}
    finished = current.get("phase") in TERMINAL_PHASES
    job = None if new and not finished else api.get(JOBS, meta["namespace"], naming.job_name(meta["name"]))
    pods: list[dict[str, Any]] | None = None
    if not finished:
        if job is None:
            # The Job is created last, so a missing Job means some children may be missing too.
            *others, job_manifest = builders.build_children(spec, meta, settings)
            for child in others:
                ensure_child(api, child)
            job, created = create_or_adopt(api, job_manifest)
            if created:
                pods = []  # a Job that did not exist a moment ago has no pods yet
        else:
            job = adopt(api, job, builders.build_job(spec, meta, settings))
        job = sync_suspend(api, spec, job)
    return refresh_status(api, spec, body, job, pods)


def mark_invalid(api: KubeApi, body: Mapping[str, Any], message: str) -> Outcome:
    """Failed / ConfigError for a spec that does not validate; nothing gets created."""
    new = status_logic.invalid_spec_status(body["metadata"], message, body.get("status"), utc_now())
    return _write_status(api, body, new)


def fetch(api: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    """The resource as it is now (None when it is gone)."""
    return api.get(STJOBS, namespace, name)
