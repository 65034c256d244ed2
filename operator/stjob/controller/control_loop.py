"""From an event to one reconcile of the resource it concerns; the operator's state, kept in Kopf's memo.

Kopf delivers the watch events (``handlers``) and keeps the indices; here each event becomes a kick of
its resource's key (``workqueue``: one reconcile per resource at a time, bursts folded), the reconcile
reads the indices (``observed``) and the process's unechoed writes (``bookkeeping``), and writes only
what differs: most events change nothing and end there, without a request. Everything runs on the
event loop (the API client is aiohttp's). Only the leader acts (``leadership``); a standby keeps its
indices warm and, on taking over, reconciles every resource once, which costs no request where
nothing changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stjob.api import SentenceTransformerJobSpec
from stjob.controller import compat, events, metrics, reconciler
from stjob.controller.bookkeeping import Bookkeeping
from stjob.controller.compat import CURRENT, ServerSupport
from stjob.controller.kube_api import ApiCalls, ApiError, KubeApi
from stjob.controller.observed import Key, Observed, live, our_job, our_pods, owner_key
from stjob.controller.reconciler import Outcome
from stjob.controller.settings import OperatorSettings
from stjob.controller.workqueue import KeyedQueue
from stjob.errors import SpecError

logger = logging.getLogger(__name__)

#: Retry delays after a failed reconcile (seconds): transient trouble without Retry-After, and errors an
#: admin must fix (credentials, RBAC, a rejected request, a bug). A namespace being deleted is not retried.
TRANSIENT_RETRY_SECONDS = 10.0
ADMIN_RETRY_SECONDS = 60.0
#: A Job's or Pod's event waits this long for the rest of its burst (client-go's AddAfter, in effect).
CHILD_SETTLE_SECONDS = 0.1

Index = Mapping[Key, Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Indices:
    """The watched objects by (namespace, resource name): resources (kept by ``resource_event`` itself),
    Jobs and Pods (Kopf's indices, see ``handlers``)."""

    resources: MutableMapping[Key, list[Mapping[str, Any]]]
    jobs: Index
    pods: Index


def retry_delay(exc: ApiError) -> float:
    """How long to wait before trying a failed reconcile again."""
    if exc.transient:
        return exc.retry_after or TRANSIENT_RETRY_SECONDS
    return ADMIN_RETRY_SECONDS


def _seconds_between(earlier: str, later: str) -> float:
    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds()


class ControlLoop:
    """The operator's state: API client, settings, indices, bookkeeping, the queue and whether it leads."""

    def __init__(
        self,
        api: KubeApi,
        config: OperatorSettings,
        indices: Indices,
        *,
        instance: str,
        support: ServerSupport = CURRENT,
    ) -> None:
        self.api, self.config, self.indices, self.instance = api, config, indices, instance
        #: What the API server supports (``compat``), read at start.
        self.support = support
        self.memory = Bookkeeping()
        self.queue: KeyedQueue[Key] = KeyedQueue(self._reconcile)
        self.leading = False
        self._triggers: dict[Key, str] = {}

    # ----------------------------------------------------------------------- events (event loop)

    def resource_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A SentenceTransformerJob was listed, added, changed or deleted: keep it, and reconcile if needed.

        (The resources are kept here rather than in a Kopf index: an index function is a second Kopf
        handler execution per watch event, ~12% of the operator's CPU per job lifecycle. Kopf calls
        the ``on.event`` handlers only once its indices, the Jobs' and Pods', are complete.)
        """
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace")), str(meta.get("name")))
        if event_type == "DELETED":
            self.indices.resources.pop(key, None)
            self.forget(key)
            return
        self.indices.resources[key] = [body]
        # Being deleted: owner references and the garbage collector remove the children. Settled: the
        # echo of this process's own status patch, or the trainer's progress.
        if not meta.get("deletionTimestamp") and not self.memory.settled(key, body):
            self.kick(key, "resource")

    def child_event(
        self, namespace: str | None, labels: Mapping[str, str] | None, kind: str, body: Mapping[str, Any] | None = None
    ) -> None:
        """A Job or trainer Pod of some resource changed: reconcile that resource.

        ``body``: the Job, to recognise the echo of the one this process has just created (the reconcile
        that created it decided from it already)."""
        key = owner_key(namespace, labels)
        if key is not None and not (kind == "job" and body is not None and self.memory.created_echo(key, body)):
            # A pod that finishes and its Job's completion arrive together: one reconcile for both.
            self.kick(key, kind, delay=CHILD_SETTLE_SECONDS)

    def kick(self, key: Key, trigger: str, delay: float = 0.0) -> None:
        """Reconcile ``key`` soon (after ``delay`` seconds, folding what comes meanwhile), if this replica leads."""
        if self.leading:
            self._triggers.setdefault(key, trigger)
            self.queue.kick(key, delay)

    def kick_all(self, trigger: str) -> None:
        """Reconcile every known resource (on taking over: what happened while another replica led)."""
        for key in list(self.indices.resources):
            self.kick(key, trigger)

    def forget(self, key: Key) -> None:
        """The resource is gone: drop its bookkeeping and pending retry."""
        self.memory.forget(key)
        self.queue.forget(key)
        self._triggers.pop(key, None)

    def start_leading(self) -> None:
        """This replica holds the Lease (or leader election is off): act, starting with everything."""
        self.leading = True
        self.kick_all("leader")

    def stop_leading(self) -> None:
        """Another replica leads now: stop acting (runs in progress finish)."""
        self.leading = False

    async def close(self) -> None:
        """Stop: no new runs, wait for those in progress."""
        self.leading = False
        await self.queue.close()

    # ----------------------------------------------------------------------- one reconcile

    def observe(self, key: Key) -> Observed | None:
        """The resource, its Job and Pods as watched, with this process's unechoed writes laid over."""
        body = live(self.indices.resources.get(key, ()))
        if body is None:
            return None
        body = self.memory.body(key, body)
        uid = str(body["metadata"].get("uid") or "")
        job = self.memory.job(key, uid, our_job(self.indices.jobs.get(key, ()), uid))
        return Observed(body, job, our_pods(self.indices.pods.get(key, ()), job))

    async def _reconcile(self, key: Key) -> float | None:
        trigger = self._triggers.pop(key, "retry")
        if not self.leading:
            return None
        metrics.RECONCILES.labels(trigger).inc()
        seen = self.observe(key)
        if seen is None:
            return None  # deleted: owner references and the garbage collector take its children
        spec = self.memory.spec_of(key, seen.uid, seen.body.get("spec"))
        started = time.perf_counter()
        digest = self.memory.digest_of(key)
        try:
            # (Most events change nothing: the reconcile then sends nothing, and decides once.)
            outcome = await self.act(self.api, seen, spec, digest)
        except ApiError as exc:
            if exc.namespace_terminating:
                # Its resources go with it: drop the work (their DELETED events prune the rest).
                logger.info("%s/%s: the namespace is being deleted, not retrying", *key)
                return None
            metrics.ERRORS.labels(trigger, "ApiError").inc()
            logger.warning("%s/%s: %s (retrying)", *key, exc)
            return retry_delay(exc)
        except Exception:
            metrics.ERRORS.labels(trigger, "Unexpected").inc()
            logger.exception("%s/%s: reconcile failed (retrying)", *key)
            return ADMIN_RETRY_SECONDS
        finally:
            metrics.DURATION.labels(trigger).observe(time.perf_counter() - started)
        return outcome.retry_after

    async def act(
        self, api: ApiCalls, seen: Observed, spec: SentenceTransformerJobSpec | SpecError, digest: str | None = None
    ) -> Outcome:
        """Write what the observation calls for (nothing when all is as it should be), then the Event."""
        now = reconciler.utc_now()
        if isinstance(spec, SpecError):
            outcome = await reconciler.mark_invalid(api, seen.body, spec.message, now)
        elif refused := compat.refusal(self.support, self.config.allow_unsupported_kubernetes, spec):
            outcome = await reconciler.mark_refused(api, seen.body, refused, now)
        else:
            outcome = await reconciler.reconcile(
                api, spec, seen.body, self.config, job=seen.job, pods=seen.pods, now=now, digest=digest,
                support=self.support,
            )  # fmt: skip
        # Remembered before the Event is posted: the echo of the status patch often arrives meanwhile,
        # and then reads as settled instead of asking for one more (idle) reconcile.
        self.memory.wrote(seen.key, seen.body, outcome.status, outcome.patch, outcome.job, created=seen.job is None)
        if await events.announce(api, outcome, self.instance, now):
            self._count(outcome)
        return outcome

    @staticmethod
    def _count(outcome: Outcome) -> None:
        if outcome.after.phase == "Failed":
            metrics.JOB_FAILURES.labels(outcome.after.reason).inc()
        started = outcome.started_now
        created = outcome.body.get("metadata", {}).get("creationTimestamp")
        if started and created:
            metrics.TIME_TO_RUNNING.observe(max(0.0, _seconds_between(str(created), started)))

    def phase_counts(self) -> dict[str, int]:
        """Resources by phase as watched (for ``stjob_jobs_by_phase``)."""
        counts: dict[str, int] = {}
        for bodies in list(self.indices.resources.values()):
            for body in bodies:
                phase = str((body.get("status") or {}).get("phase") or "Unknown")
                counts[phase] = counts.get(phase, 0) + 1
        return counts
