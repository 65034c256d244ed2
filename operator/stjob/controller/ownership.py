"""Pure checks for children that already exist: ours, adoptable, or somebody else's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stjob.errors import StjobError

#: Fields the operator keeps in line on an existing child, by kind. A Job's pod template is immutable,
#: and a RoleBinding's roleRef too: those are never patched.
_SYNCED_FIELDS: dict[str, tuple[str, ...]] = {"ConfigMap": ("data",), "Role": ("rules",)}


class ChildConflictError(StjobError):
    """A child's name is taken by an object another controller owns."""

    reason = "ChildConflict"


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference with ``controller: true``, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def adoption_patch(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that makes ``existing`` ours and current ({} when it already is).

    Raises ChildConflictError when another object controls it: adopting it would steal it.
    """
    want_owner = desired["metadata"]["ownerReferences"][0]
    meta = existing.get("metadata", {})
    owner = controller_of(existing)
    if owner is not None and owner.get("uid") != want_owner["uid"]:
        raise ChildConflictError(
            f"{desired['kind']} {meta.get('name')} already exists and belongs to "
            f"{owner.get('kind')} {owner.get('name')} (uid {owner.get('uid')})"
        )
    patch: dict[str, Any] = {}
    labels = dict(meta.get("labels") or {})
    if any(labels.get(key) != value for key, value in desired["metadata"]["labels"].items()):
        patch.setdefault("metadata", {})["labels"] = desired["metadata"]["labels"]
    if owner is None:
        refs = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != want_owner["uid"]]
        patch.setdefault("metadata", {})["ownerReferences"] = [*refs, want_owner]
    for field in _SYNCED_FIELDS.get(desired["kind"], ()):
        if existing.get(field) != desired.get(field):
            patch[field] = desired.get(field)
    return patch
