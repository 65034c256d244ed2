"""Read a SentenceTransformerJob from the current kube context and show it (``stjob status/watch/logs``).

Rendering is pure (``describe``, ``progress_line``); fetching goes through the official kubernetes
client, configured from the kubeconfig (or in-cluster).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from stjob.api.resource import GROUP, LABEL_JOB_NAME, PLURAL, VERSION
from stjob.api.status import TERMINAL_PHASES
from stjob.errors import StjobError


class ClusterError(StjobError):
    """The cluster cannot be reached or the resource does not exist."""

    reason = "ClusterError"


def _api_client(context: str | None) -> Any:
    from kubernetes import client, config

    try:
        # The client reads $KUBECONFIG once, at import time: pass it explicitly so a changed value counts.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), context=context)
    except Exception:
        try:
            config.load_incluster_config()
        except Exception as exc:
            raise ClusterError(f"no kube context: {exc}") from None
    return client.ApiClient()


def get_job(name: str, namespace: str, context: str | None = None) -> dict[str, Any]:
    """The resource as a dict; ClusterError when missing or unreachable."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CustomObjectsApi(_api_client(context))
    try:
        obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as exc:
        if exc.status == 404:
            raise ClusterError(f"sentencetransformerjob {namespace}/{name} not found") from None
        raise ClusterError(f"API error {exc.status}: {exc.reason}") from None
    except Exception as exc:  # connection refused, DNS, TLS
        raise ClusterError(f"cannot reach the cluster: {exc}") from None
    return obj


def trainer_logs(name: str, namespace: str, context: str | None = None, tail: int | None = None) -> str:
    """Logs of the newest trainer pod of the job."""
    from kubernetes import client

    core = client.CoreV1Api(_api_client(context))
    pods = core.list_namespaced_pod(namespace, label_selector=f"{LABEL_JOB_NAME}={name}").items
    # Filter here too: not every API (or emulator) honours label selectors.
    pods = [p for p in pods if (p.metadata.labels or {}).get(LABEL_JOB_NAME) == name]
    if not pods:
        raise ClusterError(f"no trainer pod for {namespace}/{name} yet")
    newest = max(pods, key=lambda p: str(p.metadata.creation_timestamp or ""))
    text: str = core.read_namespaced_pod_log(newest.metadata.name, namespace, tail_lines=tail)
    return text


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return "-" if value is None else str(value)


def progress_line(status: dict[str, Any], width: int = 30) -> str:
    """``[#######.......]  42%  step 420/1000  epoch 1.26  ETA 5m10s  63.1 samples/s``"""
    progress = status.get("progress") or {}
    percent = progress.get("percent")
    if percent is None:
        return "no progress reported yet"
    filled = round(width * percent / 100)
    parts = [f"[{'#' * filled}{'.' * (width - filled)}] {percent:3d}%"]
    if progress.get("step") is not None:
        parts.append(f"step {progress['step']}/{_fmt(progress.get('totalSteps'))}")
    if progress.get("epoch") is not None:
        parts.append(f"epoch {progress['epoch']:.2f}")
    if progress.get("etaSeconds") is not None:
        minutes, seconds = divmod(int(progress["etaSeconds"]), 60)
        parts.append(f"ETA {minutes}m{seconds:02d}s")
    if progress.get("samplesPerSecond") is not None:
        parts.append(f"{progress['samplesPerSecond']:.1f} samples/s")
    return "  ".join(parts)


def describe(obj: dict[str, Any]) -> str:
    """A human summary of the resource: phase, progress, metrics, conditions."""
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
    lines = [
        f"Name:       {meta.get('namespace', 'default')}/{meta.get('name')}",
        f"Trainer:    {spec.get('trainer')}    Model: {spec.get('model', {}).get('name', '-')}",
        f"Phase:      {status.get('phase') or 'Unknown'}",
        f"Progress:   {progress_line(status)}",
    ]
    metrics = status.get("metrics") or {}
    if metrics:
        lines.append(
            "Metrics:    "
            f"train loss {_fmt(metrics.get('trainLoss'))}  eval loss {_fmt(metrics.get('evalLoss'))}  "
            f"{metrics.get('primaryMetric') or 'metric'} {_fmt(metrics.get('primaryMetricValue'))} "
            f"(best {_fmt(metrics.get('bestMetricValue'))})"
        )
    output = status.get("output") or {}
    if output.get("modelPath") or output.get("hubUrl"):
        lines.append(f"Output:     {output.get('modelPath') or ''} {output.get('hubUrl') or ''}".rstrip())
    if status.get("jobName"):
        lines.append(f"Job:        {status['jobName']}")
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.append(f"  {'TYPE':<12} {'STATUS':<8} {'REASON':<22} MESSAGE")
        for cond in conditions:
            lines.append(
                f"  {cond.get('type', ''):<12} {cond.get('status', ''):<8} {cond.get('reason', ''):<22} "
                f"{cond.get('message', '')}"
            )
    return "\n".join(lines)


def watch(
    fetch: Callable[[], dict[str, Any]],
    interval: float = 2.0,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Yield the resource each time its status changes, until it succeeds or fails (or time runs out)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = object()
    while True:
        obj = fetch()
        status = obj.get("status") or {}
        if status != last:
            last = status
            yield obj
        if status.get("phase") in TERMINAL_PHASES:
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        sleep(interval)
