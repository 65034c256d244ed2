"""The Kopf shell: thin handlers that fetch, call the reconciler, and turn outcomes into Events.

``register(registry, settings)`` puts every handler on a registry (a fresh one per test; Kopf's
default one in production). Handlers are synchronous: Kopf runs them in its thread pool, and the
per-resource lock keeps a resource's Job and Pod events from interleaving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import kopf

from stjob.api import GROUP, PLURAL, VERSION
from stjob.controller import metrics, naming, reconciler
from stjob.controller.kube_api import JOBS, ApiError, KubeApi
from stjob.controller.ownership import ChildConflictError
from stjob.controller.reconciler import KeyedLocks, Outcome
from stjob.controller.settings import OperatorSettings
from stjob.controller.status_logic import TERMINAL_PHASES, WARNING_REASONS
from stjob.controller.validation import validate_spec
from stjob.errors import SpecError

logger = logging.getLogger(__name__)

#: A safety net under the watches: a missed event is caught within this many seconds.
RESYNC_SECONDS = 120.0
_STJOB = (GROUP, VERSION, PLURAL)


def as_kopf_error(exc: ApiError | ChildConflictError) -> kopf.TemporaryError | kopf.PermanentError:
    """Transient API trouble is retried with a delay; a request the server rejects as invalid is not."""
    if isinstance(exc, ChildConflictError):
        # Usually the previous resource of the same name whose children the GC has not removed yet.
        return kopf.TemporaryError(exc.message, delay=30)
    if exc.transient:
        return kopf.TemporaryError(str(exc), delay=exc.retry_after or 10)
    if exc.status in (400, 422):
        return kopf.PermanentError(str(exc))
    # 401/403/404: credentials, RBAC or a namespace being deleted; an admin may fix it, so keep trying.
    return kopf.TemporaryError(str(exc), delay=60)


@contextmanager
def instrumented(kind: str) -> Iterator[None]:
    """Count and time one reconcile; translate API failures into Kopf's retry semantics."""
    metrics.RECONCILES.labels(kind).inc()
    started = time.perf_counter()
    try:
        yield
    except (ApiError, ChildConflictError) as exc:
        error = as_kopf_error(exc)
        metrics.ERRORS.labels(kind, type(error).__name__).inc()
        raise error from exc
    except kopf.PermanentError:
        metrics.ERRORS.labels(kind, "PermanentError").inc()
        raise
    except Exception:
        metrics.ERRORS.labels(kind, "Unexpected").inc()
        raise
    finally:
        metrics.DURATION.labels(kind).observe(time.perf_counter() - started)


def announce(outcome: Outcome) -> None:
    """Post an Event for a phase (or reason) transition; messages are already redacted."""
    if not outcome.changed:
        return
    after = outcome.after
    before = f"{outcome.before.phase} -> " if outcome.before else ""
    message = f"{before}{after.phase}: {after.message}"
    body: Any = outcome.body
    if after.phase == "Failed" or after.reason in WARNING_REASONS:
        kopf.warn(body, reason=after.reason, message=message)
    else:
        kopf.info(body, reason=after.reason, message=message)
    started = outcome.started_now
    created = outcome.body.get("metadata", {}).get("creationTimestamp")
    if started and created:
        metrics.TIME_TO_RUNNING.observe(max(0.0, _seconds_between(str(created), started)))


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Kopf body (a read-only view over the watch event's dict) as the plain dict the reconciler takes."""
    return {key: body[key] for key in body}


def _seconds_between(earlier: str, later: str) -> float:
    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(later) - parse(earlier)).total_seconds()


