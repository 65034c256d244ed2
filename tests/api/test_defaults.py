"""Every AutoTrain parameter exists in the spec with AutoTrain's default."""

from __future__ import annotations

from typing import Any

import pytest

from stjob.api import SentenceTransformerJobSpec, dump_spec
from stjob.api.autotrain import AUTOTRAIN_PARAMS, NULL_EQUIVALENTS, get_path
from stjob.api.recipes import TUNABLE, resolve
from stjob.api.spec import DataSpec
from tests.support.crd_layer import root_schema

# The seed (../shared/SEED.md), written out by hand so a change in either place is caught.
SEED_DEFAULTS: dict[str, Any] = {
    "model": "microsoft/mpnet-base",
    "lr": 3e-5,
    "epochs": 3,
    "max_seq_length": 128,
    "batch_size": 8,
    "warmup_ratio": 0.1,
    "gradient_accumulation": 1,
    "optimizer": "adamw_torch",
    "scheduler": "linear",
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "seed": 42,
    "train_split": "train",
    "valid_split": None,
    "logging_steps": -1,
    "project_name": "project-name",
    "auto_find_batch_size": False,
    "mixed_precision": None,
    "save_total_limit": 1,
    "token": None,
    "push_to_hub": False,
    "eval_strategy": "epoch",
    "username": None,
    "log": "none",
    "early_stopping_patience": 5,
    "early_stopping_threshold": 0.01,
    "trainer": "pair_score",
    "sentence1_column": "sentence1",
    "sentence2_column": "sentence2",
    "sentence3_column": None,
    "target_column": None,
}


def test_all_32_parameters_are_mapped() -> None:
    assert len(AUTOTRAIN_PARAMS) == 32
    assert set(SEED_DEFAULTS) | {"data_path"} == set(AUTOTRAIN_PARAMS)


def expected_default(name: str) -> Any:
    """The seed's default, in the spec's spelling (`none` where AutoTrain has null for an option)."""
    path = AUTOTRAIN_PARAMS[name].path
    seed = SEED_DEFAULTS[name]
    return NULL_EQUIVALENTS[path] if seed is None and path in NULL_EQUIVALENTS else seed


@pytest.fixture(scope="module")
def minimal_spec() -> dict[str, Any]:
    # data.path is the one parameter without a default. Built without validation: the default trainer
    # (pair_score) needs a target column, which AutoTrain also leaves unset by default.
    return dump_spec(SentenceTransformerJobSpec.model_construct(data=DataSpec(path="d")))


#: The parameters a recipe fills (``stjob.api.recipes.TUNABLE``): unset in the spec and the CRD (no server
#: default), so an explicit value is told apart; the default recipe ``autotrain`` resolves them to the seed.
RECIPE_FILLED = sorted(name for name, param in AUTOTRAIN_PARAMS.items() if param.path in TUNABLE)


def test_the_recipe_fills_the_hyperparameters_autotrain_tunes() -> None:
    assert RECIPE_FILLED == ["batch_size", "epochs", "lr", "warmup_ratio"]


@pytest.mark.parametrize("name", sorted(set(SEED_DEFAULTS) - set(RECIPE_FILLED)))
def test_pydantic_default_equals_seed(name: str, minimal_spec: dict[str, Any]) -> None:
    assert get_path(minimal_spec, AUTOTRAIN_PARAMS[name].path) == expected_default(name)


@pytest.mark.parametrize("name", RECIPE_FILLED)
def test_default_recipe_resolves_to_seed(name: str, minimal_spec: dict[str, Any]) -> None:
    path = AUTOTRAIN_PARAMS[name].path
    assert get_path(minimal_spec, path) is None  # unset: the recipe decides
    assert get_path(minimal_spec, "training.recipe") == "autotrain"
    spec = SentenceTransformerJobSpec.model_validate({"data": {"path": "d", "columns": {"target": "score"}}})
    assert resolve(spec).value(path) == expected_default(name)
    assert spec.hyperparameters.value(path) == expected_default(name)


@pytest.mark.parametrize("name", sorted(AUTOTRAIN_PARAMS))
def test_description_names_the_autotrain_parameter(name: str) -> None:
    node: dict[str, Any] = root_schema()["properties"]["spec"]
    for part in AUTOTRAIN_PARAMS[name].path.split("."):
        node = node["properties"][part]
    assert f"AutoTrain: `{name}`" in node["description"]
