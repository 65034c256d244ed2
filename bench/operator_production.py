"""Issue 13's targets, the operator before and after in one run, three processes each time.

    .venv/bin/python bench/operator_production.py [--before REV] [--size 100] [--rounds 2] [--idle 130]

For each round, for each version (``before``: the operator package at git revision REV, extracted with
``git archive``; ``after``: this checkout), interleaved: a fresh emulator (kmock, its own process, from
``operator_scale.py``), a fresh ``stjob-operator`` process (leader election on for ``after``, as the
chart runs it) and this driver:

1. N resources POSTed at once: **create -> Job** median and p99, and **all Jobs after the last create**
   (the last Job's ADDED event minus the moment the last POST returned);
2. a Running trainer pod per Job (the kubelet), all Running;
3. (first round only, ``--idle`` seconds) nothing happens: the operator's requests in that window, per
   running job, per 120 s (the old resync interval); Lease renewals are counted apart;
4. success for all (pod Succeeded with the termination message, then the Job Complete), all Succeeded.

**API calls per lifecycle** = the operator's requests (User-Agent ``stjob-operator`` or Kopf's; watch
streams and Lease renewals apart) over steps 1, 2 and 4, divided by N. **CPU per lifecycle** = the
operator process's CPU time over the same steps, divided by N. Ratios are after / before of the same
round. Results: bench/RESULTS.md ("Operator as a production controller").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import operator_scale as scale  # (the emulator process and the driver's helpers)

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before the operator was reworked for issue 13.
DEFAULT_BEFORE = "e6bba41"
LEASE_KINDS = ("leases",)


@dataclass
class Run:
    """One version, one round."""

    version: str
    size: int
    to_job: list[float]
    all_jobs_after_last_create: float
    calls: dict[str, int]
    cpu_seconds: float
    idle_seconds: float = 0.0
    idle_calls: dict[str, int] = field(default_factory=dict)
    lease_calls: int = 0

    @property
    def calls_per_lifecycle(self) -> float:
        return sum(self.calls.values()) / self.size

    @property
    def cpu_ms_per_lifecycle(self) -> float:
        return self.cpu_seconds / self.size * 1000

    @property
    def idle_calls_per_job_per_120s(self) -> float | None:
        if not self.idle_seconds:
            return None
        return sum(self.idle_calls.values()) / self.size / self.idle_seconds * 120


def extract(revision: str, into: Path) -> Path:
    """The ``operator`` folder at ``revision`` (git archive, no worktree): the PYTHONPATH of ``before``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "operator"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    target = into / f"operator-{revision}"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "operator"


def split(stats: dict[str, int]) -> tuple[dict[str, int], int]:
    """(requests that count, Lease requests); watch streams dropped."""
    counted, lease = {}, 0
    for key, count in stats.items():
        method, _, kind = key.partition(" ")
        if method == "WATCH":
            continue
        if kind in LEASE_KINDS:
            lease += count
        else:
            counted[key] = count
    return counted, lease


def minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def operator_stats(session: aiohttp.ClientSession) -> dict[str, int]:
    async with session.get("/_bench/operator-stats") as response:
        return dict(await response.json())


async def run_once(version: str, source: Path | None, size: int, idle: float, workdir: Path) -> Run:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    emulator = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "operator_scale.py"), "--serve-emulator"],
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        url = (await asyncio.to_thread(emulator.stdout.readline)).strip()
        kubeconfig = workdir / f"kubeconfig-{version}"
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
        op_env = dict(
            env,
            KUBECONFIG=str(kubeconfig),
            STJOB_METRICS_PORT="0",
            STJOB_HEALTH_PORT="0",
            STJOB_TRAINER_IMAGE="trainer:test",
            STJOB_LEADER_ELECTION="true",
            STJOB_LEASE_NAMESPACE="stjob-system",
            STJOB_POD_NAME="bench-0",
        )
        if source is not None:
            op_env["PYTHONPATH"] = str(source)
        command = [sys.executable, "-m", "stjob.controller.main"]
        with scale.started(command, op_env, workdir / f"operator-{version}.log") as operator:
            profile = workdir / f"operator-{version}.pyspy.txt" if os.environ.get("STJOB_BENCH_PYSPY") else None
            return await drive(version, size, url, operator, idle, profile)
    finally:
        emulator.send_signal(signal.SIGTERM)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()


