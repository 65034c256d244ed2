"""Sample SentenceTransformerJobs built from docs/contracts.md's "Status semantics" table."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("Pending", "Queued", "Running", "Suspended", "Succeeded", "Failed")
NOW = "2026-11-27T12:00:00Z"

Resource = dict[str, Any]


def contract_conditions() -> dict[str, list[tuple[str, str]]]:
    """{phase: [(condition type, status), ...]} parsed from the contract's status table."""
    text = (ROOT / "docs" / "contracts.md").read_text()
    table: dict[str, list[tuple[str, str]]] = {}
    for phase, conditions in re.findall(r"^\| (\w+) \| [^|]+ \| ([^|]+) \|$", text, re.M):
        if phase in PHASES:
            table[phase] = re.findall(r"\b(\w+)=(True|False)\b", conditions)
    assert set(table) == set(PHASES), f"status table not found in docs/contracts.md: {sorted(table)}"
    return table


def resource(
    phase: str | None,
    *,
    generation: int = 1,
    observed: int | None = 1,
    reason: str | None = None,
    message: str = "",
    extra_status: dict[str, Any] | None = None,
) -> Resource:
    """A SentenceTransformerJob whose status follows the contract for `phase` (None: no status yet)."""
    obj: Resource = {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": {"name": "sick-similarity", "namespace": "ml", "generation": generation},
        "spec": {"trainer": "pair_score"},
    }
    if phase is None:
        return obj
    conditions = [
        {
            "type": ctype,
            "status": cstatus,
            "reason": reason if (reason and ctype in ("Failed", "Stalled", "Ready")) else phase,
            "message": message,
            "lastTransitionTime": NOW,
            "observedGeneration": observed if observed is not None else generation,
        }
        for ctype, cstatus in contract_conditions()[phase]
    ]
    status: dict[str, Any] = {"phase": phase, "conditions": conditions}
    if observed is not None:
        status["observedGeneration"] = observed
    status.update(copy.deepcopy(extra_status or {}))
    obj["status"] = status
    return obj
