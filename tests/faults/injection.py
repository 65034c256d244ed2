"""Fault injection into kmock: answer chosen requests with errors, hangs or slow replies, and keep time.

kmock's DSL serves a reaction for every request its filter matches; a :class:`Fault` is such a reaction
(a callable payload) that answers the first ``len(replies)`` matching requests with the given replies
and then steps aside (``NotImplemented`` disables the reaction, so the emulator serves the rest).

Mind the emulator: it stores every create/patch/delete *before* any reaction answers, so an error
injected on a POST means "the object was written but the client never learned it" — the harshest
case for an operator that must not create duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kmock
import pytest

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
    """Wraps ``reconciler.reconcile`` (what Kopf's create/resume handlers call) to time each attempt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[Attempt] = []
        original = reconciler.reconcile

        def timed(api: Any, spec: Any, body: Any, settings: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                outcome = original(api, spec, body, settings, *args, **kwargs)
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


def inject(emulator: Any, fault: Fault) -> Fault:
    """Install ``fault`` on the emulator (it outranks the emulator's own replies)."""
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
