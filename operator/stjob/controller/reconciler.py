"""The imperative shell: from what the watches saw, write the children, the Job's suspension and the status.

No reads of its own: the caller hands in the resource, its Job and its Pods as the operator's watches
delivered them (``observed``), so a reconcile that changes nothing sends nothing. The only GET is the
one a 409 makes necessary (is the object in the way ours?). No Kopf here, and no state survives a call:
a restarted operator rebuilds its view from the watches and picks up exactly where it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from stjob.api import SentenceTransformerJobSpec
from stjob.controller import applied_spec, builders, status_logic
from stjob.controller.compat import CURRENT, REASON_UNSUPPORTED, ServerSupport
from stjob.controller.kube_api import JOBS, STJOBS, ApiCalls, ApiError, resource_of
from stjob.controller.ownership import ChildConflictError, check_existing
from stjob.controller.settings import OperatorSettings
from stjob.controller.status_logic import TERMINAL_PHASES, Verdict

#: Seconds between tries while an earlier resource's children are being garbage-collected (about 1 s),
#: and while an object of someone else's is in the way (an admin has to act).
GC_RETRY_SECONDS = 2.0
CONFLICT_RETRY_SECONDS = 30.0
REASON_WAITING_FOR_GC = "WaitingForGarbageCollection"


def utc_now() -> str:
    """RFC 3339 in UTC, to the second (what metav1.Time serialises to)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Outcome:
    """What one reconcile saw and wrote; the caller turns it into Events, metrics and bookkeeping."""

    body: Mapping[str, Any]
    before: Verdict | None
    after: Verdict
    #: The status merge patch sent ({} when the status was already right).
    patch: Mapping[str, Any]
    #: The operator's status keys as they are now on the server (what was computed).
    status: Mapping[str, Any]
    #: The Job as this reconcile created or patched it (None: untouched).
    job: Mapping[str, Any] | None = None
    #: Try again after this many seconds although no event may come (a child in the way).
    retry_after: float | None = None

    @property
    def started_now(self) -> str | None:
        """The startTime this reconcile set for the first time, if any."""
        start = self.patch.get("startTime")
        had = (self.body.get("status") or {}).get("startTime")
        return str(start) if start and not had else None


async def ensure_child(api: ApiCalls, desired: dict[str, Any]) -> dict[str, Any]:
    """Create the child, or accept the one already there when it is ours (ChildConflictError if not)."""
    resource, meta = resource_of(desired), desired["metadata"]
    try:
        created: dict[str, Any] = await api.create(resource, meta["namespace"], desired)
        return created
    except ApiError as exc:
        if exc.status != 409:
            raise
    existing = await api.get(resource, meta["namespace"], meta["name"])
    if existing is None:
        # Deleted between our POST and GET (an old incarnation being collected): retry later.
        raise ApiError(409, "Conflict", f"{desired['kind']} {meta['name']} is being deleted")
    check_existing(existing, desired)
    return existing


async def create_children(
    api: ApiCalls,
    spec: SentenceTransformerJobSpec,
    meta: Mapping[str, Any],
    settings: OperatorSettings,
    support: ServerSupport = CURRENT,
    digest: str | None = None,
) -> dict[str, Any]:
    """Every child in order, the Job last (so its pods find their config and identity); returns the Job.

    ``digest``: the spec's, if known already."""
    *others, job = builders.build_children(spec, meta, settings, support)
    for child in others:
        await ensure_child(api, child)
    return await ensure_child(api, applied_spec.with_digest(job, spec, digest))


async def sync_suspend(api: ApiCalls, spec: SentenceTransformerJobSpec, job: Mapping[str, Any]) -> Mapping[str, Any]:
    """Make the Job's ``spec.suspend`` follow the resource (but leave a queued Job to Kueue)."""
    want = builders.desired_job_suspend(spec)
    if want is None or bool(job.get("spec", {}).get("suspend")) == want:
        return job
    meta = job["metadata"]
    return await api.patch(JOBS, meta["namespace"], meta["name"], {"spec": {"suspend": want}})


