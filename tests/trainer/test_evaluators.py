"""Evaluator construction pieces that need no training."""

from __future__ import annotations

from typing import get_args

import pytest

from stjob.api.shapes import EvaluatorKind, TrainerType
from stjob_trainer.evaluators import EVALUATOR_FACTORIES, _classification_metrics, primary_metric_for, retrieval_task


def test_retrieval_task_groups_repeated_queries() -> None:
    queries, corpus, relevant = retrieval_task(["q1", "q1", "q2"], ["a", "b", "a"])
    assert queries == {"q0": "q1", "q1": "q2"}
    assert corpus == {"d0": "a", "d1": "b"}
    assert relevant == {"q0": {"d0", "d1"}, "q1": {"d0"}}


def test_binary_metrics() -> None:
    metrics = _classification_metrics([1, 0, 1, 1], [1, 0, 0, 1])
    assert metrics == {"accuracy": 0.75, "f1": pytest.approx(0.8)}


def test_multiclass_metrics() -> None:
    metrics = _classification_metrics([0, 1, 2, 2], [0, 1, 2, 1])
    assert metrics["accuracy"] == 0.75
    assert metrics["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


@pytest.mark.parametrize(
    ("trainer", "loss", "primary"),
    [
        ("pair_score", "CoSENTLoss", "spearman_cosine"),
        ("pair_class", "SoftmaxLoss", "accuracy"),
        ("pair_class", "OnlineContrastiveLoss", "cosine_accuracy"),
        ("triplet", "MultipleNegativesRankingLoss", "cosine_accuracy"),
        ("pair", "MultipleNegativesRankingLoss", "cosine_mrr@10"),
        ("qa", "CachedMultipleNegativesRankingLoss", "cosine_mrr@10"),
    ],
)
def test_primary_metric(trainer: TrainerType, loss: str, primary: str) -> None:
    assert primary_metric_for(trainer, loss) == primary


def test_every_evaluator_kind_of_the_shape_table_has_a_factory() -> None:
    from stjob_trainer.reranker import RERANKER_EVALUATOR_FACTORIES
    from stjob_trainer.sparse import SPARSE_EVALUATOR_FACTORIES

    families = (EVALUATOR_FACTORIES, SPARSE_EVALUATOR_FACTORIES, RERANKER_EVALUATOR_FACTORIES)
    assert set().union(*families) == set(get_args(EvaluatorKind))
    assert sum(len(f) for f in families) == len(get_args(EvaluatorKind))  # one family builds each kind
