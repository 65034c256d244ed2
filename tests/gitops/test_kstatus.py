"""Flux (kstatus) reads the operator's conditions right: each phase maps to the kstatus status it should.

kstatus' generic rules (sigs.k8s.io/cli-utils/pkg/kstatus, README "The generic rules"), in order.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from tests.gitops.sample_statuses import PHASES, Resource, resource

KStatus = Literal["InProgress", "Failed", "Current"]


def _condition(obj: Resource, ctype: str) -> dict[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == ctype:
            found: dict[str, Any] = condition
            return found
    return None


def kstatus(obj: Resource) -> KStatus:
    """kstatus' generic computation for a resource with standard conditions."""
    status = obj.get("status", {})
    observed = status.get("observedGeneration")
    if observed is not None and observed != obj["metadata"].get("generation"):
        return "InProgress"
    reconciling = _condition(obj, "Reconciling")
    if reconciling is not None and reconciling["status"] == "True":
        return "InProgress"
    stalled = _condition(obj, "Stalled")
    if stalled is not None and stalled["status"] == "True":
        return "Failed"
    ready = _condition(obj, "Ready")
    if ready is not None and ready["status"] == "False":
        return "InProgress"
    return "Current"


EXPECTED: dict[str, KStatus] = {
    "Pending": "InProgress",
    "Queued": "InProgress",
    "Running": "InProgress",
    # Ready=False: Flux keeps waiting on a suspended job (until its health-check timeout).
    "Suspended": "InProgress",
    "Succeeded": "Current",
    "Failed": "Failed",
}


@pytest.mark.parametrize("phase", PHASES)
def test_phase_maps_to_kstatus(phase: str) -> None:
    assert kstatus(resource(phase)) == EXPECTED[phase]


@pytest.mark.parametrize("phase", PHASES)
def test_stale_generation_is_in_progress(phase: str) -> None:
    assert kstatus(resource(phase, generation=2, observed=1)) == "InProgress"


@pytest.mark.parametrize("reason", ["ConfigError", "DataError", "OutOfMemory", "OOMKilled", "DeadlineExceeded"])
def test_every_failure_reason_fails_fast(reason: str) -> None:
    assert kstatus(resource("Failed", reason=reason)) == "Failed"


def test_conditions_carry_the_observed_generation() -> None:
    obj = resource("Running", generation=4, observed=4)
    assert {c["observedGeneration"] for c in obj["status"]["conditions"]} == {4}
    assert kstatus(obj) == "InProgress"
