"""The trainer-shape table (stjob.api.shapes): complete, consistent, and what the spec derives from it."""

from __future__ import annotations

from typing import get_args

import pytest

from stjob.api import shapes
from stjob.api.shapes import SHAPES, LossName, TrainerType
from stjob.api.spec import SentenceTransformerJobSpec


def test_every_trainer_type_has_exactly_one_row() -> None:
    assert list(SHAPES) == list(get_args(TrainerType))
    assert all(trainer == shape.trainer for trainer, shape in SHAPES.items())


@pytest.mark.parametrize("shape", SHAPES.values(), ids=list(SHAPES))
def test_each_row_is_well_formed(shape: shapes.TrainerShape) -> None:
    assert shape.losses and len(set(shape.losses)) == len(shape.losses)
    assert set(shape.losses) <= set(get_args(LossName))
    assert len(set(shape.column_names)) == len(shape.columns)  # one canonical column per name
    assert len(set(shape.source_fields)) == len(shape.columns)  # each spec field feeds one column
    assert shape.source_fields[:2] == ("sentence1", "sentence2")  # every shape has two texts first
    assert set(shape.evaluation_by_loss) <= set(shape.losses)  # an override for a loss the shape allows


def test_derived_tables() -> None:
    assert shapes.LOSSES_BY_TRAINER["pair_score"][0] == "CoSENTLoss"
    assert {"pair_class", "pair_score"} <= set(shapes.TRAINERS_NEEDING_TARGET)
    assert "pair" not in shapes.TRAINERS_NEEDING_TARGET
    assert "triplet" in shapes.TRAINERS_NEEDING_SENTENCE3 and "qa" not in shapes.TRAINERS_NEEDING_SENTENCE3
    assert shapes.shape_of("pair_class").target == "label" and shapes.shape_of("pair").target is None
    assert shapes.shape_of("pair_class").evaluation_for("ContrastiveLoss") == shapes.BINARY_ACCURACY
    assert shapes.shape_of("pair_class").evaluation_for("SoftmaxLoss") == shapes.SOFTMAX_ACCURACY
    assert shapes.columns_summary().startswith("pair (anchor, positive), pair_class (premise, hypothesis, label)")
    summary = shapes.default_losses_summary()
    assert summary.startswith("MultipleNegativesRankingLoss for pair, triplet") and " and qa" in summary
    assert "; SoftmaxLoss for pair_class; CoSENTLoss for pair_score" in summary


@pytest.mark.parametrize("trainer", list(SHAPES))
def test_the_spec_default_loss_is_the_table_default(trainer: TrainerType) -> None:
    spec = SentenceTransformerJobSpec.model_validate(
        {
            "trainer": trainer,
            "model": {"name": "m"},
            "data": {"path": "d", "columns": {"target": "t", "sentence3": "n"}},
            "output": {"projectName": "p"},
        }
    )
    assert spec.loss_name == SHAPES[trainer].default_loss
