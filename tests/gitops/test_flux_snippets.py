"""The Flux snippets parse, point at the chart, and their CEL health expressions agree with the phases."""

from __future__ import annotations

import re
from typing import Any

import cel
import pytest
import yaml

from tests.gitops.sample_statuses import PHASES, ROOT, SAMPLES, no_status_yet, phase_of

FLUX = ROOT / "gitops" / "flux"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FLUX / name).read_text()) if d]


def _exprs() -> dict[str, str]:
    (kustomization,) = _docs("training-kustomization.yaml")
    (check,) = kustomization["spec"]["healthCheckExprs"]
    assert (check["apiVersion"], check["kind"]) == ("stjob.dev/v1alpha1", "SentenceTransformerJob")
    return {k: v for k, v in check.items() if k in ("inProgress", "failed", "current")}


def _verdicts(obj: dict[str, Any]) -> set[str]:
    return {name for name, expr in _exprs().items() if cel.evaluate(expr, obj) is True}


EXPECTED = {
    "Pending": {"inProgress"},
    "Queued": {"inProgress"},
    "Running": {"inProgress"},
    "Suspended": {"current"},
    "Succeeded": {"current"},
    "Failed": {"failed"},
}


@pytest.mark.parametrize("name", SAMPLES)
def test_health_check_exprs_over_the_operators_status(name: str) -> None:
    phase = phase_of(SAMPLES[name])
    assert phase in PHASES
    assert _verdicts(SAMPLES[name]) == EXPECTED[phase]


def test_no_status_yet_matches_nothing() -> None:
    assert _verdicts(no_status_yet() | {"status": {}}) == set()


def test_helm_release_points_at_the_chart() -> None:
    repository, release = _docs("helmrelease.yaml")
    assert repository["kind"] == "GitRepository" and release["kind"] == "HelmRelease"
    chart = release["spec"]["chart"]["spec"]
    assert (ROOT / chart["chart"]).joinpath("Chart.yaml").is_file()
    assert chart["sourceRef"]["name"] == repository["metadata"]["name"]


def test_argocd_application_points_at_the_chart() -> None:
    app = yaml.safe_load((ROOT / "gitops" / "argocd" / "application.yaml").read_text())
    assert (ROOT / app["spec"]["source"]["path"] / "Chart.yaml").is_file()


def test_install_doc_snippets_parse() -> None:
    """Every YAML block in docs/install.md is valid YAML (the Flux and Argo CD snippets among them)."""
    text = (ROOT / "docs" / "install.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        list(yaml.safe_load_all(block))
    assert "healthChecks:" in text
