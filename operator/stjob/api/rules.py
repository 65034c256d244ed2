"""Cross-field validation rules, each declared once with both of its forms.

A ``Rule`` holds the CEL expression the API server evaluates (``x-kubernetes-validations`` in the
generated CRD), the Python check pydantic runs (``stjob validate``, the operator, the trainer), the
one message both layers report, and the field it names. ``RuledModel`` turns a class's ``RULES`` into
both: a model validator and the schema's ``x-kubernetes-validations``. ``tests/kube`` proves on a real
Kubernetes 1.36 CRD server that the two forms accept and reject the same resources.

CEL conventions that the real server enforces (and a Python CEL library does not):
- optional fields are *absent*, never null (the generated schema has no ``nullable``; the server prunes
  explicit nulls before validation), so presence is ``has(self.x)``, never ``self.x != null``;
- a rule is also evaluated against its object's ``default`` (``{}``), where nested defaults are not
  filled in: guard every path that a default may lack with ``has()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from stjob.errors import RULE_ERROR

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rule(Generic[M]):
    """One cross-field rule: ``check(model)`` and ``cel`` are true exactly when the object is valid."""

    cel: str
    check: Callable[[M], bool]
    message: str
    field: str
    reason: str | None = None

    def as_validation(self) -> dict[str, Any]:
        """The rule in the shape of one ``x-kubernetes-validations`` entry."""
        out: dict[str, Any] = {"rule": self.cel, "message": self.message, "fieldPath": self.field}
        if self.reason:
            out["reason"] = self.reason
        return out


def validations(rules: Iterable[Rule[Any]]) -> list[dict[str, Any]]:
    """``x-kubernetes-validations`` for a list of rules."""
    return [rule.as_validation() for rule in rules]


class RuledModel(BaseModel):
    """Mixin: a model whose ``RULES`` become both its Python validator and its CEL validations."""

    RULES: ClassVar[tuple[Rule[Any], ...]] = ()

    @model_validator(mode="after")
    def _apply_rules(self) -> Any:
        for rule in type(self).RULES:
            if not rule.check(self):
                # The error carries the rule's field, so both layers name the same one (see stjob.errors).
                raise PydanticCustomError(RULE_ERROR, "{message}", {"message": rule.message, "field": rule.field})
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        if cls.RULES:
            target["x-kubernetes-validations"] = validations(cls.RULES)
        return schema


def in_list(values: Iterable[str]) -> str:
    """A CEL list literal of strings."""
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"
