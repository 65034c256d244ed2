"""The trainer shapes in one table: what each ``spec.trainer`` reads, trains with and is measured by.

Torch-free and shared by both images: the spec derives its loss rules from it, the trainer its columns
(data_loading), its loss (losses) and its evaluator (evaluators). Adding a shape is a change here:
one name in :data:`TrainerType` and one row in :data:`SHAPES` (plus the regenerated CRD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

TrainerType = Literal["pair", "pair_class", "pair_score", "triplet", "qa"]
#: The model family a job trains (``spec.model.type``): a bi-encoder, a cross-encoder, a SPLADE encoder.
ModelType = Literal["embedding", "reranker", "sparse"]
#: Every loss any family takes; a name means the family's own class (the reranker's
#: MultipleNegativesRankingLoss is sentence-transformers' cross-encoder one).
LossName = Literal[
    "MultipleNegativesRankingLoss",
    "CachedMultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "TripletLoss",
    "SoftmaxLoss",
    "ContrastiveLoss",
    "OnlineContrastiveLoss",
    "CoSENTLoss",
    "AnglELoss",
    "CosineSimilarityLoss",
    # reranker (sentence_transformers.cross_encoder.losses)
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "LambdaLoss",
    "ListNetLoss",
    # sparse (sentence_transformers.sparse_encoder.losses): SpladeLoss over SparseMultipleNegativesRankingLoss
    "SpladeLoss",
]
#: The ``spec.data.columns`` fields that name a dataset column.
ColumnField = Literal["sentence1", "sentence2", "sentence3", "target"]
#: How a validation split is scored (the trainer keeps one evaluator factory per kind).
EvaluatorKind = Literal[
    "retrieval",
    "triplet",
    "similarity",
    "softmax_accuracy",
    "binary_accuracy",
    "rerank",
    "rerank_classification",
    "rerank_multiclass",
    "rerank_correlation",
    "sparse_retrieval",
    "sparse_triplet",
]


@dataclass(frozen=True)
class Column:
    """A column the training pipeline sees (``name``) and the spec field naming the user's column for it."""

    name: str
    source: ColumnField


@dataclass(frozen=True)
class Evaluation:
    """An evaluator kind and the key of its primary metric (best model, early stopping, progress)."""

    kind: EvaluatorKind
    primary_metric: str


#: Retrieval of each query's own positive among all positives (pair, qa data).
RETRIEVAL = Evaluation("retrieval", "cosine_mrr@10")
#: Is the positive closer to the anchor than the negative?
TRIPLET = Evaluation("triplet", "cosine_accuracy")
#: Rank correlation of the cosine similarity with the gold score.
SIMILARITY = Evaluation("similarity", "spearman_cosine")
#: Accuracy of the SoftmaxLoss classifier head.
SOFTMAX_ACCURACY = Evaluation("softmax_accuracy", "accuracy")
#: Accuracy of a cosine threshold on similar (1) / dissimilar (0) pairs.
BINARY_ACCURACY = Evaluation("binary_accuracy", "cosine_accuracy")

#: Reranker: MRR@10 of each query's positives among its candidates (CrossEncoderRerankingEvaluator).
RERANK = Evaluation("rerank", "mrr@10")
#: Reranker on 0/1 labels: average precision of the scores (CrossEncoderClassificationEvaluator, binary).
RERANK_CLASSIFICATION = Evaluation("rerank_classification", "average_precision")
#: Reranker on class labels: macro F1 of the predicted class (CrossEncoderClassificationEvaluator).
RERANK_MULTICLASS = Evaluation("rerank_multiclass", "f1_macro")
#: Reranker on scores: rank correlation of the score with the gold score (CrossEncoderCorrelationEvaluator).
RERANK_CORRELATION = Evaluation("rerank_correlation", "spearman")
#: Sparse: retrieval of each query's positive among all positives (SparseInformationRetrievalEvaluator).
SPARSE_RETRIEVAL = Evaluation("sparse_retrieval", "dot_ndcg@10")
#: Sparse: is the positive closer to the anchor than the negative (SparseTripletEvaluator)?
SPARSE_TRIPLET = Evaluation("sparse_triplet", "dot_accuracy")

