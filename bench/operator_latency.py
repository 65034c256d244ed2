"""Creation -> Job latency of the operator for N resources created at once, against kmock.

    .venv/bin/python bench/operator_latency.py [N]

Everything runs in one process (the emulator on the main loop, Kopf on a thread), so the numbers
include the shared interpreter's contention; a real API server adds its own latency.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from typing import Any

import kmock
import kopf
import kubernetes
from kopf.testing import KopfRunner

from stjob.controller.handlers import register
from stjob.controller.settings import OperatorSettings

STJOBS = "stjob.dev/v1alpha1/sentencetransformerjobs"
SPEC = {
    "trainer": "pair_score",
    "data": {"volume": {"claimName": "datasets"}, "path": "sick", "columns": {"target": "score"}},
}


def body(index: int) -> dict[str, Any]:
    """One resource; resourceVersion because Kopf guards its patches with it."""
    meta = {
        "name": f"job-{index}",
        "namespace": "bench",
        "uid": f"uid-{index}",
        "generation": 1,
        "resourceVersion": "1",
    }
    return {"apiVersion": "stjob.dev/v1alpha1", "kind": "SentenceTransformerJob", "metadata": meta, "spec": SPEC}


async def run(count: int, progress: bool = False) -> list[float]:
    """Latencies (seconds) from each POST returning to its Job existing in the emulator."""
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator):
        emulator.resources.load_bundled()
        emulator.resources[STJOBS] = {
            "kind": "SentenceTransformerJob",
            "namespaced": True,
            "verbs": ["get", "list", "watch", "create", "patch"],
            "subresources": ["status"],
        }
        url = str(emulator.url).rstrip("/")
        kubernetes.client.Configuration.set_default(kubernetes.client.Configuration(host=url))
        registry = kopf.OperatorRegistry()

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True)

        register(registry, OperatorSettings(metrics_port=0, health_port=0))
        settings = kopf.OperatorSettings()
        settings.persistence.consistency_timeout = 0.1  # kmock never bumps resourceVersion
        runner = KopfRunner(["run", "-A", "--standalone"], registry=registry, settings=settings, timeout=30)
        runner.__enter__()
        try:
            deadline = time.monotonic() + 10
            while len(emulator["watch " + STJOBS]) == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            created: dict[str, float] = {}
            seen: dict[str, float] = {}

            async def post(index: int) -> None:
                # The clock starts when the client sends the resource (it includes the POST itself).
                created[f"job-{index}"] = time.monotonic()
                path = "/apis/stjob.dev/v1alpha1/namespaces/bench/sentencetransformerjobs"
                response = await emulator.post(path, json=body(index))
                assert response.status < 300

            async def watch_jobs() -> None:
                deadline = time.monotonic() + 120
                while len(seen) < count and time.monotonic() < deadline:
                    for name in list(created):
                        if name not in seen:
                            try:
                                emulator.objects["batch/v1/jobs", "bench", name]
                            except KeyError:
                                continue
                            seen[name] = time.monotonic()
                    # kmock keeps every request it served and each new one costs more with that log
                    # (~0.1 ms per logged request): drop it so we measure the operator, not the log.
                    emulator._requests.clear()
                    if progress:
                        print(f"{len(seen)}/{count} Jobs", file=sys.stderr)
                    await asyncio.sleep(0.005)

            poller = asyncio.create_task(watch_jobs())
            await asyncio.gather(*(post(i) for i in range(count)))
            await poller
        finally:
            await asyncio.to_thread(runner.__exit__, None, None, None)
    if len(seen) < count:
        raise SystemExit(f"only {len(seen)}/{count} Jobs appeared within 120 s")
    return [seen[name] - created[name] for name in created]


def main() -> None:
    """Print median and p99 over N resources (default 100)."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("kopf").setLevel(logging.WARNING)
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    count = int(numbers[0]) if numbers else 100
    latencies = sorted(asyncio.run(run(count, progress="-v" in sys.argv)))
    p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)]
    print(
        f"{count} resources created at once: creation -> Job median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
