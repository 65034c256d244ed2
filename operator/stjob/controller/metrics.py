"""Prometheus metrics of the operator (served on ``STJOB_METRICS_PORT``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stjob.controller.status_logic import PHASES

#: A registry of our own: tests start several operators in one process.
REGISTRY = CollectorRegistry()

RECONCILES = Counter(
    "stjob_reconciles",
    "Reconciles by kind: what asked for it (resource, job, pod, leader, retry); a burst of events is one.",
    ["kind"],
    registry=REGISTRY,
)
#: A counter, not the Failed gauge: a failure stays counted after the resource is deleted, and
#: ``increase()`` spans operator restarts (the alert in the chart also catches a series that starts at 1).
JOB_FAILURES = Counter(
    "stjob_job_failures",
    "Transitions of a SentenceTransformerJob to Failed, by reason (counted by the acting replica).",
    ["reason"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "stjob_reconcile_errors", "Reconcile errors by kind and error class.", ["kind", "error"], registry=REGISTRY
)
DURATION = Histogram(
    "stjob_reconcile_duration_seconds",
    "Time one reconcile takes, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
TIME_TO_RUNNING = Histogram(
    "stjob_time_to_running_seconds",
    "From the resource's creation to its trainer running (queueing, scheduling, image pull).",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)

PhaseCounts = Callable[[], Mapping[str, int]]


class PhaseCollector(Collector):
    """``stjob_jobs_by_phase{phase}``: computed at scrape time from the watched resources, never stale."""

    def __init__(self) -> None:
        self.source: PhaseCounts | None = None

    def collect(self) -> Iterator[Metric]:
        """One gauge sample per phase (zero when none)."""
        family = GaugeMetricFamily("stjob_jobs_by_phase", "SentenceTransformerJobs by phase.", labels=["phase"])
        counts = self._read()
        for phase in (*PHASES, "Unknown"):
            family.add_metric([phase], counts.get(phase, 0))
        yield family

    def _read(self) -> Mapping[str, int]:
        if self.source is None:
            return {}
        # The index changes on Kopf's thread while we scrape on the server's: retry a torn read.
        for _ in range(3):
            try:
                return dict(self.source())
            except RuntimeError:
                continue
        return {}


PHASE_COLLECTOR = PhaseCollector()
REGISTRY.register(PHASE_COLLECTOR)


def set_phase_source(source: PhaseCounts | None) -> None:
    """Where ``stjob_jobs_by_phase`` reads the counts from (the running operator's index)."""
    PHASE_COLLECTOR.source = source


def start_server(port: int) -> Any:
    """Serve /metrics on a daemon thread; returns the server (call ``.shutdown()`` to stop)."""
    server, thread = start_http_server(port, registry=REGISTRY)
    assert isinstance(thread, threading.Thread)
    return server
