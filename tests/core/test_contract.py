"""The operator/trainer wire (stjob.api.contract): the termination message both sides use, the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stjob.api.contract import MAX_TERMINATION_BYTES, RunLayout, TerminationMessage

# What a trainer container may leave in its termination log, and what the operator reads from it.
PARSE_CASES = [
    (
        '{"outcome": "Failed", "reason": "DataError", "message": "row 3"}',
        TerminationMessage(outcome="Failed", reason="DataError", message="row 3"),
    ),
    (
        '{"outcome": "Succeeded", "modelPath": "/output/x/model", "hubUrl": "https://hf.co/a/b"}',
        TerminationMessage(outcome="Succeeded", model_path="/output/x/model", hub_url="https://hf.co/a/b"),
    ),
    (
        '{"outcome": "Interrupted", "reason": "Interrupted", "checkpoint": "/output/x/checkpoints/checkpoint-3"}',
        TerminationMessage(
            outcome="Interrupted", reason="Interrupted", checkpoint="/output/x/checkpoints/checkpoint-3"
        ),
    ),
    (
        '{"outcome": "Failed", "reason": "not a reason!"}',
        TerminationMessage(outcome="Failed"),
    ),  # free text is no condition reason
    (
        '{"outcome": "Failed", "message": 42, "modelPath": 7, "hubUrl": ""}',
        TerminationMessage(outcome="Failed", message="42"),
    ),
    (
        '{"outcome": "Succeeded", "futureKey": 1}',
        TerminationMessage(outcome="Succeeded"),
    ),  # a newer trainer's extra key
    ('  {"outcome": "Succeeded"}\n', TerminationMessage(outcome="Succeeded")),
    ("Traceback (most recent call last): ...", None),  # FallbackToLogsOnError: a log tail
    ('{"outcome": 3}', None),
    ('{"outcome": "Exploded"}', None),
    ('{"reason": "DataError"}', None),
    ("[1, 2]", None),
    ("{not json", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_is_lenient_about_what_a_crashed_container_left(
    text: str | None, expected: TerminationMessage | None
) -> None:
    assert TerminationMessage.parse(text) == expected


@pytest.mark.parametrize(
    "message",
    [
        TerminationMessage(outcome="Succeeded", model_path="/output/p/model", hub_url="https://hf.co/u/p"),
        TerminationMessage(outcome="Failed", reason="DataError", message="file a.csv, row 3"),
        TerminationMessage(
            outcome="Interrupted", reason="Interrupted", message="SIGTERM", checkpoint="/c/checkpoint-9"
        ),
    ],
)
def test_what_the_trainer_writes_the_operator_reads_back(message: TerminationMessage) -> None:
    assert TerminationMessage.parse(message.to_json()) == message


def test_written_json_is_camel_case_without_nulls() -> None:
    text = TerminationMessage(outcome="Succeeded", model_path="/output/p/model").to_json()
    assert json.loads(text) == {"outcome": "Succeeded", "modelPath": "/output/p/model"}


def test_a_long_message_is_cut_to_the_kubernetes_limit_keeping_outcome_and_reason() -> None:
    long = TerminationMessage(outcome="Failed", reason="DataError", message="é" * 10_000, checkpoint="c" * 5000)
    text = long.to_json()
    assert len(text.encode()) <= MAX_TERMINATION_BYTES
    parsed = TerminationMessage.parse(text)
    assert parsed is not None and parsed.outcome == "Failed" and parsed.reason == "DataError"
    assert parsed.message is not None and parsed.message.endswith("…")
    assert parsed.checkpoint is None  # optional keys go when the message alone cannot make room


def test_run_layout_is_the_documented_folder() -> None:
    run = RunLayout.of(Path("/output"), "sick")
    assert run.root == Path("/output/sick")
    assert run.checkpoints == Path("/output/sick/checkpoints")
    assert run.model == Path("/output/sick/model")
    assert run.label_map == Path("/output/sick/model/label_map.json")
    assert run.metrics == Path("/output/sick/metrics.jsonl")
    assert run.result == Path("/output/sick/result.json")
    assert run.tensorboard == Path("/output/sick/tensorboard")
