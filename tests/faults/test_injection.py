"""The fault injector itself: an injected error writes nothing (as on a real API server); a hang writes first."""

from __future__ import annotations

from typing import Any

from tests.controller import kube
from tests.faults import injection
from tests.faults.injection import Fault, Hang, error, inject

CONFIGMAPS = "/api/v1/namespaces/ml/configmaps"


def _configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ml"}, "data": {}}


async def test_an_injected_error_stores_nothing_and_the_retry_writes_once(emulator: Any) -> None:
    fault = inject(emulator, Fault("429", injection.posts("configmaps", "a"), [error(429, "TooManyRequests", 1)]))
    first = await emulator.post(CONFIGMAPS, json=_configmap("a"))
    assert first.status == 429
    assert kube.get(emulator, "v1/configmaps", "ml", "a") is None  # "429 on POST" means: not created
    second = await emulator.post(CONFIGMAPS, json=_configmap("a"))
    assert second.status < 300 and kube.get(emulator, "v1/configmaps", "ml", "a") is not None
    third = await emulator.post(CONFIGMAPS, json=_configmap("a"))
    assert third.status == 409  # refused: the ledger does not count it
    assert fault.injected == 1 and len(fault.calls) == 2 and len(fault.seen) == 3
    assert injection.ledger(emulator).writes == {("configmaps", "ml", "a"): 1}


async def test_a_hang_writes_first_and_loses_the_reply(emulator: Any) -> None:
    inject(emulator, Fault("lost reply", injection.posts("configmaps", "b"), [Hang(seconds=0.01)]))
    response = await emulator.post(CONFIGMAPS, json=_configmap("b"))
    assert response.status == 504
    assert kube.get(emulator, "v1/configmaps", "ml", "b") is not None
    assert injection.ledger(emulator).writes == {("configmaps", "ml", "b"): 1}
