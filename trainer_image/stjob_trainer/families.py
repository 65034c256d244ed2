"""Model families (``spec.model.type``): what each one brings to the shared run loop (run.py).

The run loop (data, checkpoints and resume, progress, early stopping, report, card, Hub push) is the
same for every family; a family supplies the model and its loss, the training rows it learns from, the
validation evaluator, and the sentence-transformers Trainer with its arguments class. run.py asks
:func:`family_of` once and calls these. Each non-embedding family lives in its own module (reranker.py,
sparse.py) as a ``FAMILY`` object, imported only when a job uses it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sentence_transformers.sentence_transformer import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

from stjob.api.shapes import ModelType
from stjob.errors import ConfigError
from stjob_trainer.evaluators import EvaluationPlan, build_evaluator
from stjob_trainer.hard_negatives import with_hard_negatives
from stjob_trainer.losses import build_loss
from stjob_trainer.model_loading import load_model

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from stjob.api.contract import RunLayout
    from stjob.api.spec import SentenceTransformerJobSpec
    from stjob_trainer.data_loading import LoadedData
    from stjob_trainer.reporting import Reporter


class Family:
    """A model family's part of a run; this base class is the embedding family (SentenceTransformer)."""

    #: The sentence-transformers Trainer and its arguments class (the Trainer accepts only its own).
    trainer_class: ClassVar[type[Any]] = SentenceTransformerTrainer
    args_class: ClassVar[type[Any]] = SentenceTransformerTrainingArguments

    def load_model_and_loss(
        self,
        spec: SentenceTransformerJobSpec,
        data: LoadedData,
        *,
        base_dir: Path | None,
        device: str | None,
        world_size: int,
    ) -> tuple[Any, torch.nn.Module]:
        """The base model and its loss (seeded by the caller; the loss may hold trainable weights)."""
        model = load_model(spec.model, base_dir=base_dir, device=device)
        return model, build_loss(spec, model, label_names=data.label_names, world_size=world_size)

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
        """The rows the loss trains on: the loaded data, with mined hard negatives when the spec asks."""
        return with_hard_negatives(
            spec,
            data,
            cast("SentenceTransformer", model),
            run=run,
            data_fingerprint=data_fingerprint,
            reporter=reporter,
            base_dir=base_dir,
        )

    def build_evaluator(
        self,
        spec: SentenceTransformerJobSpec,
        valid: Dataset,
        *,
        loss: torch.nn.Module,
        label_names: list[str] | None,
        batch_size: int,
    ) -> EvaluationPlan:
        """The validation evaluator and its primary metric (the shape table's row for the family)."""
        return build_evaluator(
            spec.trainer, valid, loss=loss, loss_name=spec.loss_name, label_names=label_names, batch_size=batch_size
        )

    def eval_dataset(self, spec: SentenceTransformerJobSpec, data: LoadedData) -> Dataset | None:
        """The rows the Trainer computes the validation loss on (None: the evaluator's metrics only)."""
        return data.valid


#: Where each family lives (``module:attribute``), imported when a job uses it.
FAMILY_MODULES: dict[ModelType, str] = {
    "embedding": "stjob_trainer.families:EMBEDDING",
    "reranker": "stjob_trainer.reranker:FAMILY",
    "sparse": "stjob_trainer.sparse:FAMILY",
}
EMBEDDING = Family()


def family_of(spec: SentenceTransformerJobSpec) -> Family:
    """The family of ``spec.model.type``; ConfigError when this trainer image does not have it."""
    module_name, _, attribute = FAMILY_MODULES[spec.model.type].partition(":")
    family = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(family, Family):
        raise ConfigError(f"model.type {spec.model.type}: this trainer image cannot train that family yet")
    return family
