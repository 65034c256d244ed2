"""Job + Pod states -> phase, reason and conditions (table-driven), and the status invariants."""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import json
from typing import Any

import pytest

from stjob.controller import status_logic
from stjob.controller.status_logic import next_status, status_patch
from tests.controller.factories import META, job, pod, spec

NOW = "2026-01-01T02:00:00Z"
DATA_ERROR = json.dumps({"outcome": "Failed", "reason": "DataError", "message": "file /data/sick/train.csv, row 17"})
OOM_MSG = json.dumps({"outcome": "Failed", "reason": "OutOfMemory", "message": "CUDA out of memory; lower batchSize"})
SUCCESS = json.dumps({"outcome": "Succeeded", "modelPath": "/output/sick/model", "hubUrl": "https://hf.co/me/sick"})
UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes: Insufficient nvidia.com/gpu"}]  # fmt: skip
PREEMPTED = [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler", "message": "preempted by high-prio"}]  # fmt: skip
EVICTED = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI", "message": "node drain"}]

# (id, spec overrides, job, pods, expected phase, expected reason, a fragment of the message)
CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, list[dict[str, Any]], str, str, str]] = [
    ("no job yet", {}, None, [], "Pending", "Creating", "creating"),
    ("job, no pod", {}, job(), [], "Pending", "PodPending", "Job controller"),
    ("pod starting", {}, job(), [pod()], "Pending", "PodPending", "starting"),
    ("unschedulable", {}, job(), [pod(conditions=UNSCHEDULABLE)], "Pending", "Unschedulable", "Insufficient nvidia.com/gpu"),
    ("image pull backoff", {}, job(), [pod(waiting={"reason": "ImagePullBackOff", "message": "back-off pulling x"})],
     "Pending", "ImagePullBackOff", "back-off pulling"),
    ("err image pull", {}, job(), [pod(waiting={"reason": "ErrImagePull", "message": "not found"})],
     "Pending", "ErrImagePull", "not found"),
    ("missing secret", {}, job(), [pod(waiting={"reason": "CreateContainerConfigError", "message": 'secret "hf" not found'})],
     "Pending", "CreateContainerConfigError", "secret"),
    ("container creating is not an error", {}, job(), [pod(waiting={"reason": "ContainerCreating"})],
     "Pending", "PodPending", "starting"),
    ("running", {}, job(active=1), [pod(phase="Running", running_since="2026-01-01T00:01:00Z")], "Running", "Running", "sick-abc"),
    ("preempted, replacement pending", {}, job(),
     [pod("old", "Failed", "2026-01-01T00:00:01Z", conditions=PREEMPTED), pod("new", created="2026-01-01T00:05:00Z")],
     "Pending", "Preempted", "preempted by high-prio"),
    ("evicted, replacement unschedulable", {}, job(),
     [pod("old", "Failed", "2026-01-01T00:00:01Z", conditions=EVICTED),
      pod("new", created="2026-01-01T00:05:00Z", conditions=UNSCHEDULABLE)],
     "Pending", "Unschedulable", "Insufficient"),
    ("kubelet eviction", {}, job(), [pod(phase="Failed", reason="Evicted")], "Pending", "Evicted", "sick-abc"),
    ("evicted, replacement running", {}, job(),
     [pod("old", "Failed", "2026-01-01T00:00:01Z", conditions=EVICTED),
      pod("new", "Running", "2026-01-01T00:05:00Z", running_since="2026-01-01T00:06:00Z")],
     "Running", "Running", "new"),
    ("succeeded", {}, job(("Complete", "CompletionsReached", "")),
     [pod(phase="Succeeded", terminated={"exitCode": 0, "message": SUCCESS, "startedAt": "2026-01-01T00:01:00Z"})],
     "Succeeded", "Succeeded", "/output/sick/model"),
    ("succeeded, criteria met first", {}, job(("SuccessCriteriaMet", "CompletionsReached", "")), [],
     "Succeeded", "Succeeded", "training finished"),
    ("data error from termination message", {}, job(("Failed", "PodFailurePolicy", "exit code 4")),
     [pod(phase="Failed", terminated={"exitCode": 4, "reason": "Error", "message": DATA_ERROR})],
     "Failed", "DataError", "row 17"),
    ("trainer's own OutOfMemory", {}, job(("Failed", "PodFailurePolicy", "")),
     [pod(phase="Failed", terminated={"exitCode": 5, "reason": "Error", "message": OOM_MSG})],
     "Failed", "OutOfMemory", "CUDA out of memory"),
    ("exit code without message", {}, job(("Failed", "PodFailurePolicy", "")),
     [pod(phase="Failed", terminated={"exitCode": 6, "reason": "Error", "message": "Traceback ... disk full"})],
     "Failed", "StorageError", "code 6"),
    ("config error exit code", {}, job(("FailureTarget", "PodFailurePolicy", "")),
     [pod(phase="Failed", terminated={"exitCode": 3, "reason": "Error"})], "Failed", "ConfigError", "code 3"),
    ("oom killed", {}, job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
     [pod(phase="Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})], "Failed", "OOMKilled", "resources.memory"),
    ("backoff limit, unknown crash", {}, job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
     [pod(phase="Failed", terminated={"exitCode": 1, "reason": "Error", "message": "Traceback"})],
     "Failed", "BackoffLimitExceeded", "backoff limit"),
    ("deadline exceeded", {}, job(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")),
     [], "Failed", "DeadlineExceeded", "deadline"),
    ("deadline while pulling", {}, job(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")),
     [pod(waiting={"reason": "ImagePullBackOff", "message": "no such image"})],
     "Failed", "DeadlineExceeded", "ImagePullBackOff"),
    ("pod failure policy, no pods left", {}, job(("Failed", "PodFailurePolicy", "Container trainer exited with 4")), [],
     "Failed", "PodFailurePolicy", "exited with 4"),
    ("newest failure wins", {}, job(("Failed", "PodFailurePolicy", "")),
     [pod("a", "Failed", "2026-01-01T00:00:01Z", terminated={"exitCode": 137, "reason": "OOMKilled"}),
      pod("b", "Failed", "2026-01-01T00:09:00Z", terminated={"exitCode": 4, "message": DATA_ERROR})],
     "Failed", "DataError", "row 17"),
    ("suspended by the user", {"suspend": True}, job(suspend=True), [], "Suspended", "Suspended", "spec.suspend"),
    ("suspending, pods still up", {"suspend": True}, job(active=1), [pod(phase="Running")], "Suspended", "Suspended", ""),
    ("queued by kueue", {"queueName": "team-a"}, job(suspend=True), [], "Queued", "WaitingForAdmission", "team-a"),
    ("admitted by kueue", {"queueName": "team-a"}, job(active=1), [pod(phase="Running")], "Running", "Running", ""),
    ("resuming without kueue", {}, job(suspend=True), [], "Pending", "Resuming", "resuming"),
    ("trainer done, Job not yet complete", {}, job(active=1), [pod(phase="Succeeded", terminated={"exitCode": 0})],
     "Running", "Completing", "waiting for the Job"),
    ("finished beats suspend", {"suspend": True}, job(("Complete", "", "")), [], "Succeeded", "Succeeded", ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "the_job", "pods", "phase", "reason", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_phase_and_reason(
    overrides: dict[str, Any],
    the_job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    phase: str,
    reason: str,
    fragment: str,
) -> None:
    status = next_status(spec(**overrides), META, the_job, pods, {}, NOW)
    assert status["phase"] == phase
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == reason
    assert fragment in ready["message"]


CONDITION_TABLE = {
    # phase -> the True conditions (all others False), from docs/contracts.md
    "Pending": {"Reconciling"},
    "Queued": {"Reconciling"},
    "Running": {"Reconciling", "Running", "Admitted"},
    "Suspended": {"Suspended"},
    "Succeeded": {"Ready", "Succeeded", "Admitted"},
    "Failed": {"Stalled", "Failed", "Admitted"},
}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_conditions_match_the_contract_table(case: tuple[Any, ...]) -> None:
    _, overrides, the_job, pods, phase, _, _ = case
    s = spec(**overrides)
    status = next_status(s, META, the_job, pods, {}, NOW)
    true = {c["type"] for c in status["conditions"] if c["status"] == "True"}
    expected = set(CONDITION_TABLE[phase])
    if s.queue_name is None or the_job is None:
        expected.discard("Admitted")
    assert true == expected
    for condition in status["conditions"]:
        assert condition["observedGeneration"] == 1
        assert condition["lastTransitionTime"] == NOW
        assert set(condition) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}
    types = [c["type"] for c in status["conditions"]]
    assert ("Admitted" in types) == (s.queue_name is not None)


def test_last_transition_time_moves_only_when_status_changes() -> None:
    pending = next_status(spec(), META, job(), [pod()], {}, "2026-01-01T00:00:00Z")
    still = next_status(spec(), META, job(), [pod(conditions=UNSCHEDULABLE)], pending, "2026-01-01T00:05:00Z")
    by_type = {c["type"]: c for c in still["conditions"]}
    assert by_type["Ready"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert by_type["Ready"]["reason"] == "Unschedulable"  # reason changed, status did not
    running = next_status(spec(), META, job(), [pod(phase="Running")], still, "2026-01-01T00:10:00Z")
    by_type = {c["type"]: c for c in running["conditions"]}
    assert by_type["Running"]["lastTransitionTime"] == "2026-01-01T00:10:00Z"
    assert by_type["Reconciling"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_times_job_name_and_generation() -> None:
    meta = {**META, "generation": 3}
    pending = next_status(spec(), meta, job(), [pod()], {}, "2026-01-01T00:00:10Z")
    assert pending["observedGeneration"] == 3
    assert pending["jobName"] == "sick"
    assert "startTime" not in pending and "completionTime" not in pending
    running_pod = pod(phase="Running", running_since="2026-01-01T00:01:00Z")
    running = next_status(spec(), meta, job(), [running_pod], pending, "2026-01-01T00:02:00Z")
    assert running["startTime"] == "2026-01-01T00:01:00Z"  # from the container, not from "now"
    done = job(("Complete", "", ""), completion_time="2026-01-01T03:00:00Z")
    finished = next_status(spec(), meta, done, [], running, "2026-01-01T04:00:00Z")
    assert finished["startTime"] == "2026-01-01T00:01:00Z"
    assert finished["completionTime"] == "2026-01-01T03:00:00Z"


def test_a_missed_run_still_gets_a_start_time_from_the_terminated_container() -> None:
    done = job(("Complete", "", ""))
    ended = pod(phase="Succeeded", terminated={"exitCode": 0, "startedAt": "2026-01-01T00:03:00Z"})
    status = next_status(spec(), META, done, [ended], {"phase": "Pending"}, NOW)
    assert status["startTime"] == "2026-01-01T00:03:00Z"
    assert status["completionTime"] == "2026-01-01T01:00:00Z"  # the Complete condition's time


def test_finished_is_final_even_when_the_job_is_gone() -> None:
    done = next_status(spec(), META, job(("Complete", "", "")), [], {}, NOW)
    after_ttl = next_status(spec(), META, None, [], done, "2026-01-02T00:00:00Z")
    assert after_ttl == done


def test_invalid_spec_status() -> None:
    status = status_logic.invalid_spec_status(META, "spec.data.path: Field required", None, NOW)
    assert status["phase"] == "Failed"
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Failed"]["status"] == "True"
    assert by_type["Failed"]["reason"] == "ConfigError"
    assert "spec.data.path" in by_type["Failed"]["message"]
    assert by_type["Stalled"]["status"] == "True"
    assert status["completionTime"] == NOW
    assert "jobName" not in status


def test_status_patch_has_only_changed_operator_keys() -> None:
    current = {"phase": "Running", "progress": {"step": 5}, "metrics": {"trainLoss": 0.1}, "jobName": "sick"}
    new = {"phase": "Succeeded", "jobName": "sick", "conditions": []}
    assert status_patch(current, new) == {"phase": "Succeeded", "conditions": []}
    assert status_patch(new, new) == {}


def test_termination_message_secrets_never_reach_conditions() -> None:
    leaky = json.dumps(
        {"outcome": "Failed", "reason": "StorageError", "message": "push failed with hf_abcdefghijklmnopqrstuvwxyz"}
    )
    failed = job(("Failed", "PodFailurePolicy", ""))
    status = next_status(
        spec(), META, failed, [pod(phase="Failed", terminated={"exitCode": 6, "message": leaky})], {}, NOW
    )
    text = json.dumps(status)
    assert "hf_abcdefghijklmnopqrstuvwxyz" not in text
    assert "[redacted]" in text
