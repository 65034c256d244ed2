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
from stjob.controller import applied_spec
from stjob.controller.observed import Key
from stjob.controller.status_logic import OPERATOR_KEYS
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
    #: The digest of ``spec`` (applied_spec), computed with it.
    digest: str | None = None
    #: What the last reconcile decided from and left: (generation, labels and annotations, the
    #: operator's status keys after it).
    decided: tuple[Any, Any, dict[str, Any]] | None = None


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
                entry.digest = applied_spec.spec_digest(entry.spec)
            except SpecError as exc:
                entry.spec, entry.digest = exc, None
            entry.spec_source = source
        return entry.spec

    def digest_of(self, key: Key) -> str | None:
        """The digest of the spec ``spec_of`` validated last."""
        entry = self._by_key.get(key)
        return None if entry is None else entry.digest

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

    def created_echo(self, key: Key, job: Mapping[str, Any]) -> bool:
        """Whether ``job`` is the Job this process created, as created (no status yet): nothing to decide."""
        entry = self._by_key.get(key)
        created = None if entry is None else entry.created_job
        if created is None or job.get("status"):
            return False
        uid = (job.get("metadata") or {}).get("uid")
        return bool(uid) and uid == (created.get("metadata") or {}).get("uid")

    def settled(self, key: Key, body: Mapping[str, Any]) -> bool:
        """Whether ``body`` changes nothing a reconcile reads: same generation and spec as the last one
        decided from, and the operator's status keys as that reconcile left them (its own echo, or the
        trainer reporting progress). Then no reconcile is needed. (A label or annotation change still
        counts: touching a resource is how an admin asks for a reconcile.)"""
        entry = self._by_key.get(key)
        meta = body.get("metadata") or {}
        if entry is None or entry.decided is None or entry.uid != str(meta.get("uid") or ""):
            return False
        generation, marks, operator_status = entry.decided
        if meta.get("generation") != generation or marks != _marks(meta):
            return False
        if entry.spec_source != dict(body.get("spec") or {}):
            return False
        status = body.get("status") or {}
        return all(status.get(name) == operator_status.get(name) for name in OPERATOR_KEYS)

    def wrote(
        self,
        key: Key,
        body: Mapping[str, Any],
        status: Mapping[str, Any],
        status_patch: Mapping[str, Any],
        job: Mapping[str, Any] | None,
        *,
        created: bool,
    ) -> None:
        """Remember a reconcile: what it decided from, the status patch, the Job it created or re-suspended.

        ``body``: the resource it read; ``status``: the operator's status keys it computed."""
        meta = body.get("metadata") or {}
        entry = self.of(key, str(meta.get("uid") or ""))
        current = body.get("status") or {}
        after = {name: status.get(name, current.get(name)) for name in OPERATOR_KEYS}
        entry.decided = (meta.get("generation"), _marks(meta), after)
        entry.status.update(status_patch)
        if job is not None:
            if created:
                entry.created_job = job
            else:
                entry.job_suspend = bool((job.get("spec") or {}).get("suspend"))


def _marks(meta: Mapping[str, Any]) -> tuple[Any, Any]:
    return meta.get("labels"), meta.get("annotations")
