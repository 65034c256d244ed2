"""Evaluators: one small factory per evaluator kind of the shape table (``stjob.api.shapes``).

The table says which kind scores a shape (and a loss) and what its primary metric is; early stopping and
the best model use that metric. Each factory gets the validation split's canonical columns, in the
shape's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

import torch
from sentence_transformers.sentence_transformer import evaluation
from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator, SentenceEvaluator
from sentence_transformers.util import cos_sim

from stjob.api.shapes import BINARY_ACCURACY, SOFTMAX_ACCURACY, EvaluatorKind, TrainerType, shape_of
from stjob.errors import ConfigError

if TYPE_CHECKING:
    from datasets import Dataset
    from torch import nn


@dataclass(frozen=True)
class EvaluationPlan:
    """An evaluator and the key of its primary metric (without the trainer's ``eval_`` prefix).

    ``extra``: the evaluators of ``evaluation.datasets``, scored for the report only (base model and
    result), not at every evaluation during training; their metric keys carry the set's name.
    """

    evaluator: SentenceEvaluator
    primary_metric: str
    extra: tuple[SentenceEvaluator, ...] = ()

    def report_scores(self, model: Any) -> dict[str, float]:
        """Every metric of the report for ``model``: the validation split's, then each extra set's."""
        scores: dict[str, float] = {}
        for evaluator in (self.evaluator, *self.extra):
            result = evaluator(model)
            named = result if isinstance(result, dict) else {self.primary_metric: result}
            scores |= {key: float(value) for key, value in named.items() if isinstance(value, (int, float))}
        return scores


@dataclass(frozen=True)
class EvaluatorInputs:
    """What a factory builds an evaluator from: the validation columns (shape order) and the loss."""

    columns: list[list[Any]]
    loss: nn.Module
    loss_name: str
    label_names: list[str] | None
    batch_size: int


def primary_metric_for(trainer: TrainerType, loss_name: str) -> str:
    """The primary metric's key for a dataset shape (known before training: ``metric_for_best_model``)."""
    return shape_of(trainer).evaluation_for(loss_name).primary_metric


def build_evaluator(
    trainer: TrainerType,
    valid: Dataset,
    *,
    loss: nn.Module,
    loss_name: str,
    label_names: list[str] | None = None,
    batch_size: int = 32,
) -> EvaluationPlan:
    """Build the evaluator for ``valid`` (canonical columns, see data_loading)."""
    scoring = shape_of(trainer).evaluation_for(loss_name)
    inputs = EvaluatorInputs(
        columns=[list(valid[name]) for name in valid.column_names],
        loss=loss,
        loss_name=loss_name,
        label_names=label_names,
        batch_size=batch_size,
    )
    evaluator = EVALUATOR_FACTORIES[scoring.kind](inputs)
    evaluator.primary_metric = scoring.primary_metric
    return EvaluationPlan(evaluator=evaluator, primary_metric=scoring.primary_metric)


def _similarity(inputs: EvaluatorInputs) -> SentenceEvaluator:
    first, second, scores = inputs.columns
    return evaluation.EmbeddingSimilarityEvaluator(
        first,
        second,
        [float(s) for s in scores],
        main_similarity="cosine",
        similarity_fn_names=["cosine"],
        batch_size=inputs.batch_size,
    )


def _triplet(inputs: EvaluatorInputs) -> SentenceEvaluator:
    anchors, positives, negatives = inputs.columns
    return evaluation.TripletEvaluator(
        anchors,
        positives,
        negatives,
        main_similarity_function="cosine",
        similarity_fn_names=["cosine"],
        batch_size=inputs.batch_size,
    )


def _softmax_accuracy(inputs: EvaluatorInputs) -> SentenceEvaluator:
    premises, hypotheses, labels = inputs.columns
    return SoftmaxAccuracyEvaluator(
        premises, hypotheses, [int(v) for v in labels], loss=inputs.loss, batch_size=inputs.batch_size
    )


def _binary_accuracy(inputs: EvaluatorInputs) -> SentenceEvaluator:
    first, second, raw_labels = inputs.columns
    labels = [int(v) for v in raw_labels]
    if any(v not in (0, 1) for v in labels):
        raise ConfigError(f"loss.name {inputs.loss_name} needs binary labels (0/1), got labels {inputs.label_names}")
    return AccuracyFirstBinaryEvaluator(
        first, second, labels, similarity_fn_names=["cosine"], batch_size=inputs.batch_size
    )


def _retrieval(inputs: EvaluatorInputs) -> SentenceEvaluator:
    queries, corpus, relevant = retrieval_task(inputs.columns[0], inputs.columns[1])
    return retrieval_evaluator(queries, corpus, relevant, batch_size=inputs.batch_size)


class RetrievalCutoffs(TypedDict):
    """Keyword arguments of sentence-transformers' retrieval evaluators (dense and sparse alike)."""

    mrr_at_k: list[int]
    ndcg_at_k: list[int]
    accuracy_at_k: list[int]
    precision_recall_at_k: list[int]
    map_at_k: list[int]


#: The cut-offs every retrieval evaluator reports (dense and sparse): MRR@10 and NDCG@10 are the primary ones.
RETRIEVAL_CUTOFFS: RetrievalCutoffs = {
    "mrr_at_k": [10],
    "ndcg_at_k": [10],
    "accuracy_at_k": [1, 5, 10],
    "precision_recall_at_k": [1, 5, 10],
    "map_at_k": [100],
}


def retrieval_evaluator(
    queries: dict[str, str], corpus: dict[str, str], relevant: dict[str, set[str]], *, batch_size: int, name: str = ""
) -> SentenceEvaluator:
    """The retrieval evaluator of the validation split and of extra retrieval sets (same cut-offs)."""
    return evaluation.InformationRetrievalEvaluator(
        cast("dict[str, Any]", queries),
        cast("dict[str, Any]", corpus),
        relevant,
        **RETRIEVAL_CUTOFFS,
        score_functions={"cosine": cos_sim},
        main_score_function="cosine",
        batch_size=batch_size,
        name=name,
    )


#: One factory per evaluator kind of the shape table.
EVALUATOR_FACTORIES: dict[EvaluatorKind, Callable[[EvaluatorInputs], SentenceEvaluator]] = {
    "retrieval": _retrieval,
    "triplet": _triplet,
    "similarity": _similarity,
    "softmax_accuracy": _softmax_accuracy,
    "binary_accuracy": _binary_accuracy,
}


def retrieval_task(
    queries: list[str], positives: list[str]
) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Queries, corpus and relevance for pair/qa data: every query's own positives are relevant.

    Repeated query texts (a question with several answers) become one query with several relevant
    documents; the corpus holds each distinct positive once.
    """
    query_ids: dict[str, str] = {}
    corpus_ids: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for query, positive in zip(queries, positives, strict=True):
        qid = query_ids.setdefault(query, f"q{len(query_ids)}")
        cid = corpus_ids.setdefault(positive, f"d{len(corpus_ids)}")
        relevant.setdefault(qid, set()).add(cid)
    return (
        {qid: text for text, qid in query_ids.items()},
        {cid: text for text, cid in corpus_ids.items()},
        relevant,
    )


def _classification_metrics(predicted: list[int], gold: list[int]) -> dict[str, float]:
    """Accuracy, plus F1 of label 1 (binary) or macro F1 (more labels)."""
    total = len(gold)
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / total if total else 0.0
    labels = sorted(set(gold) | set(predicted))

    def f1(label: int) -> float:
        tp = sum(p == label and g == label for p, g in zip(predicted, gold, strict=True))
        fp = sum(p == label and g != label for p, g in zip(predicted, gold, strict=True))
        fn = sum(p != label and g == label for p, g in zip(predicted, gold, strict=True))
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    if set(gold) <= {0, 1}:
        return {"accuracy": accuracy, "f1": f1(1)}
    return {"accuracy": accuracy, "macro_f1": sum(f1(label) for label in labels) / len(labels)}


class SoftmaxAccuracyEvaluator(SentenceEvaluator):  # type: ignore[misc]
    """Accuracy (and F1) of the SoftmaxLoss classifier on the validation pairs (``pair_class``)."""

    def __init__(
        self, premises: list[str], hypotheses: list[str], labels: list[int], *, loss: nn.Module, batch_size: int = 32
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.premises, self.hypotheses, self.labels = premises, hypotheses, labels
        self.loss = loss
        self.batch_size = batch_size
        self.name = ""
        self.primary_metric = SOFTMAX_ACCURACY.primary_metric

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Encode both sides, run the loss's classifier, compare with the gold label ids."""
        loss: Any = self.loss
        a = model.encode(self.premises, batch_size=self.batch_size, convert_to_tensor=True)
        b = model.encode(self.hypotheses, batch_size=self.batch_size, convert_to_tensor=True)
        # The same feature layout SoftmaxLoss trains its classifier on.
        parts = []
        if loss.concatenation_sent_rep:
            parts += [a, b]
        if loss.concatenation_sent_difference:
            parts.append(torch.abs(a - b))
        if loss.concatenation_sent_multiplication:
            parts.append(a * b)
        classifier = loss.classifier
        with torch.no_grad():
            features = torch.cat(parts, 1).to(classifier.weight.device, classifier.weight.dtype)
            predicted = torch.argmax(classifier(features), dim=1).tolist()
        metrics = _classification_metrics(predicted, self.labels)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        """Shown in the model card's evaluation table."""
        return "Classification"


class AccuracyFirstBinaryEvaluator(BinaryClassificationEvaluator):  # type: ignore[misc]
    """BinaryClassificationEvaluator with accuracy as primary metric (it would pick average precision)."""

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> Any:
        """Evaluate, then restore the primary metric the parent overwrites on every call."""
        metrics = super().__call__(model, output_path, epoch, steps)
        self.primary_metric = BINARY_ACCURACY.primary_metric
        return metrics
