"""The Argo CD health check (gitops/argocd/health.lua), run with lupa over sample statuses."""

from __future__ import annotations

from typing import Any

import lupa
import pytest
import yaml

from tests.gitops.sample_statuses import PHASES, ROOT, Resource, resource

HEALTH_LUA = ROOT / "gitops" / "argocd" / "health.lua"
CM_PATCH = ROOT / "gitops" / "argocd" / "argocd-cm-patch.yaml"
CM_KEY = "resource.customizations.health.stjob.dev_SentenceTransformerJob"


def lua_runtime() -> Any:
    """Lua 5.1 when lupa has it: Argo CD runs health checks in gopher-lua, a Lua 5.1 VM."""
    try:
        from lupa import lua51

        return lua51.LuaRuntime(unpack_returned_tuples=True)
    except ImportError:
        return lupa.LuaRuntime(unpack_returned_tuples=True)


@pytest.fixture(scope="module")
def health() -> Any:
    """A Python callable: resource dict -> (status, message), running health.lua as Argo CD does."""
    lua = lua_runtime()
    script = HEALTH_LUA.read_text()
    # Argo CD hands the object to the script as the global `obj` and reads the returned table.
    run = lua.eval(f"function(obj)\n{script}\nend")

    def check(obj: Resource) -> tuple[str, str]:
        result = run(lua.table_from(obj, recursive=True))
        return str(result["status"]), str(result["message"])

    return check


CASES: dict[str, tuple[Resource, str, str]] = {
    "no status yet": (resource(None), "Progressing", "Waiting for the stjob operator"),
    "pending": (resource("Pending"), "Progressing", "Pending"),
    "pending unschedulable": (
        resource("Pending", reason="Unschedulable", message="0/3 nodes have nvidia.com/gpu"),
        "Progressing",
        "Unschedulable: 0/3 nodes have nvidia.com/gpu",
    ),
    "queued by kueue": (resource("Queued"), "Progressing", "Queued"),
    "running": (resource("Running"), "Progressing", "Running"),
    "running with progress": (
        resource("Running", extra_status={"progress": {"percent": 42, "step": 420, "totalSteps": 1000}}),
        "Progressing",
        "Running: 42%",
    ),
    "succeeded": (resource("Succeeded"), "Healthy", "Succeeded"),
    "succeeded with a model": (
        resource("Succeeded", extra_status={"output": {"modelPath": "/output/sick-similarity/model"}}),
        "Healthy",
        "Succeeded: /output/sick-similarity/model",
    ),
    "succeeded and pushed": (
        resource("Succeeded", extra_status={"output": {"hubUrl": "https://huggingface.co/my-org/sick-minilm"}}),
        "Healthy",
        "Succeeded: https://huggingface.co/my-org/sick-minilm",
    ),
    "failed on data": (
        resource("Failed", reason="DataError", message="file /data/sick/train.csv, row 17: not a number"),
        "Degraded",
        "DataError: file /data/sick/train.csv, row 17: not a number",
    ),
    "failed oom": (resource("Failed", reason="OOMKilled"), "Degraded", "OOMKilled"),
    "suspended": (resource("Suspended"), "Suspended", "Suspended (spec.suspend: true)"),
    "stale generation while succeeded": (
        resource("Succeeded", generation=2, observed=1),
        "Progressing",
        "Waiting for the stjob operator to observe generation 2",
    ),
    "stale generation while failed": (
        resource("Failed", generation=3, observed=2, reason="DataError"),
        "Progressing",
        "Waiting for the stjob operator to observe generation 3",
    ),
    "no observedGeneration yet": (
        resource("Pending", observed=None),
        "Progressing",
        "Waiting for the stjob operator to observe generation 1",
    ),
    "stalled while running": (
        resource(
            "Running",
            extra_status={
                "conditions": [{"type": "Stalled", "status": "True", "reason": "ImagePullBackOff", "message": ""}]
            },
        ),
        "Degraded",
        "ImagePullBackOff",
    ),
    "unknown phase": (
        resource("Running", extra_status={"phase": "Exploded"}),
        "Unknown",
        "Unknown phase Exploded",
    ),
}


@pytest.mark.parametrize("obj,status,message", CASES.values(), ids=CASES.keys())
def test_health(health: Any, obj: Resource, status: str, message: str) -> None:
    assert health(obj) == (status, message)


def test_every_phase_is_covered() -> None:
    assert {c[0].get("status", {}).get("phase") for c in CASES.values()} >= set(PHASES)
    assert len(CASES) >= 10


def test_argocd_cm_patch_holds_the_same_script() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    script = HEALTH_LUA.read_text()
    expected = "".join("    " + line if line.strip() else "\n" for line in script.splitlines(keepends=True))
    assert patch["data"] == {CM_KEY: script}, (
        f"argocd-cm-patch.yaml is stale; its data block should be:\n  {CM_KEY}: |\n{expected}"
    )
