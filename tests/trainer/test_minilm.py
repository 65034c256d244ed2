"""Slow tier: the packaged all-MiniLM-L6-v2 fine-tuned on 300 SICK pairs (pair_score)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stjob_trainer.run import run_job
from tests.trainer.jobs import make_job, write_dataset


@pytest.mark.slow
def test_minilm_pair_score_on_sick(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", "pair_score", n_train=300, n_valid=100)
    job = make_job(
        "pair_score",
        data,
        "sentence-transformers/all-MiniLM-L6-v2",
        training={"epochs": 1, "batchSize": 16, "learningRate": 3e-5},
    )
    result = run_job(job, output_dir=tmp_path / "out")
    baseline, best = result.summary["baseline"], result.summary["best"]
    assert baseline > 0.5  # a pretrained model already ranks SICK pairs well
    assert best >= baseline - 0.02  # one short epoch must not wreck it (best model is kept)
    assert (result.model_path / "model.safetensors").is_file()
