"""Resources both validation layers must agree on: the examples, and invalid ones with the field each names.

Used by ``tests/api`` (pydantic) and ``tests/kube`` (the real Kubernetes 1.36 CRD server), so one list
of cases proves both layers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stjob.api import SentenceTransformerJob
from stjob.errors import validation_problems

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/local/*.yaml")])

BASE: dict[str, Any] = {
    "apiVersion": "stjob.dev/v1alpha1",
    "kind": "SentenceTransformerJob",
    "metadata": {"name": "job"},
    "spec": {"trainer": "pair_score", "data": {"path": "sick", "columns": {"target": "score"}}},
}


def with_spec(**changes: Any) -> dict[str, Any]:
    """BASE with dotted spec paths set (value ... deletes)."""
    obj = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node = obj["spec"]
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        if value is ...:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return obj


def pydantic_fields(obj: dict[str, Any]) -> set[str]:
    """The fields pydantic names for an invalid resource (empty when valid)."""
    try:
        SentenceTransformerJob.model_validate(obj)
    except ValidationError as exc:
        return {field for field, _ in validation_problems(exc)}
    return set()


# (id, resource, the field both layers must name, as a path from the resource root)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-trainer", with_spec(trainer="pairs"), "spec.trainer"),
    ("trainer-wrong-type", with_spec(trainer=3), "spec.trainer"),
    ("missing-data", with_spec(data=...), "spec.data"),
    ("missing-data-path", with_spec(data__path=...), "spec.data.path"),
    ("empty-data-path", with_spec(data__path=""), "spec.data.path"),
    ("lr-zero", with_spec(training__learningRate=0), "spec.training.learningRate"),
    ("lr-negative", with_spec(training__learningRate=-1e-5), "spec.training.learningRate"),
    ("lr-string", with_spec(training__learningRate="fast"), "spec.training.learningRate"),
    ("epochs-zero", with_spec(training__epochs=0), "spec.training.epochs"),
    ("epochs-float", with_spec(training__epochs=1.5), "spec.training.epochs"),
    ("batch-zero", with_spec(training__batchSize=0), "spec.training.batchSize"),
    ("warmup-one", with_spec(training__warmupRatio=1.0), "spec.training.warmupRatio"),
    ("warmup-negative", with_spec(training__warmupRatio=-0.1), "spec.training.warmupRatio"),
    ("grad-accum-zero", with_spec(training__gradientAccumulation=0), "spec.training.gradientAccumulation"),
    ("seq-too-short", with_spec(model__maxSeqLength=4), "spec.model.maxSeqLength"),
    ("seq-too-long", with_spec(model__maxSeqLength=100000), "spec.model.maxSeqLength"),
    ("unknown-optimizer", with_spec(training__optimizer="adam_magic"), "spec.training.optimizer"),
    ("unknown-scheduler", with_spec(training__scheduler="step"), "spec.training.scheduler"),
    ("unknown-precision", with_spec(training__mixedPrecision="fp8"), "spec.training.mixedPrecision"),
    ("unknown-eval-strategy", with_spec(training__evalStrategy="always"), "spec.training.evalStrategy"),
    ("unknown-log", with_spec(tracking__log="comet"), "spec.tracking.log"),
    ("logging-steps-minus-two", with_spec(training__loggingSteps=-2), "spec.training.loggingSteps"),
    ("max-grad-norm-zero", with_spec(training__maxGradNorm=0), "spec.training.maxGradNorm"),
    ("save-limit-zero", with_spec(training__saveTotalLimit=0), "spec.training.saveTotalLimit"),
    ("patience-zero", with_spec(training__earlyStopping__patience=0), "spec.training.earlyStopping.patience"),
    ("threshold-negative", with_spec(training__earlyStopping__threshold=-0.1), "spec.training.earlyStopping.threshold"),
    ("unknown-field-top", with_spec(learningRate=1e-5), "spec.learningRate"),
    ("unknown-field-nested", with_spec(training__lr=1e-5), "spec.training.lr"),
    ("plain-text-token", with_spec(output__hub__token="hf_secret"), "spec.output.hub.token"),
    ("triplet-without-negative", with_spec(trainer="triplet"), "spec.data.columns.sentence3"),
    ("pair-class-without-target", with_spec(trainer="pair_class", data__columns={}), "spec.data.columns.target"),
    ("pair-score-without-target", with_spec(data__columns={}), "spec.data.columns.target"),
    (
        "push-without-username",
        with_spec(output__hub={"push": True, "tokenSecretRef": {"name": "hf"}}),
        "spec.output.hub.username",
    ),
    ("push-without-token", with_spec(output__hub={"push": True, "username": "me"}), "spec.output.hub.tokenSecretRef"),
    (
        "early-stopping-without-valid",
        with_spec(training__earlyStopping__enabled=True),
        "spec.training.earlyStopping.enabled",
    ),
    (
        "early-stopping-eval-no",
        with_spec(data__validSplit="valid", training__evalStrategy="no", training__earlyStopping__enabled=True),
        "spec.training.earlyStopping.enabled",
    ),
    ("fp16-on-cpu", with_spec(training__mixedPrecision="fp16", resources__gpus=0), "spec.training.mixedPrecision"),
    ("multi-node-without-volume", with_spec(distributed__nodes=2), "spec.output.volume"),
    ("loss-wrong-shape", with_spec(loss__name="MultipleNegativesRankingLoss"), "spec.loss.name"),
    ("mini-batch-without-cached", with_spec(loss__miniBatchSize=8), "spec.loss.miniBatchSize"),
    ("gpus-negative", with_spec(resources__gpus=-1), "spec.resources.gpus"),
    ("memory-not-quantity", with_spec(resources__memory="lots"), "spec.resources.memory"),
    ("data-path-escapes-volume", with_spec(data__volume={"claimName": "d"}, data__path="../etc"), "spec.data.path"),
    (
        "data-path-absolute-in-volume",
        with_spec(data__volume={"claimName": "d"}, data__path="/etc/passwd"),
        "spec.data.path",
    ),
    ("data-path-file-url", with_spec(data__path="file:///etc/passwd"), "spec.data.path"),
    (
        "sub-path-escapes",
        with_spec(output__volume={"claimName": "m", "subPath": "a/../../b"}),
        "spec.output.volume.subPath",
    ),
    ("claim-name-invalid", with_spec(output__volume={"claimName": "Bad_Name"}), "spec.output.volume.claimName"),
    ("project-name-slash", with_spec(output__projectName="a/b"), "spec.output.projectName"),
    ("queue-name-invalid", with_spec(queueName="Team A"), "spec.queueName"),
    (
        "toleration-bad-effect",
        with_spec(scheduling__tolerations=[{"key": "k", "effect": "Sometimes"}]),
        "spec.scheduling.tolerations[0].effect",
    ),
    ("backoff-negative", with_spec(runPolicy__backoffLimit=-1), "spec.runPolicy.backoffLimit"),
    ("nodes-zero", with_spec(distributed__nodes=0), "spec.distributed.nodes"),
    ("eval-steps-without-valid", with_spec(training__evalSteps=100), "spec.training.evalSteps"),
    ("hard-negatives-for-pair-score", with_spec(data__hardNegatives={}), "spec.data.hardNegatives"),
    (
        "hard-negatives-zero",
        with_spec(trainer="qa", data__hardNegatives={"numNegatives": 0}),
        "spec.data.hardNegatives.numNegatives",
    ),
    ("gate-without-valid", with_spec(evaluation__gate={"minImprovement": 0.01}), "spec.evaluation.gate"),
    ("gate-metric-empty", with_spec(evaluation__gate={"metric": ""}), "spec.evaluation.gate.metric"),
    (
        "eval-datasets-without-valid",
        with_spec(evaluation__datasets=[{"name": "sts", "kind": "pair_score", "path": "sts.csv"}]),
        "spec.evaluation.datasets",
    ),
    (
        "eval-datasets-same-name",
        with_spec(
            data__validSplit="valid",
            evaluation__datasets=[
                {"name": "sts", "kind": "pair_score", "path": "a.csv"},
                {"name": "sts", "kind": "pair_class", "path": "b.csv"},
            ],
        ),
        "spec.evaluation.datasets",
    ),
    (
        "eval-dataset-url",
        with_spec(
            data__validSplit="valid", evaluation__datasets=[{"name": "a", "kind": "retrieval", "path": "s3://b/ir"}]
        ),
        "spec.evaluation.datasets",
    ),
    (
        "eval-dataset-escapes-volume",
        with_spec(
            data__validSplit="valid",
            data__volume={"claimName": "d"},
            evaluation__datasets=[{"name": "a", "kind": "pair_class", "path": "eval/../../x.csv"}],
        ),
        "spec.evaluation.datasets",
    ),
    (
        "sparse-mining-without-model",
        with_spec(trainer="qa", model={"type": "sparse"}, data__columns={}, data__hardNegatives={"numNegatives": 1}),
        "spec.data.hardNegatives.model",
    ),
    (
        "eval-datasets-reranker",
        with_spec(
            trainer="pair",
            model={"type": "reranker"},
            data__validSplit="valid",
            data__columns={},
            evaluation__datasets=[{"name": "a", "kind": "pair_class", "path": "x.csv"}],
        ),
        "spec.evaluation.datasets",
    ),
    (
        "eval-dataset-kind",
        with_spec(data__validSplit="valid", evaluation__datasets=[{"name": "a", "kind": "nli", "path": "x.csv"}]),
        "spec.evaluation.datasets[0].kind",
    ),
    (
        "eval-dataset-name",
        with_spec(data__validSplit="valid", evaluation__datasets=[{"name": "A_b", "kind": "pair_class", "path": "x"}]),
        "spec.evaluation.datasets[0].name",
    ),
]
