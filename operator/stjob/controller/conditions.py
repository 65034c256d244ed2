"""metav1.Condition helpers: lastTransitionTime moves only when a condition's status changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stjob.api.status import ConditionStatus, ConditionType


@dataclass(frozen=True)
class DesiredCondition:
    """A condition as the status logic wants it, before timestamps."""

    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str = ""


def find(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    """The condition of that type, or None."""
    for condition in conditions or ():
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> bool:
    """Whether the condition exists with status True."""
    found = find(conditions, type_)
    return found is not None and found.get("status") == "True"


def merge(
    current: Sequence[Mapping[str, Any]] | None,
    desired: Iterable[DesiredCondition],
    now: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """The new condition list: desired order, old lastTransitionTime kept where status is unchanged."""
    merged = []
    for want in desired:
        old = find(current, want.type)
        changed = old is None or old.get("status") != want.status
        condition: dict[str, Any] = {
            "type": want.type,
            "status": want.status,
            "reason": want.reason,
            "message": want.message,
            "lastTransitionTime": now if changed or old is None else old.get("lastTransitionTime", now),
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        merged.append(condition)
    return merged
