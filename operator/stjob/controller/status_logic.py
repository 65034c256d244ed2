"""Pure status logic: (spec, metadata, Job, Pods, current status, now) -> the operator's status.

The operator owns ``phase``, ``conditions``, ``observedGeneration``, ``startTime``, ``completionTime``
and ``jobName``; everything here is derived from the cluster's objects, so a restarted operator
computes the same answer (docs/contracts.md, "Status semantics").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from stjob.api import SentenceTransformerJobSpec
from stjob.api.status import TERMINAL_PHASES as TERMINAL_PHASES  # re-exported: handlers, reconciler
from stjob.api.status import ConditionType, Phase
from stjob.controller import conditions, naming
from stjob.controller.conditions import DesiredCondition
from stjob.controller.termination import REASON_BY_EXIT_CODE, parse_termination_message, redact
from stjob.errors import NON_RETRYABLE_EXIT_CODES

PHASES: tuple[str, ...] = get_args(Phase)
OPERATOR_KEYS = ("phase", "conditions", "observedGeneration", "startTime", "completionTime", "jobName")
#: Reasons that deserve a Warning Event even though the phase is not Failed.
WARNING_REASONS = frozenset(
    {"Unschedulable", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"}
    | {"Evicted", "Preempted"}
)
_WAITING_ERRORS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError")
_PREEMPTION_REASONS = ("PreemptionByScheduler", "PreemptionByKubeScheduler", "Preempting")


@dataclass(frozen=True)
class Verdict:
    """The phase and the one reason a user can act on."""

    phase: str
    reason: str
    message: str


@dataclass(frozen=True)
class Evidence:
    """Something a pod says about why it is not (or no longer) training."""

    reason: str
    message: str


# ------------------------------------------------------------------------------------ reading pods


def _trainer_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == naming.TRAINER_CONTAINER:
            return status  # type: ignore[no-any-return]
    return {}


def _pod_name(pod: Mapping[str, Any]) -> str:
    return str(pod.get("metadata", {}).get("name", "?"))


def newest_first(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods by creation time, newest first (the current attempt leads)."""
    return sorted(pods, key=lambda pod: str(pod.get("metadata", {}).get("creationTimestamp") or ""), reverse=True)


def terminated_evidence(pod: Mapping[str, Any]) -> Evidence | None:
    """Why the trainer container ended: the trainer's own reason, OOMKilled, or a known exit code."""
    state = _trainer_status(pod).get("state", {}).get("terminated")
    if not state or state.get("exitCode") == 0:
        return None
    parsed = parse_termination_message(state.get("message"))
    if parsed is not None and parsed.outcome != "Succeeded" and parsed.reason:
        return Evidence(parsed.reason, parsed.message or f"the trainer failed with {parsed.reason}")
    if state.get("reason") == "OOMKilled":
        return Evidence(
            "OOMKilled",
            f"pod {_pod_name(pod)}: the trainer was killed for exceeding its memory limit; "
            "raise resources.memory or lower training.batchSize",
        )
    code = state.get("exitCode")
    if isinstance(code, int) and code in REASON_BY_EXIT_CODE:
        return Evidence(REASON_BY_EXIT_CODE[code], f"pod {_pod_name(pod)}: the trainer exited with code {code}")
    return None


def waiting_evidence(pod: Mapping[str, Any]) -> Evidence | None:
    """An image or container-config problem that keeps the trainer from starting."""
    state = _trainer_status(pod).get("state", {}).get("waiting") or {}
    if state.get("reason") in _WAITING_ERRORS:
        detail = redact(str(state.get("message") or ""))
        return Evidence(state["reason"], f"pod {_pod_name(pod)}: {detail}".rstrip(": "))
    return None


