"""Kubernetes version support: what the operator does on a server older than its minimum."""

from __future__ import annotations

from typing import Any

import pytest

from stjob.api import SentenceTransformerJobSpec
from stjob.controller import builders, status_logic
from stjob.controller.compat import CURRENT, MINIMUM_KUBERNETES, ServerSupport, parse_version, refusal
from stjob.controller.settings import OperatorSettings
from stjob.errors import EXIT_DATA_ERROR, EXIT_FAILED

OLD = ServerSupport((1, 20), "v1.20.2")
SPEC: dict[str, Any] = {"trainer": "pair", "data": {"path": "d"}, "resources": {"gpus": 0}}
META = {"name": "job", "namespace": "ns", "uid": "u1"}


def spec(**changes: Any) -> SentenceTransformerJobSpec:
    return SentenceTransformerJobSpec.model_validate({**SPEC, **changes})


@pytest.mark.parametrize(
    ("info", "version", "supported"),
    [
        ({"major": "1", "minor": "20", "gitVersion": "v1.20.2"}, (1, 20), False),
        ({"major": "1", "minor": "27+", "gitVersion": "v1.27.3-eks"}, (1, 27), False),
        ({"major": "1", "minor": "28"}, (1, 28), True),
        ({"major": "1", "minor": "36"}, (1, 36), True),
        ({}, MINIMUM_KUBERNETES, True),  # unreadable: assume a current server
    ],
)
def test_parse_version(info: dict[str, str], version: tuple[int, int], supported: bool) -> None:
    support = parse_version(info)
    assert support.version == version and support.supported is supported


@pytest.mark.parametrize(
    ("support", "allow", "changes", "refused"),
    [
        (CURRENT, False, {}, None),
        (OLD, False, {}, "older than the minimum supported 1.28"),
        (OLD, True, {}, None),
        (OLD, True, {"suspend": True}, "need Job suspend"),
        (OLD, True, {"queueName": "q"}, "need Job suspend"),
        (
            OLD,
            True,
            {"distributed": {"nodes": 2}, "output": {"volume": {"claimName": "m"}}},
            "needs Indexed Jobs",
        ),
    ],
)
def test_refusal(support: ServerSupport, allow: bool, changes: dict[str, Any], refused: str | None) -> None:
    reason = refusal(support, allow, spec(**changes))
    assert (reason is None) if refused is None else (refused in (reason or ""))


def test_job_has_a_failure_policy_only_where_the_server_knows_it() -> None:
    settings = OperatorSettings(metrics_port=0, health_port=0)
    assert "podFailurePolicy" in builders.build_job(spec(), META, settings)["spec"]
    assert "podFailurePolicy" not in builders.build_job(spec(), META, settings, OLD)["spec"]


def _pod(exit_code: int) -> dict[str, Any]:
    terminated = {"exitCode": exit_code, "message": ""}
    return {
        "metadata": {"name": "job-abc", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Failed", "containerStatuses": [{"name": "trainer", "state": {"terminated": terminated}}]},
    }


@pytest.mark.parametrize(("exit_code", "phase"), [(EXIT_DATA_ERROR, "Failed"), (EXIT_FAILED, "Pending")])
def test_degraded_mode_fails_on_a_non_retryable_exit_code_only(exit_code: int, phase: str) -> None:
    job = {"metadata": {"name": "job"}, "spec": {}, "status": {"failed": 1}}
    enforced = status_logic.assess(spec(), job, [_pod(exit_code)], enforce_failure_policy=True)
    assert enforced.phase == phase
    # With a server-side failure policy the Job's own Failed condition decides, not the pod.
    assert status_logic.assess(spec(), job, [_pod(exit_code)]).phase == "Pending"