#: The in-batch-negative losses: every other positive in the batch is a negative (pair and qa data).
IN_BATCH_NEGATIVES: tuple[LossName, ...] = (
    "MultipleNegativesRankingLoss",
    "CachedMultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
)


@dataclass(frozen=True)
class TrainerShape:
    """One dataset shape and its training recipe."""

    trainer: TrainerType
    #: In the order the losses and evaluators take them.
    columns: tuple[Column, ...]
    #: The losses that make sense for this shape; the first is the default.
    losses: tuple[LossName, ...]
    evaluation: Evaluation
    #: Losses that need another evaluator than the shape's (a binary loss on class labels).
    evaluation_by_loss: Mapping[str, Evaluation] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The canonical columns, in order."""
        return tuple(column.name for column in self.columns)

    @property
    def source_fields(self) -> tuple[ColumnField, ...]:
        """The ``spec.data.columns`` fields this shape reads, in column order."""
        return tuple(column.source for column in self.columns)

    @property
    def target(self) -> str | None:
        """The canonical name of the target column (``label``, ``score``), None for text-only shapes."""
        return next((column.name for column in self.columns if column.source == "target"), None)

    @property
    def default_loss(self) -> LossName:
        """The loss used when ``spec.loss.name`` is unset."""
        return self.losses[0]

    def evaluation_for(self, loss: str) -> Evaluation:
        """The evaluator kind and primary metric when training with ``loss``."""
        return self.evaluation_by_loss.get(loss, self.evaluation)


SHAPES: dict[TrainerType, TrainerShape] = {
    shape.trainer: shape
    for shape in (
        TrainerShape(
            "pair",
            columns=(Column("anchor", "sentence1"), Column("positive", "sentence2")),
            losses=IN_BATCH_NEGATIVES,
            evaluation=RETRIEVAL,
        ),
        TrainerShape(
            "pair_class",
            columns=(Column("premise", "sentence1"), Column("hypothesis", "sentence2"), Column("label", "target")),
            losses=("SoftmaxLoss", "ContrastiveLoss", "OnlineContrastiveLoss"),
            evaluation=SOFTMAX_ACCURACY,
            evaluation_by_loss={"ContrastiveLoss": BINARY_ACCURACY, "OnlineContrastiveLoss": BINARY_ACCURACY},
        ),
        TrainerShape(
            "pair_score",
            columns=(Column("sentence1", "sentence1"), Column("sentence2", "sentence2"), Column("score", "target")),
            losses=("CoSENTLoss", "AnglELoss", "CosineSimilarityLoss"),
            evaluation=SIMILARITY,
        ),
        TrainerShape(
            "triplet",
            columns=(Column("anchor", "sentence1"), Column("positive", "sentence2"), Column("negative", "sentence3")),
            losses=("MultipleNegativesRankingLoss", "CachedMultipleNegativesRankingLoss", "TripletLoss"),
            evaluation=TRIPLET,
        ),
        TrainerShape(
            "qa",
            columns=(Column("query", "sentence1"), Column("answer", "sentence2")),
            losses=IN_BATCH_NEGATIVES,
            evaluation=RETRIEVAL,
        ),
    )
}

#: Reranker losses that learn from negatives in the data: on pair and qa data these are the mined hard
#: negatives (``data.hardNegatives``), as labelled pairs (BinaryCrossEntropyLoss) or as one list per query.
RERANKER_LOSSES_NEEDING_NEGATIVES: tuple[LossName, ...] = ("BinaryCrossEntropyLoss", "LambdaLoss", "ListNetLoss")
#: The reranker's losses for pair and qa data (in-batch negatives by default, the rest on mined negatives).
_RERANKER_PAIR_LOSSES: tuple[LossName, ...] = ("MultipleNegativesRankingLoss", *RERANKER_LOSSES_NEEDING_NEGATIVES)

#: Each family's shapes: the same columns as the embedding shape, the family's losses and evaluators.
#: A trainer missing from a family's row is one the family does not accept.
FAMILY_SHAPES: dict[ModelType, dict[TrainerType, TrainerShape]] = {
    "embedding": SHAPES,
    "reranker": {
        "pair_class": replace(
            SHAPES["pair_class"],
            losses=("BinaryCrossEntropyLoss", "CrossEntropyLoss"),
            evaluation=RERANK_CLASSIFICATION,
            evaluation_by_loss={"CrossEntropyLoss": RERANK_MULTICLASS},
        ),
        "pair_score": replace(SHAPES["pair_score"], losses=("BinaryCrossEntropyLoss",), evaluation=RERANK_CORRELATION),
        "pair": replace(SHAPES["pair"], losses=_RERANKER_PAIR_LOSSES, evaluation=RERANK),
        "qa": replace(SHAPES["qa"], losses=_RERANKER_PAIR_LOSSES, evaluation=RERANK),
    },
    "sparse": {
        "pair": replace(SHAPES["pair"], losses=("SpladeLoss",), evaluation=SPARSE_RETRIEVAL),
        "qa": replace(SHAPES["qa"], losses=("SpladeLoss",), evaluation=SPARSE_RETRIEVAL),
        "triplet": replace(SHAPES["triplet"], losses=("SpladeLoss",), evaluation=SPARSE_TRIPLET),
    },
}
#: The trainers each family accepts.
TRAINERS_BY_FAMILY: dict[ModelType, tuple[TrainerType, ...]] = {m: tuple(s) for m, s in FAMILY_SHAPES.items()}
#: Which losses each family takes for each of its trainers (the first one is the default).
LOSSES_BY_FAMILY: dict[ModelType, dict[TrainerType, tuple[LossName, ...]]] = {
    m: {t: shape.losses for t, shape in shapes.items()} for m, shapes in FAMILY_SHAPES.items()
}

#: Which losses make sense for which dataset shape (the first one is the default).
LOSSES_BY_TRAINER: dict[TrainerType, tuple[LossName, ...]] = {t: shape.losses for t, shape in SHAPES.items()}
#: The trainers whose spec must name ``data.columns.target`` / ``data.columns.sentence3``.
TRAINERS_NEEDING_TARGET: tuple[TrainerType, ...] = tuple(t for t, s in SHAPES.items() if "target" in s.source_fields)
TRAINERS_NEEDING_SENTENCE3: tuple[TrainerType, ...] = tuple(
    t for t, s in SHAPES.items() if "sentence3" in s.source_fields
)


def shape_of(trainer: TrainerType, family: ModelType = "embedding") -> TrainerShape:
    """The shape of a trainer type in a model family (KeyError: the family does not take the trainer)."""
    return FAMILY_SHAPES[family][trainer]


def columns_summary() -> str:
    """``pair (anchor, positive), pair_class (premise, hypothesis, label), ...`` for descriptions and errors."""
    return ", ".join(f"{t} ({', '.join(s.column_names)})" for t, s in SHAPES.items())


def default_losses_summary(family: ModelType = "embedding") -> str:
    """``MultipleNegativesRankingLoss for pair, qa and triplet; ...``: the default loss of each shape."""
    by_loss: dict[str, list[str]] = {}
    for trainer, shape in FAMILY_SHAPES[family].items():
        by_loss.setdefault(shape.default_loss, []).append(trainer)
    parts = []
    for loss, trainers in by_loss.items():
        names = trainers[0] if len(trainers) == 1 else ", ".join(trainers[:-1]) + " and " + trainers[-1]
        parts.append(f"{loss} for {names}")
    return "; ".join(parts)
