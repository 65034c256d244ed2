"""The Kopf shell: watch events and indices in, kicks of the control loop out.

Only Kopf's low-level machinery is used, where it is cheap: ``on.event`` handlers and ``index`` caches
of the Jobs and Pods fed by the watches (the resources are kept by their ``on.event`` handler in the
control loop: one Kopf handler per event instead of two). No create/update/resume handlers and no
timers, so Kopf puts no finalizer on a resource (a delete completes at once, also while the operator is
stopped or uninstalled), writes no annotations or progress onto it, and polls nothing: the watches are
the only input, and a Job's or Pod's event is decided from the indices without a GET or LIST. (Kopf
itself removes the finalizer an earlier operator version left on a resource, with one PATCH, the first
time it sees it.)

The operator's state lives in Kopf's ``memo``: ``memo.control`` (a ``ControlLoop``), and ``memo.elector``
with its task when leader election is on. ``register(registry, config)`` puts the handlers on a
registry (a fresh one per test; Kopf's default one in production).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from stjob.api import GROUP, PLURAL, VERSION
from stjob.controller import compat, metrics, naming
from stjob.controller.control_loop import ControlLoop, Indices
from stjob.controller.kube_api import ApiError, KubeApi
from stjob.controller.leadership import LeaseConfig, LeaseElector
from stjob.controller.observed import Key, job_view, owner_key, pod_view
from stjob.controller.settings import OperatorSettings

logger = logging.getLogger(__name__)

_STJOB = (GROUP, VERSION, PLURAL)
_JOBS = ("batch", "v1", "jobs")
_PODS = ("v1", "pods")
#: Children and trainer pods carry the owner's name in this label; the watches ask the server for it.
_CHILDREN = {naming.LABEL_JOB_NAME: kopf.PRESENT}


class NoDiffBase(kopf.DiffBaseStorage):
    """No change handlers, so nothing diffs: skip Kopf's deep copy of every watched object per event."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    """Kopf as a watch-and-index engine: no cluster scans, no Events of its own, server-side selectors."""
    # The operator's RBAC has no namespaces or CRD access: serve the namespaces and resources known now.
    settings.scanning.disabled = True
    # The operator posts its own Events (``events``); Kopf's would say "From: kopf".
    settings.posting.enabled = False
    settings.persistence.diffbase_storage = NoDiffBase()
    # Watch only our Jobs and Pods, not every Pod of the cluster (Kopf filters labels client-side too).
    for resource in (_JOBS, _PODS):
        settings.watching.label_selectors[resource] = naming.LABEL_JOB_NAME


# ------------------------------------------------------------------------------ indices


# Async, so that Kopf calls them on the event loop (a sync one is a thread hop per event). They keep
# plain dicts (``dict(body)``: its stanzas are the event's own dicts; every read through Kopf's views
# costs several lookups), and of a child only what a reconcile reads. Kopf runs the ``on.event``
# handlers only once these indices are complete (at start: the initial listings are in).


async def job_index(body: kopf.Body, **_: Any) -> dict[Key, Any]:
    """Jobs by (namespace, owning resource's name)."""
    job = job_view(dict(body))
    key = owner_key(job["metadata"].get("namespace"), job["metadata"].get("labels"))
    return {} if key is None else {key: job}


async def pod_index(body: kopf.Body, **_: Any) -> dict[Key, Any]:
    """Trainer pods by (namespace, owning resource's name)."""
    pod = pod_view(dict(body))
    key = owner_key(pod["metadata"].get("namespace"), pod["metadata"].get("labels"))
    return {} if key is None else {key: pod}


# ------------------------------------------------------------------------------ events


async def on_resource_event(memo: Any, type: str | None, event: Mapping[str, Any], **_: Any) -> None:
    """A SentenceTransformerJob was listed, added, changed or deleted (the control loop keeps it)."""
    memo.control.resource_event(type, event["object"])


async def on_job_event(
    memo: Any, type: str | None, namespace: str | None, labels: Mapping[str, str], event: Mapping[str, Any], **_: Any
) -> None:
    """One of our Jobs changed: its resource's status may too."""
    # (The raw object: reading through Kopf's body view costs more. A deletion always counts.)
    job = None if type == "DELETED" else event.get("object")
    memo.control.child_event(namespace, labels, "job", job)


async def on_pod_event(memo: Any, namespace: str | None, labels: Mapping[str, str], **_: Any) -> None:
    """A trainer pod changed (scheduled, running, failed, evicted)."""
    memo.control.child_event(namespace, labels, "pod")


# ------------------------------------------------------------------------------ start and stop


async def start(config: OperatorSettings, settings: kopf.OperatorSettings, memo: Any, **kwargs: Any) -> None:
    """Build the operator's state in ``memo``; start the metrics server and the leader election."""
    configure_kopf(settings)
    # Kopf passes each index by its id.
    indices = Indices({}, kwargs["job_index"], kwargs["pod_index"])
    api = KubeApi()
    support = await server_support(api)
    control = ControlLoop(api, config, indices, instance=config.identity, support=support)
    memo.control = control
    metrics.set_phase_source(control.phase_counts)
    memo.metrics_server = metrics.start_server(config.metrics_port) if config.metrics_port else None
    if not config.leader_election:
        control.start_leading()
        return
    lease = LeaseConfig(
        name=config.lease_name,
        namespace=config.lease_location(),
        identity=config.identity,
        duration=config.lease_duration_seconds,
        retry=config.lease_retry_seconds,
    )
    memo.elector = LeaseElector(control.api, lease, control.start_leading, control.stop_leading)
    memo.elector_task = asyncio.create_task(memo.elector.run())


async def server_support(api: KubeApi) -> compat.ServerSupport:
    """The API server's version (``/version``, readable by anyone), as ``compat`` sees it."""
    try:
        support = compat.parse_version(await api.request("GET", "/version") or {})
    except ApiError as exc:
        logger.warning("could not read the server's version (%s): assuming a current one", exc)
        return compat.CURRENT
    if not support.supported:
        logger.warning(compat.unsupported_message(support))
    return support


async def stop(memo: Any, **_: Any) -> None:
    """Release the Lease (a standby takes over at once), finish the runs in progress, close everything."""
    elector: LeaseElector | None = getattr(memo, "elector", None)
    if elector is not None:
        elector.stop()
        await memo.elector_task
    control: ControlLoop | None = getattr(memo, "control", None)
    if control is not None:
        await control.close()
        await control.api.close()
    server = getattr(memo, "metrics_server", None)
    if server is not None:
        server.shutdown()
        server.server_close()
    metrics.set_phase_source(None)


def register(registry: kopf.OperatorRegistry, config: OperatorSettings) -> None:
    """Put the operator's handlers on ``registry``, configured by ``config`` (the STJOB_* settings)."""
    kopf.on.startup(registry=registry, id="start")(functools.partial(start, config))
    kopf.on.cleanup(registry=registry, id="stop")(stop)
    kopf.index(*_JOBS, labels=_CHILDREN, registry=registry, id="job_index")(job_index)
    kopf.index(*_PODS, labels=_CHILDREN, registry=registry, id="pod_index")(pod_index)
    kopf.on.event(*_STJOB, registry=registry, id="resource_event")(on_resource_event)
    kopf.on.event(*_JOBS, labels=_CHILDREN, registry=registry, id="job_event")(on_job_event)
    kopf.on.event(*_PODS, labels=_CHILDREN, registry=registry, id="pod_event")(on_pod_event)
