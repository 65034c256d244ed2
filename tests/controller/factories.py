"""Test data: resources, Jobs and Pods in the shapes the API server returns."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from stjob.api import SentenceTransformerJobSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
META = {"name": "sick", "namespace": "ml", "uid": "uid-1", "generation": 1}
BASE_SPEC: dict[str, Any] = {
    "trainer": "pair_score",
    "data": {"volume": {"claimName": "datasets"}, "path": "sick", "columns": {"target": "score"}},
    "output": {"projectName": "sick", "volume": {"claimName": "models"}},
}


def example(path: Path) -> dict[str, Any]:
    """One example resource as a dict."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def spec(**overrides: Any) -> SentenceTransformerJobSpec:
    """A valid pair_score spec, deep-merged with camelCase overrides."""
    raw = copy.deepcopy(BASE_SPEC)
    _merge(raw, overrides)
    return SentenceTransformerJobSpec.model_validate(raw)


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def resource(name: str = "sick", namespace: str = "ml", uid: str = "uid-1", **spec_overrides: Any) -> dict[str, Any]:
    """A SentenceTransformerJob body as POSTed to the emulator."""
    raw = copy.deepcopy(BASE_SPEC)
    _merge(raw, spec_overrides)
    return {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            # Kopf guards its patches with a resourceVersion test; kmock keeps whatever it is given.
            "resourceVersion": "1",
        },
        "spec": raw,
    }


def job(
    *conditions: tuple[str, str, str],
    suspend: bool = False,
    completion_time: str | None = None,
    active: int = 0,
) -> dict[str, Any]:
    """A Job with (type, reason, message) conditions, all True."""
    status: dict[str, Any] = {
        "conditions": [
            {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": "2026-01-01T01:00:00Z"}
            for t, r, m in conditions
        ]
    }
    if completion_time:
        status["completionTime"] = completion_time
    if active:
        status["active"] = active
    return {"metadata": {"name": "sick", "namespace": "ml"}, "spec": {"suspend": suspend}, "status": status}


def pod(
    name: str = "sick-abc",
    phase: str = "Pending",
    created: str = "2026-01-01T00:00:01Z",
    *,
    running_since: str | None = None,
    terminated: dict[str, Any] | None = None,
    waiting: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A trainer pod in one state."""
    state: dict[str, Any] = {}
    if running_since:
        state["running"] = {"startedAt": running_since}
    if terminated is not None:
        state["terminated"] = terminated
    if waiting is not None:
        state["waiting"] = waiting
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions or [],
        "containerStatuses": [{"name": "trainer", "state": state}] if state else [],
    }
    if reason:
        status["reason"] = reason
    return {
        "metadata": {
            "name": name,
            "namespace": "ml",
            "creationTimestamp": created,
            "labels": {"stjob.dev/job-name": "sick"},
        },
        "status": status,
    }
