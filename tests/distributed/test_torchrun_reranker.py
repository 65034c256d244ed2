"""The reranker family (CrossEncoder) under torchrun: two CPU processes (gloo), one writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distributed.test_torchrun_cpu import _document, assert_one_writer
from tests.distributed.torchrun_jobs import run_under_torchrun


@pytest.mark.slow
@pytest.mark.parametrize(
    ("trainer", "loss"), [("pair_score", "BinaryCrossEntropyLoss"), ("qa", "MultipleNegativesRankingLoss")]
)
def test_reranker_trains_with_two_processes(trainer: str, loss: str, tmp_path: Path, tiny_bert_dir: Path) -> None:
    document = _document(trainer, tmp_path, tiny_bert_dir)
    document["spec"]["model"]["type"] = "reranker"
    run = run_under_torchrun(document, tmp_path)
    # The cross-encoder losses score pairs within each process's batch: nothing is gathered.
    assert_one_writer(run, gathers=False)
    assert run.result["loss"] == loss
    assert (run.run_dir / "model" / "config_sentence_transformers.json").is_file()
