"""The sparse family (``spec.model.type: sparse``): SPLADE encoders trained from pair, qa and triplet data.

A SPLADE model scores a text as a vocabulary-sized vector of non-negative term weights (the masked-LM
head's logits, max-pooled over the tokens), so retrieval is a dot product over an inverted index. It
trains with SpladeLoss: a ranking loss (SparseMultipleNegativesRankingLoss: the rest of the batch, plus a
triplet's negative, are the negatives) plus FLOPS regularisers that push query and document vectors
towards few active terms. SparseEncoderTrainer itself ramps the regulariser weights up from 0 over the
first third of the steps (SpladeRegularizerWeightSchedulerCallback, step-based, so a resumed run
continues the ramp). The run loop (run.py) is every family's; :data:`FAMILY` (found by
``stjob_trainer.families.family_of``) supplies what differs: the model, the loss, the evaluator, the
Trainer and its arguments class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sentence_transformers.sparse_encoder import SparseEncoderTrainer, SparseEncoderTrainingArguments

from stjob.api.shapes import TrainerType, shape_of
from stjob.errors import ConfigError
from stjob_trainer.evaluators import RETRIEVAL_CUTOFFS, EvaluationPlan, retrieval_task
from stjob_trainer.families import Family
from stjob_trainer.model_loading import resolve_model_name

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator
    from sentence_transformers.sparse_encoder import SparseEncoder
    from torch import nn

    from stjob.api.spec import ModelSpec, SentenceTransformerJobSpec
    from stjob_trainer.data_loading import LoadedData

logger = logging.getLogger(__name__)

#: The regulariser weights of sentence-transformers' own default SpladeLoss (SparseEncoderTrainer's
#: ``get_default_loss``; its docs call them "sensitive parameters ... to tune for your task"). Queries get
#: the larger weight: they are encoded at search time, so their sparsity is latency.
DOCUMENT_REGULARIZER_WEIGHT = 3e-5
QUERY_REGULARIZER_WEIGHT = 5e-5


def load_sparse_model(spec: ModelSpec, *, base_dir: Path | None = None, device: str | None = None) -> SparseEncoder:
    """A SparseEncoder on ``spec.name``: a masked-LM checkpoint (gets SPLADE max pooling) or a SPLADE model.

    ConfigError when it cannot be loaded, or when it is not a SPLADE model (e.g. a Sentence Transformer
    with mean pooling, whose output is a dense embedding, not term weights).
    """
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    resolved = resolve_model_name(spec.name, revision=spec.revision, base_dir=base_dir)
    try:
        model = SparseEncoder(resolved, revision=spec.revision, device=device)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"model.name: cannot load model {spec.name!r} as a sparse encoder: {exc}") from exc
    if not any(isinstance(module, SpladePooling) for module in model):
        raise ConfigError(
            f"model.name: {spec.name!r} is not a masked-language model or a SPLADE model (its modules: "
            f"{', '.join(type(m).__name__ for m in model)}); model.type sparse needs a checkpoint with a "
            "masked-LM head, e.g. bert-base-uncased, distilbert-base-uncased or a naver/splade-* model"
        )
    model.max_seq_length = spec.max_seq_length
    return model


def build_sparse_loss(
    model: SparseEncoder,
    *,
    gather_across_devices: bool = False,
    document_regularizer_weight: float = DOCUMENT_REGULARIZER_WEIGHT,
    query_regularizer_weight: float = QUERY_REGULARIZER_WEIGHT,
) -> nn.Module:
    """SpladeLoss over SparseMultipleNegativesRankingLoss, with FLOPS regularisers on queries and documents.

    ``gather_across_devices``: use every process's batch as negatives (only meaningful under torchrun).
    """
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    ranking = SparseMultipleNegativesRankingLoss(model, gather_across_devices=gather_across_devices)
    return cast(
        "nn.Module",
        SpladeLoss(
            model,
            loss=ranking,
            document_regularizer_weight=document_regularizer_weight,
            query_regularizer_weight=query_regularizer_weight,
        ),
    )


def build_sparse_evaluator(
    trainer: TrainerType, valid: Dataset, *, loss_name: str, batch_size: int = 32
) -> EvaluationPlan:
    """The family's evaluator for ``valid`` (canonical columns), as the shape table names it.

    pair/qa: SparseInformationRetrievalEvaluator (NDCG@10 primary, MRR@10, MAP, accuracy@k) over the
    queries and every validation positive, as the embedding family's retrieval evaluator; triplet:
    SparseTripletEvaluator (dot-product accuracy). Both add the sparsity: active dimensions of queries
    and documents (``query_active_dims``, ``corpus_active_dims``), their sparsity ratio and ``avg_flops``.
    """
    scoring = shape_of(trainer, "sparse").evaluation_for(loss_name)
    columns = [list(valid[name]) for name in valid.column_names]
    evaluator = SPARSE_EVALUATOR_FACTORIES[scoring.kind](columns, batch_size)
    evaluator.primary_metric = scoring.primary_metric
    return EvaluationPlan(evaluator=evaluator, primary_metric=scoring.primary_metric)


def _retrieval(columns: list[list[Any]], batch_size: int) -> SentenceEvaluator:
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

    queries, corpus, relevant = retrieval_task(columns[0], columns[1])
    return SparseInformationRetrievalEvaluator(
        cast("dict[str, Any]", queries),
        cast("dict[str, Any]", corpus),
        relevant,
        **RETRIEVAL_CUTOFFS,
        batch_size=batch_size,
    )


def _triplet(columns: list[list[Any]], batch_size: int) -> SentenceEvaluator:
    from sentence_transformers.sparse_encoder.evaluation import SparseTripletEvaluator

    anchors, positives, negatives = columns
    return SparseTripletEvaluator(
        anchors,
        positives,
        negatives,
        similarity_fn_names=["dot"],
        main_similarity_function="dot",
        batch_size=batch_size,
    )


#: One factory per evaluator kind the sparse rows of the shape table name.
SPARSE_EVALUATOR_FACTORIES: dict[str, Callable[[list[list[Any]], int], SentenceEvaluator]] = {
    "sparse_retrieval": _retrieval,
    "sparse_triplet": _triplet,
}


class SparseFamily(Family):
    """The run loop's sparse family (``stjob_trainer.families``): SparseEncoder + SparseEncoderTrainer."""

    trainer_class: ClassVar[type[Any]] = SparseEncoderTrainer
    args_class: ClassVar[type[Any]] = SparseEncoderTrainingArguments

    def load_model_and_loss(
        self,
        spec: SentenceTransformerJobSpec,
        data: LoadedData,
        *,
        base_dir: Path | None,
        device: str | None,
        world_size: int,
    ) -> tuple[Any, nn.Module]:
        """The SparseEncoder and SpladeLoss (the spec's rules already refused what the family does not do)."""
        model = load_sparse_model(spec.model, base_dir=base_dir, device=device)
        gather = spec.loss.gather_across_devices and world_size > 1
        return model, build_sparse_loss(model, gather_across_devices=gather)

    def build_evaluator(
        self,
        spec: SentenceTransformerJobSpec,
        valid: Dataset,
        *,
        loss: nn.Module,
        label_names: list[str] | None,
        batch_size: int,
    ) -> EvaluationPlan:
        """The shape table's sparse evaluator for the validation split."""
        return build_sparse_evaluator(spec.trainer, valid, loss_name=spec.loss_name, batch_size=batch_size)


FAMILY = SparseFamily()
