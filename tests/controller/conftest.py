"""The real Kopf loop against kmock's Kubernetes emulator (in this process, on another thread)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import kopf
import kubernetes
import pytest
from kopf.testing import KopfRunner

from stjob.controller.handlers import register
from stjob.controller.settings import OperatorSettings

STJOBS = "stjob.dev/v1alpha1/sentencetransformerjobs"
#: Seconds: every wait in these tests is bounded, generously (Kopf start-up on a loaded 2-core machine
#: takes seconds); a wait ends as soon as its event happens, so a long bound costs nothing when it passes.
WAIT = float(os.environ.get("STJOB_TEST_WAIT", "60"))


@pytest.fixture()
async def emulator(kmock: Any) -> AsyncIterator[Any]:
    """kmock with the built-in resources and our CRD; the Kubernetes client pointed at it."""
    kmock.resources.load_bundled()
    kmock.resources[STJOBS] = {
        "kind": "SentenceTransformerJob",
        "namespaced": True,
        "singular": "sentencetransformerjob",
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
        "subresources": ["status"],
    }
    # kmock says 1.26, below the operator's minimum (compat); it plays a current server here.
    kmock["get /version"] << {"major": "1", "minor": "33", "gitVersion": "v1.33.0-kmock"}
    previous = kubernetes.client.Configuration.get_default_copy()
    kubernetes.client.Configuration.set_default(kubernetes.client.Configuration(host=str(kmock.url).rstrip("/")))
    yield kmock
    kubernetes.client.Configuration.set_default(previous)


def fast_kopf_settings() -> kopf.OperatorSettings:
    """Kopf settings that stop quickly (no 5 s worker idling, no 2 s exit wait)."""
    settings = kopf.OperatorSettings()
    settings.queueing.idle_timeout = 0.2
    settings.queueing.exit_timeout = 0.2
    settings.watching.reconnect_backoff = 0.1
    settings.posting.level = logging.INFO
    # kmock never changes resourceVersion, so Kopf would wait this long for its own patch to echo back.
    settings.persistence.consistency_timeout = 0.1
    return settings


OperatorFactory = Callable[..., contextlib.AbstractAsyncContextManager[KopfRunner]]


@pytest.fixture()
def operator(emulator: Any) -> OperatorFactory:
    """``async with operator():`` runs the operator (a fresh registry each time) until the block ends."""

    @contextlib.asynccontextmanager
    async def start(config: OperatorSettings | None = None) -> AsyncIterator[KopfRunner]:
        registry = kopf.OperatorRegistry()
        url = str(emulator.url).rstrip("/")

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True)

        config = config or OperatorSettings(metrics_port=0, health_port=0, trainer_image="trainer:test")
        register(registry, config)
        scope = [arg for ns in config.namespace_list for arg in ("-n", ns)] or ["-A"]
        args = ["run", *scope, "--standalone"]
        runner = KopfRunner(args, registry=registry, settings=fast_kopf_settings(), timeout=10)
        runner.__enter__()
        try:
            yield runner
        finally:
            # Stop it off the loop: its handlers may still be talking to the emulator on this loop.
            await asyncio.to_thread(runner.__exit__, None, None, None)

    return start


async def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll without blocking the emulator's loop; fail with ``what`` after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
