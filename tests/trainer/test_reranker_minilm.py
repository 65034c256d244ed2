"""Slow tier: a reranker (CrossEncoder head) on the packaged all-MiniLM-L6-v2, trained on 480 SICK pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers.cross_encoder import CrossEncoder

from stjob_trainer.run import run_job
from tests.trainer.jobs import make_job, write_dataset

#: The Spearman gain one epoch must show on held-out SICK pairs. Measured 2026-11-30 (CPU, 1 thread):
#: -0.050 (the fresh head) -> 0.309 at lr 2e-4. At lr 3e-5 the 30 steps move the head's bias only
#: (-0.050 -> -0.122, the same in a plain sentence-transformers script): a fresh head needs a larger rate.
MIN_GAIN = 0.2


@pytest.mark.slow
def test_minilm_reranker_learns_sick_relatedness(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", "pair_score", n_train=480, n_valid=200)
    job = make_job(
        "pair_score",
        data,
        "sentence-transformers/all-MiniLM-L6-v2",
        model={"type": "reranker"},
        training={"epochs": 1, "batchSize": 16, "learningRate": 2e-4, "seed": 42},
    )
    result = run_job(job, output_dir=tmp_path / "out")
    assert result.primary_metric == "spearman"
    baseline, best = result.summary["baseline"], result.summary["best"]
    # An optimizer that does nothing leaves the random head where it was.
    assert best > baseline + MIN_GAIN, f"spearman {baseline:.4f} -> {best:.4f}"
    model = CrossEncoder(str(result.model_path), device="cpu")
    assert model.num_labels == 1
    scores = model.predict([("A man is playing a guitar.", "A person is playing a guitar.")])
    assert 0.0 < float(scores[0]) < 1.0  # one sigmoid relevance score
