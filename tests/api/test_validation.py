"""Valid and invalid resources through pydantic, naming the exact field.

The same cases go to the real Kubernetes 1.36 CRD server in ``tests/kube/test_crd_server.py``; the two
layers must name the same field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stjob.api import SentenceTransformerJob
from tests.api.resources import BASE, EXAMPLES, INVALID, pydantic_fields


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    assert pydantic_fields(yaml.safe_load(path.read_text())) == set()


def test_base_is_valid() -> None:
    assert pydantic_fields(BASE) == set()


@pytest.mark.parametrize(("obj", "field"), [(o, f) for _, o, f in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_resource_names_its_field(obj: dict[str, Any], field: str) -> None:
    assert pydantic_fields(obj) == {field}


def test_at_least_30_invalid_cases() -> None:
    assert len(INVALID) >= 30


def test_metadata_name_too_long() -> None:
    obj = copy.deepcopy(BASE)
    obj["metadata"]["name"] = "x" * 53
    assert pydantic_fields(obj) == {"metadata.name"}


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
