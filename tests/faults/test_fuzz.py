"""Property-based fuzzing: spec validation and the status logic never crash on garbage."""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import collections
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
EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def _mutated(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    node: Any = out
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return out


def _count_verdict(raw: Any, outcomes: dict[str, int]) -> None:
    """Validate ``raw`` as the operator does: a SpecError naming a spec field, or a valid spec; count which."""
    try:
        validate_spec(raw)
    except SpecError as exc:
        assert exc.field.startswith("spec") and exc.problem
        outcomes["rejected"] += 1
    else:
        outcomes["valid"] += 1


def test_arbitrary_specs_raise_only_validation_errors() -> None:
    """Any JSON value as a spec: the model raises ValidationError; validate_spec (which the operator calls
    with the resource's spec object, a mapping as the CRD schema demands) raises SpecError naming a spec field."""
    outcomes = {"valid": 0, "rejected": 0, "not a mapping": 0}

    @FUZZ
    @given(raw=st.dictionaries(SPEC_KEYS, JSONISH, max_size=6) | JSONISH)
    def check(raw: Any) -> None:
        with contextlib.suppress(ValidationError):
            SentenceTransformerJobSpec.model_validate(raw)
        if not isinstance(raw, dict):
            outcomes["not a mapping"] += 1
            return
        _count_verdict(raw, outcomes)

    check()
    # Every example ran, and the generator reached both kinds of input (a broken strategy reaches one).
    assert sum(outcomes.values()) >= EXAMPLES, outcomes
    assert outcomes["rejected"] > 0 and outcomes["not a mapping"] > 0, outcomes


def test_near_valid_specs_raise_only_validation_errors() -> None:
    """One field of a valid spec replaced by garbage: SpecError naming a spec field, or a valid spec."""
    outcomes = {"valid": 0, "rejected": 0}

    @FUZZ
    @given(
        path=st.lists(st.sampled_from(["data", "training", "output", "hub", "volume", "path", "columns", "epochs",
                                       "learningRate", "batchSize", "target", "claimName", "subPath", "push"]),
                      min_size=1, max_size=3),
        value=JSONISH,
    )  # fmt: skip
    def check(path: list[str], value: Any) -> None:
        _count_verdict(_mutated(BASE_SPEC, path, value), outcomes)

    check()
    assert sum(outcomes.values()) >= EXAMPLES, outcomes
    assert outcomes["rejected"] > 0 and outcomes["valid"] > 0, outcomes


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
# Well-formed pieces beside the garbage, so that the fuzzer also reaches Running, Succeeded and Failed.
TRUE_CONDITION = st.fixed_dictionaries(
    {"type": st.sampled_from(["Complete", "Failed", "FailureTarget", "SuccessCriteriaMet"]), "status": st.just("True")},
    optional={"reason": SCALARS, "message": SCALARS},
)  # fmt: skip
RUNNING_POD = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({"name": st.just("p")}), "status": st.fixed_dictionaries({
        "phase": st.just("Running"),
        "containerStatuses": st.just([{"name": "trainer", "state": {"running": {"startedAt": "2026-01-01T00:01:00Z"}}}])})}
)  # fmt: skip
FINISHED_JOB = st.fixed_dictionaries(
    {"status": st.fixed_dictionaries({"conditions": st.lists(TRUE_CONDITION, min_size=1, max_size=2)})}
)
JOB = st.none() | FINISHED_JOB | st.fixed_dictionaries(
    {}, optional={"spec": st.fixed_dictionaries({}, optional={"suspend": SCALARS}) | JSONISH,
                  "status": st.fixed_dictionaries({}, optional={"conditions": st.lists(CONDITION | TRUE_CONDITION, max_size=3) | JSONISH,
                                                                "completionTime": SCALARS}) | JSONISH}
)  # fmt: skip
CURRENT = st.none() | st.fixed_dictionaries(
    {}, optional={"phase": st.sampled_from([*PHASES, "Bogus"]) | SCALARS, "conditions": st.lists(CONDITION, max_size=3) | JSONISH,
                  "startTime": SCALARS, "completionTime": SCALARS, "jobName": SCALARS}
)  # fmt: skip
SPECS = [spec(), spec(suspend=True), spec(queueName="team-a")]


def test_status_logic_never_crashes_and_always_yields_a_valid_phase() -> None:
    phases: collections.Counter[str] = collections.Counter()

    @FUZZ
    @given(job=JOB, pods=st.lists(POD | RUNNING_POD, max_size=3), current=CURRENT, which=st.integers(0, len(SPECS) - 1))
    def check(job: Any, pods: list[Any], current: Any, which: int) -> None:
        status = next_status(SPECS[which], META, job, pods, current, "2026-01-01T00:00:00Z")
        assert status["phase"] in PHASES
        assert {c["type"] for c in status["conditions"]} >= {"Ready", "Reconciling", "Stalled", "Failed"}
        phases[status["phase"]] += 1

    check()
    assert sum(phases.values()) >= EXAMPLES, phases
    # The generator reaches the state machine's main phases, not only the "garbage means Pending" corner.
    assert {"Pending", "Running", "Succeeded", "Failed"} <= set(phases), phases


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
