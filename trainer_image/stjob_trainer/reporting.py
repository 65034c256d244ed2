"""Where progress and metrics go: the resource's status (in the cluster), a bar or plain lines (locally).

One small interface, :class:`Reporter`. In the cluster, :class:`KubernetesReporter` patches the status
and writes a plain progress line to the pod log every :data:`PROGRESS_LINE_INTERVAL_S`; locally a rich
bar on a terminal (:class:`LocalReporter`) or, piped or redirected, the same plain lines
(:class:`ProgressLog`). Everything goes to stderr: stdout is for results. Reporting must never stop
training: every failure is logged and the next update catches up.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stjob.api import contract
from stjob.api.resource import GROUP, PLURAL, VERSION
from stjob.api.spec import ApiModel
from stjob.api.status import EvaluationSummary, Metrics, OutputStatus, format_duration
from stjob.api.status import Progress as ProgressStatus
from stjob_trainer.finite import json_safe
from stjob_trainer.world import current_world

logger = logging.getLogger(__name__)
#: Where the plain progress lines go (INFO, like the rest of the trainer's own lines).
progress_logger = logging.getLogger("stjob_trainer.progress")

#: The trainer patches at most this often (contract: about one patch per 10 s).
DEFAULT_MIN_INTERVAL_S = 10.0
#: Per-request timeout, so an unreachable API server cannot hold the reporter for long.
REQUEST_TIMEOUT_S = 5.0
#: Seconds between plain progress lines (pod logs, piped or redirected local runs); the variable overrides it.
PROGRESS_LINE_INTERVAL_S = 10.0
PROGRESS_INTERVAL_ENV = "STJOB_PROGRESS_INTERVAL"


def progress_interval() -> float:
    """:data:`PROGRESS_LINE_INTERVAL_S`, or ``$STJOB_PROGRESS_INTERVAL`` seconds (0: a line per step)."""
    raw = os.environ.get(PROGRESS_INTERVAL_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else PROGRESS_LINE_INTERVAL_S
    except ValueError:
        logger.warning(
            "%s=%r is not a number of seconds: using %g", PROGRESS_INTERVAL_ENV, raw, PROGRESS_LINE_INTERVAL_S
        )
        return PROGRESS_LINE_INTERVAL_S


class Reporter(Protocol):
    """Receives training progress; implementations must never raise into training."""

    def update(self, progress: ProgressStatus, metrics: Metrics) -> None:
        """The latest progress and summary metrics (called often; implementations throttle)."""

    def note(self, message: str) -> None:
        """A human-readable event (an evaluation result, where the model went)."""

    def close(self, output: OutputStatus | None = None, evaluation: EvaluationSummary | None = None) -> None:
        """Flush what is pending, with the final output location and the evaluation report's summary
        when training succeeded."""


#: Decimals of the summary metrics on the resource.
STATUS_DECIMALS = 4


def status_patch(
    progress: ProgressStatus | None,
    metrics: Metrics | None,
    output: OutputStatus | None,
    evaluation: EvaluationSummary | None = None,
) -> dict[str, Any]:
    """The merge patch body: only the trainer-owned keys, camelCase, unset fields left out."""
    status: dict[str, Any] = {}
    parts: tuple[tuple[str, ApiModel | None], ...] = (
        ("progress", progress),
        ("metrics", metrics),
        ("output", output),
        ("evaluation", evaluation),
    )
    for key, part in parts:
        if part is not None:
            status[key] = part.model_dump(by_alias=True, exclude_none=True, mode="json")
    for key in ("metrics", "evaluation"):
        if key in status:
            # Summaries for `kubectl get` (the VALUE column prints the number as sent); full precision stays
            # in metrics.jsonl and result.json.
            status[key] = {k: round(v, STATUS_DECIMALS) if isinstance(v, float) else v for k, v in status[key].items()}
    # The API server rejects NaN/Infinity (not JSON): a diverging metric must not freeze the resource.
    return {"status": json_safe(status, what="status patch", warn=False)}


def metrics_text(progress: ProgressStatus, metrics: Metrics) -> str:
    """``loss 4.5529  spearman_cosine 0.7781  7.9 samples/s``: what the bar and the plain lines append."""
    parts = []
    if metrics.train_loss is not None:
        parts.append(f"loss {metrics.train_loss:.4f}")
    if metrics.primary_metric_value is not None:
        parts.append(f"{metrics.primary_metric} {metrics.primary_metric_value:.4f}")
    if progress.samples_per_second:
        parts.append(f"{progress.samples_per_second:.1f} samples/s")
    return "  ".join(parts)


def progress_text(progress: ProgressStatus, metrics: Metrics) -> str:
    """One plain progress line: ``step 40/94 (42%)  epoch 0.43  loss 4.5529  7.9 samples/s  ETA 1m10s``."""
    step = f"step {progress.step or 0}"
    if progress.total_steps:
        step += f"/{progress.total_steps}"
    if progress.percent is not None:
        step += f" ({progress.percent}%)"
    parts = [step]
    if progress.epoch is not None:
        parts.append(f"epoch {progress.epoch:.2f}")
    if text := metrics_text(progress, metrics):
        parts.append(text)
    if progress.eta_seconds is not None and progress.step != progress.total_steps:
        parts.append(f"ETA {format_duration(progress.eta_seconds)}")
    return "  ".join(parts)


class ProgressLog:
    """Plain progress lines: the first update, then one every ``interval`` seconds, and the final state.

    For logs and pipes, where a bar would draw only once at the end (or fill the file with control codes).
    """

    def __init__(
        self,
        *,
        interval: float | None = None,
        emit: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = progress_interval() if interval is None else interval
        self._emit = emit or (lambda line: progress_logger.info("%s", line))
        self._clock = clock
        self._last_emit: float | None = None
        self._last_line: str | None = None
        self._pending: str | None = None  # the latest line, when it has not been written yet

    def update(self, progress: ProgressStatus, metrics: Metrics) -> None:
        """Write a line when one is due; otherwise remember it for later."""
        line = progress_text(progress, metrics)
        self._pending = None if line == self._last_line else line
        now = self._clock()
        if self._pending is not None and (self._last_emit is None or now - self._last_emit >= self.interval):
            self._emit(self._pending)
            self._last_emit, self._last_line, self._pending = now, self._pending, None

    def note(self, message: str) -> None:
        """An event (an evaluation result, the summary): its own line."""
        self._emit(message)

    def close(self, output: OutputStatus | None = None, evaluation: EvaluationSummary | None = None) -> None:
        """Write the final state if the last line does not show it yet."""
        if self._pending is not None:
            self._emit(self._pending)
            self._last_line, self._pending = self._pending, None


class NullReporter:
    """Reports nothing (ranks other than 0)."""

    def update(self, progress: ProgressStatus, metrics: Metrics) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""

    def close(self, output: OutputStatus | None = None, evaluation: EvaluationSummary | None = None) -> None:
        """Ignore."""


class KubernetesReporter:
    """Merge-patches ``status.progress``, ``status.metrics`` and ``status.output`` of the resource.

    Patches are throttled to one per ``min_interval`` seconds and keep only the latest values. With
    ``background=True`` (the default) a worker thread sends them, so a slow or unreachable API server
    never blocks a training step; ``close`` flushes the last values within ``close_timeout`` seconds.
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        *,
        api: Any = None,
        min_interval: float = DEFAULT_MIN_INTERVAL_S,
        background: bool = True,
        close_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.namespace = name, namespace
        self._api = api
        self.min_interval = min_interval
        self.close_timeout = close_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._progress: ProgressStatus | None = None
        self._metrics: Metrics | None = None
        self._output: OutputStatus | None = None
        self._evaluation: EvaluationSummary | None = None
        self._dirty = False
        self._last_attempt: float | None = None
        self._failing = False
        self.patches_sent = 0
        self.patches_failed = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # `kubectl logs` shows progress too, not only the resource's status.
        self.log = ProgressLog(clock=clock)
        if background:
            self._thread = threading.Thread(target=self._run, name="stjob-status-reporter", daemon=True)
            self._thread.start()

    # --- Reporter -------------------------------------------------------------------------------

    def update(self, progress: ProgressStatus, metrics: Metrics) -> None:
        """Remember the latest values; they go out with the next due patch."""
        with self._lock:
            self._progress, self._metrics, self._dirty = progress, metrics, True
        self.log.update(progress, metrics)
        if self._thread is None:
            self.flush(force=False)
        else:
            self._wake.set()

    def note(self, message: str) -> None:
        """Events go to the pod log."""
        self.log.note(message)

    def close(self, output: OutputStatus | None = None, evaluation: EvaluationSummary | None = None) -> None:
        """Send the final values now (throttle or not) and stop the worker."""
        with self._lock:
            if output is not None:
                self._output, self._dirty = output, True
            if evaluation is not None:
                self._evaluation, self._dirty = evaluation, True
        self.log.close()
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(self.close_timeout)
        else:
            self.flush(force=True)

    # --- sending --------------------------------------------------------------------------------

    def flush(self, *, force: bool) -> bool:
        """Send the pending values if a patch is due (or ``force``); True when nothing is left pending."""
        with self._lock:
            if not self._dirty:
                return True
            now = self._clock()
            if not force and self._last_attempt is not None and now - self._last_attempt < self.min_interval:
                return False
            self._last_attempt = now
            body = status_patch(self._progress, self._metrics, self._output, self._evaluation)
            self._dirty = False
        try:
            self._patch(body)
        except Exception as exc:  # any API or network failure: warn, keep the values, retry later
            with self._lock:
                self._dirty = True
            self.patches_failed += 1
            if not self._failing:
                logger.warning("status patch for %s/%s failed (training continues): %s", self.namespace, self.name, exc)
            self._failing = True
            return False
        self.patches_sent += 1
        if self._failing:
            logger.info("status patches for %s/%s work again", self.namespace, self.name)
        self._failing = False
        return True

    def _patch(self, body: dict[str, Any]) -> None:
        api = self._api or self._connect()
        api.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            self.name,
            body,
            _content_type="application/merge-patch+json",
            _request_timeout=REQUEST_TIMEOUT_S,
        )

    def _connect(self) -> Any:
        from kubernetes import client, config

        config.load_incluster_config()
        configuration = client.Configuration.get_default_copy()
        configuration.retries = 1  # we retry ourselves on the next patch; don't stall the worker
        self._api = client.CustomObjectsApi(client.ApiClient(configuration))
        return self._api

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            if stopping:
                deadline = self._clock() + self.close_timeout
                # Final flush: retry a few times within the close timeout, then give up quietly.
                while not self.flush(force=True) and self._clock() < deadline:
                    time.sleep(min(1.0, self.min_interval))
                return
            if not self.flush(force=False):
                # Not due yet (or failed): wait out the rest of the interval, or until close() wakes us.
                last = self._last_attempt or self._clock()
                self._wake.wait(max(0.05, self.min_interval - (self._clock() - last)))
            else:
                self._wake.wait()
            self._wake.clear()


