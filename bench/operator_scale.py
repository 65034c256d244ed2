"""The operator at scale, three processes: kmock's emulator, ``stjob-operator``, and this load driver.

    .venv/bin/python bench/operator_scale.py --sizes 1,100,500 [--repeat 1]

For each size N (fresh emulator and operator each time):

1. the driver POSTs N ``SentenceTransformerJob`` resources at once (aiohttp) and watches Jobs and
   resources: **creation -> Job** is from each POST being sent to its Job's ADDED event;
   **all reconciled** is from the first POST to the last resource showing ``phase: Pending``;
2. it plays the kubelet (a Running trainer pod per Job), waits for every resource to be Running, then
   plays success for all N at once (pod ``Succeeded`` with the termination message, then the Job's
   ``Complete`` condition): **success -> Succeeded** is from the pod patch being sent to the resource
   showing ``phase: Succeeded``.

The operator runs as it would in a cluster (``stjob-operator``, standalone, cluster-wide, KUBECONFIG
pointing at the emulator). Its peak RSS (VmHWM) and CPU time come from psutil/procfs; CPU per
reconcile divides its CPU time over both phases by ``stjob_reconciles_total`` from its /metrics.

The emulator (kmock 0.8, its own process) is given what a real API server does and the operator
relies on: a ``resourceVersion`` bumped on every write (else Kopf waits 5 s for each of its own
patches to echo back), ``uid``/``creationTimestamp`` on create, an index by (resource, namespace,
name) (kmock scans every stored object per request), and its request log is dropped as it grows
(each logged request makes the next ones slower). Run on 2 shared cores, so expect noise; repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import contextvars
import itertools
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import psutil

STJOBS_PATH = "/apis/stjob.dev/v1alpha1"
PLURAL = "sentencetransformerjobs"
NAMESPACE = "bench"
SPEC = {
    "trainer": "pair_score",
    "data": {"volume": {"claimName": "datasets"}, "path": "sick", "columns": {"target": "score"}},
}
ROOT = Path(__file__).resolve().parent.parent
PHASE_TIMEOUT = float(os.environ.get("STJOB_BENCH_TIMEOUT", "120"))  # seconds: every wait is bounded
STATS: collections.Counter[str] = collections.Counter()  # the emulator's requests by method and kind
#: The operator's requests only (User-Agent stjob-operator or kopf/...), watches apart: "GET jobs", "WATCH pods".
OPERATOR_STATS: collections.Counter[str] = collections.Counter()


# --------------------------------------------------------------------------------------------------
# The emulator process
# --------------------------------------------------------------------------------------------------


def serve_emulator() -> None:
    """Run kmock's emulator on a free port; print its URL on stdout; serve until SIGTERM."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    profile = os.environ.get("STJOB_BENCH_PROFILE_EMULATOR")
    if profile:
        import cProfile

        cProfile.run("asyncio.run(_serve_emulator())", profile)
    else:
        asyncio.run(_serve_emulator())