def register(
    registry: kopf.OperatorRegistry, config: OperatorSettings, resync_seconds: float | None = RESYNC_SECONDS
) -> None:
    """Put the operator's handlers on ``registry``, configured by ``config`` (the STJOB_* settings).

    ``resync_seconds=None`` leaves out the periodic resync timer (tests: Kopf takes seconds to stop timers).
    """
    locks = KeyedLocks()
    # uids whose children this process created: a second create event for one of them (Kopf may
    # deliver one before its own progress patch is seen) must look before it POSTs. A hint only.
    created: set[str] = set()

    def reconcile_resource(
        memo: Any, namespace: str | None, name: str, kind: str, event_body: Mapping[str, Any] | None = None
    ) -> None:
        """``event_body``: the resource as its create event brought it (nothing else has touched it yet)."""
        assert namespace is not None  # the resource is namespaced
        api: KubeApi = memo["api"]
        with instrumented(kind), locks.hold(namespace, name):
            body = _plain(event_body) if event_body is not None else reconciler.fetch(api, namespace, name)
            if body is None:
                return  # deleted meanwhile: its children go with it
            try:
                spec = validate_spec(body.get("spec"))
            except SpecError as exc:
                announce(reconciler.mark_invalid(api, body, exc.message))
                raise kopf.PermanentError(f"invalid spec: {exc.message}") from None
            uid = str(body.get("metadata", {}).get("uid"))
            new = event_body is not None and uid not in created
            announce(reconciler.reconcile(api, spec, body, config, new=new))
            created.add(uid)

    def refresh_owner(
        memo: Any,
        namespace: str | None,
        labels: Mapping[str, str],
        kind: str,
        job: Mapping[str, Any] | None = None,
    ) -> None:
        """``job``: the Job as its (non-deletion) event brought it; else it is read."""
        owner = naming.owner_name_of(dict(labels))
        if owner is None or namespace is None:
            return  # Kopf filters by label already; a server that ignores selectors may still send others
        api: KubeApi = memo["api"]
        with instrumented(kind), locks.hold(namespace, owner):
            body = reconciler.fetch(api, namespace, owner)
            if body is None:
                return
            try:
                spec = validate_spec(body.get("spec"))
            except SpecError:
                return  # already Failed/ConfigError by the resource handlers; it has no children
            if job is None:
                job = api.get(JOBS, namespace, naming.job_name(owner))
            announce(reconciler.refresh_status(api, spec, body, job))

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, memo: Any, **kwargs: Any) -> None:
        # The operator's RBAC has no namespaces or CRD access: serve the namespaces and resources known now.
        settings.scanning.disabled = True
        settings.execution.max_workers = max(settings.execution.max_workers or 0, 32)
        memo["api"] = KubeApi()
        phases = kwargs["stjob_phases"]  # Kopf passes indices by the indexing function's name
        metrics.set_phase_source(lambda: {phase: len(names) for phase, names in phases.items()})
        if config.metrics_port:
            memo["metrics_server"] = metrics.start_server(config.metrics_port)

    @kopf.on.cleanup(registry=registry)
    def cleanup(memo: Any, **_: Any) -> None:
        server = memo.get("metrics_server")
        if server is not None:
            server.shutdown()
            server.server_close()
        api = memo.get("api")
        if api is not None:
            api.close()

    @kopf.index(*_STJOB, id="stjob_phases", registry=registry)
    def stjob_phases(namespace: str | None, name: str, status: Mapping[str, Any], **_: Any) -> dict[str, str]:
        return {str(status.get("phase") or "Unknown"): f"{namespace}/{name}"}

    @kopf.on.create(*_STJOB, registry=registry)
    def on_create(memo: Any, namespace: str | None, name: str, body: kopf.Body, retry: int, **_: Any) -> None:
        # The first try works from the event's body (one GET less); a retry reads the resource again.
        reconcile_resource(memo, namespace, name, "create", body if retry == 0 else None)

    @kopf.on.resume(*_STJOB, registry=registry)
    def on_resume(memo: Any, namespace: str | None, name: str, **_: Any) -> None:
        reconcile_resource(memo, namespace, name, "resume")

    @kopf.on.update(*_STJOB, field="spec.suspend", registry=registry)
    def on_suspend(memo: Any, namespace: str | None, name: str, **_: Any) -> None:
        reconcile_resource(memo, namespace, name, "suspend")

    def unfinished(status: Mapping[str, Any], **_: Any) -> bool:
        return status.get("phase") not in TERMINAL_PHASES

    if resync_seconds is not None:

        @kopf.timer(*_STJOB, interval=resync_seconds, initial_delay=resync_seconds, when=unfinished, registry=registry)
        def resync(memo: Any, namespace: str | None, name: str, **_: Any) -> None:
            reconcile_resource(memo, namespace, name, "resync")

    present = {naming.LABEL_JOB_NAME: kopf.PRESENT}

    @kopf.on.event("batch", "v1", "jobs", labels=present, registry=registry)
    def on_job_event(
        memo: Any, namespace: str | None, labels: Mapping[str, str], type: str | None, body: kopf.Body, **_: Any
    ) -> None:
        if type in (None, "ADDED") and not body.get("status"):
            # A Job nobody has acted on yet: created by this operator's reconcile (or seen again at
            # start-up, when the resume handlers reconcile), which already derived the status from it.
            return
        refresh_owner(memo, namespace, labels, "job_event", None if type == "DELETED" else _plain(body))

    @kopf.on.event("v1", "pods", labels=present, registry=registry)
    def on_pod_event(memo: Any, namespace: str | None, labels: Mapping[str, str], **_: Any) -> None:
        refresh_owner(memo, namespace, labels, "pod_event")
