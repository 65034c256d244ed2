"""The model families (``spec.model.type``): which trainers and losses each takes, in the table and the spec."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from stjob.api import shapes
from stjob.api.shapes import FAMILY_SHAPES, SHAPES, LossName, ModelType, TrainerType
from stjob.api.spec import SentenceTransformerJobSpec


def _spec(family: ModelType, trainer: TrainerType, **extra: Any) -> SentenceTransformerJobSpec:
    data = {"path": "d", "columns": {"target": "t", "sentence3": "n"}, **extra.pop("data", {})}
    return SentenceTransformerJobSpec.model_validate(
        {"trainer": trainer, "model": {"name": "m", "type": family}, "data": data, **extra}
    )


def test_every_family_has_a_row_and_embedding_is_the_shape_table() -> None:
    assert list(FAMILY_SHAPES) == list(get_args(ModelType))
    assert FAMILY_SHAPES["embedding"] is SHAPES
    assert shapes.TRAINERS_BY_FAMILY["reranker"] == ("pair_class", "pair_score", "pair", "qa")
    assert shapes.TRAINERS_BY_FAMILY["sparse"] == ("pair", "qa", "triplet")


@pytest.mark.parametrize(
    ("family", "shape"), [(f, s) for f, rows in FAMILY_SHAPES.items() for s in rows.values()], ids=str
)
def test_a_family_row_keeps_the_embedding_columns(family: ModelType, shape: shapes.TrainerShape) -> None:
    assert shape.columns == SHAPES[shape.trainer].columns  # data loading is family-blind
    assert shape.losses and set(shape.losses) <= set(get_args(LossName))
    assert set(shape.evaluation_by_loss) <= set(shape.losses)


def test_every_loss_name_belongs_to_some_family() -> None:
    used = {loss for rows in FAMILY_SHAPES.values() for shape in rows.values() for loss in shape.losses}
    assert used == set(get_args(LossName))


def test_the_default_family_is_embedding_with_the_same_defaults() -> None:
    spec = SentenceTransformerJobSpec.model_validate({"data": {"path": "d", "columns": {"target": "t"}}})
    assert spec.model.type == "embedding" and spec.loss_name == "CoSENTLoss"


@pytest.mark.parametrize(
    ("family", "trainer", "default"),
    [(f, t, s.default_loss) for f, rows in FAMILY_SHAPES.items() for t, s in rows.items()],
)
def test_each_family_trainer_has_its_default_loss(family: ModelType, trainer: TrainerType, default: str) -> None:
    assert _spec(family, trainer).loss_name == default


def test_reranker_defaults() -> None:
    assert _spec("reranker", "pair_class").loss_name == "BinaryCrossEntropyLoss"
    assert _spec("reranker", "qa").loss_name == "MultipleNegativesRankingLoss"
    assert _spec("sparse", "pair").loss_name == "SpladeLoss"
    assert shapes.shape_of("pair_class", "reranker").evaluation_for("CrossEntropyLoss") == shapes.RERANK_MULTICLASS


@pytest.mark.parametrize(
    ("family", "trainer"), [("reranker", "triplet"), ("sparse", "pair_class"), ("sparse", "pair_score")]
)
def test_a_family_refuses_the_trainers_it_does_not_take(family: ModelType, trainer: TrainerType) -> None:
    with pytest.raises(ValidationError, match=r"trainer does not fit model\.type"):
        _spec(family, trainer)


@pytest.mark.parametrize(
    ("family", "trainer", "loss"),
    [
        ("embedding", "pair", "ListNetLoss"),  # embedding resources accept what they did
        ("embedding", "pair_class", "BinaryCrossEntropyLoss"),
        ("embedding", "pair", "SpladeLoss"),
        ("reranker", "pair_class", "SoftmaxLoss"),
        ("reranker", "pair_score", "CoSENTLoss"),
        ("reranker", "pair", "CachedMultipleNegativesRankingLoss"),
        ("sparse", "qa", "MultipleNegativesRankingLoss"),
    ],
)
def test_a_loss_of_another_family_is_refused(family: ModelType, trainer: TrainerType, loss: str) -> None:
    with pytest.raises(ValidationError, match=r"loss\.name does not fit the trainer"):
        _spec(family, trainer, loss={"name": loss}, data={"hardNegatives": {}})


@pytest.mark.parametrize("loss", shapes.RERANKER_LOSSES_NEEDING_NEGATIVES)
def test_reranker_losses_on_pairs_need_mined_negatives(loss: str) -> None:
    with pytest.raises(ValidationError, match=r"set data\.hardNegatives"):
        _spec("reranker", "qa", loss={"name": loss})
    assert _spec("reranker", "qa", loss={"name": loss}, data={"hardNegatives": {}}).loss_name == loss
    assert _spec("reranker", "pair", data={"hardNegatives": {}}).loss_name == "MultipleNegativesRankingLoss"


def test_matryoshka_is_embedding_only() -> None:
    assert _spec("embedding", "pair", loss={"matryoshkaDimensions": [8]}).loss.matryoshka_dimensions == [8]
    with pytest.raises(ValidationError, match=r"matryoshkaDimensions applies to model\.type embedding"):
        _spec("reranker", "pair", loss={"matryoshkaDimensions": [8]})
