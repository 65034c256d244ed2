"""data.hardNegatives: mined with the tiny model for pair and qa, trained on, cached in the run folder."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stjob.api.contract import RunLayout
from stjob.errors import ConfigError, StjobError
from stjob_trainer import hard_negatives
from stjob_trainer.checkpoints import data_fingerprint
from stjob_trainer.data_loading import load_data
from stjob_trainer.model_loading import load_model
from stjob_trainer.reporting import NullReporter
from stjob_trainer.run import run_job
from tests.trainer.jobs import make_job

COLUMNS = {"pair": ("anchor", "positive"), "qa": ("query", "answer")}


@pytest.mark.parametrize("trainer", ["pair", "qa"])
def test_mined_negatives_train_and_are_kept_in_the_run_folder(
    trainer: str, tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    job = make_job(trainer, dataset_dir(trainer), tiny_model_dir, data={"hardNegatives": {"numNegatives": 2}})
    result = run_job(job, output_dir=tmp_path)

    import datasets

    mined = datasets.load_from_disk(str(RunLayout(result.run_dir).hard_negatives))
    anchor, positive = COLUMNS[trainer]
    assert mined.column_names == [anchor, positive, "negative_1", "negative_2"]
    assert 0 < len(mined) <= 96
    answers = set(mined[positive])
    for row in mined:
        assert row["negative_1"] != row[positive] and row["negative_2"] != row[positive]
        assert {row["negative_1"], row["negative_2"]} <= answers  # mined from the training answers
    assert result.global_step >= 1 and result.evaluation is not None


def test_a_second_run_loads_the_mined_set_instead_of_mining(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job("qa", dataset_dir("qa"), tiny_model_dir, data={"hardNegatives": {"numNegatives": 1}})
    spec, run = job.spec, RunLayout(tmp_path / "run")
    data = load_data(spec)
    model = load_model(spec.model, device="cpu")
    rows = data_fingerprint((data.train, data.valid), data.label_names)
    first = hard_negatives.with_hard_negatives(
        spec, data, model, run=run, data_fingerprint=rows, reporter=NullReporter()
    )

    def no_mining(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("mined again")

    monkeypatch.setattr(hard_negatives, "mine_hard_negatives", no_mining)
    again = hard_negatives.with_hard_negatives(
        spec, data, model, run=run, data_fingerprint=rows, reporter=NullReporter()
    )
    assert again.train.to_dict() == first.train.to_dict()

    # Other settings (or other rows) are another key: mined afresh.
    other = make_job("qa", dataset_dir("qa"), tiny_model_dir, data={"hardNegatives": {"numNegatives": 2}})
    with pytest.raises(AssertionError, match="mined again"):
        hard_negatives.with_hard_negatives(
            other.spec, data, model, run=run, data_fingerprint=rows, reporter=NullReporter()
        )


def test_a_rank_other_than_0_waits_for_rank_0s_set_and_never_mines(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job("qa", dataset_dir("qa"), tiny_model_dir, data={"hardNegatives": {"numNegatives": 1}})
    spec, run = job.spec, RunLayout(tmp_path / "run")
    data = load_data(spec)
    model = load_model(spec.model, device="cpu")
    rows = data_fingerprint((data.train, data.valid), data.label_names)
    monkeypatch.setenv("WORLD_SIZE", "2")
    mined = hard_negatives.with_hard_negatives(  # rank 0 (RANK unset) mines and saves
        spec, data, model, run=run, data_fingerprint=rows, reporter=NullReporter()
    )

    def no_mining(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("rank 1 mined")

    monkeypatch.setattr(hard_negatives, "mine_hard_negatives", no_mining)
    monkeypatch.setenv("RANK", "1")
    waited: list[str] = []
    real_wait = hard_negatives.wait_for_key

    def spy_wait(key_file: Path, key: str, **kwargs: Any) -> None:
        waited.append(key)
        real_wait(key_file, key, **kwargs)

    monkeypatch.setattr(hard_negatives, "wait_for_key", spy_wait)
    # rank 1 finds no matching key yet (another setting's set, say): it waits until rank 0 saved this one.
    key_file = run.hard_negatives / hard_negatives.KEY_FILE
    saved_key = key_file.read_text(encoding="utf-8")
    key_file.write_text("an older key\n", encoding="utf-8")
    saver = threading.Timer(0.2, lambda: key_file.write_text(saved_key, encoding="utf-8"))
    saver.start()
    shared = hard_negatives.with_hard_negatives(
        spec, data, model, run=run, data_fingerprint=rows, reporter=NullReporter()
    )
    saver.join()
    assert waited == [saved_key.strip()]
    assert shared.train.to_dict() == mined.train.to_dict()


def test_the_wait_for_rank_0_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(StjobError, match="rank 0 did not save the mined set"):
        hard_negatives.wait_for_key(tmp_path / hard_negatives.KEY_FILE, "k", timeout=0.0, poll=0.0)


@pytest.fixture(scope="module")
def tiny_cross_encoder_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with a fresh one-logit head, saved as a CrossEncoder (a reranker built offline)."""
    from sentence_transformers import CrossEncoder

    target = tmp_path_factory.mktemp("tiny-cross-encoder")
    CrossEncoder(str(tiny_bert_dir), num_labels=1, max_length=64, device="cpu").save_pretrained(str(target))
    return target


def test_a_cross_encoder_rescores_the_candidates(
    tmp_path: Path,
    tiny_model_dir: Path,
    tiny_cross_encoder_dir: Path,
    dataset_dir: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sentence_transformers import CrossEncoder

    settings = {"numNegatives": 1, "crossEncoder": str(tiny_cross_encoder_dir)}
    job = make_job("qa", dataset_dir("qa"), tiny_model_dir, data={"hardNegatives": settings})
    spec, run = job.spec, RunLayout(tmp_path / "run")
    data = load_data(spec)
    rows = data_fingerprint((data.train, data.valid), data.label_names)
    seen: list[Any] = []
    from sentence_transformers.util import mine_hard_negatives as real_mine

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["cross_encoder"])
        return real_mine(*args, **kwargs)

    monkeypatch.setattr(hard_negatives, "mine_hard_negatives", spy)
    mined = hard_negatives.with_hard_negatives(
        spec, data, load_model(spec.model, device="cpu"), run=run, data_fingerprint=rows, reporter=NullReporter()
    )
    assert len(seen) == 1 and isinstance(seen[0], CrossEncoder)
    assert mined.train.column_names == ["query", "answer", "negative_1"] and len(mined.train) > 0
    # The reranker is part of the cache key: without it the set is mined again.
    plain = make_job("qa", dataset_dir("qa"), tiny_model_dir, data={"hardNegatives": {"numNegatives": 1}})
    assert hard_negatives.mining_key(plain.spec, rows) != hard_negatives.mining_key(spec, rows)


def test_a_cross_encoder_that_cannot_load_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.hardNegatives.crossEncoder: cannot load"):
        hard_negatives.load_cross_encoder(str(tmp_path / "no-such-reranker"), base_dir=None, device="cpu")