class LocalReporter:
    """A rich progress bar with the latest loss and primary metric; events printed above it."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]training[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        self._task: Any = None

    def update(self, progress: ProgressStatus, metrics: Metrics) -> None:
        """Move the bar to the current step."""
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task("train", total=progress.total_steps, info="")
        self._bar.update(
            self._task, completed=progress.step or 0, total=progress.total_steps, info=metrics_text(progress, metrics)
        )

    def note(self, message: str) -> None:
        """Print above the bar."""
        self.console.print(message)

    def close(self, output: OutputStatus | None = None, evaluation: EvaluationSummary | None = None) -> None:
        """Stop the bar."""
        if self._task is not None:
            self._bar.stop()
            self._task = None


def reporter_from_env(*, local: bool) -> Reporter:
    """The reporter for this process: status patches in the cluster (rank 0); locally a bar on a terminal,
    plain lines when stderr is piped or redirected (CI, ``| tee``, ``2> log``)."""
    if not current_world().is_rank_zero:
        return NullReporter()
    if local:
        return LocalReporter() if sys.stderr.isatty() else ProgressLog()
    if os.environ.get(contract.ENV_REPORTER, "") == contract.REPORTER_KUBERNETES:
        name, namespace = os.environ.get(contract.ENV_NAME), os.environ.get(contract.ENV_NAMESPACE)
        if name and namespace:
            return KubernetesReporter(name, namespace)
        logger.warning(
            "%s=%s but %s/%s are unset: no status reports",
            contract.ENV_REPORTER,
            contract.REPORTER_KUBERNETES,
            contract.ENV_NAME,
            contract.ENV_NAMESPACE,
        )
    return NullReporter()
