"""Load: many resources (STJOB_LOAD_COUNT, default 50) at once against kmock: one Job each, no errors, bounded RSS."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import pytest

from tests.controller import kube
from tests.controller.conftest import STJOBS, OperatorFactory
from tests.controller.factories import resource
from tests.support.operator_metrics import counter_total

COUNT = int(os.environ.get("STJOB_LOAD_COUNT", "50"))
#: RSS growth allowed for 500 resources (their children live in the emulator, in this very process).
MAX_GROWTH_MIB = 200


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _errors() -> float:
    return counter_total("stjob_reconcile_errors")


@pytest.mark.slow
async def test_many_resources_at_once_each_get_exactly_one_job(emulator: Any, operator: OperatorFactory) -> None:
    errors_before = _errors()
    job_posts: dict[str, int] = {}
    baseline = _rss_mib()
    started = time.monotonic()
    async with operator():
        await kube.wait_watching(emulator)
        for i in range(COUNT):  # as fast as one client can; the operator works on them meanwhile
            await kube.create(emulator, STJOBS, resource(name=f"j{i}", uid=f"u{i}"))
        done: set[str] = set()
        while len(done) < COUNT:
            assert time.monotonic() - started < 240, f"only {len(done)}/{COUNT} reconciled"
            # kmock slows down with every logged request: tally the Job POSTs, then drop the log.
            for request in emulator._requests:
                if request.method.value == "POST" and str(request.url.path).endswith("/jobs"):
                    name = request.data["metadata"]["name"]
                    job_posts[name] = job_posts.get(name, 0) + 1
            emulator._requests.clear()
            for i in range(COUNT):
                name = f"j{i}"
                if name not in done and kube.status_of(emulator, name=name).get("jobName") == name:
                    done.add(name)
            await asyncio.sleep(1.0)
    current = _rss_mib()
    took = time.monotonic() - started
    assert job_posts == {f"j{i}": 1 for i in range(COUNT)}
    for i in range(COUNT):
        assert kube.get(emulator, kube.JOBS, "ml", f"j{i}") is not None
        assert kube.status_of(emulator, name=f"j{i}")["phase"] == "Pending"
    assert _errors() == errors_before, "reconcile errors under load"
    growth = current - baseline
    assert growth < MAX_GROWTH_MIB, f"RSS grew {growth:.0f} MiB"
    print(f"\n{COUNT} resources reconciled in {took:.1f}s; RSS +{growth:.0f} MiB")


def _operator_scale() -> Any:
    """bench/operator_scale.py as a module: the three-process setup (emulator, operator, driver)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "operator_scale.py"
    spec = importlib.util.spec_from_file_location("operator_scale", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
async def test_500_resources_at_once_in_separate_processes() -> None:
    """Issue #8's load case at full size: the real operator process against an emulator process.

    Every resource gets its Job and reaches Pending, then Succeeded when its Job completes; the
    operator's peak RSS stays bounded. (The bench reports the timings; no timing is asserted here.)
    """
    bench = _operator_scale()
    (result,) = await bench.main_async([500], 1, False)
    # What the operator did, as the emulator counted it: 500 Jobs seen ADDED by the driver's watch (each
    # name at least once) with exactly 500 Job POSTs means exactly one POST per resource, none deleted.
    assert result.requests.get("POST jobs") == 500, result.requests
    assert result.requests.get("DELETE jobs", 0) == 0, result.requests
    assert len(result.to_job) == len(result.to_succeeded) == 500
    assert result.peak_rss_mb < 150
