"""Generate the CustomResourceDefinition from the pydantic models.

pydantic's JSON Schema is close to what Kubernetes wants; this module turns it into a *structural*
openAPIV3Schema: ``$ref``s inlined, ``anyOf [X, null]`` turned into ``nullable``, titles dropped, object
defaults filled so the API server defaults nested fields, and the CEL rules kept where the models put them.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from stjob.api.resource import GROUP, KIND, LIST_KIND, MAX_NAME_LENGTH, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from stjob.api.spec import SentenceTransformerJobSpec, immutability_rule
from stjob.api.status import SentenceTransformerJobStatus

CRD_NAME = f"{PLURAL}.{GROUP}"
CRD_FILE = "crds/stjob.dev_sentencetransformerjobs.yaml"

# JSON Schema keys that a CRD schema does not accept (or that we do not want in `kubectl explain`).
_DROP_KEYS = {"title", "$defs", "examples", "discriminator", "const"}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Trainer", "type": "string", "jsonPath": ".spec.trainer"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Progress", "type": "integer", "jsonPath": ".status.progress.percent", "description": "Percent done"},
    {"name": "Metric", "type": "string", "jsonPath": ".status.metrics.primaryMetric", "priority": 1},
    {"name": "Value", "type": "number", "jsonPath": ".status.metrics.primaryMetricValue"},
    # The evaluation report (status.evaluation): did fine-tuning help the primary metric, and by how much.
    {
        "name": "Baseline",
        "type": "number",
        "jsonPath": ".status.evaluation.baseline",
        "description": "The base model's primary metric",
        "priority": 1,
    },
    {
        "name": "Delta",
        "type": "number",
        "jsonPath": ".status.evaluation.delta",
        "description": "The primary metric, fine-tuned minus base model",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve ``$ref``s recursively (a CRD schema cannot contain references)."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        # Field-level keys (description, default) win over the referenced model's own.
        rest = {k: v for k, v in node.items() if k != "$ref"}
        target.update(rest)
        return _inline(target, defs)
    return {k: _inline(v, defs) for k, v in node.items()}


def _structural(node: Any) -> Any:
    """Rewrite one inlined pydantic schema node into a structural Kubernetes schema node."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in _DROP_KEYS}
    if "anyOf" in node:
        options = node.pop("anyOf")
        non_null = [o for o in options if o.get("type") != "null"]
        if len(non_null) != 1:
            raise ValueError(f"cannot express anyOf {options} structurally")
        merged = dict(non_null[0])
        merged.update(node)
        # No `nullable`: optional fields are absent, never null. The server then prunes an explicit null
        # before validation (as pydantic reads it as unset), and CEL rules test presence with has().
        node = {k: v for k, v in merged.items() if k not in _DROP_KEYS}
    # OpenAPI v3.0 (what Kubernetes speaks) has boolean exclusive bounds next to minimum/maximum.
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    if node.get("default", "unset") is None:
        del node["default"]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    if node.get("type") == "object":
        props = node.get("properties")
        if props is None and "additionalProperties" in node:
            extra = node["additionalProperties"]
            if extra is True or extra == {}:
                node.pop("additionalProperties")
                node["x-kubernetes-preserve-unknown-fields"] = True
        elif props is None:
            node["x-kubernetes-preserve-unknown-fields"] = True
        else:
            node.pop("additionalProperties", None)
            required = set(node.get("required", []))
            for key, prop in props.items():
                # Default nested objects to {} so the API server fills their fields' defaults too.
                if key not in required and "default" not in prop and _is_object(prop):
                    prop["default"] = {}
    for key in ("properties",):
        if key in node:
            node[key] = {k: _structural(v) for k, v in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _structural(node[key])
    return node


def _is_object(prop: dict[str, Any]) -> bool:
    if prop.get("type") == "object" and "properties" in prop:
        return True
    return any(o.get("type") == "object" and "properties" in o for o in prop.get("anyOf", []))


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    """The structural openAPIV3Schema for one pydantic model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    result: dict[str, Any] = _structural(_inline(raw, defs))
    return result


def build_crd() -> dict[str, Any]:
    """The complete CustomResourceDefinition for SentenceTransformerJob."""
    spec_schema = openapi_schema(SentenceTransformerJobSpec)
    spec_schema.setdefault("x-kubernetes-validations", []).append(immutability_rule())
    status_schema = openapi_schema(SentenceTransformerJobStatus)
    status_schema["properties"]["kopf"]["x-kubernetes-preserve-unknown-fields"] = True
    status_schema["properties"]["conditions"].update(
        {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
    )
    root = {
        "type": "object",
        "description": "Fine-tunes a Sentence Transformer embedding model on a dataset, as a Kubernetes Job.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            # The server allows restrictions on name and generateName only (no rules on metadata itself).
            "metadata": {
                "type": "object",
                "properties": {
                    "name": {
                        "type": "string",
                        "maxLength": MAX_NAME_LENGTH,
                        "description": f"At most {MAX_NAME_LENGTH} characters: child object names add a suffix.",
                    }
                },
            },
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "stjob", "app.kubernetes.io/part-of": "stjob"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": LIST_KIND,
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["all", "ml"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the YAML committed in ``crds/`` (stable key order, so drift shows as a diff)."""
    header = "# Generated by `stjob crd` from operator/stjob/api (pydantic). Do not edit by hand.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=120, allow_unicode=True)