async def _write_status(api: ApiCalls, body: Mapping[str, Any], new: dict[str, Any]) -> Outcome:
    meta, current = body["metadata"], body.get("status") or {}
    patch = status_logic.status_patch(current, new)
    if patch:
        await api.patch(STJOBS, meta["namespace"], meta["name"], {"status": patch}, subresource="status")
    after = status_logic.verdict_of(new)
    assert after is not None  # every status built here has a phase
    return Outcome(body=body, before=status_logic.verdict_of(current), after=after, patch=patch, status=new)


async def reconcile(
    api: ApiCalls,
    spec: SentenceTransformerJobSpec,
    body: Mapping[str, Any],
    settings: OperatorSettings,
    *,
    job: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    now: str | None = None,
    digest: str | None = None,
    support: ServerSupport = CURRENT,
) -> Outcome:
    """Children present, Job suspended as asked, status true; ``job``/``pods``: this resource's, as watched.

    A finished resource is left alone: its Job may be gone (ttlSecondsAfterFinished) and must not be
    created again. Raises ApiError for the caller to retry. ``digest``: the spec's, if known already.
    ``support``: the server's (``compat``); without podFailurePolicy the operator enforces it: a
    non-retryable exit fails the resource and stops the Job (``parallelism: 0``, no retry pod).
    """
    meta, current = body["metadata"], body.get("status") or {}
    now = now or utc_now()
    touched: Mapping[str, Any] | None = None
    if current.get("phase") not in TERMINAL_PHASES:
        if job is None:
            try:
                job = touched = await create_children(api, spec, meta, settings, support, digest)
            except ChildConflictError as exc:
                return await blocked(api, spec, body, exc, now)
            pods = []  # a Job that did not exist a moment ago has no pods yet
        else:
            synced = await sync_suspend(api, spec, job)
            touched, job = (synced if synced is not job else None), synced
    generation = applied_spec.observed_generation(meta, current, applied_spec.applies(job, spec, digest))
    honest = {**meta, "generation": generation}
    enforce = not support.pod_failure_policy
    new = status_logic.next_status(spec, honest, job, pods, current, now, enforce_failure_policy=enforce)
    if enforce and new["phase"] == "Failed" and current.get("phase") not in TERMINAL_PHASES and job is not None:
        touched = await stop_job(api, job)
    return replace(await _write_status(api, body, new), job=touched)


async def stop_job(api: ApiCalls, job: Mapping[str, Any]) -> Mapping[str, Any]:
    """No further pods (degraded mode: the Job controller would otherwise retry a non-retryable failure)."""
    if (job.get("spec") or {}).get("parallelism") == 0:
        return job
    meta = job["metadata"]
    return await api.patch(JOBS, meta["namespace"], meta["name"], {"spec": {"parallelism": 0}})


async def mark_refused(api: ApiCalls, body: Mapping[str, Any], message: str, now: str | None = None) -> Outcome:
    """Failed / UnsupportedKubernetes: this server cannot run the resource (``compat``); nothing is created."""
    current = body.get("status") or {}
    if current.get("phase") in TERMINAL_PHASES:
        new = dict(current)
    else:
        new = status_logic.invalid_spec_status(body["metadata"], message, current, now or utc_now(), REASON_UNSUPPORTED)
    return await _write_status(api, body, new)


async def blocked(
    api: ApiCalls, spec: SentenceTransformerJobSpec, body: Mapping[str, Any], conflict: ChildConflictError, now: str
) -> Outcome:
    """Pending, saying which object is in the way; tried again later (the caller schedules it)."""
    previous = conflict.previous_incarnation
    verdict = Verdict("Pending", REASON_WAITING_FOR_GC if previous else conflict.reason, conflict.message)
    new = status_logic.build_status(verdict, spec, body["metadata"], body.get("status") or {}, now)
    outcome = await _write_status(api, body, new)
    return replace(outcome, retry_after=GC_RETRY_SECONDS if previous else CONFLICT_RETRY_SECONDS)


async def mark_invalid(api: ApiCalls, body: Mapping[str, Any], message: str, now: str | None = None) -> Outcome:
    """Failed / ConfigError for a spec that does not validate; nothing gets created."""
    new = status_logic.invalid_spec_status(body["metadata"], message, body.get("status"), now or utc_now())
    return await _write_status(api, body, new)
