"""The training loss: one small factory per loss name, with the spec's overrides (``spec.loss``).

Which losses a shape allows, and its default, is the shape table's (``stjob.api.shapes``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stjob.api.shapes import IN_BATCH_NEGATIVES
from stjob.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn

    from stjob.api.spec import SentenceTransformerJobSpec

#: Losses that use the other examples of a batch as negatives: they need the no-duplicates sampler
#: (a duplicate text in a batch would be a false negative) and can gather embeddings across devices.
IN_BATCH_NEGATIVE_LOSSES = frozenset((*IN_BATCH_NEGATIVES, "SpladeLoss"))  # sparse: over SparseMNRL
#: Losses that read the label as "similar (1) / dissimilar (0)".
BINARY_LABEL_LOSSES = frozenset({"ContrastiveLoss", "OnlineContrastiveLoss"})


def uses_in_batch_negatives(loss_name: str) -> bool:
    """Whether the loss treats the rest of the batch as negatives."""
    return loss_name in IN_BATCH_NEGATIVE_LOSSES


@dataclass(frozen=True)
class LossInputs:
    """What a loss factory builds from: the model, the spec's loss options, the data's labels."""

    losses: Any  # sentence_transformers.sentence_transformer.losses (imported when a loss is built)
    model: SentenceTransformer
    name: str
    #: Gather in-batch negatives from every process (only meaningful with more than one).
    gather: bool
    mini_batch_size: int
    label_names: list[str] | None


def build_loss(
    spec: SentenceTransformerJobSpec,
    model: SentenceTransformer,
    *,
    label_names: list[str] | None = None,
    world_size: int = 1,
) -> nn.Module:
    """Instantiate ``spec.loss_name`` for ``model``, wrapped in MatryoshkaLoss when dimensions are given.

    Raises ConfigError when the override cannot work with this data (e.g. a contrastive loss on
    more than two labels, a Matryoshka dimension larger than the embedding).
    """
    from sentence_transformers.sentence_transformer import losses

    name = spec.loss_name
    inputs = LossInputs(
        losses=losses,
        model=model,
        name=name,
        # Gathering only means something with more than one process; single-process it is a no-op anyway.
        gather=spec.loss.gather_across_devices and world_size > 1,
        mini_batch_size=spec.loss.mini_batch_size or 32,
        label_names=label_names,
    )
    loss = LOSS_FACTORIES[name](inputs)

    dims = spec.loss.matryoshka_dimensions
    if dims:
        if name == "SoftmaxLoss":
            raise ConfigError("loss.matryoshkaDimensions cannot wrap SoftmaxLoss (its classifier has a fixed width)")
        full = _embedding_dimension(model)
        too_big = [d for d in dims if d > full or d < 1]
        if too_big:
            raise ConfigError(f"loss.matryoshkaDimensions {too_big} exceed the model's embedding dimension {full}")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=sorted(dims, reverse=True))
    return loss


def _multiple_negatives(i: LossInputs) -> nn.Module:
    return i.losses.MultipleNegativesRankingLoss(i.model, gather_across_devices=i.gather)  # type: ignore[no-any-return]


def _cached_multiple_negatives(i: LossInputs) -> nn.Module:
    return i.losses.CachedMultipleNegativesRankingLoss(  # type: ignore[no-any-return]
        i.model, mini_batch_size=i.mini_batch_size, gather_across_devices=i.gather
    )


def _symmetric_multiple_negatives(i: LossInputs) -> nn.Module:
    # sentence-transformers 6 deprecates the class in favour of this exact equivalent.
    return i.losses.MultipleNegativesRankingLoss(  # type: ignore[no-any-return]
        i.model,
        gather_across_devices=i.gather,
        directions=("query_to_doc", "doc_to_query"),
        partition_mode="per_direction",
    )


def _softmax(i: LossInputs) -> nn.Module:
    if not i.label_names or len(i.label_names) < 2:
        raise ConfigError("loss SoftmaxLoss needs at least two distinct labels in the training data")
    return i.losses.SoftmaxLoss(  # type: ignore[no-any-return]
        i.model, embedding_dimension=_embedding_dimension(i.model), num_labels=len(i.label_names)
    )


def _binary_labels(loss_class: str) -> Callable[[LossInputs], nn.Module]:
    def factory(i: LossInputs) -> nn.Module:
        if i.label_names is None or len(i.label_names) != 2:
            raise ConfigError(
                f"loss.name {i.name} needs exactly two labels (id 1 = similar), found {len(i.label_names or [])}: "
                f"{i.label_names}"
            )
        return getattr(i.losses, loss_class)(i.model)  # type: ignore[no-any-return]

    return factory


def _plain(loss_class: str) -> Callable[[LossInputs], nn.Module]:
    """A loss that takes nothing but the model."""

    def factory(i: LossInputs) -> nn.Module:
        return getattr(i.losses, loss_class)(i.model)  # type: ignore[no-any-return]

    return factory


#: One factory per loss name the spec allows (``stjob.api.shapes.LossName``; a test checks they match).
LOSS_FACTORIES: dict[str, Callable[[LossInputs], nn.Module]] = {
    "MultipleNegativesRankingLoss": _multiple_negatives,
    "CachedMultipleNegativesRankingLoss": _cached_multiple_negatives,
    "MultipleNegativesSymmetricRankingLoss": _symmetric_multiple_negatives,
    "TripletLoss": _plain("TripletLoss"),
    "SoftmaxLoss": _softmax,
    "ContrastiveLoss": _binary_labels("ContrastiveLoss"),
    "OnlineContrastiveLoss": _binary_labels("OnlineContrastiveLoss"),
    "CoSENTLoss": _plain("CoSENTLoss"),
    "AnglELoss": _plain("AnglELoss"),
    "CosineSimilarityLoss": _plain("CosineSimilarityLoss"),
}


def gathers_across_devices(loss: nn.Module) -> bool:
    """Whether ``loss`` (or the loss MatryoshkaLoss wraps) gathers in-batch negatives from every process."""
    inner = getattr(loss, "loss", None)
    return bool(getattr(loss, "gather_across_devices", False) or getattr(inner, "gather_across_devices", False))


def _embedding_dimension(model: SentenceTransformer) -> int:
    dim = model.get_embedding_dimension()
    if dim is None:
        raise ConfigError("the model does not report an embedding dimension")
    return int(dim)
