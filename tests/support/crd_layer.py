"""What the API server does with a SentenceTransformerJob, emulated offline from the generated CRD.

Kubernetes applies a CRD's openAPIV3Schema in this order: prune/strict field validation, defaulting,
schema validation, then CEL rules (transition rules only on updates). kmock does none of it, so tests
that need "would the API server accept this?" use these functions on the committed CRD.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import cel
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "stjob.dev_sentencetransformerjobs.yaml"


@cache
def crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())


def root_schema() -> dict[str, Any]:
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    """Structural defaulting: fill missing properties that have a default, recursively."""
    obj = copy.deepcopy(obj)
    if isinstance(obj, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj and obj[key] is not None:
                obj[key] = apply_defaults(sub, obj[key])
    elif isinstance(obj, list) and "items" in schema:
        obj = [apply_defaults(schema["items"], item) for item in obj]
    return obj


def prune(schema: dict[str, Any], obj: Any) -> Any:
    """Structural pruning: drop fields the schema does not declare (unless it preserves unknown fields)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or obj is None:
        return obj
    if isinstance(obj, dict) and "properties" in schema:
        return {k: prune(schema["properties"][k], v) for k, v in obj.items() if k in schema["properties"]}
    if isinstance(obj, list) and "items" in schema:
        return [prune(schema["items"], item) for item in obj]
    return obj


def _as_jsonschema(node: Any) -> Any:
    """OpenAPI v3.0 -> JSON Schema draft 4: nullable becomes a null type; unknown fields are errors
    (kubectl's default strict field validation)."""
    if isinstance(node, list):
        return [_as_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if node.get("type") == "object" and "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """openAPIV3Schema violations, as 'path: message'."""
    schema = _as_jsonschema(root_schema())
    validator = jsonschema.Draft4Validator(schema)
    errors = []
    for err in validator.iter_errors(obj):
        path = ".".join(str(p) for p in err.absolute_path)
        errors.append(f"{path}: {err.message}")
    return errors


def _cel_walk(schema: dict[str, Any], new: Any, old: Any, path: str, out: list[str]) -> None:
    for rule in schema.get("x-kubernetes-validations", []):
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        env = {"self": new, "oldSelf": old} if transition else {"self": new}
        try:
            ok = cel.evaluate(rule["rule"], env)
        except Exception as exc:  # an evaluation error rejects the object, as on the API server
            ok = False
            rule = {**rule, "message": f"{rule['message']} (evaluation error: {exc})"}
        if ok is not True:
            field = path + rule.get("fieldPath", "")
            out.append(f"{field}: {rule['message']}")
    if isinstance(new, dict) and "properties" in schema:
        for key, sub in schema["properties"].items():
            if key in new and new[key] is not None:
                old_child = old.get(key) if isinstance(old, dict) else None
                _cel_walk(sub, new[key], old_child, f"{path}.{key}", out)
    elif isinstance(new, list) and "items" in schema:
        for i, item in enumerate(new):
            _cel_walk(schema["items"], item, None, f"{path}[{i}]", out)


def cel_errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """CEL rule violations on a defaulted object (and transition rules when ``old`` is given)."""
    out: list[str] = []
    _cel_walk(root_schema(), obj, old, "", out)
    return out


def api_server_errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Everything the API server would reject, in its order: schema first, CEL on the defaulted object."""
    errors = schema_errors(obj)
    if errors:
        return errors
    schema = root_schema()
    new = apply_defaults(schema, obj)
    previous = apply_defaults(schema, old) if old is not None else None
    return cel_errors(new, previous)
