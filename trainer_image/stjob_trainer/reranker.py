"""The reranker family (``spec.model.type: reranker``): CrossEncoders from pair_class, pair_score, pair and qa data.

A CrossEncoder reads a (query, document) pair together and outputs a score: one logit (a relevance
score, sigmoid at inference) or one per class. Its head is a sequence-classification layer initialised
on any encoder checkpoint: sentence-transformers converts a Sentence Transformer folder (the bundled
MiniLM) or a plain transformers checkpoint, and keeps a trained CrossEncoder's head.

What each shape trains (losses: stjob.api.shapes, the ``reranker`` rows):
- pair_class: BinaryCrossEntropyLoss on 0/1 labels (one logit), CrossEntropyLoss on K classes (K logits);
- pair_score: BinaryCrossEntropyLoss on scores in [0, 1];
- pair, qa: MultipleNegativesRankingLoss (the cross-encoder one: other answers of the batch as negatives,
  and mined negatives when ``data.hardNegatives`` adds them); BinaryCrossEntropyLoss on the mined
  negatives as labelled pairs; LambdaLoss and ListNetLoss on one list per query (its positive first,
  then its mined negatives).
Mining ranks the training answers with a bi-encoder: ``data.hardNegatives.model``, else ``model.name``
loaded as a Sentence Transformer (the bundled MiniLM is one).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import datasets
from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments

from stjob.api.shapes import RERANKER_LOSSES_NEEDING_NEGATIVES, EvaluatorKind, shape_of
from stjob.errors import ConfigError, DataError
from stjob_trainer.evaluators import EvaluationPlan
from stjob_trainer.families import Family
from stjob_trainer.hard_negatives import with_hard_negatives
from stjob_trainer.model_loading import load_model, resolve_model_name

if TYPE_CHECKING:
    import torch
    from sentence_transformers.sentence_transformer.evaluation import SentenceEvaluator

    from stjob.api.contract import RunLayout
    from stjob.api.spec import ModelSpec, SentenceTransformerJobSpec
    from stjob_trainer.data_loading import LoadedData
    from stjob_trainer.reporting import Reporter

logger = logging.getLogger(__name__)

#: Candidates per validation query besides its positives (pair, qa): other validation answers, a fixed
#: pick. MRR@10 needs more than 10 candidates to mean anything; more costs evaluation time (pairs).
VALIDATION_NEGATIVES = 19
#: The listwise losses: one (query, [documents], [labels]) row per query.
LISTWISE_LOSSES = ("LambdaLoss", "ListNetLoss")


def num_labels_for(loss_name: str, label_names: list[str] | None) -> int:
    """Logits of the head: one per class for CrossEntropyLoss, else one (a relevance score)."""
    if loss_name == "CrossEntropyLoss":
        if not label_names or len(label_names) < 2:
            raise DataError("loss.name CrossEntropyLoss needs at least two classes in the training labels")
        return len(label_names)
    return 1


def load_reranker(
    spec: ModelSpec, *, num_labels: int, base_dir: Path | None = None, device: str | None = None
) -> CrossEncoder:
    """A CrossEncoder on ``spec.name`` with a ``num_labels`` head; ConfigError when it cannot be loaded.

    A checkpoint without a head (an encoder, a Sentence Transformer) gets a freshly initialised one;
    a CrossEncoder whose head has another size gets a new one of the right size.
    """
    resolved = resolve_model_name(spec.name, revision=spec.revision, base_dir=base_dir)
    try:
        model = CrossEncoder(
            resolved,
            num_labels=num_labels,
            max_length=spec.max_seq_length,
            revision=spec.revision,
            device=device,
            model_kwargs={"ignore_mismatched_sizes": True},
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"model.name: cannot load model {spec.name!r} as a reranker: {exc}") from exc
    return cast("CrossEncoder", model)


def build_reranker_loss(loss_name: str, model: CrossEncoder) -> torch.nn.Module:
    """The cross-encoder loss class named ``loss_name`` (the shape table's reranker losses)."""
    from sentence_transformers.cross_encoder import losses

    factories: dict[str, Callable[[CrossEncoder], torch.nn.Module]] = {
        "BinaryCrossEntropyLoss": losses.BinaryCrossEntropyLoss,
        "CrossEntropyLoss": losses.CrossEntropyLoss,
        "MultipleNegativesRankingLoss": losses.MultipleNegativesRankingLoss,
        "LambdaLoss": losses.LambdaLoss,
        "ListNetLoss": losses.ListNetLoss,
    }
    if loss_name not in factories:
        raise ConfigError(f"loss.name {loss_name} is not a reranker loss ({', '.join(factories)})")
    return factories[loss_name](model)


def check_targets(spec: SentenceTransformerJobSpec, data: LoadedData) -> None:
    """BinaryCrossEntropyLoss reads the target as a probability: labels 0/1, scores within [0, 1]."""
    if spec.loss_name != "BinaryCrossEntropyLoss" or spec.trainer not in ("pair_class", "pair_score"):
        return
    for split, rows in (("training", data.train), ("validation", data.valid)):
        if rows is None or len(rows) == 0:
            continue
        target = shape_of(spec.trainer, "reranker").target or ""
        values = [float(v) for v in rows[target]]
        if spec.trainer == "pair_class" and (data.label_names is None or len(data.label_names) != 2):
            raise DataError(
                f"loss.name BinaryCrossEntropyLoss needs two classes (0/1), got labels {data.label_names}; "
                "use CrossEntropyLoss for more"
            )
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise DataError(
                f"loss.name BinaryCrossEntropyLoss reads scores as probabilities: the {split} scores must lie "
                f"in [0, 1] (found {min(values):g} to {max(values):g}); rescale the score column"
            )


def labelled_rows(mined: datasets.Dataset, loss_name: str) -> datasets.Dataset:
    """Mined (anchor, positive, negative_1..n) rows in the input the loss reads.

    BinaryCrossEntropyLoss: (query, document, label) pairs, the positive labelled 1, each negative 0.
    LambdaLoss, ListNetLoss: (query, documents, labels), one list per row: the positive, then the negatives.
    MultipleNegativesRankingLoss reads the n-tuple as it is.
    """
    if loss_name not in RERANKER_LOSSES_NEEDING_NEGATIVES:
        return mined
    anchor, positive, *negatives = mined.column_names
    if loss_name in LISTWISE_LOSSES:
        return datasets.Dataset.from_dict(
            {
                "query": list(mined[anchor]),
                "documents": [[row[positive], *(row[n] for n in negatives)] for row in mined],
                "labels": [[1] + [0] * len(negatives) for _ in range(len(mined))],
            }
        )
    queries, documents, labels = [], [], []
    for row in mined:
        for column, label in ((positive, 1.0), *((n, 0.0) for n in negatives)):
            queries.append(row[anchor])
            documents.append(row[column])
            labels.append(label)
    return datasets.Dataset.from_dict({"query": queries, "document": documents, "label": labels})


def rerank_samples(queries: list[str], answers: list[str], *, seed: int = 0) -> list[dict[str, Any]]:
    """One sample per distinct query: its answers as positives, a fixed pick of other answers as negatives."""
    positives: dict[str, list[str]] = {}
    for query, answer in zip(queries, answers, strict=True):
        positives.setdefault(query, [])
        if answer not in positives[query]:
            positives[query].append(answer)
    pool = list(dict.fromkeys(answers))
    rng = random.Random(seed)
    samples = []
    for query, own in positives.items():
        others = [a for a in pool if a not in own]
        negatives = rng.sample(others, min(VALIDATION_NEGATIVES, len(others)))
        if negatives:  # a ranking needs something to rank the positives against
            samples.append({"query": query, "positive": own, "negative": negatives})
    if not samples:
        raise DataError("the validation split needs answers to two different queries to rank them (pair, qa)")
    return samples


def _rerank(columns: list[list[Any]], batch_size: int) -> Any:
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    return CrossEncoderRerankingEvaluator(
        rerank_samples(columns[0], columns[1]), at_k=10, batch_size=batch_size, write_csv=False
    )


def _classification(columns: list[list[Any]], batch_size: int) -> Any:
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderClassificationEvaluator

    pairs = [[a, b] for a, b in zip(columns[0], columns[1], strict=True)]
    return CrossEncoderClassificationEvaluator(
        pairs, [int(v) for v in columns[2]], batch_size=batch_size, write_csv=False
    )


def _correlation(columns: list[list[Any]], batch_size: int) -> Any:
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator

    pairs = [[a, b] for a, b in zip(columns[0], columns[1], strict=True)]
    return CrossEncoderCorrelationEvaluator(
        pairs, [float(v) for v in columns[2]], batch_size=batch_size, write_csv=False
    )


#: One factory per evaluator kind of the reranker rows (validation columns in shape order, batch size).
RERANKER_EVALUATOR_FACTORIES: dict[EvaluatorKind, Callable[[list[list[Any]], int], Any]] = {
    "rerank": _rerank,
    "rerank_classification": _classification,
    "rerank_multiclass": _classification,
    "rerank_correlation": _correlation,
}


@dataclass
class RerankerTrainingArguments(CrossEncoderTrainingArguments):  # type: ignore[misc]
    """CrossEncoderTrainingArguments for torchrun: every parameter of a cross-encoder takes part in each step.

    transformers searches for unused parameters by default when the model is not a PreTrainedModel; under
    DDP that search marks the head's gradients ready twice and the first backward fails (sentence-transformers
    6.2, plain CrossEncoderTrainer too). Without the search it trains.
    """

    ddp_find_unused_parameters: bool | None = False


class RerankerFamily(Family):
    """CrossEncoder + CrossEncoderTrainer; the shape table's ``reranker`` rows."""

    trainer_class: ClassVar[type[Any]] = CrossEncoderTrainer
    args_class: ClassVar[type[Any]] = RerankerTrainingArguments

    def load_model_and_loss(
        self,
        spec: SentenceTransformerJobSpec,
        data: LoadedData,
        *,
        base_dir: Path | None,
        device: str | None,
        world_size: int,
    ) -> tuple[Any, torch.nn.Module]:
        check_targets(spec, data)  # a data problem fails before the model loads
        model = load_reranker(
            spec.model, num_labels=num_labels_for(spec.loss_name, data.label_names), base_dir=base_dir, device=device
        )
        return model, build_reranker_loss(spec.loss_name, model)

    def training_data(
        self,
        spec: SentenceTransformerJobSpec,
        data: LoadedData,
        model: Any,
        *,
        run: RunLayout,
        data_fingerprint: str,
        reporter: Reporter,
        base_dir: Path | None,
    ) -> LoadedData:
        settings = spec.data.hard_negatives
        if settings is None:
            return data
        # Mining needs a bi-encoder; the reranker's own checkpoint serves as one unless another is named.
        miner = model
        if settings.model in (None, spec.model.name):
            miner = load_model(spec.model, base_dir=base_dir, device=str(model.device))
        mined = with_hard_negatives(
            spec, data, miner, run=run, data_fingerprint=data_fingerprint, reporter=reporter, base_dir=base_dir
        )
        return replace(mined, train=labelled_rows(mined.train, spec.loss_name))

    def build_evaluator(
        self,
        spec: SentenceTransformerJobSpec,
        valid: datasets.Dataset,
        *,
        loss: torch.nn.Module,
        label_names: list[str] | None,
        batch_size: int,
    ) -> EvaluationPlan:
        scoring = shape_of(spec.trainer, "reranker").evaluation_for(spec.loss_name)
        columns = [list(valid[name]) for name in valid.column_names]
        evaluator = RERANKER_EVALUATOR_FACTORIES[scoring.kind](columns, batch_size)
        evaluator.primary_metric = scoring.primary_metric
        return EvaluationPlan(evaluator=cast("SentenceEvaluator", evaluator), primary_metric=scoring.primary_metric)

    def eval_dataset(self, spec: SentenceTransformerJobSpec, data: LoadedData) -> datasets.Dataset | None:
        # Validation pairs of pair/qa have no negatives: a loss that needs them cannot score them.
        if spec.trainer in ("pair", "qa") and spec.loss_name in RERANKER_LOSSES_NEEDING_NEGATIVES:
            return None
        return data.valid


FAMILY = RerankerFamily()
