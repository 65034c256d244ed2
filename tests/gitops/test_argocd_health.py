"""The Argo CD health check (gitops/argocd/health.lua), run with lupa over the operator's real status output."""

from __future__ import annotations

from typing import Any

import lupa
import pytest
import yaml

from tests.gitops.sample_statuses import PHASES, ROOT, SAMPLES, Resource, edited_after, no_status_yet, phase_of

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


# sample name -> (Argo CD health, message); the messages are what the operator's conditions say.
EXPECTED: dict[str, tuple[str, str]] = {
    "pending": ("Progressing", "PodPending: pod sick-abc is starting"),
    "pending, no Job yet": ("Progressing", "Creating: creating the trainer Job"),
    "pending unschedulable": ("Progressing", "Unschedulable: pod sick-abc: 0/3 nodes have nvidia.com/gpu"),
    "pending image pull backoff": ("Progressing", "ImagePullBackOff: pod sick-abc: back-off pulling trainer:x"),
    "queued by kueue": ("Progressing", "WaitingForAdmission: waiting for Kueue to admit the Job (queue team-a)"),
    "running": ("Progressing", "Running"),
    "running with progress": ("Progressing", "Running: 42%"),
    "suspended": ("Suspended", "Suspended (spec.suspend: true)"),
    "succeeded": ("Healthy", "Succeeded"),
    "succeeded with a model": ("Healthy", "Succeeded: /output/sick-similarity/model"),
    "succeeded and pushed": ("Healthy", "Succeeded: https://huggingface.co/my-org/sick-minilm"),
    "failed on data": ("Degraded", "DataError: file /data/sick/train.csv, row 17: not a number"),
    "failed oom": ("Degraded", "OOMKilled: "),
    "failed deadline": ("Degraded", "DeadlineExceeded: Job was active longer than specified deadline"),
    "failed config": ("Degraded", "ConfigError: spec.training.lr: Extra inputs are not permitted"),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_health_of_the_operators_status(health: Any, name: str) -> None:
    status, message = health(SAMPLES[name])
    expected_status, expected_message = EXPECTED[name]
    assert status == expected_status
    assert message.startswith(expected_message), message


def test_every_sample_has_an_expectation_and_every_phase_a_sample() -> None:
    assert set(EXPECTED) == set(SAMPLES)
    assert {phase_of(sample) for sample in SAMPLES.values()} == set(PHASES)


def test_no_status_yet(health: Any) -> None:
    assert health(no_status_yet()) == ("Progressing", "Waiting for the stjob operator")


@pytest.mark.parametrize("name", SAMPLES)
def test_a_spec_edit_not_yet_observed_is_progressing(health: Any, name: str) -> None:
    assert health(edited_after(SAMPLES[name])) == (
        "Progressing",
        "Waiting for the stjob operator to observe generation 2",
    )


def test_an_unknown_phase(health: Any) -> None:
    """A phase this health check does not know (a newer operator): Unknown, not a guess."""
    sample: Resource = {**SAMPLES["running"], "status": {**SAMPLES["running"]["status"], "phase": "Exploded"}}
    assert health(sample) == ("Unknown", "Unknown phase Exploded")


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
