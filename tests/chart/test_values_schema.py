"""values.schema.json rejects unknown and mistyped values: `helm template` fails and names the value."""

from __future__ import annotations

import json

import pytest

from tests.chart.rendering import CHART, run_helm, template_args

BAD_VALUES = {
    "unknown top-level key": (["--set", "replicas=1"], "additional properties 'replicas' not allowed"),
    "replicaCount of the wrong type": (["--set", "replicaCount=one"], "/replicaCount"),
    "eleven operator replicas": (["--set", "replicaCount=11"], "/replicaCount"),
    "unknown nested key": (["--set", "metrics.serviceMonitor.intervall=10s"], "additional properties 'intervall'"),
    "negative port": (["--set", "metrics.port=-1"], "/metrics/port"),
    "port out of range": (["--set", "health.port=70000"], "/health/port"),
    "bad pullPolicy enum": (["--set", "image.pullPolicy=Sometimes"], "/image/pullPolicy"),
    "bad trainer pullPolicy enum": (["--set", "trainer.image.pullPolicy=always"], "/trainer/image/pullPolicy"),
    "watchNamespaces not a list": (["--set", "watchNamespaces=ml"], "/watchNamespaces"),
    "watchNamespaces entry not a namespace name": (["--set", "watchNamespaces[0]=ML_Team"], "/watchNamespaces/0"),
    "bad logFormat": (["--set", "logFormat=yaml"], "/logFormat"),
    "crds.install not a boolean": (["--set-string", "crds.install=yes"], "/crds/install"),
    "bad digest": (["--set", "image.digest=latest"], "/image/digest"),
    "bad duration": (["--set", "metrics.prometheusRule.pendingFor=30 minutes"], "/metrics/prometheusRule/pendingFor"),
    "unknown resources key": (["--set", "resources.request.cpu=1"], "additional properties 'request'"),
}


@pytest.mark.parametrize("args,message", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_are_rejected(args: list[str], message: str) -> None:
    result = run_helm(*template_args(*args))
    assert result.returncode != 0, "helm template accepted bad values"
    assert message in result.stderr, result.stderr


def test_schema_forbids_additional_properties_on_every_object() -> None:
    """Every object with declared properties is closed; open maps declare what their values are."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node and node.get("properties"):
                open_objects.append(path or "/")
            for key, sub in node.items():
                walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for index, sub in enumerate(node):
                walk(sub, f"{path}/{index}")

    walk(schema, "")
    assert schema["additionalProperties"] is False
    assert not open_objects, open_objects


def test_schema_covers_exactly_the_values_in_values_yaml() -> None:
    import yaml

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing: list[str] = []

    def walk(node: dict[str, object], schema_node: dict[str, object], path: str) -> None:
        properties = schema_node.get("properties", {})
        assert isinstance(properties, dict)
        for key, value in node.items():
            if key not in properties:
                missing.append(path + key)
            elif isinstance(value, dict) and properties[key].get("properties"):
                walk(value, properties[key], f"{path}{key}.")

    walk(values, schema, "")
    assert not missing, f"values.yaml keys the schema does not declare: {missing}"
