"""The sparse family (SPLADE) under torchrun: two CPU processes (gloo), in-batch negatives gathered across both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distributed.test_torchrun_cpu import _document, assert_one_writer
from tests.distributed.torchrun_jobs import run_under_torchrun


@pytest.mark.slow
def test_sparse_qa_trains_with_two_processes(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    document = _document("qa", tmp_path, tiny_mlm_dir)
    document["spec"]["model"]["type"] = "sparse"
    run = run_under_torchrun(document, tmp_path)
    # SpladeLoss's SparseMultipleNegativesRankingLoss sees both processes' batches as negatives.
    assert_one_writer(run, gathers=True)
    assert run.result["loss"] == "SpladeLoss"
    assert (run.run_dir / "model" / "1_SpladePooling").is_dir()
