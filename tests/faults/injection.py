"""Fault injection into kmock: answer chosen requests with errors, hangs or slow replies, and keep time.

kmock's DSL serves a reaction for every request its filter matches; a :class:`Fault` is such a reaction
(a callable payload) that answers the first ``len(replies)`` matching requests with the given replies
and then steps aside (``NotImplemented`` disables the reaction, so the emulator serves the rest).

kmock itself stores every create/patch/delete *before* any reaction answers; a real API server that
answers 429, 500 or 409 has written nothing. :func:`handle_with_faults` (installed for every test in
tests/faults) gives the emulator that behaviour: a request a fault answers with an error is never
stored. A :class:`Hang` still stores first: "written, but the reply never came" (a lost response or a
client timeout) is the harshest case for an operator that must not create duplicates. It also keeps a
:class:`Ledger` of what each create really did, so tests count writes instead of stored objects (the
emulator stores by name and could never hold two).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kmock
import pytest
from kmock._internal import enums  # kmock 0.8: the request's parsed action (create, update, ...)

from stjob.controller import reconciler
from stjob.controller.kube_api import ApiError
from stjob.controller.ownership import ChildConflictError

Matcher = Callable[[Any], bool]


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    """A metav1.Status, as the API server sends with an error."""
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message}


def error(code: int, reason: str, retry_after: int | None = None) -> kmock.Response:
    """An HTTP error reply with a Status body (and Retry-After when given)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return kmock.Response(status=code, headers=headers, payload=status_body(code, reason, f"injected {code}"))


@dataclass(frozen=True)
class Hang:
    """Hold the request until ``release`` is set (or ``seconds`` pass), then answer ``then``."""

    seconds: float | None = None
    then: kmock.Response | None = None


@dataclass
class Fault:
    """Answers the first matching requests with ``replies``; records when each matching request came."""

    what: str
    matches: Matcher
    replies: list[kmock.Response | Hang]
    calls: list[float] = field(default_factory=list)
    #: When each matching request arrived, answered by the fault or not (a 409 never reaches a reaction).
    seen: list[float] = field(default_factory=list)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: Any) -> Any:
        self.calls.append(time.monotonic())
        index = len(self.calls) - 1
        if index >= len(self.replies):
            return NotImplemented  # served: let the emulator answer from now on
        reply = self.replies[index]
        if isinstance(reply, Hang):
            self.reached.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.release.wait(), reply.seconds)
            return reply.then or error(504, "Timeout")
        return reply

    def answers_before_any_write(self, request: Any) -> bool:
        """Whether this fault will answer ``request`` with an error reply (then nothing may be stored)."""
        return (
            len(self.calls) < len(self.replies)
            and not isinstance(self.replies[len(self.calls)], Hang)
            and bool(self.matches(request))
        )

    @property
    def injected(self) -> int:
        """How many requests got an injected reply."""
        return min(len(self.calls), len(self.replies))

    @property
    def last_injection(self) -> float:
        """When the last request that got an injected reply arrived."""
        return self.calls[self.injected - 1]


@dataclass(frozen=True)
class Attempt:
    """One call of the reconciler for one resource, and whether the API made it fail."""

    name: str
    started: float
    ended: float
    failed: bool


