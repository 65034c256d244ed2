"""Losses per shape and the spec's overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import losses

from stjob.api.shapes import LOSSES_BY_TRAINER
from stjob.errors import ConfigError
from stjob_trainer.losses import LOSS_FACTORIES, build_loss
from tests.trainer.jobs import make_job


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_model_dir), device="cpu")


@pytest.mark.parametrize(
    ("trainer", "name", "cls"),
    [
        ("pair", None, losses.MultipleNegativesRankingLoss),
        ("qa", None, losses.MultipleNegativesRankingLoss),
        ("triplet", None, losses.MultipleNegativesRankingLoss),
        ("pair_class", None, losses.SoftmaxLoss),
        ("pair_score", None, losses.CoSENTLoss),
        ("pair_score", "AnglELoss", losses.AnglELoss),
        ("pair_score", "CosineSimilarityLoss", losses.CosineSimilarityLoss),
        ("triplet", "TripletLoss", losses.TripletLoss),
        ("pair", "MultipleNegativesSymmetricRankingLoss", losses.MultipleNegativesRankingLoss),
    ],
)
def test_loss_per_shape(model: SentenceTransformer, tmp_path: Path, trainer: str, name: str | None, cls: type) -> None:
    job = make_job(trainer, tmp_path, "m", loss={"name": name})
    loss = build_loss(job.spec, model, label_names=["a", "b", "c"])
    assert type(loss) is cls


def test_softmax_num_labels_from_label_names(model: SentenceTransformer, tmp_path: Path) -> None:
    loss = build_loss(make_job("pair_class", tmp_path, "m").spec, model, label_names=["x", "y", "z"])
    assert isinstance(loss, losses.SoftmaxLoss)
    assert loss.num_labels == 3 and loss.classifier.in_features == 3 * 64


def test_symmetric_loss_uses_both_directions(model: SentenceTransformer, tmp_path: Path) -> None:
    job = make_job("qa", tmp_path, "m", loss={"name": "MultipleNegativesSymmetricRankingLoss"})
    loss = build_loss(job.spec, model)
    assert tuple(loss.directions) == ("query_to_doc", "doc_to_query")


def test_cached_mnrl_mini_batch_size_and_gather(model: SentenceTransformer, tmp_path: Path) -> None:
    job = make_job("pair", tmp_path, "m", loss={"name": "CachedMultipleNegativesRankingLoss", "miniBatchSize": 4})
    loss = build_loss(job.spec, model, world_size=2)
    assert isinstance(loss, losses.CachedMultipleNegativesRankingLoss)
    assert loss.mini_batch_size == 4
    assert loss.gather_across_devices is True
    job = make_job("pair", tmp_path, "m", loss={"gatherAcrossDevices": False})
    assert build_loss(job.spec, model, world_size=2).gather_across_devices is False


def test_matryoshka_wraps_the_loss(model: SentenceTransformer, tmp_path: Path) -> None:
    job = make_job("pair_score", tmp_path, "m", loss={"matryoshkaDimensions": [16, 64, 32]})
    loss = build_loss(job.spec, model)
    assert isinstance(loss, losses.MatryoshkaLoss)
    assert isinstance(loss.loss, losses.CoSENTLoss)
    assert list(loss.matryoshka_dims) == [64, 32, 16]


def test_matryoshka_dimension_larger_than_embedding(model: SentenceTransformer, tmp_path: Path) -> None:
    job = make_job("pair", tmp_path, "m", loss={"matryoshkaDimensions": [128]})
    with pytest.raises(ConfigError, match="exceed"):
        build_loss(job.spec, model)


def test_contrastive_needs_binary_labels(model: SentenceTransformer, tmp_path: Path) -> None:
    job = make_job("pair_class", tmp_path, "m", loss={"name": "OnlineContrastiveLoss"})
    assert isinstance(build_loss(job.spec, model, label_names=["0", "1"]), losses.OnlineContrastiveLoss)
    with pytest.raises(ConfigError, match="exactly two labels"):
        build_loss(job.spec, model, label_names=["a", "b", "c"])


def test_every_embedding_loss_name_has_a_factory() -> None:
    # The other families' losses have their own factories (stjob_trainer.families).
    assert set(LOSS_FACTORIES) == {name for names in LOSSES_BY_TRAINER.values() for name in names}


@pytest.mark.parametrize(
    ("trainer", "name"), [(trainer, name) for trainer, names in LOSSES_BY_TRAINER.items() for name in names]
)
def test_every_loss_of_the_shape_table_builds(
    model: SentenceTransformer, tmp_path: Path, trainer: str, name: str
) -> None:
    job = make_job(trainer, tmp_path, "m", loss={"name": name})
    loss = build_loss(job.spec, model, label_names=["0", "1"])
    assert type(loss).__name__ == name or name == "MultipleNegativesSymmetricRankingLoss"
