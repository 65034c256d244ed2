"""Leader election over a ``coordination.k8s.io`` Lease, so that of several replicas exactly one acts.

client-go's algorithm, small: every replica watches the cluster and keeps its indices warm; the one
holding the Lease reconciles. The holder renews every ``retry`` seconds; another replica takes over
once it has seen the same record, unrenewed, for ``duration`` seconds (measured on its own clock, so
clocks need not agree), or at once when the holder released it on shutdown. Writes are guarded by the
Lease's ``resourceVersion``, so two replicas racing for it cannot both win. A leader that cannot renew
for ``renew_deadline`` seconds stops acting before anyone else may take over.

Requests: GET, POST (once) and a merge PATCH of one named Lease; no LIST, no watch, no PUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from stjob.controller.kube_api import LEASES, ApiError, KubeApi

logger = logging.getLogger(__name__)


def micro_time(moment: datetime) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseConfig:
    """Which Lease, who we are, and the timing (client-go's defaults: 15 s, 10 s, 2 s)."""

    name: str
    namespace: str
    identity: str
    duration: float = 15.0
    retry: float = 2.0

    @property
    def renew_deadline(self) -> float:
        """A leader that has not renewed for this long stops acting (before the Lease can expire)."""
        return self.duration * 2 / 3


class LeaseElector:
    """One replica's view of the Lease, and the loop that keeps it (on the event loop)."""

    def __init__(
        self,
        api: KubeApi,
        config: LeaseConfig,
        on_started: Callable[[], None],
        on_stopped: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api, self.config, self.clock = api, config, clock
        self._on_started, self._on_stopped = on_started, on_stopped
        self.leading = False
        self._record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._lease_duration = config.duration
        self._stopping = asyncio.Event()

    # ---------------------------------------------------------------------------- one try

    def _observe(self, lease: Mapping[str, Any]) -> None:
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._record:
            self._record, self._observed_at = record, self.clock()
        self._lease_duration = float(spec.get("leaseDurationSeconds") or self.config.duration)

    def _spec(self, holder_before: str | None, transitions: int, acquired: str | None) -> dict[str, Any]:
        now = micro_time(datetime.now(timezone.utc))
        taking_over = holder_before != self.config.identity
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": max(1, round(self.config.duration)),
            "acquireTime": now if taking_over or not acquired else acquired,
            "renewTime": now,
            "leaseTransitions": transitions + (1 if taking_over and holder_before else 0),
        }

    async def try_acquire_or_renew(self) -> bool:
        """Hold the Lease after this call? (One GET, and a POST or PATCH when it is ours to take.)"""
        cfg = self.config
        lease = await self.api.get(LEASES, cfg.namespace, cfg.name)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": self._spec(None, 0, None),
            }
            try:
                self._observe(await self.api.create(LEASES, cfg.namespace, body))
            except ApiError as exc:
                if exc.status == 409:
                    return False  # another replica created it first
                raise
            return True
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or None
        if holder is not None and holder != cfg.identity and self.clock() < self._observed_at + self._lease_duration:
            return False  # held, and renewed within the lease duration as far as we have seen
        patch = {
            "metadata": {"resourceVersion": lease.get("metadata", {}).get("resourceVersion")},
            "spec": self._spec(holder, int(spec.get("leaseTransitions") or 0), spec.get("acquireTime")),
        }
        try:
            self._observe(await self.api.patch(LEASES, cfg.namespace, cfg.name, patch))
        except ApiError as exc:
            if exc.status == 409:
                return False  # someone wrote it since our GET: they won this round
            raise
        return True

    async def release(self) -> None:
        """Give the Lease up (shutdown): a standby takes over at its next try instead of after expiry."""
        cfg = self.config
        patch = {"spec": {"holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": None, "acquireTime": None}}
        try:
            lease = await self.api.get(LEASES, cfg.namespace, cfg.name)
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == cfg.identity:
                patch["metadata"] = {"resourceVersion": lease.get("metadata", {}).get("resourceVersion")}
                await self.api.patch(LEASES, cfg.namespace, cfg.name, patch)
        except ApiError as exc:
            logger.warning("could not release the lease %s/%s: %s", cfg.namespace, cfg.name, exc)

    # ---------------------------------------------------------------------------- the loop

    def _set_leading(self, leading: bool) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        logger.info("%s leadership (lease %s/%s)", "acquired" if leading else "lost", *self._where())
        (self._on_started if leading else self._on_stopped)()

    def _where(self) -> tuple[str, str]:
        return self.config.namespace, self.config.name

    def _next_try_in(self) -> float:
        if self.leading or self._record is None or not self._record[0]:
            return self.config.retry
        # A standby tries again when the holder's lease runs out, if that is sooner than the next retry.
        expires_in = self._observed_at + self._lease_duration - self.clock()
        return max(0.05, min(self.config.retry, expires_in + 0.05))

    async def run(self) -> None:
        """Acquire, renew, take over, step down, until ``stop()``; then release the Lease if held."""
        while not self._stopping.is_set():
            try:
                held = await self.try_acquire_or_renew()
            except ApiError as exc:
                logger.warning("lease %s/%s: %s", *self._where(), exc)
                held = False
                # A leader keeps acting through short API trouble, until the renew deadline.
                if self.leading and self.clock() - self._renewed_at < self.config.renew_deadline:
                    held = True
            else:
                if held:
                    self._renewed_at = self.clock()
            self._set_leading(held)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._next_try_in())
        if self.leading:
            self._set_leading(False)
            await self.release()

    def stop(self) -> None:
        """Ask ``run`` to finish (it releases the Lease)."""
        self._stopping.set()