class ReconcileLog:
    """Wraps ``reconciler.reconcile`` (what each reconcile of a resource calls) to time each attempt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[Attempt] = []
        original = reconciler.reconcile

        async def timed(api: Any, spec: Any, body: Any, settings: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                outcome = await original(api, spec, body, settings, *args, **kwargs)
            except (ApiError, ChildConflictError):
                self.attempts.append(Attempt(body["metadata"]["name"], started, time.monotonic(), True))
                raise
            self.attempts.append(Attempt(body["metadata"]["name"], started, time.monotonic(), False))
            return outcome

        monkeypatch.setattr(reconciler, "reconcile", timed)

    def of(self, name: str) -> list[Attempt]:
        """The attempts for one resource, in order."""
        return sorted((a for a in self.attempts if a.name == name), key=lambda a: a.started)

    def retry_gaps(self, name: str) -> list[float]:
        """Seconds from each failed attempt's end to the next attempt's start."""
        attempts = self.of(name)
        return [after.started - before.ended for before, after in itertools.pairwise(attempts) if before.failed]


@dataclass
class Ledger:
    """What one emulator did: the faults installed on it, and each create that really wrote an object."""

    faults: list[Fault] = field(default_factory=list)
    #: (plural, namespace, name) -> how many creates wrote it (a 409 or an injected error writes nothing).
    writes: collections.Counter[tuple[str, str, str]] = field(default_factory=collections.Counter)


_LEDGERS: dict[int, Ledger] = {}


def ledger(emulator: Any) -> Ledger:
    """The emulator's ledger (kept by id: kmock's emulator has slots and no room for an attribute)."""
    return _LEDGERS.setdefault(id(emulator), Ledger())


def forget(emulator: Any) -> None:
    """Drop the emulator's ledger (at the end of its test)."""
    _LEDGERS.pop(id(emulator), None)


_STORE_THEN_REACT = kmock.KubernetesEmulator._handle


async def handle_with_faults(self: Any, request: Any) -> Any:
    """``KubernetesEmulator._handle`` that writes nothing for a request a fault answers with an error."""
    book = _LEDGERS.get(id(self))
    if book is None:
        return await _STORE_THEN_REACT(self, request)
    for fault in book.faults:
        if fault.matches(request):
            fault.seen.append(time.monotonic())
    if any(fault.answers_before_any_write(request) for fault in book.faults):
        # The reactions alone (the fault among them), without the emulator's store.
        return await super(kmock.KubernetesEmulator, self)._handle(request)
    if request.resource is None or request.action != enums.action.CREATE or not isinstance(request.data, dict):
        return await _STORE_THEN_REACT(self, request)
    meta = request.data.get("metadata", {})
    key = (request.resource, request.namespace or meta.get("namespace"), meta.get("name"))
    existed = _stored(self, key)
    try:
        return await _STORE_THEN_REACT(self, request)  # stores first; an existing name raises (409) instead
    finally:  # also when a hung reply is cancelled by the client going away: the write happened
        if not existed and _stored(self, key):
            book.writes[(str(request.resource.plural), str(key[1]), str(key[2]))] += 1


def _stored(emulator: Any, key: tuple[Any, Any, Any]) -> bool:
    try:
        return not emulator.objects[key].deleted
    except KeyError:
        return False


def inject(emulator: Any, fault: Fault) -> Fault:
    """Install ``fault`` on the emulator (it outranks the emulator's own replies)."""
    ledger(emulator).faults.append(fault)
    emulator[fault.matches] << fault
    return fault


def _path(request: Any) -> str:
    return str(request.url.path)


def posts(plural: str, name: str) -> Matcher:
    """POST of an object named ``name`` into ``plural`` (any namespace)."""

    def match(request: Any) -> bool:
        body = request.data if isinstance(request.data, dict) else {}
        return bool(
            request.method.value == "POST"
            and _path(request).endswith(f"/{plural}")
            and body.get("metadata", {}).get("name") == name
        )

    return match


def gets(plural: str, name: str) -> Matcher:
    """GET of one object."""
    return lambda request: request.method.value == "GET" and _path(request).endswith(f"/{plural}/{name}")


def lists_pods_of(owner: str) -> Matcher:
    """LIST of an owner's trainer pods (by label selector)."""
    return lambda request: (
        request.method.value == "GET"
        and _path(request).endswith("/pods")
        and request.params.get("labelSelector", "").endswith(f"={owner}")
    )


def patches_status_of(name: str) -> Matcher:
    """PATCH of a SentenceTransformerJob's status subresource."""
    return lambda request: (
        request.method.value == "PATCH" and _path(request).endswith(f"/sentencetransformerjobs/{name}/status")
    )
