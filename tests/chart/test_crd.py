"""The chart's CRD is the generated one: a byte-identical copy, rendered with only the keep annotation added."""

from __future__ import annotations

import yaml

from tests.chart.rendering import CHART, ROOT, one, render, run_helm, template_args

CRD_NAME = "stjob.dev_sentencetransformerjobs.yaml"


def test_chart_crd_file_is_byte_identical_to_crds() -> None:
    chart_copy = (CHART / "files" / "crds" / CRD_NAME).read_bytes()
    assert chart_copy == (ROOT / "crds" / CRD_NAME).read_bytes(), "chart CRD is stale: run `make crd`"


def test_chart_has_no_crds_folder() -> None:
    """helm would install crds/ on its own, beyond the reach of `crds.install: false`."""
    assert not (CHART / "crds").exists()


def test_rendered_crd_is_the_generated_crd_plus_the_keep_annotation() -> None:
    rendered = one(render("default"), "CustomResourceDefinition")
    generated = yaml.safe_load((ROOT / "crds" / CRD_NAME).read_text())
    annotations = rendered["metadata"].pop("annotations")
    assert annotations == {"helm.sh/resource-policy": "keep"}
    assert rendered == generated


def test_crd_annotations_value_and_keep_false() -> None:
    result = run_helm(
        *template_args(
            "--show-only",
            "templates/crd.yaml",
            "--set",
            "crds.keep=false",
            "--set",
            "crds.annotations.argocd\\.argoproj\\.io/sync-options=Prune=false",
        )
    )
    assert result.returncode == 0, result.stderr
    crd = yaml.safe_load(result.stdout)
    assert crd["metadata"]["annotations"] == {"argocd.argoproj.io/sync-options": "Prune=false"}


def test_no_annotations_leaves_the_document_untouched() -> None:
    result = run_helm(*template_args("--show-only", "templates/crd.yaml", "--set", "crds.keep=false"))
    assert result.returncode == 0, result.stderr
    body = result.stdout.split("\n", 2)[2]  # drop "---" and "# Source: ..."
    assert body.strip() == (ROOT / "crds" / CRD_NAME).read_text().strip()


def test_no_crds_scenario_renders_no_crd() -> None:
    assert not [m for m in render("no-crds") if m["kind"] == "CustomResourceDefinition"]
