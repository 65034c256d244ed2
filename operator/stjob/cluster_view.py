"""Read a SentenceTransformerJob from the current kube context and show it (``stjob status/watch/logs``).

Rendering is pure (``describe``, ``progress_line``); fetching goes through the official kubernetes
client, configured from the kubeconfig (or in-cluster).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stjob.api.resource import GROUP, LABEL_JOB_NAME, PLURAL, VERSION
from stjob.api.status import TERMINAL_PHASES, evaluation_text, format_duration
from stjob.errors import EXIT_CLUSTER_ERROR, StjobError


class ClusterError(StjobError):
    """No usable cluster: kubeconfig, context, connection, permission, or the resource is missing."""

    reason = "ClusterError"
    exit_code = EXIT_CLUSTER_ERROR


#: Seconds per API request: an unreachable server fails fast instead of hanging the command.
REQUEST_TIMEOUT_S = 15.0
_IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"


def kubeconfig_files() -> list[Path]:
    """The kubeconfig files kubectl would read: ``$KUBECONFIG`` (a path list), else ``~/.kube/config``."""
    listed = [part for part in os.environ.get("KUBECONFIG", "").split(os.pathsep) if part]
    return [Path(part).expanduser() for part in listed] if listed else [Path("~/.kube/config").expanduser()]


def kube_api_client(context: str | None) -> Any:
    """A client for the kubeconfig's (or the given) context, or in-cluster; ClusterError saying what to fix."""
    from kubernetes import client, config

    files = kubeconfig_files()
    existing = [f for f in files if f.is_file()]
    configuration = client.Configuration()
    if not existing and not context and os.environ.get(_IN_CLUSTER_ENV):
        try:
            config.load_incluster_config(client_configuration=configuration)
        except Exception as exc:
            raise ClusterError(f"in a pod, but the service account cannot be used: {exc}") from None
    else:
        _load_kubeconfig(files, existing, context, configuration)
    configuration.retries = 0  # one attempt: the message below beats three identical stack traces
    return client.ApiClient(configuration)


def _load_kubeconfig(files: list[Path], existing: list[Path], context: str | None, configuration: Any) -> None:
    from kubernetes import config

    shown = os.pathsep.join(str(f) for f in files)
    if not existing:
        where = f"KUBECONFIG={shown}" if os.environ.get("KUBECONFIG") else str(files[0])
        raise ClusterError(
            f"no kubeconfig: {where} does not exist. Point KUBECONFIG at your cluster's kubeconfig "
            "(for kind: `kind export kubeconfig`; for a managed cluster: your provider's get-credentials command)"
        )
    config_file = os.pathsep.join(str(f) for f in existing)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=config_file)
    except Exception as exc:
        raise ClusterError(
            f"kubeconfig {config_file} is not usable: {_first_line(exc)}. Check it with `kubectl config view`"
        ) from None
    names = [c.get("name") for c in contexts or []]
    if context and context not in names:
        known = ", ".join(str(n) for n in names) or "none"
        raise ClusterError(
            f"--context {context}: no such context in {config_file} (it has: {known}; "
            "`kubectl config get-contexts` lists them)"
        )
    try:
        config.load_kube_config(config_file=config_file, context=context, client_configuration=configuration)
    except Exception as exc:
        used = context or (current or {}).get("name") or "the current context"
        raise ClusterError(
            f"kubeconfig {config_file}, context {used}: {_first_line(exc)}. Check it with `kubectl config view`"
        ) from None


def _first_line(exc: BaseException) -> str:
    """The loader's message on one line (YAML errors span three), without its boilerplate prefix."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = text.removeprefix("Invalid kube-config file. ")
    if "Expected key current-context" in text:
        text += " (pick one: `kubectl config use-context NAME`, or pass --context NAME)"
    return text[:300] or type(exc).__name__


def _server(api: Any) -> str:
    return str(getattr(getattr(api, "configuration", None), "host", "") or "the API server")


def _call(api_client: Any, what: str, request: Callable[[], Any], not_found: Callable[[Any], str] | None = None) -> Any:
    """Run one API request; ClusterError naming the server and what to do for each way it can fail."""
    from kubernetes.client.exceptions import ApiException

    server = _server(api_client)
    try:
        return request()
    except ApiException as exc:
        if exc.status == 404 and not_found is not None:
            raise ClusterError(not_found(exc)) from None
        if exc.status in (401, 403):
            raise ClusterError(
                f"{server} refused to {what} ({exc.status} {exc.reason}): check your kubeconfig user's "
                "permissions (`kubectl auth can-i get sentencetransformerjobs`)"
            ) from None
        raise ClusterError(f"{server}: cannot {what}: {exc.status} {exc.reason}") from None
    except Exception as exc:  # urllib3: connection refused, DNS, TLS, timeout
        cause = str(getattr(exc, "reason", None) or exc).splitlines()[0]
        raise ClusterError(
            f"cannot reach the API server {server}: {cause[:300]}. Is the cluster running, and is this the right "
            "context? (`kubectl cluster-info`)"
        ) from None


def get_job(name: str, namespace: str, context: str | None = None) -> dict[str, Any]:
    """The resource as a dict; ClusterError when it is missing or the cluster cannot be asked."""
    from kubernetes import client

    api_client = kube_api_client(context)
    api = client.CustomObjectsApi(api_client)

    def not_found(exc: Any) -> str:
        if "could not find the requested resource" in str(exc.body or ""):  # no such API: the CRD is missing
            return (
                f"{_server(api_client)} does not know SentenceTransformerJobs: the CRD is not installed "
                "(helm install stjob-operator ./helm/stjob-operator, or kubectl apply -f crds/)"
            )
        return f"sentencetransformerjob {namespace}/{name} not found (`kubectl get stj -n {namespace}` lists them)"

    obj: dict[str, Any] = _call(
        api_client,
        f"get sentencetransformerjob {namespace}/{name}",
        lambda: api.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT_S
        ),
        not_found,
    )
    return obj


def trainer_logs(name: str, namespace: str, context: str | None = None, tail: int | None = None) -> str:
    """Logs of the newest trainer pod of the job."""
    from kubernetes import client

    api_client = kube_api_client(context)
    core = client.CoreV1Api(api_client)
    pods = _call(
        api_client,
        f"list pods in {namespace}",
        lambda: core.list_namespaced_pod(
            namespace, label_selector=f"{LABEL_JOB_NAME}={name}", _request_timeout=REQUEST_TIMEOUT_S
        ),
    ).items
    # Filter here too: not every API (or emulator) honours label selectors.
    pods = [p for p in pods if (p.metadata.labels or {}).get(LABEL_JOB_NAME) == name]
    if not pods:
        raise ClusterError(f"no trainer pod for {namespace}/{name} yet (`stjob status {name} -n {namespace}`)")
    newest = max(pods, key=lambda p: str(p.metadata.creation_timestamp or ""))
    text: str = _call(
        api_client,
        f"read the logs of pod {namespace}/{newest.metadata.name}",
        lambda: core.read_namespaced_pod_log(
            newest.metadata.name, namespace, tail_lines=tail, _request_timeout=REQUEST_TIMEOUT_S
        ),
    )
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
        parts.append(f"ETA {format_duration(progress['etaSeconds'])}")
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
    if evaluation := evaluation_text(status.get("evaluation") or {}):
        lines.append(f"Evaluation: {evaluation} (base model -> fine-tuned)")
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
