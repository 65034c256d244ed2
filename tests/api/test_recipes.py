"""Recipe resolution: explicit spec fields win, ``autotrain`` is AutoTrain, ``recommended`` follows its table."""

from __future__ import annotations

from typing import Any

import pytest

from stjob.api import SentenceTransformerJobSpec
from stjob.api.autotrain import AUTOTRAIN_PARAMS
from stjob.api.recipes import (
    PAIR_SCORE_MIN_ROWS,
    RECIPES,
    TUNABLE,
    DataFacts,
    data_cases,
    explain,
    recipe_row,
    resolve,
)
from stjob.api.shapes import LOSSES_BY_TRAINER, SHAPES

COLUMNS: dict[str, dict[str, str]] = {
    "pair": {},
    "qa": {},
    "pair_class": {"target": "label"},
    "pair_score": {"target": "score"},
    "triplet": {"sentence3": "negative"},
}


def spec(trainer: str, recipe: str | None = None, **training: Any) -> SentenceTransformerJobSpec:
    body: dict[str, Any] = {"trainer": trainer, "data": {"path": "d", "columns": COLUMNS[trainer]}}
    body["training"] = {**({"recipe": recipe} if recipe else {}), **training}
    return SentenceTransformerJobSpec.model_validate(body)


AUTOTRAIN = {
    "training.learningRate": AUTOTRAIN_PARAMS["lr"].default,
    "training.epochs": AUTOTRAIN_PARAMS["epochs"].default,
    "training.batchSize": AUTOTRAIN_PARAMS["batch_size"].default,
    "training.warmupRatio": AUTOTRAIN_PARAMS["warmup_ratio"].default,
    "data.hardNegatives": None,
}

# (trainer, data facts, what `recommended` resolves to): the table, written out by hand.
RECOMMENDED: list[tuple[str, DataFacts, dict[str, Any]]] = [
    (
        "pair_class",
        DataFacts(n_train=3576, n_labels=2),
        {"loss.name": "OnlineContrastiveLoss", "training.epochs": 1, "training.batchSize": 16},
    ),
    ("pair_class", DataFacts(n_train=4500, n_labels=3), {"loss.name": "SoftmaxLoss", **AUTOTRAIN}),
    ("pair_score", DataFacts(n_train=400), {"loss.name": "CoSENTLoss", **AUTOTRAIN}),
    (
        "pair_score",
        DataFacts(n_train=4500),
        {"loss.name": "CoSENTLoss", "training.epochs": 4, "training.learningRate": 5e-5, "training.batchSize": 16},
    ),
    ("qa", DataFacts(n_train=348), {"loss.name": "MultipleNegativesRankingLoss", "data.hardNegatives": 1}),
    ("pair", DataFacts(n_train=348), {"loss.name": "MultipleNegativesRankingLoss", "data.hardNegatives": 1}),
    ("triplet", DataFacts(n_train=680), {"loss.name": "MultipleNegativesRankingLoss", **AUTOTRAIN}),
]


@pytest.mark.parametrize("trainer", sorted(SHAPES))
@pytest.mark.parametrize("recipe", [None, "autotrain"])
def test_autotrain_is_autotrains_defaults_and_the_shapes_default_loss(trainer: str, recipe: str | None) -> None:
    for _, facts in [*data_cases(trainer), ("unknown", DataFacts())]:  # type: ignore[arg-type]
        resolution = resolve(spec(trainer, recipe), facts)
        assert resolution.recipe == "autotrain"
        assert {path: resolution.value(path) for path in AUTOTRAIN} == AUTOTRAIN
        assert resolution.loss == LOSSES_BY_TRAINER[trainer][0]  # type: ignore[index]
        assert set(resolution.sources.values()) == {"recipe"}


@pytest.mark.parametrize(("trainer", "facts", "expected"), RECOMMENDED, ids=lambda v: str(v)[:40])
def test_recommended_follows_the_table(trainer: str, facts: DataFacts, expected: dict[str, Any]) -> None:
    resolution = resolve(spec(trainer, "recommended"), facts)
    assert {path: resolution.value(path) for path in expected} == expected
    assert resolution.loss in LOSSES_BY_TRAINER[trainer]  # type: ignore[index]