def scheduling_evidence(pod: Mapping[str, Any]) -> Evidence | None:
    """The scheduler's word when no node fits (PodScheduled=False, reason Unschedulable)."""
    scheduled = conditions.find(pod.get("status", {}).get("conditions"), "PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return Evidence("Unschedulable", f"pod {_pod_name(pod)}: {scheduled.get('message') or 'no node fits'}")
    return None


def disruption_evidence(pod: Mapping[str, Any]) -> Evidence | None:
    """Preempted or evicted (DisruptionTarget condition or the kubelet's Evicted reason)."""
    status = pod.get("status", {})
    target = conditions.find(status.get("conditions"), "DisruptionTarget")
    if target and target.get("status") == "True":
        reason = "Preempted" if target.get("reason") in _PREEMPTION_REASONS else "Evicted"
        detail = target.get("message") or target.get("reason") or ""
        return Evidence(reason, f"pod {_pod_name(pod)}: {detail}; a replacement resumes from the last checkpoint")
    if status.get("reason") in ("Evicted", "Preempting"):
        reason = "Evicted" if status["reason"] == "Evicted" else "Preempted"
        return Evidence(reason, f"pod {_pod_name(pod)}: {status.get('message') or reason}")
    return None


def _first(pods: Sequence[Mapping[str, Any]], probe: Any) -> Evidence | None:
    for pod in pods:
        found: Evidence | None = probe(pod)
        if found is not None:
            return found
    return None


def is_running(pod: Mapping[str, Any]) -> bool:
    """A pod whose trainer is running (and is not on its way out)."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    return bool(pod.get("status", {}).get("phase") == "Running")


def trainer_started_at(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """The earliest time a trainer container started, from running or terminated states."""
    times = []
    for pod in pods:
        state = _trainer_status(pod).get("state", {})
        for key in ("running", "terminated"):
            started = (state.get(key) or {}).get("startedAt")
            if started:
                times.append(str(started))
    return min(times) if times else None


# ------------------------------------------------------------------------------------ the verdict


def _job_condition(job: Mapping[str, Any], *types: str) -> Mapping[str, Any] | None:
    for type_ in types:
        found = conditions.find(job.get("status", {}).get("conditions"), type_)
        if found is not None and found.get("status") == "True":
            return found
    return None


def succeeded_verdict(pods: Sequence[Mapping[str, Any]]) -> Verdict:
    """Succeeded, with where the model went when the trainer said so."""
    for pod in newest_first(pods):
        state = _trainer_status(pod).get("state", {}).get("terminated") or {}
        parsed = parse_termination_message(state.get("message"))
        if parsed is not None and parsed.outcome == "Succeeded":
            where = [f"model at {parsed.model_path}"] if parsed.model_path else []
            where += [f"pushed to {parsed.hub_url}"] if parsed.hub_url else []
            return Verdict("Succeeded", "Succeeded", "training finished" + (": " + ", ".join(where) if where else ""))
    return Verdict("Succeeded", "Succeeded", "training finished")


def failed_verdict(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Verdict:
    """Failed, with the most actionable reason: the trainer's own, then the pod's, then the Job's."""
    failed = _job_condition(job, "Failed", "FailureTarget") or {}
    job_reason = str(failed.get("reason") or "JobFailed")
    job_message = str(failed.get("message") or "the Job failed")
    ordered = newest_first(pods)
    pod_evidence = _first(ordered, terminated_evidence) or _first(ordered, waiting_evidence)
    if job_reason == "DeadlineExceeded":
        # The deadline is the reason; what the pod was stuck on is the hint.
        hint = f"; last pod: {pod_evidence.reason}: {pod_evidence.message}" if pod_evidence else ""
        return Verdict("Failed", job_reason, job_message + hint)
    if pod_evidence is not None:
        return Verdict("Failed", pod_evidence.reason, pod_evidence.message)
    return Verdict("Failed", job_reason, job_message)


def pending_verdict(pods: Sequence[Mapping[str, Any]]) -> Verdict:
    """Pending, saying what the current pod waits for (image, scheduler, a disrupted predecessor)."""
    ordered = newest_first(pods)
    if not ordered:
        return Verdict("Pending", "PodPending", "waiting for the Job controller to create the trainer pod")
    current = ordered[0]
    for probe in (waiting_evidence, scheduling_evidence, disruption_evidence):
        found = probe(current)
        if found is not None:
            return Verdict("Pending", found.reason, found.message)
    earlier = _first(ordered, disruption_evidence)
    if earlier is not None:
        return Verdict("Pending", earlier.reason, earlier.message)
    return Verdict("Pending", "PodPending", f"pod {_pod_name(current)} is starting")


def non_retryable_failure(pods: Sequence[Mapping[str, Any]]) -> Evidence | None:
    """A trainer that exited with a code no retry can fix (what podFailurePolicy's FailJob acts on)."""
    for pod in newest_first(pods):
        state = _trainer_status(pod).get("state", {}).get("terminated") or {}
        if state.get("exitCode") in NON_RETRYABLE_EXIT_CODES:
            return terminated_evidence(pod)
    return None


def assess(
    spec: SentenceTransformerJobSpec,
    job: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    *,
    enforce_failure_policy: bool = False,
) -> Verdict:
    """The phase of a valid resource from its Job and Pods.

    ``enforce_failure_policy``: the server has no podFailurePolicy (``compat``'s degraded mode), so a
    non-retryable exit code fails the resource here instead of through the Job's Failed condition."""
    if job is None:
        return Verdict("Pending", "Creating", "creating the trainer Job")
    if _job_condition(job, "Complete", "SuccessCriteriaMet"):
        return succeeded_verdict(pods)
    if _job_condition(job, "Failed", "FailureTarget"):
        return failed_verdict(job, pods)
    if enforce_failure_policy and (evidence := non_retryable_failure(pods)) is not None:
        return Verdict("Failed", evidence.reason, evidence.message)
    if spec.suspend:
        return Verdict("Suspended", "Suspended", "spec.suspend is true: the trainer pods are stopped")
    if job.get("spec", {}).get("suspend"):
        if spec.queue_name is not None:
            waiting = f"waiting for Kueue to admit the Job (queue {spec.queue_name})"
            return Verdict("Queued", "WaitingForAdmission", waiting)
        return Verdict("Pending", "Resuming", "resuming the suspended Job")
    running = [pod for pod in pods if is_running(pod)]
    if running:
        return Verdict("Running", "Running", f"pod {_pod_name(newest_first(running)[0])} is training")
    if any(pod.get("status", {}).get("phase") == "Succeeded" for pod in pods):
        # The trainer is done; the Job controller adds Complete a moment later. Not back to Pending.
        return Verdict("Running", "Completing", "the trainer finished; waiting for the Job to complete")
    return pending_verdict(pods)


def desired_conditions(verdict: Verdict, spec: SentenceTransformerJobSpec | None) -> list[DesiredCondition]:
    """Every condition type, each explicitly True or False (docs/contracts.md table)."""
    phase, reason, message = verdict.phase, verdict.reason, verdict.message

    def flag(type_: ConditionType, true: bool) -> DesiredCondition:
        return DesiredCondition(type_, "True" if true else "False", reason, message)

    desired = [
        flag("Ready", phase == "Succeeded"),
        flag("Reconciling", phase in ("Pending", "Queued", "Running")),
        flag("Stalled", phase == "Failed"),
    ]
    if spec is not None and spec.queue_name is not None:
        admitted = phase not in ("Queued", "Suspended") and reason != "Creating"
        desired.append(
            DesiredCondition("Admitted", "True", "Admitted", f"admitted by Kueue (queue {spec.queue_name})")
            if admitted
            else DesiredCondition("Admitted", "False", reason, message)
        )
    desired += [
        flag("Running", phase == "Running"),
        flag("Succeeded", phase == "Succeeded"),
        flag("Failed", phase == "Failed"),
        flag("Suspended", phase == "Suspended"),
    ]
    return desired


def _kept_verdict(current: Mapping[str, Any]) -> Verdict:
    ready = conditions.find(current.get("conditions"), "Ready") or {}
    return Verdict(str(current["phase"]), str(ready.get("reason") or current["phase"]), str(ready.get("message") or ""))


def build_status(
    verdict: Verdict,
    spec: SentenceTransformerJobSpec | None,
    meta: Mapping[str, Any],
    current: Mapping[str, Any],
    now: str,
    *,
    started: str | None = None,
    completed: str | None = None,
    job_exists: bool = False,
) -> dict[str, Any]:
    """The operator-owned status keys for a verdict; timestamps are set once and kept."""
    generation = meta.get("generation")
    status: dict[str, Any] = {
        "phase": verdict.phase,
        "conditions": conditions.merge(current.get("conditions"), desired_conditions(verdict, spec), now, generation),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    start = current.get("startTime") or started or (now if verdict.phase == "Running" else None)
    if start:
        status["startTime"] = start
    if verdict.phase in TERMINAL_PHASES:
        status["completionTime"] = current.get("completionTime") or completed or now
    if job_exists or current.get("jobName"):
        status["jobName"] = current.get("jobName") or naming.job_name(meta["name"])
    return status


_DICT_KEYS = frozenset({"metadata", "spec", "status", "state", "running", "terminated", "waiting", "labels"})
_LIST_KEYS = frozenset({"conditions", "containerStatuses"})
_SCALARS = frozenset({str, int, float, bool})


def well_formed(obj: Any) -> Any:
    """``obj`` with nulls and wrongly typed known fields dropped, so a malformed object reads as "absent".

    The API server validates Jobs and Pods, but a status written by hand, a proxy or a future version
    must not crash the operator: a garbage field counts as a missing one.
    """
    # (Run on every reconcile over the status, the Job and the Pods: plain dicts, lists and scalars are
    # told apart by their type first, the costlier Mapping check is for anything else.)
    kind = type(obj)
    if kind is dict or (kind is not list and isinstance(obj, Mapping)):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if value is None:
                continue
            # ("status" is an object on a Job or Pod, a string in a condition.)
            if (
                key in _DICT_KEYS
                and not isinstance(value, Mapping)
                and not (key == "status" and isinstance(value, str) and "type" in obj)
            ):
                continue
            if key in _LIST_KEYS:
                if not isinstance(value, list):
                    continue
                value = [item for item in value if isinstance(item, Mapping)]
            out[str(key)] = value if type(value) in _SCALARS else well_formed(value)
        return out
    if kind is list:
        return [well_formed(item) for item in obj]
    return obj


def next_status(
    spec: SentenceTransformerJobSpec,
    meta: Mapping[str, Any],
    job: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    current_status: Mapping[str, Any] | None,
    now: str,
    *,
    enforce_failure_policy: bool = False,
) -> dict[str, Any]:
    """The operator's status keys, derived from the Job and its Pods.

    Succeeded and Failed are final: a Job removed by ``ttlSecondsAfterFinished`` must not turn a
    finished resource back into Pending (nor make the operator train it again).
    """
    job = well_formed(job) if isinstance(job, Mapping) else None
    pods = [well_formed(pod) for pod in pods if isinstance(pod, Mapping)]
    current = well_formed(current_status) if isinstance(current_status, Mapping) else {}
    verdict = (
        _kept_verdict(current)
        if current.get("phase") in TERMINAL_PHASES
        else assess(spec, job, pods, enforce_failure_policy=enforce_failure_policy)
    )
    completed = None
    if job is not None:
        done = _job_condition(job, "Complete", "SuccessCriteriaMet", "Failed", "FailureTarget") or {}
        completed = job.get("status", {}).get("completionTime") or done.get("lastTransitionTime")
    started = trainer_started_at(pods) if verdict.phase != "Pending" else None
    return build_status(
        verdict, spec, meta, current, now, started=started, completed=completed, job_exists=job is not None
    )


def invalid_spec_status(
    meta: Mapping[str, Any],
    message: str,
    current_status: Mapping[str, Any] | None,
    now: str,
    reason: str = "ConfigError",
) -> dict[str, Any]:
    """Failed before anything is created: the spec does not validate (ConfigError), or the server cannot run
    it (``reason``)."""
    verdict = Verdict("Failed", reason, message)
    return build_status(verdict, None, meta, current_status or {}, now)


def status_patch(current_status: Mapping[str, Any] | None, new_status: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch for ``status``: only operator keys, only those that changed."""
    current = current_status or {}
    return {key: new_status[key] for key in OPERATOR_KEYS if key in new_status and current.get(key) != new_status[key]}


def verdict_of(status: Mapping[str, Any]) -> Verdict | None:
    """The phase, reason and message a status shows (None before the operator wrote one)."""
    if not status.get("phase"):
        return None
    return _kept_verdict(status)
