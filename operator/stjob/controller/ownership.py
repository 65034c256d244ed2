"""Pure checks for children that already exist: ours, or in the way.

The operator never takes over an object it did not create (no adoption of orphans): adopting needs
``patch`` on ConfigMaps, Services, ServiceAccounts and RBAC objects in every namespace, which a
least-privilege operator does not hold, and an object of the same name made by someone else may hold
anything. A child in the way is reported on the resource instead (``ChildConflict``), or waited for
when it belongs to an earlier resource of the same name that the garbage collector is removing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stjob.api import KIND
from stjob.errors import StjobError


class ChildConflictError(StjobError):
    """A child's name is taken by an object this resource does not control."""

    reason = "ChildConflict"

    def __init__(self, message: str, *, previous_incarnation: bool = False) -> None:
        super().__init__(message)
        #: The object belongs to an earlier resource of the same name: the garbage collector removes it soon.
        self.previous_incarnation = previous_incarnation


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference with ``controller: true``, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def is_controlled_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether ``obj``'s controller reference points at the object with this uid."""
    owner = controller_of(obj)
    return owner is not None and owner.get("uid") == uid


def check_existing(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> None:
    """Accept ``existing`` as the ``desired`` child when this resource controls it; else ChildConflictError."""
    want = desired["metadata"]["ownerReferences"][0]
    if is_controlled_by(existing, str(want["uid"])):
        return
    name = existing.get("metadata", {}).get("name")
    owner = controller_of(existing)
    if owner is None:
        raise ChildConflictError(
            f"{desired['kind']} {name} already exists and is not owned by this job; "
            "delete it (or rename the job) and the operator creates its own"
        )
    previous = owner.get("kind") == KIND and owner.get("name") == want["name"]
    if previous:
        raise ChildConflictError(
            f"{desired['kind']} {name} still belongs to the previous {KIND} {want['name']} "
            f"(uid {owner.get('uid')}); waiting for the garbage collector to remove it",
            previous_incarnation=True,
        )
    raise ChildConflictError(
        f"{desired['kind']} {name} already exists and belongs to "
        f"{owner.get('kind')} {owner.get('name')} (uid {owner.get('uid')})"
    )
