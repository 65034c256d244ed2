"""The training loss for each dataset shape, with the spec's overrides (``spec.loss``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stjob.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn

    from stjob.api.spec import SentenceTransformerJobSpec

#: Losses that use the other examples of a batch as negatives: they need the no-duplicates sampler
#: (a duplicate text in a batch would be a false negative) and can gather embeddings across devices.
IN_BATCH_NEGATIVE_LOSSES = frozenset(
    {
        "MultipleNegativesRankingLoss",
        "CachedMultipleNegativesRankingLoss",
        "MultipleNegativesSymmetricRankingLoss",
    }
)
#: Losses that read the label as "similar (1) / dissimilar (0)".
BINARY_LABEL_LOSSES = frozenset({"ContrastiveLoss", "OnlineContrastiveLoss"})


def uses_in_batch_negatives(loss_name: str) -> bool:
    """Whether the loss treats the rest of the batch as negatives."""
    return loss_name in IN_BATCH_NEGATIVE_LOSSES


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
    # Gathering only means something with more than one process; single-process it is a no-op anyway.
    gather = spec.loss.gather_across_devices and world_size > 1
    loss: nn.Module
    if name == "MultipleNegativesRankingLoss":
        loss = losses.MultipleNegativesRankingLoss(model, gather_across_devices=gather)
    elif name == "CachedMultipleNegativesRankingLoss":
        loss = losses.CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=spec.loss.mini_batch_size or 32, gather_across_devices=gather
        )
    elif name == "MultipleNegativesSymmetricRankingLoss":
        # sentence-transformers 6 deprecates the class in favour of this exact equivalent.
        loss = losses.MultipleNegativesRankingLoss(
            model,
            gather_across_devices=gather,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
    elif name == "TripletLoss":
        loss = losses.TripletLoss(model)
    elif name == "SoftmaxLoss":
        if not label_names or len(label_names) < 2:
            raise ConfigError("loss SoftmaxLoss needs at least two distinct labels in the training data")
        loss = losses.SoftmaxLoss(model, embedding_dimension=_embedding_dimension(model), num_labels=len(label_names))
    elif name in BINARY_LABEL_LOSSES:
        if label_names is None or len(label_names) != 2:
            raise ConfigError(
                f"loss.name {name} needs exactly two labels (id 1 = similar), found {len(label_names or [])}: "
                f"{label_names}"
            )
        loss = losses.ContrastiveLoss(model) if name == "ContrastiveLoss" else losses.OnlineContrastiveLoss(model)
    elif name == "CoSENTLoss":
        loss = losses.CoSENTLoss(model)
    elif name == "AnglELoss":
        loss = losses.AnglELoss(model)
    elif name == "CosineSimilarityLoss":
        loss = losses.CosineSimilarityLoss(model)
    else:  # pragma: no cover - the spec's Literal makes this unreachable
        raise ConfigError(f"loss.name: unknown loss {name!r}")

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


def gathers_across_devices(loss: nn.Module) -> bool:
    """Whether ``loss`` (or the loss MatryoshkaLoss wraps) gathers in-batch negatives from every process."""
    inner = getattr(loss, "loss", None)
    return bool(getattr(loss, "gather_across_devices", False) or getattr(inner, "gather_across_devices", False))


def _embedding_dimension(model: SentenceTransformer) -> int:
    dim = model.get_embedding_dimension()
    if dim is None:
        raise ConfigError("the model does not report an embedding dimension")
    return int(dim)
