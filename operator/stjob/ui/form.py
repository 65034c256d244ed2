"""The submit form, generated from the spec's JSON schema (no hand-written field list).

Every scalar leaf of ``SentenceTransformerJobSpec`` becomes one input named by its dotted camelCase
path, with the schema's default, enum and description; lists and free-form maps are left to YAML
(``kubectl apply``). ui.js gathers the filled inputs into a spec and asks ``/api/validate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from stjob.api.spec import SentenceTransformerJobSpec

_SCALARS = ("string", "integer", "number", "boolean")


@dataclass(frozen=True)
class FormField:
    path: str  # spec.data.path -> "data.path"
    kind: str  # string, integer, number, boolean, enum
    default: Any
    description: str
    options: tuple[str, ...] = ()


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _walk(node: dict[str, Any], defs: dict[str, Any], prefix: str, out: list[FormField], depth: int) -> None:
    for name, raw in (node.get("properties") or {}).items():
        prop = _resolve(raw, defs)
        variants = [_resolve(v, defs) for v in prop.get("anyOf", [prop]) if v.get("type") != "null"]
        if len(variants) != 1:
            continue  # a union of shapes: YAML only
        leaf = {**variants[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
        path = f"{prefix}{name}"
        description = str(prop.get("description") or leaf.get("description") or "")
        if "properties" in leaf and depth < 4:
            _walk(leaf, defs, path + ".", out, depth + 1)
        elif "enum" in leaf:
            options = tuple(str(v) for v in leaf["enum"])
            out.append(FormField(path, "enum", leaf.get("default"), description, options))
        elif leaf.get("type") in _SCALARS:
            out.append(FormField(path, str(leaf["type"]), leaf.get("default"), description))


def form_fields() -> list[FormField]:
    """The spec's scalar fields in schema order."""
    schema = SentenceTransformerJobSpec.model_json_schema(by_alias=True)
    out: list[FormField] = []
    _walk(schema, schema.get("$defs") or {}, "", out, 0)
    return out


def _input(field: FormField) -> str:
    path, default = escape(field.path), field.default
    attrs = f'name="{path}" data-path="{path}" data-kind="{escape(field.kind)}" id="f-{path}"'
    if field.kind == "boolean":
        return f'<input type=checkbox {attrs}{" checked" if default else ""} data-default="{bool(default)}">'
    if field.kind == "enum":
        options = "".join(
            f"<option{' selected' if o == str(default) else ''}>{escape(o)}</option>"
            for o in ("" if default is None else None, *field.options)
            if o is not None
        )
        return f"<select {attrs}>{options}</select>"
    kind = "number" if field.kind in ("integer", "number") else "text"
    step = ' step="any"' if field.kind == "number" else ""
    placeholder = "" if default is None else escape(str(default))
    return f'<input type={kind}{step} {attrs} placeholder="{placeholder}">'


def form_html(fields: list[FormField]) -> str:
    """Fieldsets per top-level key; each input labelled by its path, its description as help text."""
    groups: dict[str, list[FormField]] = {}
    for field in fields:
        groups.setdefault(field.path.split(".")[0], []).append(field)
    parts = []
    for group, members in groups.items():
        rows = "".join(
            f'<label for="f-{escape(f.path)}">{escape(f.path)}</label>{_input(f)}<small>{escape(f.description)}</small>'
            for f in members
        )
        parts.append(f"<fieldset><legend>{escape(group)}</legend>{rows}</fieldset>")
    return "".join(parts)
