"""The committed CRD is generated from the models, structural, valid and small."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import yaml

from stjob.crd import CRD_FILE, build_crd, render_crd
from tests.support.crd_layer import ROOT, root_schema


def test_committed_crd_has_not_drifted() -> None:
    committed = (ROOT / CRD_FILE).read_text()
    assert committed == render_crd(), "crds/ is stale: run `make crd`"


def test_crd_is_small_enough() -> None:
    assert len(render_crd().encode()) < 256 * 1024


def test_crd_passes_kubernetes_validate() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.33.0", str(ROOT / CRD_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key in ("properties",):
            for name, sub in node.get(key, {}).items():
                out.extend(_walk(sub, f"{path}.{name}"))
        if isinstance(node.get("items"), dict):
            out.extend(_walk(node["items"], f"{path}[]"))
        if isinstance(node.get("additionalProperties"), dict):
            out.extend(_walk(node["additionalProperties"], f"{path}{{}}"))
    return out


def test_schema_is_structural() -> None:
    for path, node in _walk(root_schema()):
        assert "$ref" not in node, path
        assert "anyOf" not in node and "oneOf" not in node and "allOf" not in node, path
        assert "title" not in node, path
        if path and "x-kubernetes-preserve-unknown-fields" not in node:
            assert "type" in node, f"{path} has no type"
        assert node.get("default", "unset") is not None, f"{path} has a null default"


def test_every_spec_field_is_described() -> None:
    spec = root_schema()["properties"]["spec"]
    for path, node in _walk(spec, "spec"):
        if path.endswith(("[]", "}")):
            continue  # list items and map values are described by their field
        assert node.get("description"), f"{path} has no description (kubectl explain shows it)"


def test_identity_subresource_and_printer_columns() -> None:
    crd = build_crd()
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == "sentencetransformerjobs.stjob.dev"
    assert names["kind"] == "SentenceTransformerJob"
    assert names["plural"] == "sentencetransformerjobs"
    assert set(names["shortNames"]) == {"stj", "stjob"}
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Trainer"] == ".spec.trainer"
    assert columns["Phase"] == ".status.phase"
    assert columns["Progress"] == ".status.progress.percent"
    assert columns["Value"] == ".status.metrics.primaryMetricValue"
    assert columns["Baseline"] == ".status.evaluation.baseline"
    assert columns["Delta"] == ".status.evaluation.delta"
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_cli_crd_prints_the_committed_crd() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stjob.cli", "crd"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout == (ROOT / CRD_FILE).read_text()
    assert yaml.safe_load(result.stdout)["kind"] == "CustomResourceDefinition"
