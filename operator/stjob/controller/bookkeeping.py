"""What this process wrote that its watches have not shown yet, and each resource's validated spec.

The watches lag the operator's own writes by one event. Until the echo arrives, a reconcile triggered
by another event (a Pod's, the Job's) would see the old status and write the same patch and Event
again, or see no Job and POST it again. So each write is remembered and laid over what the indices
hold, until the watch shows it. Kept in memory only (never on the resource), per resource, and
forgotten when the resource is deleted; after a restart the watches are the whole truth again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stjob.api import SentenceTransformerJobSpec
from stjob.controller.observed import Key
from stjob.controller.validation import validate_spec
from stjob.errors import SpecError


@dataclass
class Remembered:
    """One resource's unechoed writes and its spec, validated once per change."""

    uid: str
    #: Operator status keys written and not yet seen on the watch.
    status: dict[str, Any] = field(default_factory=dict)
    #: The Job this process created, until the watch shows it.
    created_job: Mapping[str, Any] | None = None
    #: The Job's ``spec.suspend`` this process set, until the watch shows it.
    job_suspend: bool | None = None
    spec_source: Any = None
    spec: SentenceTransformerJobSpec | SpecError | None = None


class Bookkeeping:
    """Remembered writes and specs by resource key (the event loop's thread only: no locks)."""

    def __init__(self) -> None:
        self._by_key: dict[Key, Remembered] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def of(self, key: Key, uid: str) -> Remembered:
        """The entry of this incarnation of the resource (a new uid under the same name starts afresh)."""
        entry = self._by_key.get(key)
        if entry is None or entry.uid != uid:
            entry = self._by_key[key] = Remembered(uid)
        return entry

    def forget(self, key: Key) -> None:
        """The resource is gone: drop everything about it."""
        self._by_key.pop(key, None)

    def spec_of(self, key: Key, uid: str, raw: Mapping[str, Any] | None) -> SentenceTransformerJobSpec | SpecError:
        """The validated spec (or its SpecError); validated again only when the spec changed."""
        entry = self.of(key, uid)
        source = dict(raw or {})
        if entry.spec is None or entry.spec_source != source:
            try:
                entry.spec = validate_spec(source)
            except SpecError as exc:
                entry.spec = exc
            entry.spec_source = source
        return entry.spec

    def body(self, key: Key, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """``body`` with the status keys this process wrote laid over it, until the watch shows them."""
        entry = self._by_key.get(key)
        uid = str(body.get("metadata", {}).get("uid") or "")
        if entry is None or entry.uid != uid or not entry.status:
            return body
        status = body.get("status") or {}
        if all(status.get(name) == value for name, value in entry.status.items()):
            entry.status = {}  # caught up: the watch is the truth again
            return body
        return {**body, "status": {**status, **entry.status}}

    def job(self, key: Key, uid: str, watched: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The watched Job with this process's unechoed writes, or the Job it has just created."""
        entry = self._by_key.get(key)
        if entry is None or entry.uid != uid:
            return watched
        if watched is None:
            return entry.created_job
        entry.created_job = None
        suspend = entry.job_suspend
        if suspend is None:
            return watched
        spec = watched.get("spec") or {}
        if bool(spec.get("suspend")) == suspend:
            entry.job_suspend = None
            return watched
        return {**watched, "spec": {**spec, "suspend": suspend}}

    def wrote(
        self, key: Key, uid: str, status_patch: Mapping[str, Any], job: Mapping[str, Any] | None, *, created: bool
    ) -> None:
        """Remember a reconcile's writes: the status patch, and the Job it created or re-suspended."""
        entry = self.of(key, uid)
        entry.status.update(status_patch)
        if job is not None:
            if created:
                entry.created_job = job
            else:
                entry.job_suspend = bool((job.get("spec") or {}).get("suspend"))
