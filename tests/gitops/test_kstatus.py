"""Flux (kstatus) reads the operator's conditions right: each phase maps to the kstatus status it should.

kstatus' generic rules (sigs.k8s.io/cli-utils/pkg/kstatus, README "The generic rules"), in order, over the
statuses the operator's own status logic writes (tests/gitops/sample_statuses.py).
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from tests.gitops.sample_statuses import PHASES, SAMPLES, Resource, covered_phases, edited_after, phase_of

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


@pytest.mark.parametrize("name", SAMPLES)
def test_operator_status_maps_to_kstatus(name: str) -> None:
    sample = SAMPLES[name]
    phase = phase_of(sample)
    assert phase is not None
    assert kstatus(sample) == EXPECTED[phase]


def test_every_phase_has_a_sample() -> None:
    assert covered_phases() == set(PHASES)


@pytest.mark.parametrize("name", SAMPLES)
def test_spec_edit_not_yet_observed_is_in_progress(name: str) -> None:
    assert kstatus(edited_after(SAMPLES[name])) == "InProgress"
