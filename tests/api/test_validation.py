"""Valid and invalid resources, through both layers: pydantic and the API server (schema + CEL)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from stjob.api import SentenceTransformerJob
from stjob.errors import format_validation_error
from tests.support.crd_layer import api_server_errors

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


def pydantic_errors(obj: dict[str, Any]) -> list[str]:
    try:
        SentenceTransformerJob.model_validate(obj)
    except ValidationError as exc:
        return format_validation_error(exc)
    return []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_in_both_layers(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert pydantic_errors(doc) == []
    assert api_server_errors(doc) == []


def test_base_is_valid() -> None:
    assert pydantic_errors(BASE) == []
    assert api_server_errors(BASE) == []


# (id, resource, a word both layers' messages must contain: the field)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-trainer", with_spec(trainer="pairs"), "trainer"),
    ("trainer-wrong-type", with_spec(trainer=3), "trainer"),
    ("missing-data", with_spec(data=...), "data"),
    ("missing-data-path", with_spec(data__path=...), "path"),
    ("empty-data-path", with_spec(data__path=""), "path"),
    ("lr-zero", with_spec(training__learningRate=0), "learningRate"),
    ("lr-negative", with_spec(training__learningRate=-1e-5), "learningRate"),
    ("lr-string", with_spec(training__learningRate="fast"), "learningRate"),
    ("epochs-zero", with_spec(training__epochs=0), "epochs"),
    ("epochs-float", with_spec(training__epochs=1.5), "epochs"),
    ("batch-zero", with_spec(training__batchSize=0), "batchSize"),
    ("warmup-one", with_spec(training__warmupRatio=1.0), "warmupRatio"),
    ("warmup-negative", with_spec(training__warmupRatio=-0.1), "warmupRatio"),
    ("grad-accum-zero", with_spec(training__gradientAccumulation=0), "gradientAccumulation"),
    ("seq-too-short", with_spec(model__maxSeqLength=4), "maxSeqLength"),
    ("seq-too-long", with_spec(model__maxSeqLength=100000), "maxSeqLength"),
    ("unknown-optimizer", with_spec(training__optimizer="adam_magic"), "optimizer"),
    ("unknown-scheduler", with_spec(training__scheduler="step"), "scheduler"),
    ("unknown-precision", with_spec(training__mixedPrecision="fp8"), "mixedPrecision"),
    ("unknown-eval-strategy", with_spec(training__evalStrategy="always"), "evalStrategy"),
    ("unknown-log", with_spec(tracking__log="comet"), "log"),
    ("logging-steps-minus-two", with_spec(training__loggingSteps=-2), "loggingSteps"),
    ("max-grad-norm-zero", with_spec(training__maxGradNorm=0), "maxGradNorm"),
    ("save-limit-zero", with_spec(training__saveTotalLimit=0), "saveTotalLimit"),
    ("patience-zero", with_spec(training__earlyStopping__patience=0), "patience"),
    ("threshold-negative", with_spec(training__earlyStopping__threshold=-0.1), "threshold"),
    ("unknown-field-top", with_spec(learningRate=1e-5), "learningRate"),
    ("unknown-field-nested", with_spec(training__lr=1e-5), "lr"),
    ("plain-text-token", with_spec(output__hub__token="hf_secret"), "token"),
    ("triplet-without-negative", with_spec(trainer="triplet"), "sentence3"),
    ("pair-class-without-target", with_spec(trainer="pair_class", data__columns={}), "target"),
    ("pair-score-without-target", with_spec(data__columns={}), "target"),
    ("push-without-username", with_spec(output__hub={"push": True, "tokenSecretRef": {"name": "hf"}}), "username"),
    ("push-without-token", with_spec(output__hub={"push": True, "username": "me"}), "tokenSecretRef"),
    ("early-stopping-without-valid", with_spec(training__earlyStopping__enabled=True), "earlyStopping"),
    (
        "early-stopping-eval-no",
        with_spec(data__validSplit="valid", training__evalStrategy="no", training__earlyStopping__enabled=True),
        "earlyStopping",
    ),
    ("fp16-on-cpu", with_spec(training__mixedPrecision="fp16", resources__gpus=0), "mixedPrecision"),
    ("multi-node-without-volume", with_spec(distributed__nodes=2), "output.volume"),
    ("loss-wrong-shape", with_spec(loss__name="MultipleNegativesRankingLoss"), "loss"),
    ("mini-batch-without-cached", with_spec(loss__miniBatchSize=8), "miniBatchSize"),
    ("gpus-negative", with_spec(resources__gpus=-1), "gpus"),
    ("memory-not-quantity", with_spec(resources__memory="lots"), "memory"),
    ("data-path-escapes-volume", with_spec(data__volume={"claimName": "d"}, data__path="../etc"), "path"),
    ("data-path-absolute-in-volume", with_spec(data__volume={"claimName": "d"}, data__path="/etc/passwd"), "path"),
    ("data-path-file-url", with_spec(data__path="file:///etc/passwd"), "path"),
    ("sub-path-escapes", with_spec(output__volume={"claimName": "m", "subPath": "a/../../b"}), "subPath"),
    ("claim-name-invalid", with_spec(output__volume={"claimName": "Bad_Name"}), "claimName"),
    ("project-name-slash", with_spec(output__projectName="a/b"), "projectName"),
    ("queue-name-invalid", with_spec(queueName="Team A"), "queueName"),
    ("toleration-bad-effect", with_spec(scheduling__tolerations=[{"key": "k", "effect": "Sometimes"}]), "effect"),
    ("backoff-negative", with_spec(runPolicy__backoffLimit=-1), "backoffLimit"),
    ("nodes-zero", with_spec(distributed__nodes=0), "nodes"),
    ("eval-steps-without-valid", with_spec(training__evalSteps=100), "evalSteps"),
]


@pytest.mark.parametrize(("obj", "field"), [(o, f) for _, o, f in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_resource_rejected_by_both_layers(obj: dict[str, Any], field: str) -> None:
    from_pydantic = pydantic_errors(obj)
    from_server = api_server_errors(obj)
    assert from_pydantic, "pydantic accepted it"
    assert from_server, "the API server (schema + CEL) would accept it"
    leaf = field.split(".")[-1]
    assert any(leaf in e for e in from_pydantic), from_pydantic
    assert any(leaf in e for e in from_server), from_server


def test_at_least_30_invalid_cases() -> None:
    assert len(INVALID) >= 30


def test_metadata_name_too_long() -> None:
    obj = copy.deepcopy(BASE)
    obj["metadata"]["name"] = "x" * 53
    assert pydantic_errors(obj)
    assert api_server_errors(obj)


@pytest.mark.parametrize(
    ("change", "allowed"),
    [
        ({"suspend": True}, True),
        ({"training": {"learningRate": 1e-4}}, False),
        ({"trainer": "pair_class"}, False),
        ({"queueName": "other"}, False),
        ({"image": "example.com/trainer:2"}, False),
    ],
)
def test_spec_is_immutable_except_suspend(change: dict[str, Any], allowed: bool) -> None:
    new = copy.deepcopy(BASE)
    new["spec"].update(change)
    errors = api_server_errors(new, old=BASE)
    assert (errors == []) is allowed, errors
    if not allowed:
        assert any("immutable" in e for e in errors)


def test_yaml_round_trip_is_lossless() -> None:
    for path in EXAMPLES:
        doc = yaml.safe_load(path.read_text())
        job = SentenceTransformerJob.model_validate(doc)
        dumped = job.model_dump(by_alias=True, exclude_none=True, mode="json")
        again = SentenceTransformerJob.model_validate(yaml.safe_load(yaml.safe_dump(dumped)))
        assert again == job
        # Everything the user wrote survives (defaults may be added, nothing is lost or changed).
        _assert_subset(doc["spec"], dumped["spec"])


def _assert_subset(small: Any, big: Any, path: str = "spec") -> None:
    if isinstance(small, dict):
        for key, value in small.items():
            assert key in big, f"{path}.{key} lost"
            _assert_subset(value, big[key], f"{path}.{key}")
    else:
        assert small == big, f"{path}: {small!r} != {big!r}"
