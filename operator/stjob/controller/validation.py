"""Validate a resource's spec with the API models, reporting fields in the user's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from stjob.api import SentenceTransformerJobSpec
from stjob.errors import SpecError, validation_problems


def describe(error: ValidationError, prefix: str = "spec") -> list[tuple[str, str]]:
    """(field, problem) per error, with camelCase paths as the user wrote them."""
    return validation_problems(error, prefix)


def validate_spec(raw: Mapping[str, Any] | None) -> SentenceTransformerJobSpec:
    """The validated spec; raises SpecError naming the first bad field (and listing any others)."""
    try:
        return SentenceTransformerJobSpec.model_validate(dict(raw or {}))
    except ValidationError as exc:
        (field, problem), *others = describe(exc)
        more = "".join(f"; {other_field}: {other_problem}" for other_field, other_problem in others)
        raise SpecError(field, problem + more) from None