async def _serve_emulator() -> None:
    import kmock
    from kmock._internal import dsl, enums, rendering

    counter = itertools.count(1)
    # Each logged request makes the next ones slower (every reaction filters the whole log to see if
    # it matches the new request): remember which request a task serves and forget it once answered.
    serving: contextvars.ContextVar[Any] = contextvars.ContextVar("serving")
    parse = rendering.Request._parse.__func__

    async def parse_and_remember(cls: Any, raw_request: Any, *, id: int = 0) -> Any:
        request = await parse(cls, raw_request, id=id)
        serving.set(request)
        return request

    rendering.Request._parse = classmethod(parse_and_remember)

    # "Does this reaction take the request?" is asked by filtering the (whole) log through the
    # reaction's chain of views; ask the chain about this one request instead.
    contains = dsl.View.__contains__

    def matches(view: Any, request: Any) -> bool:
        if isinstance(view, dsl.Root):
            return any(logged is request for logged in view._requests)
        if isinstance(view, dsl.Filter):
            return bool(view.criteria(request)) and matches(view._source, request)
        if isinstance(view, (dsl.Priority, dsl.Reaction, dsl.Stream)):
            return matches(view._source, request)
        return bool(contains(view, request))

    def view_contains(view: Any, item: Any) -> bool:
        return matches(view, item) if isinstance(item, rendering.Request) else bool(contains(view, item))

    dsl.View.__contains__ = view_contains

    class BenchEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
        async def __call__(self, raw_request: Any) -> Any:
            try:
                return await super().__call__(raw_request)
            finally:
                parts = raw_request.path.rsplit("/namespaces/", 1)[-1].split("/")
                what = parts[1] if len(parts) > 1 else raw_request.path
                kind = f"{what}{'/status' if parts[-1] == 'status' else ''}"
                STATS[f"{raw_request.method} {kind}"] += 1
                agent = raw_request.headers.get("User-Agent", "")
                if agent.startswith(("stjob-operator", "kopf/")):
                    method = "WATCH" if raw_request.query.get("watch") in ("true", "1") else raw_request.method
                    OPERATOR_STATS[f"{method} {kind}"] += 1
                request = serving.get(None)
                if request is not None:
                    for log in (self._requests, *(payload._requests for payload in self._payloads)):
                        log[:] = [logged for logged in log if logged is not request]

        async def _handle(self, request: Any) -> Any:
            data = request.data
            writes = (enums.action.CREATE, enums.action.UPDATE)
            if request.resource is not None and isinstance(data, dict) and request.action in writes:
                meta = data.setdefault("metadata", {})
                meta["resourceVersion"] = str(next(counter))
                if request.action == enums.action.CREATE:
                    meta.setdefault("uid", str(uuid.uuid4()))
                    meta.setdefault("creationTimestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
                    meta.setdefault("generation", 1)
                    if not meta.get("name") and meta.get("generateName"):
                        meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            return await super()._handle(request)

        # kmock 0.8 finds objects by scanning all of them (name-mangled private method): index it.
        def _KubernetesEmulator__get_objs(self, request: Any, strict: bool) -> list[Any]:
            if request.name is not None and request.namespace is not None:
                found = self._objects._objects.get((request.resource, request.namespace, request.name))
                return [] if found is None else [found]
            return list(_scan(self, request, strict))

    def _scan(emulator: Any, request: Any, strict: bool) -> Any:
        # Equality and existence label selectors, as the API server filters (kmock ignores them).
        terms = [term.partition("=") for term in (request.params or {}).get("labelSelector", "").split(",") if term]
        for (resource, namespace, name), obj in emulator._objects.items():
            namespace_ok = namespace == request.namespace if strict else request.namespace in (None, namespace)
            if resource == request.resource and namespace_ok and (request.name is None or name == request.name):
                labels = {} if obj.deleted else (obj.raw.get("metadata", {}).get("labels") or {})
                if all(key in labels and (not eq or labels[key] == value) for key, eq, value in terms):
                    yield obj

    async with BenchEmulator() as emulator, kmock.Server(emulator) as server:
        emulator.resources.load_bundled()
        emulator.resources[f"stjob.dev/v1alpha1/{PLURAL}"] = {
            "kind": "SentenceTransformerJob",
            "namespaced": True,
            "singular": "sentencetransformerjob",
            "verbs": ["get", "list", "watch", "create", "patch", "delete"],
            "subresources": ["status"],
        }

        async def watchers(request: Any) -> Any:
            return {"watchers": {res.plural: bus.consumer_count for res, bus in emulator._buses.items()}}

        async def stats(request: Any) -> Any:
            return dict(STATS)

        async def operator_stats(request: Any) -> Any:
            return dict(OPERATOR_STATS)

        # kmock says 1.26, below the operator's minimum (compat); it plays a current server here.
        emulator["get /version"] << {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kmock"}
        emulator["get /_bench/stats"] << stats
        emulator["get /_bench/operator-stats"] << operator_stats
        emulator["get /_bench/watchers"] << watchers
        print(str(server.url).rstrip("/"), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


# --------------------------------------------------------------------------------------------------
# The load driver
# --------------------------------------------------------------------------------------------------


@dataclass
class Observed:
    """Timestamps (time.monotonic) seen by the driver's watches, by resource name."""

    job_added: dict[str, float] = field(default_factory=dict)
    phase_seen: dict[str, dict[str, float]] = field(default_factory=dict)

    def first(self, phase: str) -> dict[str, float]:
        return self.phase_seen.setdefault(phase, {})


@dataclass
class Result:
    """One size, one run."""

    size: int
    to_job: list[float]
    all_reconciled: float
    to_succeeded: list[float]
    all_succeeded: float
    peak_rss_mb: float
    cpu_seconds: float
    reconciles: float
    cpu_create_phase: float
    emulator_cpu: float = 0.0
    #: The emulator's request counts by "METHOD plural" (e.g. "POST jobs"): what the operator really did.
    requests: dict[str, int] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def resource_body(index: int) -> dict[str, Any]:
    meta = {"name": f"job-{index}", "namespace": NAMESPACE}
    return {"apiVersion": "stjob.dev/v1alpha1", "kind": "SentenceTransformerJob", "metadata": meta, "spec": SPEC}


def pod_body(name: str) -> dict[str, Any]:
    running = {"running": {"startedAt": "2026-01-01T00:01:00Z"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-abc", "namespace": NAMESPACE, "labels": {"stjob.dev/job-name": name}},
        "spec": {"containers": [{"name": "trainer", "image": "trainer:test"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": running}]},
    }


MERGE = {"Content-Type": "application/merge-patch+json"}


async def watch(session: aiohttp.ClientSession, url: str, on_event: Any) -> None:
    """Follow a watch stream forever (cancelled by the caller)."""
    try:
        async with session.get(url, params={"watch": "true"}, timeout=aiohttp.ClientTimeout(total=None)) as response:
            async for line in response.content:
                if line.strip():
                    on_event(json.loads(line))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        print(f"the driver's watch of {url} broke: {exc!r}", file=sys.stderr)
        raise


async def wait_for(predicate: Any, what: str, timeout: float = PHASE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.01)


def scrape_reconciles(port: int) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("stjob_reconciles_total{")
    )


def peak_rss_mb(process: psutil.Process) -> float:
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return process.memory_info().rss / 2**20


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Any:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def run_size(size: int, workdir: Path, verbose: bool) -> Result:
    """One size against a fresh emulator and operator."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    emulator = subprocess.Popen(
        [sys.executable, __file__, "--serve-emulator"], stdout=subprocess.PIPE, env=env, cwd=ROOT, text=True
    )
    try:
        assert emulator.stdout is not None
        url = (await asyncio.to_thread(emulator.stdout.readline)).strip()
        if not url.startswith("http"):
            raise SystemExit("the emulator did not start")
        kubeconfig = workdir / f"kubeconfig-{size}"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "kmock", "cluster": {"server": url}}],
                    "users": [{"name": "bench", "user": {"token": "bench"}}],
                    "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "bench"}}],
                    "current-context": "kmock",
                }
            )
        )
        metrics_port = free_port()
        op_env = dict(
            env,
            KUBECONFIG=str(kubeconfig),
            STJOB_METRICS_PORT=str(metrics_port),
            STJOB_HEALTH_PORT="0",
            STJOB_TRAINER_IMAGE="trainer:test",
        )
        operator_cmd = [str(Path(sys.executable).parent / "stjob-operator")]
        with started(operator_cmd, op_env, workdir / f"operator-{size}.log") as operator:
            result = await drive(size, url, operator, metrics_port, verbose)
            result.emulator_cpu = cpu_seconds(psutil.Process(emulator.pid))
            return result
    finally:
        emulator.send_signal(signal.SIGTERM)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()


async def wait_until_watching(session: aiohttp.ClientSession, operator: subprocess.Popen[bytes], who: str) -> None:
    """Until the operator watches resources, Jobs and Pods on the emulator (SystemExit if it dies or stalls)."""
    deadline = time.monotonic() + 60
    while True:
        async with session.get("/_bench/watchers") as response:
            counts = (await response.json())["watchers"]
        if all(counts.get(plural, 0) > 0 for plural in (PLURAL, "jobs", "pods")):
            return
        if operator.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{who}: the operator did not start watching (see its log)")
        await asyncio.sleep(0.05)


def driver_watches(session: aiohttp.ClientSession, seen: Observed) -> list[asyncio.Task[None]]:
    """The driver's own watches: when each Job appeared, and when each resource first reached each phase."""

    def on_job(event: dict[str, Any]) -> None:
        if event.get("type") == "ADDED":
            seen.job_added.setdefault(event["object"]["metadata"]["name"], time.monotonic())

    def on_stjob(event: dict[str, Any]) -> None:
        phase = (event.get("object", {}).get("status") or {}).get("phase")
        if phase:
            seen.first(phase).setdefault(event["object"]["metadata"]["name"], time.monotonic())

    return [
        asyncio.create_task(watch(session, "/apis/batch/v1/jobs", on_job)),
        asyncio.create_task(watch(session, f"{STJOBS_PATH}/{PLURAL}", on_stjob)),
    ]


# What the kubelet and the Job controller would write: the trainer exited 0 with its termination message,
# then the Job completed.
_TRAINER_DONE = {
    "exitCode": 0,
    "startedAt": "2026-01-01T00:01:00Z",
    "message": json.dumps({"outcome": "Succeeded", "modelPath": "/output/x/model"}),
}
_JOB_COMPLETE = {
    "completionTime": "2026-01-01T01:00:00Z",
    "succeeded": 1,
    "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T01:00:00Z"}],
}


async def create_pod(session: aiohttp.ClientSession, name: str) -> None:
    """The kubelet's side of a start: one Running trainer pod for the Job ``name``."""
    async with session.post(f"/api/v1/namespaces/{NAMESPACE}/pods", json=pod_body(name)) as response:
        assert response.status < 300, await response.text()


async def succeed(session: aiohttp.ClientSession, name: str) -> None:
    """The trainer pod of ``name`` succeeds, then its Job completes."""
    pod_status = {
        "phase": "Succeeded",
        "containerStatuses": [{"name": "trainer", "state": {"terminated": _TRAINER_DONE}}],
    }
    pod_url = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}-abc/status"
    async with session.patch(pod_url, json={"status": pod_status}, headers=MERGE) as response:
        assert response.status < 300, await response.text()
    job_url = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}/status"
    async with session.patch(job_url, json={"status": _JOB_COMPLETE}, headers=MERGE) as response:
        assert response.status < 300, await response.text()


async def drive(size: int, url: str, operator: subprocess.Popen[bytes], metrics_port: int, verbose: bool) -> Result:
    proc = psutil.Process(operator.pid)
    seen = Observed()
    names = [f"job-{i}" for i in range(size)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(url, connector=connector, read_bufsize=2**22) as session:
        await wait_until_watching(session, operator, "bench")
        watches = driver_watches(session, seen)
        await asyncio.sleep(0.3)  # the driver's own watches open
        try:
            reconciles_before = await asyncio.to_thread(scrape_reconciles, metrics_port)
            cpu_before = cpu_seconds(proc)
            sent: dict[str, float] = {}

            async def post(index: int) -> None:
                sent[f"job-{index}"] = time.monotonic()
                path = f"{STJOBS_PATH}/namespaces/{NAMESPACE}/{PLURAL}"
                async with session.post(path, json=resource_body(index)) as response:
                    assert response.status < 300, await response.text()

            started_at = time.monotonic()
            await asyncio.gather(*(post(i) for i in range(size)))
            pending = seen.first("Pending")
            await wait_for(lambda: len(pending) >= size and len(seen.job_added) >= size, f"{size} Pending")
            all_reconciled = max(pending.values()) - started_at
            to_job = [seen.job_added[name] - sent[name] for name in names]
            cpu_create = cpu_seconds(proc) - cpu_before
            if verbose:
                async with session.get("/_bench/stats") as response:
                    print(f"  requests after creation: {await response.json()}", file=sys.stderr)
            if verbose:
                print(
                    f"  {size}: all Pending after {all_reconciled:.2f} s, operator CPU {cpu_create:.2f} s",
                    file=sys.stderr,
                )

            # The kubelet: one Running trainer pod per Job.
            await asyncio.gather(*(create_pod(session, name) for name in names))
            running = seen.first("Running")
            await wait_for(lambda: len(running) >= size, f"{size} Running")
            await asyncio.sleep(0.5)  # let the operator go idle

            # Success: the trainer exits 0 with its termination message, then the Job controller completes.
            success_sent: dict[str, float] = {}

            async def timed_success(name: str) -> None:
                success_sent[name] = time.monotonic()
                await succeed(session, name)

            success_start = time.monotonic()
            await asyncio.gather(*(timed_success(name) for name in names))
            succeeded = seen.first("Succeeded")
            await wait_for(lambda: len(succeeded) >= size, f"{size} Succeeded")
            all_succeeded = max(succeeded.values()) - success_start
            to_succeeded = [succeeded[name] - success_sent[name] for name in names]
            await asyncio.sleep(0.5)  # trailing events (the operator's own status echo)
            cpu_total = cpu_seconds(proc) - cpu_before
            reconciles = await asyncio.to_thread(scrape_reconciles, metrics_port) - reconciles_before
            rss = peak_rss_mb(proc)
            async with session.get("/_bench/stats") as response:
                requests = await response.json()
            if verbose:
                print(f"  requests in all: {requests}", file=sys.stderr)
        finally:
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, return_exceptions=True)
    return Result(
        size=size,
        to_job=to_job,
        all_reconciled=all_reconciled,
        to_succeeded=to_succeeded,
        all_succeeded=all_succeeded,
        peak_rss_mb=rss,
        cpu_seconds=cpu_total,
        reconciles=reconciles,
        cpu_create_phase=cpu_create,
        requests=requests,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def table(results: list[Result]) -> str:
    header = (
        "| N | create→Job median ms | p99 ms | all reconciled s | success→Succeeded median ms | p99 ms "
        "| all Succeeded s | operator peak RSS MB | reconciles | CPU ms / reconcile | CPU ms / resource |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in results:
        lines.append(
            f"| {r.size} | {ms(statistics.median(r.to_job))} | {ms(percentile(r.to_job, 0.99))} "
            f"| {r.all_reconciled:.2f} | {ms(statistics.median(r.to_succeeded))} "
            f"| {ms(percentile(r.to_succeeded, 0.99))} "
            f"| {r.all_succeeded:.2f} | {r.peak_rss_mb:.0f} | {r.reconciles:.0f} "
            f"| {r.cpu_seconds / max(r.reconciles, 1) * 1000:.1f} | {r.cpu_seconds / r.size * 1000:.1f} |"
        )
    return "\n".join(lines)


async def main_async(sizes: list[int], repeat: int, verbose: bool) -> list[Result]:
    results = []
    keep = os.environ.get("STJOB_BENCH_DIR")
    with contextlib.ExitStack() as stack:
        tmp = keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="stjob-bench-"))
        for round_ in range(repeat):
            for size in sizes:
                if verbose:
                    print(f"run {round_ + 1}/{repeat}, N={size}", file=sys.stderr)
                try:
                    results.append(await run_size(size, Path(tmp), verbose))
                except SystemExit:
                    log = Path(tmp) / f"operator-{size}.log"
                    if log.exists():
                        sys.stderr.write(log.read_text()[-3000:])
                    raise
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1,100,500", help="comma-separated resource counts")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (sizes interleaved)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator()
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = asyncio.run(main_async(sizes, args.repeat, args.verbose))
    print(table(results))
    if args.verbose:
        for r in results:
            print(
                f"N={r.size}: emulator CPU {r.emulator_cpu:.1f} s, operator CPU {r.cpu_seconds:.1f} s", file=sys.stderr
            )


if __name__ == "__main__":
    main()