@pytest.mark.parametrize("recipe", ["autotrain", "recommended"])
@pytest.mark.parametrize(("trainer", "facts", "_"), RECOMMENDED, ids=lambda v: str(v)[:40])
def test_explicit_spec_fields_win(recipe: str, trainer: str, facts: DataFacts, _: Any) -> None:
    explicit = {"learningRate": 1e-4, "epochs": 7, "batchSize": 5, "warmupRatio": 0.0}
    loss = LOSSES_BY_TRAINER[trainer][-1]  # type: ignore[index]
    body = spec(trainer, recipe, **explicit).model_dump(by_alias=True, exclude_none=True)
    body["loss"] = {"name": loss}
    if trainer in ("pair", "qa"):
        body["data"]["hardNegatives"] = {"numNegatives": 3}
    resolution = resolve(SentenceTransformerJobSpec.model_validate(body), facts)
    assert (resolution.learning_rate, resolution.epochs, resolution.batch_size, resolution.warmup_ratio) == (
        1e-4,
        7,
        5,
        0.0,
    )
    assert resolution.loss == loss
    assert resolution.sources["training.epochs"] == "spec" and resolution.sources["loss.name"] == "spec"
    if trainer in ("pair", "qa"):
        assert resolution.hard_negatives == 3 and resolution.sources["data.hardNegatives"] == "spec"


def test_an_explicit_zero_warmup_is_not_mistaken_for_unset() -> None:
    resolution = resolve(spec("qa", "recommended", warmupRatio=0.0))
    assert resolution.warmup_ratio == 0.0 and resolution.sources["training.warmupRatio"] == "spec"


def test_apply_writes_the_resolution_into_the_spec() -> None:
    original = spec("qa", "recommended", epochs=2)
    resolution = resolve(original, DataFacts(n_train=348))
    applied = resolution.apply(original)
    assert applied.training.epochs == 2 and applied.training.batch_size == 16
    assert applied.loss.name == "MultipleNegativesRankingLoss" and applied.loss_name == applied.loss.name
    assert applied.data.hard_negatives is not None and applied.data.hard_negatives.num_negatives == 1
    # Applied, every field is explicit: resolving again (the trainer's later reads) changes nothing.
    again = resolve(applied, DataFacts(n_train=348))
    assert {p: again.value(p) for p in TUNABLE} == {p: resolution.value(p) for p in TUNABLE}
    assert applied.hyperparameters.batch_size == 16
    assert original.training.batch_size is None  # the user's spec is not changed


def test_unknown_data_takes_the_first_case_of_the_shape() -> None:
    assert recipe_row("recommended", "pair_class").case == "binary labels"
    assert recipe_row("recommended", "pair_class", DataFacts(n_labels=3)).case == "three or more labels"


def test_pair_score_takes_more_epochs_only_from_the_measured_size_on() -> None:
    small, large = DataFacts(n_train=PAIR_SCORE_MIN_ROWS - 1), DataFacts(n_train=PAIR_SCORE_MIN_ROWS)
    assert resolve(spec("pair_score", "recommended"), small).epochs == AUTOTRAIN["training.epochs"]
    assert resolve(spec("pair_score", "recommended"), large).epochs == 4
    assert (
        sum(line.startswith("recipe recommended for pair_score") for line in explain(spec("pair_score", "recommended")))
        == 2
    )


def test_other_model_families_get_autotrains_values() -> None:
    body = {"trainer": "pair_class", "model": {"type": "reranker"}, "data": {"path": "d", "columns": {"target": "l"}}}
    body["training"] = {"recipe": "recommended"}
    resolution = resolve(SentenceTransformerJobSpec.model_validate(body), DataFacts(n_labels=2))
    assert resolution.epochs == AUTOTRAIN["training.epochs"] and resolution.loss == "BinaryCrossEntropyLoss"


def test_every_recipe_covers_every_shape_with_losses_it_allows() -> None:
    for name, rows in RECIPES.items():
        assert {row.trainer for row in rows} == set(SHAPES), name
        for row in rows:
            assert row.values.loss is None or row.values.loss in LOSSES_BY_TRAINER[row.trainer], (name, row)


def test_explain_lists_each_data_case_and_each_field() -> None:
    lines = explain(spec("pair_class", "recommended", epochs=2))
    assert sum(line.startswith("recipe recommended for pair_class") for line in lines) == 2
    assert "  training.epochs: 2  (explicit in the spec)" in lines
    assert "  loss.name: OnlineContrastiveLoss  (from the recipe)" in lines
    assert "  loss.name: SoftmaxLoss  (from the recipe)" in lines
    # The autotrain recipe does not tell the data cases apart: one block.
    assert sum(line.startswith("recipe ") for line in explain(spec("pair_class"))) == 1


def test_the_result_record_names_value_and_source() -> None:
    record = resolve(spec("qa", "recommended", epochs=2), DataFacts(n_train=100)).to_json()
    assert record["name"] == "recommended" and record["case"] == "any"
    assert record["fields"]["training.epochs"] == {"value": 2, "from": "spec"}
    assert record["fields"]["training.batchSize"] == {"value": 16, "from": "recipe"}
    assert record["fields"]["data.hardNegatives"] == {"value": 1, "from": "recipe"}
