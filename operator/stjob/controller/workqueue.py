"""One reconcile per resource at a time, bursts of events folded into one, retries on a timer.

The same pattern as client-go's workqueue, on the event loop: ``kick(key)`` asks for a reconcile of
``key``. A kick while one is waiting to start is absorbed (the run reads the indices when it starts,
so it sees this event's effect); a kick while one is running asks for one more run after it. A run
returns a delay when it must be tried again without an event (an API error, an object in the way).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class _State(enum.Enum):
    WAITING = "waiting"  # scheduled, not started: new kicks are absorbed
    RUNNING = "running"  # a kick now means "run once more"
    AGAIN = "again"


class KeyedQueue(Generic[K]):
    """Coalescing per-key scheduler; all methods are called on the event loop's thread."""

    def __init__(self, run: Callable[[K], Awaitable[float | None]]) -> None:
        self._run = run
        self._states: dict[K, _State] = {}
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self.runs = 0

    def __len__(self) -> int:
        """Keys with a run waiting, running, or a retry pending."""
        return len(self._states.keys() | self._timers.keys())

    def kick(self, key: K, delay: float = 0.0) -> None:
        """Reconcile ``key`` soon (once, however many times it is kicked before the run starts).

        ``delay``: wait this long first, folding whatever else comes meanwhile (a new key only).
        """
        state = self._states.get(key)
        if state is None:
            self._states[key] = _State.WAITING
            self._tasks[key] = asyncio.get_running_loop().create_task(self._drain(key, delay))
        elif state is _State.RUNNING:
            self._states[key] = _State.AGAIN

    def kick_later(self, key: K, delay: float) -> None:
        """Reconcile ``key`` after ``delay`` seconds (replaces an earlier pending retry)."""
        self._cancel_timer(key)
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def forget(self, key: K) -> None:
        """Drop a pending retry (the resource is gone; a run in progress finishes on its own)."""
        self._cancel_timer(key)

    async def close(self) -> None:
        """Cancel every retry and wait for the runs in progress."""
        for key in list(self._timers):
            self._cancel_timer(key)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.kick(key)

    def _cancel_timer(self, key: K) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def _drain(self, key: K, settle: float) -> None:
        try:
            if settle:
                await asyncio.sleep(settle)
            while True:
                self._states[key] = _State.RUNNING
                self.runs += 1
                retry = await self._run(key)
                if retry is not None:
                    self.kick_later(key, retry)
                else:
                    self._cancel_timer(key)
                if self._states[key] is not _State.AGAIN:
                    return
        finally:
            del self._states[key]
            del self._tasks[key]
