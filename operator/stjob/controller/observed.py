"""What the operator's watches saw of one resource: the inputs of a reconcile, without a single GET.

Kopf keeps three in-memory indices fed by the watches (see ``handlers``): the resources by (namespace,
name), and the Jobs and trainer Pods by (namespace, owning resource's name) from the
``stjob.dev/job-name`` label. A name is not an identity: after ``kubectl delete`` and a re-apply, the
previous resource's Job and Pods carry the same label until the garbage collector removes them. So a
Job counts only when its controller reference is this resource's uid, and a Pod only when it belongs
to that Job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stjob.controller import naming
from stjob.controller.ownership import controller_of, is_controlled_by

#: (namespace, name) of a SentenceTransformerJob.
Key = tuple[str, str]


@dataclass(frozen=True)
class Observed:
    """One resource and its children as last watched (plus what this process wrote since)."""

    body: Mapping[str, Any]
    job: Mapping[str, Any] | None
    pods: list[Mapping[str, Any]]

    @property
    def key(self) -> Key:
        """(namespace, name)."""
        meta = self.body["metadata"]
        return str(meta["namespace"]), str(meta["name"])

    @property
    def uid(self) -> str:
        """The resource's uid ('' when the server gave none)."""
        return str(self.body["metadata"].get("uid") or "")


#: What a reconcile reads of a Job's or Pod's metadata (the rest, the pod template above all, is dropped
#: from the index: smaller in memory, and the status logic walks less).
_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "ownerReferences",
    "creationTimestamp",
    "deletionTimestamp",
)


def _kept_metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {key: meta[key] for key in _KEPT_METADATA if key in meta}


def job_view(job: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Job a reconcile reads: identity, ``spec.suspend`` and ``parallelism``, status."""
    spec = job.get("spec") or {}
    kept_spec = {key: spec[key] for key in ("suspend", "parallelism") if key in spec}
    return {"metadata": _kept_metadata(job), "spec": kept_spec, "status": job.get("status") or {}}


def pod_view(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Pod a reconcile reads: identity and status."""
    return {"metadata": _kept_metadata(pod), "status": pod.get("status") or {}}


def owner_key(namespace: str | None, labels: Mapping[str, str] | None) -> Key | None:
    """The owning resource's key from a child's labels (None: not one of ours)."""
    owner = (labels or {}).get(naming.LABEL_JOB_NAME) or None
    return None if owner is None or namespace is None else (namespace, owner)


def live(bodies: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The resource of a name that is not being deleted (a deleted one may linger in the index)."""
    found = None
    for body in bodies:
        if not body.get("metadata", {}).get("deletionTimestamp"):
            found = body
    return found


def our_job(jobs: Iterable[Mapping[str, Any]], uid: str) -> Mapping[str, Any] | None:
    """The Job this resource controls (an earlier resource's Job of the same name does not count)."""
    for job in jobs:
        if is_controlled_by(job, uid):
            return job
    return None


def our_pods(pods: Iterable[Mapping[str, Any]], job: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The pods of ``job``: those whose controller is that Job (or that name no controller at all)."""
    if job is None:
        return []
    job_uid = job.get("metadata", {}).get("uid")
    kept = []
    for pod in pods:
        owner = controller_of(pod)
        if owner is None or not job_uid or owner.get("uid") == job_uid:
            kept.append(pod)
    return kept
