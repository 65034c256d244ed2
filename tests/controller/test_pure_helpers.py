"""Termination messages, conditions, ownership checks, spec validation and settings."""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import gc

import pytest

from stjob.controller import conditions, ownership, termination
from stjob.controller.builders import build_configmap, build_job
from stjob.controller.conditions import DesiredCondition
from stjob.controller.main import GC_YOUNG_THRESHOLD, tune_garbage_collector
from stjob.controller.settings import OperatorSettings
from stjob.controller.validation import validate_spec
from stjob.errors import SpecError
from tests.controller.factories import BASE_SPEC, META, spec

PARSE_CASES = [
    ('{"outcome": "Failed", "reason": "DataError", "message": "row 3"}', ("Failed", "DataError", "row 3")),
    ('{"outcome": "Succeeded", "modelPath": "/output/x/model"}', ("Succeeded", None, "")),
    ("Traceback (most recent call last): ...", None),  # FallbackToLogsOnError: a log tail
    ('{"outcome": 3}', None),
    ("{not json", None),
    ("", None),
    (None, None),
    ('{"outcome": "Failed", "reason": "not a reason!"}', ("Failed", None, "")),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_termination_message(text: str | None, expected: tuple[str, str | None, str] | None) -> None:
    parsed = termination.parse_termination_message(text)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (parsed.outcome, parsed.reason, parsed.message) == expected


def test_redact_masks_tokens_and_caps_length() -> None:
    assert termination.redact("token hf_abcdefghijklmnop here") == "token [redacted] here"
    assert termination.redact("Authorization: Bearer abc.def.ghi-jkl") == "Authorization: [redacted]"
    assert len(termination.redact("x" * 10_000)) == termination.MAX_MESSAGE


def test_condition_merge_keeps_transition_time_and_order() -> None:
    first = conditions.merge([], [DesiredCondition("Ready", "False", "A")], "t1", 1)
    second = conditions.merge(first, [DesiredCondition("Ready", "False", "B", "m")], "t2", 2)
    assert second == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "B",
            "message": "m",
            "lastTransitionTime": "t1",
            "observedGeneration": 2,
        }
    ]
    third = conditions.merge(second, [DesiredCondition("Ready", "True", "C")], "t3", None)
    assert third[0]["lastTransitionTime"] == "t3"
    assert "observedGeneration" not in third[0]
    assert conditions.is_true(third, "Ready") and not conditions.is_true(third, "Stalled")


def test_an_orphan_is_not_adopted_but_reported() -> None:
    desired = build_configmap(spec(), META)
    orphan = {"metadata": {"name": "sick-spec", "labels": {"team": "a"}}, "data": {"job.yaml": "old"}}
    with pytest.raises(ownership.ChildConflictError, match="not owned by this job") as info:
        ownership.check_existing(orphan, desired)
    assert not info.value.previous_incarnation


def test_our_own_child_is_accepted() -> None:
    desired = build_job(spec(), META, OperatorSettings())
    ownership.check_existing(desired, desired)


def test_a_child_of_the_previous_resource_of_the_same_name_is_waited_for() -> None:
    desired = build_job(spec(), META, OperatorSettings())
    previous = {"metadata": {"name": "sick", "ownerReferences": [{"kind": "SentenceTransformerJob", "name": "sick", "uid": "old", "controller": True}]}}  # fmt: skip
    with pytest.raises(ownership.ChildConflictError, match="uid old") as info:
        ownership.check_existing(previous, desired)
    assert info.value.previous_incarnation


def test_a_child_controlled_by_someone_else_is_never_stolen() -> None:
    desired = build_job(spec(), META, OperatorSettings())
    theirs = {"metadata": {"name": "sick", "ownerReferences": [{"kind": "Other", "name": "x", "uid": "other", "controller": True}]}}  # fmt: skip
    with pytest.raises(ownership.ChildConflictError, match="belongs to Other x") as info:
        ownership.check_existing(theirs, desired)
    assert not info.value.previous_incarnation


VALIDATION_CASES = [
    ({**BASE_SPEC, "resources": {"gpus": -1}}, "spec.resources.gpus", "greater than or equal to 0"),
    ({**BASE_SPEC, "trainer": "triplet"}, "spec.data.columns.sentence3", "sentence3"),
    ({"trainer": "pair"}, "spec.data", "Field required"),
    ({**BASE_SPEC, "bogus": 1}, "spec.bogus", "Extra inputs"),
]


@pytest.mark.parametrize(("raw", "field", "problem"), VALIDATION_CASES)
def test_validate_spec_names_the_field(raw: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_spec(raw)
    assert info.value.field == field
    assert problem in info.value.message


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STJOB_NAMESPACES", "ml, research ,")
    monkeypatch.setenv("STJOB_TRAINER_IMAGE", "reg/trainer:9")
    monkeypatch.setenv("STJOB_METRICS_PORT", "9090")
    monkeypatch.setenv("STJOB_LOG_FORMAT", "json")
    settings = OperatorSettings()
    assert settings.namespace_list == ["ml", "research"]
    assert not settings.clusterwide
    assert settings.trainer_image == "reg/trainer:9"
    assert settings.metrics_port == 9090
    assert settings.health_port == 8081
    assert settings.log_format == "json"


def test_settings_defaults_are_cluster_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("STJOB_NAMESPACES", "STJOB_TRAINER_IMAGE"):
        monkeypatch.delenv(var, raising=False)
    settings = OperatorSettings()
    assert settings.clusterwide
    assert settings.trainer_image == "ghcr.io/stjob/trainer:0.1.0"
    assert settings.image_pull_policy == "IfNotPresent"


def test_the_garbage_collector_leaves_the_startup_heap_alone_and_runs_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
