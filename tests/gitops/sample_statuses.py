"""SentenceTransformerJobs whose status is what the operator and the trainer really write.

Each sample runs the operator's own status logic (``stjob.controller.status_logic``) over a Job and its
Pods, and merges the trainer's own status patch (``stjob_trainer.reporting.status_patch``) where the
trainer reports progress or an output: the GitOps health checks are tested against real output, not
against statuses written by hand.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from stjob.api.status import Metrics, OutputStatus, Progress
from stjob.controller.status_logic import PHASES, invalid_spec_status, next_status
from stjob_trainer.reporting import status_patch
from tests.controller.factories import BASE_SPEC, job, pod, spec

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-27T12:00:00Z"
NAME = "sick-similarity"

Resource = dict[str, Any]

_STARTED = "2026-01-01T00:01:00Z"
_SUCCESS = json.dumps({"outcome": "Succeeded", "modelPath": f"/output/{NAME}/model"})
_PUSHED = json.dumps(
    {
        "outcome": "Succeeded",
        "modelPath": f"/output/{NAME}/model",
        "hubUrl": "https://huggingface.co/my-org/sick-minilm",
    }
)
_DATA_ERROR = json.dumps(
    {"outcome": "Failed", "reason": "DataError", "message": "file /data/sick/train.csv, row 17: not a number"}
)
_UNSCHEDULABLE = [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes have nvidia.com/gpu"}
]


def operator_resource(
    spec_overrides: dict[str, Any] | None = None,
    the_job: dict[str, Any] | None = None,
    pods: list[dict[str, Any]] | None = None,
    *,
    trainer: dict[str, Any] | None = None,
) -> Resource:
    """The resource with the status the operator computes from ``the_job`` and ``pods`` (plus the trainer's patch)."""
    meta = {"name": NAME, "namespace": "ml", "uid": "uid-1", "generation": 1}
    raw_spec = copy.deepcopy(BASE_SPEC) | (spec_overrides or {})
    status = next_status(spec(**(spec_overrides or {})), meta, the_job, pods or [], None, NOW)
    status |= (trainer or {}).get("status", {})
    return {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": meta,
        "spec": raw_spec,
        "status": status,
    }


def invalid_resource(message: str) -> Resource:
    """A resource whose spec the operator rejected (ConfigError)."""
    meta = {"name": NAME, "namespace": "ml", "uid": "uid-1", "generation": 1}
    status = invalid_spec_status(meta, message, None, NOW)
    return {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": meta,
        "spec": {},
        "status": status,
    }


def no_status_yet() -> Resource:
    """Just applied: the operator has not written anything."""
    resource = operator_resource()
    del resource["status"]
    return resource


def edited_after(resource: Resource) -> Resource:
    """``resource`` after a spec edit the operator has not seen yet (the API server bumped the generation)."""
    edited = copy.deepcopy(resource)
    edited["metadata"]["generation"] += 1
    return edited


def trainer_progress(percent: int) -> dict[str, Any]:
    """The trainer's own status patch at ``percent`` of 1000 steps."""
    progress = Progress(step=percent * 10, total_steps=1000, percent=percent, epoch=percent / 100)
    return status_patch(progress, Metrics(train_loss=0.5), None)


def trainer_output(model_path: str, hub_url: str | None = None) -> dict[str, Any]:
    """The trainer's final status patch (``close``) with where the model went."""
    return status_patch(None, None, OutputStatus(model_path=model_path, hub_url=hub_url))


#: One sample per situation, keyed by a readable name; the phase each one reaches is asserted in the tests.
SAMPLES: dict[str, Resource] = {
    "pending": operator_resource({}, job(), [pod()]),
    "pending, no Job yet": operator_resource(),
    "pending unschedulable": operator_resource({}, job(), [pod(conditions=_UNSCHEDULABLE)]),
    "pending image pull backoff": operator_resource(
        {}, job(), [pod(waiting={"reason": "ImagePullBackOff", "message": "back-off pulling trainer:x"})]
    ),
    "queued by kueue": operator_resource({"queueName": "team-a"}, job(suspend=True)),
    "running": operator_resource({}, job(active=1), [pod(phase="Running", running_since=_STARTED)]),
    "running with progress": operator_resource(
        {}, job(active=1), [pod(phase="Running", running_since=_STARTED)], trainer=trainer_progress(42)
    ),
    "suspended": operator_resource({"suspend": True}, job(suspend=True)),
    "succeeded": operator_resource(
        {},
        job(("Complete", "CompletionsReached", "")),
        [pod(phase="Succeeded", terminated={"exitCode": 0, "message": _SUCCESS})],
    ),
    "succeeded with a model": operator_resource(
        {},
        job(("Complete", "", "")),
        [pod(phase="Succeeded", terminated={"exitCode": 0, "message": _SUCCESS})],
        trainer=trainer_output(f"/output/{NAME}/model"),
    ),
    "succeeded and pushed": operator_resource(
        {},
        job(("Complete", "", "")),
        [pod(phase="Succeeded", terminated={"exitCode": 0, "message": _PUSHED})],
        trainer=trainer_output(f"/output/{NAME}/model", "https://huggingface.co/my-org/sick-minilm"),
    ),
    "failed on data": operator_resource(
        {},
        job(("Failed", "PodFailurePolicy", "")),
        [pod(phase="Failed", terminated={"exitCode": 4, "reason": "Error", "message": _DATA_ERROR})],
    ),
    "failed oom": operator_resource(
        {},
        job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
        [pod(phase="Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})],
    ),
    "failed deadline": operator_resource(
        {}, job(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"))
    ),
    "failed config": invalid_resource("spec.training.lr: Extra inputs are not permitted"),
}


def phase_of(resource: Resource) -> str | None:
    """The phase the operator wrote (None before it wrote a status)."""
    phase = resource.get("status", {}).get("phase")
    return str(phase) if phase is not None else None


def covered_phases() -> set[str]:
    """Every phase some sample reaches: the tests require all of ``PHASES``."""
    return {phase for sample in SAMPLES.values() if (phase := phase_of(sample)) is not None}


__all__ = ["PHASES", "ROOT", "SAMPLES", "Resource", "edited_after", "no_status_yet", "phase_of"]
