"""Run the real helm binary on the chart: find it, lint, render each ci/ scenario once per session."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "stjob-operator"
SCENARIOS = ("default", "namespaced", "metrics", "no-crds")
KUBE_VERSION = "1.33.0"
RELEASE = "stjob-operator"
NAMESPACE = "stjob-system"

Manifest = dict[str, Any]


def helm_binary() -> str | None:
    """`make helm` puts helm at .cache/bin/helm; otherwise whatever is on PATH."""
    cached = ROOT / ".cache" / "bin" / "helm"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("helm")


def require_helm() -> str:
    """The helm binary, or skip the calling test (CI always has it: `make test` runs `make helm`)."""
    helm = helm_binary()
    if helm is None:
        pytest.skip("helm not found (run `make helm`)")
    return helm


def values_file(scenario: str) -> Path:
    return CHART / "ci" / f"{scenario}-values.yaml"


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm with the given arguments; never raises on a non-zero exit."""
    return subprocess.run([require_helm(), *args], capture_output=True, text=True, check=False, timeout=60)


def template_args(*extra: str) -> list[str]:
    return ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION, *extra]


@functools.cache
def _render_text(scenario: str) -> str:
    result = run_helm(*template_args("-f", str(values_file(scenario))))
    assert result.returncode == 0, f"helm template ({scenario}) failed:\n{result.stderr}"
    return result.stdout


def render(scenario: str) -> list[Manifest]:
    """The scenario's rendered manifests (empty documents dropped). Rendered once per session."""
    return [doc for doc in yaml.safe_load_all(_render_text(scenario)) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
