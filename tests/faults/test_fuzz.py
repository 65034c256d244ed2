"""Property-based fuzzing: spec validation and the status logic never crash on garbage."""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stjob.api import SentenceTransformerJobSpec
from stjob.controller.status_logic import PHASES, next_status
from stjob.controller.validation import validate_spec
from stjob.errors import SpecError
from tests.controller.factories import BASE_SPEC, META, spec

SCALARS = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=20)
JSONISH = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)  # fmt: skip
SPEC_KEYS = st.sampled_from(
    ["trainer", "model", "data", "training", "loss", "output", "tracking", "resources", "scheduling",
     "distributed", "queueName", "runPolicy", "suspend", "image", "imagePullSecrets"]
)  # fmt: skip
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRIED = {"specs": 0, "statuses": 0}


def _mutated(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node: Any = out
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return out


@FUZZ
@given(raw=st.dictionaries(SPEC_KEYS, JSONISH, max_size=6) | JSONISH)
def test_arbitrary_specs_raise_only_validation_errors(raw: Any) -> None:
    TRIED["specs"] += 1
    with contextlib.suppress(ValidationError):
        SentenceTransformerJobSpec.model_validate(raw)
    try:
        validate_spec(raw if isinstance(raw, dict) else {"spec": raw})
    except SpecError as exc:
        assert exc.field.startswith("spec")


@FUZZ
@given(
    path=st.lists(st.sampled_from(["data", "training", "output", "hub", "volume", "path", "columns", "epochs",
                                   "learningRate", "batchSize", "target", "claimName", "subPath", "push"]),
                  min_size=1, max_size=3),
    value=JSONISH,
)  # fmt: skip
def test_near_valid_specs_raise_only_validation_errors(path: list[str], value: Any) -> None:
    TRIED["specs"] += 1
    try:
        validate_spec(_mutated(BASE_SPEC, path, value))
    except SpecError as exc:
        assert exc.field.startswith("spec") and exc.problem


CONTAINER = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["trainer", "other"]) | SCALARS,
        "state": st.dictionaries(st.sampled_from(["running", "terminated", "waiting"]), JSONISH | st.fixed_dictionaries(
            {}, optional={"exitCode": SCALARS, "reason": SCALARS, "message": SCALARS | st.just('{"outcome": "Failed", "reason": "DataError"}'),
                          "startedAt": SCALARS})),
    },
)  # fmt: skip
CONDITION = st.fixed_dictionaries(
    {}, optional={"type": st.sampled_from(["Complete", "Failed", "FailureTarget", "PodScheduled", "DisruptionTarget"]) | SCALARS,
                  "status": st.sampled_from(["True", "False"]) | SCALARS, "reason": SCALARS, "message": SCALARS}
)  # fmt: skip
POD = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={"name": SCALARS, "creationTimestamp": SCALARS, "deletionTimestamp": SCALARS}) | JSONISH,
        "status": st.fixed_dictionaries({}, optional={"phase": st.sampled_from(["Pending", "Running", "Failed", "Succeeded"]) | SCALARS,
                                                      "reason": SCALARS, "conditions": st.lists(CONDITION, max_size=3) | JSONISH,
                                                      "containerStatuses": st.lists(CONTAINER, max_size=2) | JSONISH}) | JSONISH,
    },
)  # fmt: skip
JOB = st.none() | st.fixed_dictionaries(
    {}, optional={"spec": st.fixed_dictionaries({}, optional={"suspend": SCALARS}) | JSONISH,
                  "status": st.fixed_dictionaries({}, optional={"conditions": st.lists(CONDITION, max_size=3) | JSONISH,
                                                                "completionTime": SCALARS}) | JSONISH}
)  # fmt: skip
CURRENT = st.none() | st.fixed_dictionaries(
    {}, optional={"phase": st.sampled_from([*PHASES, "Bogus"]) | SCALARS, "conditions": st.lists(CONDITION, max_size=3) | JSONISH,
                  "startTime": SCALARS, "completionTime": SCALARS, "jobName": SCALARS}
)  # fmt: skip
SPECS = [spec(), spec(suspend=True), spec(queueName="team-a")]


@FUZZ
@given(job=JOB, pods=st.lists(POD, max_size=3), current=CURRENT, which=st.integers(0, len(SPECS) - 1))
def test_status_logic_never_crashes_and_always_yields_a_valid_phase(
    job: Any, pods: list[Any], current: Any, which: int
) -> None:
    TRIED["statuses"] += 1
    status = next_status(SPECS[which], META, job, pods, current, "2026-01-01T00:00:00Z")
    assert status["phase"] in PHASES
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Reconciling", "Stalled", "Failed"}


def test_garbage_where_strings_and_objects_belong() -> None:
    """Regressions found by fuzzing: a numeric termination message, null/typed-wrong status fields."""
    pods = [
        {
            "metadata": {"name": "p", "creationTimestamp": 5},
            "status": {
                "phase": "Failed",
                "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": 3}],
                "containerStatuses": [
                    {"name": "trainer", "state": {"terminated": {"exitCode": "x", "message": 5, "startedAt": 7}}}
                ],
            },
        },
        {"metadata": None, "status": {"containerStatuses": True, "conditions": None}},
    ]
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": 4, "message": [1]}]}}
    for job in (failed, {"status": None}, {"spec": True}, None):
        status = next_status(spec(), META, job, pods, {"phase": 7, "conditions": True}, "2026-01-01T00:00:00Z")
        assert status["phase"] in PHASES
    status = next_status(spec(), META, failed, pods, None, "2026-01-01T00:00:00Z")
    assert status["phase"] == "Failed"