async def drive(
    version: str, size: int, url: str, operator: subprocess.Popen[bytes], idle: float, profile: Path | None
) -> Run:
    proc = psutil.Process(operator.pid)
    seen = scale.Observed()
    names = [f"job-{i}" for i in range(size)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(url, connector=connector, read_bufsize=2**22) as session:
        await scale.wait_until_watching(session, operator, version)
        watches = scale.driver_watches(session, seen)
        await asyncio.sleep(1.0)  # the driver's watches open; the operator has taken the Lease
        spy = None
        if profile is not None:
            # Where the operator's CPU goes (GIL holders, all threads): STJOB_BENCH_PYSPY=1, STJOB_BENCH_DIR.
            spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            record = [
                spy_bin,
                "record",
                "--gil",
                "--rate",
                os.environ.get("STJOB_BENCH_PYSPY_RATE", "100"),
                "--format",
                "raw",
                "-o",
                str(profile),
                "-p",
                str(operator.pid),
            ]
            spy = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)
        try:
            stats0, cpu0 = await operator_stats(session), scale.cpu_seconds(proc)
            sent: dict[str, float] = {}
            returned: dict[str, float] = {}

            async def post(index: int) -> None:
                name = f"job-{index}"
                sent[name] = time.monotonic()
                path = f"{scale.STJOBS_PATH}/namespaces/{scale.NAMESPACE}/{scale.PLURAL}"
                async with session.post(path, json=scale.resource_body(index)) as response:
                    assert response.status < 300, await response.text()
                returned[name] = time.monotonic()

            await asyncio.gather(*(post(i) for i in range(size)))
            pending = seen.first("Pending")
            await scale.wait_for(lambda: len(pending) >= size and len(seen.job_added) >= size, f"{size} Pending")
            to_job = [seen.job_added[name] - sent[name] for name in names]
            after_last = max(seen.job_added.values()) - max(returned.values())

            await asyncio.gather(*(scale.create_pod(session, name) for name in names))
            running = seen.first("Running")
            await scale.wait_for(lambda: len(running) >= size, f"{size} Running")
            await asyncio.sleep(0.5)
            stats1, cpu1 = await operator_stats(session), scale.cpu_seconds(proc)
            if idle:
                print(f"  {version}: idle {idle:.0f} s with {size} running jobs", file=sys.stderr)
                await asyncio.sleep(idle)
            stats2, cpu2 = await operator_stats(session), scale.cpu_seconds(proc)

            await asyncio.gather(*(scale.succeed(session, name) for name in names))
            succeeded = seen.first("Succeeded")
            await scale.wait_for(lambda: len(succeeded) >= size, f"{size} Succeeded")
            await asyncio.sleep(1.0)  # trailing events (the operator's own status echo, Events)
            stats3, cpu3 = await operator_stats(session), scale.cpu_seconds(proc)
        finally:
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, return_exceptions=True)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await asyncio.to_thread(spy.wait, 30)
    busy, lease_busy = split(minus(stats1, stats0))
    idle_calls, lease_idle = split(minus(stats2, stats1))
    ending, lease_end = split(minus(stats3, stats2))
    calls = {k: busy.get(k, 0) + ending.get(k, 0) for k in busy.keys() | ending.keys()}
    return Run(
        version=version,
        size=size,
        to_job=to_job,
        all_jobs_after_last_create=after_last,
        calls=calls,
        cpu_seconds=(cpu1 - cpu0) + (cpu3 - cpu2),
        idle_seconds=idle,
        idle_calls=idle_calls,
        lease_calls=lease_busy + lease_idle + lease_end,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def table(runs: list[Run]) -> str:
    header = (
        "| round | version | API calls / lifecycle | CPU ms / lifecycle | create→Job median ms | p99 ms "
        "| all Jobs after last create s | requests / running job / 120 s idle |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for index, run in enumerate(runs):
        idle = run.idle_calls_per_job_per_120s
        lines.append(
            f"| {index // 2 + 1} | {run.version} | {run.calls_per_lifecycle:.1f} | {run.cpu_ms_per_lifecycle:.1f} "
            f"| {ms(statistics.median(run.to_job))} | {ms(scale.percentile(run.to_job, 0.99))} "
            f"| {run.all_jobs_after_last_create:.2f} | {'-' if idle is None else f'{idle:.2f}'} |"
        )
    return "\n".join(lines)


def ratios(runs: list[Run]) -> str:
    lines = []
    for before, after in zip(runs[0::2], runs[1::2], strict=True):
        lines.append(
            f"after/before: calls {after.calls_per_lifecycle / before.calls_per_lifecycle:.2f}, "
            f"CPU {after.cpu_ms_per_lifecycle / before.cpu_ms_per_lifecycle:.2f}, "
            f"all Jobs after last create {after.all_jobs_after_last_create / before.all_jobs_after_last_create:.2f}"
        )
    return "\n".join(lines)


async def main_async(revision: str, size: int, rounds: int, idle: float) -> list[Run]:
    runs = []
    with contextlib.ExitStack() as stack:
        workdir = Path(os.environ.get("STJOB_BENCH_DIR") or stack.enter_context(tempfile.TemporaryDirectory()))
        before_source = extract(revision, workdir)
        for round_ in range(rounds):
            for version, source in (("before", before_source), ("after", None)):
                print(f"round {round_ + 1}/{rounds}: {version}", file=sys.stderr)
                run = await run_once(version, source, size, idle if round_ == 0 else 0.0, workdir)
                print(f"  {version}: {json.dumps(run.calls, sort_keys=True)}; lease {run.lease_calls}", file=sys.stderr)
                runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision of the 'before' operator")
    parser.add_argument("--size", type=int, default=100, help="resources created at once")
    parser.add_argument("--rounds", type=int, default=2, help="before/after pairs, interleaved")
    parser.add_argument("--idle", type=float, default=130.0, help="idle seconds in the first round (0: skip)")
    args = parser.parse_args()
    runs = asyncio.run(main_async(args.before, args.size, args.rounds, args.idle))
    print(table(runs))
    print(ratios(runs))


if __name__ == "__main__":
    main()
