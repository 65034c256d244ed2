"""The committed CRD on Kubernetes 1.36's real CRD server: created, defaulting, validation, immutability.

The server is the authority: CEL compiled and cost-checked by the real compiler, the structural-schema
checks, null pruning, defaulting, then validation. Each case below is also checked with pydantic, and
both layers must name the same field.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stjob.api import API_VERSION, GROUP, PLURAL, VERSION, SentenceTransformerJob
from stjob.api.autotrain import AUTOTRAIN_PARAMS, get_path
from stjob.api.resource import dump_spec
from stjob.api.spec import MAX_PATH_LENGTH
from tests.api.resources import BASE, EXAMPLES, INVALID, pydantic_fields, with_spec
from tests.api.test_defaults import RECIPE_FILLED, SEED_DEFAULTS, expected_default
from tests.support.kube_cluster import CrdServer


class Server:
    """Custom-object calls against one namespace of the CRD server, answering in plain dicts."""

    def __init__(self, crd_server: CrdServer, namespace: str) -> None:
        import kubernetes

        self.api = kubernetes.client.CustomObjectsApi(crd_server.admin_client())
        self.namespace = namespace

    def create(self, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, obj, field_validation="Strict", dry_run="All" if dry_run else None
        )
        return result

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return result

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.api.replace_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, obj["metadata"]["name"], obj, field_validation="Strict"
        )
        return result

    def patch_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, name, {"status": status}
        )
        return result

    def rejected_fields(self, obj: dict[str, Any]) -> set[str]:
        """The fields the server names when it refuses ``obj`` (dry run); empty when it accepts it."""
        import kubernetes

        try:
            self.create(obj, dry_run=True)
        except kubernetes.client.ApiException as exc:
            return fields_of(exc)
        return set()


def fields_of(exc: Any) -> set[str]:
    """Field paths from a refusal: the Status causes, and the unknown fields of a strict decoding error."""
    assert exc.status in (400, 422), f"not a validation refusal: {exc.status} {exc.body}"
    body = json.loads(exc.body)
    fields = {c["field"] for c in body.get("details", {}).get("causes", []) if c.get("field")}
    fields |= set(re.findall(r'unknown field "([^"]+)"', body.get("message", "")))
    assert fields, body
    return fields


@pytest.fixture
def server(crd_server: CrdServer, crd_namespace: str) -> Server:
    return Server(crd_server, crd_namespace)


def named(obj: dict[str, Any], name: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"] = {"name": name}
    return obj


def test_committed_crd_is_created_with_every_rule(crd_server: CrdServer, committed_crd: dict[str, Any]) -> None:
    import kubernetes

    ext = kubernetes.client.ApiextensionsV1Api(crd_server.admin_client())
    stored = crd_server.admin_client().sanitize_for_serialization(
        ext.read_custom_resource_definition(committed_crd["metadata"]["name"])
    )
    schema = stored["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    committed = committed_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _rules(schema) == _rules(committed) and len(_rules(committed)) >= 10


def _rules(node: Any) -> list[str]:
    if isinstance(node, list):
        return [r for item in node for r in _rules(item)]
    if not isinstance(node, dict):
        return []
    own = [rule["rule"] for rule in node.get("x-kubernetes-validations", [])]
    return own + [r for key, value in node.items() if key != "x-kubernetes-validations" for r in _rules(value)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_stored_as_stjob_validate_resolves_it(server: Server, path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    stored = server.create(named(doc, path.stem.replace("_", "-")))
    assert stored["spec"] == dump_spec(SentenceTransformerJob.model_validate(doc).spec)


def test_server_defaults_equal_pydantic_defaults(server: Server) -> None:
    stored = server.create(named(BASE, "defaults"))
    assert stored["spec"] == dump_spec(SentenceTransformerJob.model_validate(BASE).spec)
    # AutoTrain's default trainer (pair_score) needs a target column, which BASE sets: the pair trainer
    # shows the target's default (unset) instead.
    pair = server.create(named(with_spec(trainer="pair", data__columns={}), "defaults-pair"))
    for name in SEED_DEFAULTS:
        spec = pair["spec"] if name == "target_column" else stored["spec"]
        if name in RECIPE_FILLED:  # no server default: the stored value stays unset, the recipe resolves it
            assert get_path(spec, AUTOTRAIN_PARAMS[name].path) is None, name
            resolved = SentenceTransformerJob.model_validate({**BASE, "spec": spec}).spec.hyperparameters
            assert resolved.value(AUTOTRAIN_PARAMS[name].path) == expected_default(name), name
            continue
        assert get_path(spec, AUTOTRAIN_PARAMS[name].path) == expected_default(name), name


def test_explicit_nulls_mean_unset_in_both_layers(server: Server) -> None:
    obj = named(BASE, "nulls")
    obj["spec"]["training"] = {"epochs": None, "seed": None, "earlyStopping": {"enabled": None}}
    obj["spec"]["output"] = {"volume": None, "hub": None}
    stored = server.create(obj)
    assert stored["spec"] == dump_spec(SentenceTransformerJob.model_validate(obj).spec)
    assert stored["spec"]["training"]["seed"] == 42  # a null is pruned, then defaulted
    # epochs has no server default (the recipe fills it): unset, and the default recipe resolves it to 3.
    assert "epochs" not in stored["spec"]["training"]
    assert SentenceTransformerJob.model_validate(obj).spec.hyperparameters.epochs == 3


@pytest.mark.parametrize(("obj", "field"), [(o, f) for _, o, f in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_resource_is_refused_naming_the_same_field(server: Server, obj: dict[str, Any], field: str) -> None:
    assert pydantic_fields(obj) == {field}
    assert field in server.rejected_fields(obj)


def test_metadata_name_too_long(server: Server) -> None:
    obj = named(BASE, "x" * 53)
    assert pydantic_fields(obj) == {"metadata.name"}
    assert "metadata.name" in server.rejected_fields(obj)


def test_largest_lists_fit_the_cel_cost_budget(server: Server) -> None:
    """Every bounded list and map at its maximum, the longest strings: accepted by both layers."""
    obj = named(BASE, "largest")
    long = "a" * 1000
    obj["spec"]["scheduling"] = {
        "tolerations": [{"key": f"k{i}", "operator": "Exists"} for i in range(64)],
        "nodeSelector": {f"label-{i}": long for i in range(64)},
    }
    obj["spec"]["imagePullSecrets"] = [{"name": f"s{i}"} for i in range(16)]
    obj["spec"]["loss"] = {"matryoshkaDimensions": list(range(384, 368, -1))}
    longest_path = "/".join([long] * 4).ljust(MAX_PATH_LENGTH, "b")
    obj["spec"]["data"]["path"] = longest_path
    obj["spec"]["output"] = {"volume": {"claimName": "m", "subPath": longest_path}}
    assert pydantic_fields(obj) == set()
    assert server.rejected_fields(obj) == set()
    too_many = copy.deepcopy(obj)
    too_many["spec"]["scheduling"]["tolerations"].append({"key": "one-more"})
    assert pydantic_fields(too_many) == {"spec.scheduling.tolerations"}
    assert "spec.scheduling.tolerations" in server.rejected_fields(too_many)


@pytest.mark.parametrize(
    ("change", "allowed"),
    [
        ({"suspend": True}, True),
        ({"training": {"learningRate": 1e-4}}, False),
        ({"trainer": "pair_class"}, False),
        ({"queueName": "other"}, False),
        ({"image": "example.com/trainer:2"}, False),
        ({"data": {"path": "other", "columns": {"target": "score"}}}, False),
    ],
)
def test_spec_is_immutable_except_suspend(server: Server, change: dict[str, Any], allowed: bool) -> None:
    import kubernetes

    stored = server.create(named(BASE, "immutable"))
    updated = copy.deepcopy(stored)
    updated["spec"].update(change)
    if allowed:
        assert server.replace(updated)["spec"]["suspend"] is True
        return
    with pytest.raises(kubernetes.client.ApiException) as refused:
        server.replace(updated)
    assert refused.value.status == 422
    assert "spec is immutable after creation except spec.suspend" in refused.value.body


def test_status_written_by_operator_and_trainer_survives_pruning(server: Server) -> None:
    server.create(named(BASE, "status"))
    status = {
        "phase": "Running",
        "observedGeneration": 1,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Training", "message": "", "lastTransitionTime": "t"}
        ],
        "progress": {"step": 10, "totalSteps": 100, "percent": 10, "samplesPerSecond": 12.5},
        "metrics": {"trainLoss": 0.5, "primaryMetric": "eval_spearman_cosine", "primaryMetricValue": 0.8},
        "output": {"modelPath": "/output/x"},
        "evaluation": {"primaryMetric": "spearman_cosine", "baseline": 0.7, "final": 0.65, "delta": -0.05},
    }
    stored = server.patch_status("status", {**status, "junk": 1})
    assert stored["status"] == status
    assert stored["apiVersion"] == API_VERSION


# ------------------------------------------------------------------ both layers over generated specs


def _leaves(schema: dict[str, Any], path: str = "") -> list[str]:
    """Dotted paths of the scalar fields under a schema node (list items and maps left out)."""
    if schema.get("type") == "object":
        return [leaf for key, sub in schema.get("properties", {}).items() for leaf in _leaves(sub, f"{path}.{key}")]
    return [path.lstrip(".")] if schema.get("type") in ("string", "integer", "number", "boolean") else []


def _spec_schema() -> dict[str, Any]:
    from stjob.crd import build_crd

    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


SPEC_LEAVES = _leaves(_spec_schema())


def _rule_fields(schema: dict[str, Any], path: str) -> set[str]:
    """Absolute field paths that cross-field rules name (``spec.data.columns.target``, ...)."""
    found = {path + rule.get("fieldPath", "") for rule in schema.get("x-kubernetes-validations", [])}
    for key, sub in schema.get("properties", {}).items():
        found |= _rule_fields(sub, f"{path}.{key}")
    return found


RULE_FIELDS = _rule_fields(_spec_schema(), "spec")
SKIPPED_RULES = "<nil>"
# Values that typing, bounds and rules treat differently: numbers of each JSON type, numeric and boolean
# strings, the options' own spellings, empty and hostile strings, null, containers where scalars belong.
PROBES: list[Any] = [
    0, 1, -1, 3, 2**40, 1.0, 1.5, -0.1, 3e-5, float(2**33),
    "3", "1.0", "true", "yes", "", "x", "16Gi", "500m", "fp16", "triplet", "pair_class", "Exists",
    "CachedMultipleNegativesRankingLoss", "reranker", "embedding", "BinaryCrossEntropyLoss",
    "../x", "/abs", "hf://a/b", "s3://a", "a" * 300,
    "file:/etc/passwd", "hf://datasets/a/b", "hf://datasets/../..", "glue:mrpc", "owner/name:cfg", "${HF_USERNAME}",
    True, False, None, [], {},
]  # fmt: skip


def as_kubectl_sends(obj: Any) -> Any:
    """The object as kubectl encodes it: Go's JSON writes a whole float (``nodes: 1.0`` in YAML) as ``1``.

    (A client that sends ``1.0`` itself gets a schema pass but a CEL error, "expected int, got float64",
    from every rule that reads the field: the one place where the server is stricter than pydantic.)"""
    if isinstance(obj, dict):
        return {key: as_kubectl_sends(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [as_kubectl_sends(value) for value in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


def _set(obj: dict[str, Any], dotted: str, value: Any) -> None:
    node = obj["spec"]
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        node[part] = child = child if isinstance(child, dict) else {}
        node = child
    node[leaf] = value


def test_both_layers_accept_and_reject_the_same_generated_specs(server: Server) -> None:
    """Random single- and multi-field changes to a valid resource: the server and pydantic agree on each."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    disagreements: list[str] = []
    verdicts = {"accepted": 0, "rejected": 0}
    change = st.tuples(st.sampled_from(SPEC_LEAVES), st.sampled_from(PROBES))

    @settings(max_examples=800, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.lists(change, min_size=1, max_size=3))
    def check(changes: list[tuple[str, Any]]) -> None:
        obj = named(BASE, "generated")
        for dotted, value in changes:
            _set(obj, dotted, value)
        ours, theirs = pydantic_fields(obj), server.rejected_fields(as_kubectl_sends(obj))
        verdicts["rejected" if theirs else "accepted"] += 1
        # Both must accept, or both reject naming the same fields. Cross-field rules are the exception:
        # when some field is invalid, the server may skip rules (a cause without a field, "<nil>") or
        # evaluate rules pydantic skips (pydantic runs a model's rules only when its fields are valid).
        ours_fields, their_fields = ours - RULE_FIELDS, theirs - RULE_FIELDS - {SKIPPED_RULES}
        if bool(ours) != bool(theirs) or ours_fields != their_fields:
            disagreements.append(f"{changes}: pydantic {sorted(ours)} vs server {sorted(theirs)}")

    check()
    assert not disagreements, "\n".join(disagreements[:20])
    assert min(verdicts.values()) >= 40, verdicts  # both verdicts well represented


def test_printer_columns_show_the_evaluation_report(server: Server) -> None:
    """``kubectl get`` (a Table from the server): Value is the final primary metric, Delta what training added."""
    server.create(named(BASE, "report"))
    evaluation = {"primaryMetric": "spearman_cosine", "baseline": 0.798, "final": 0.8359, "delta": 0.0379}
    server.patch_status(
        "report", {"phase": "Succeeded", "metrics": {"primaryMetricValue": 0.8359}, "evaluation": evaluation}
    )
    client = server.api.api_client
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{server.namespace}/{PLURAL}/report"
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    client.update_params_for_auth(headers, None, ["BearerToken"], "GET", path, None)
    response = client.call_api("GET", client.configuration.host + path, header_params=headers)
    table = json.loads(response.read())
    names = [c["name"] for c in table["columnDefinitions"]]
    cells = dict(zip(names, table["rows"][0]["cells"], strict=True))
    assert (cells["Phase"], cells["Value"], cells["Baseline"], cells["Delta"]) == ("Succeeded", 0.8359, 0.798, 0.0379)
    wide_only = {c["name"] for c in table["columnDefinitions"] if c.get("priority", 0) > 0}
    assert "Baseline" in wide_only and "Delta" not in wide_only
