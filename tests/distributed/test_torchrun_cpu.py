"""Two processes under torchrun (gloo, CPU) really train through the real entrypoint.

Each run is the operator's own container command (``python -m stjob_trainer.launch ... -m stjob_trainer``)
with the tiny BERT and 64 rows: about 15 s on two shared cores. The pair shape (MNRL with in-batch
negatives gathered across the two processes) is in the fast tier; the other four shapes are ``slow``.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stjob.api.contract import RunLayout
from stjob_trainer.hard_negatives import KEY_FILE
from stjob_trainer.launch import exit_code_of, root_cause_exit_code
from stjob_trainer.training_args import auto_logging_steps
from tests.distributed.torchrun_jobs import TorchrunResult, run_under_torchrun
from tests.trainer.jobs import job_document, write_dataset

WORLD = 2
ROWS = 64
BATCH = 16


def _keep_distinct_rows(path: Path, n: int) -> None:
    """The first ``n`` rows that repeat no text of an earlier row.

    The no-duplicates sampler of the in-batch-negative losses skips a row whose text is already in the
    batch, so with repeated questions (TREC QA) an epoch has fewer batches than the arithmetic says.
    """
    with path.open(encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    seen: set[str] = set()
    kept = []
    for row in rows:
        if seen.isdisjoint(row):
            kept.append(row)
            seen.update(row)
    assert len(kept) >= n, f"{path}: only {len(kept)} distinct rows"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *kept[:n]])


def _document(trainer: str, tmp_path: Path, model: Path, **overrides: Any) -> dict[str, Any]:
    in_batch_negatives = trainer in ("pair", "qa", "triplet")
    data = write_dataset(tmp_path / "data", trainer, n_train=1000 if in_batch_negatives else ROWS, n_valid=16)
    if in_batch_negatives:
        _keep_distinct_rows(data / "train.csv", ROWS)
    assert sum(1 for _ in (data / "train.csv").open()) - 1 == ROWS  # the step arithmetic below needs it
    spec = {"distributed": {"processesPerNode": WORLD}, "training": {"batchSize": BATCH}, **overrides}
    return job_document(trainer, data, model, **spec)


def assert_one_writer(
    run: TorchrunResult, *, epochs: int = 1, accumulation: int = 1, gathers: bool | None = None
) -> None:
    """Rank 0 alone saved, logged metrics and reported status; steps and batch count both processes."""
    assert run.returncode == 0, run.log[-4000:]
    assert run.log.count("distributed: world size 2 ") == 1, run.log[-4000:]
    if gathers is not None:
        assert f"in-batch negatives gathered across devices: {gathers}" in run.log
    assert run.log.count("saved the final model to") == 1

    # Every rank sees a 1/world shard: steps per epoch = ceil(rows / (batch x accumulation x world)).
    steps = math.ceil(ROWS / (BATCH * accumulation * WORLD)) * epochs
    effective = BATCH * accumulation * WORLD
    result = run.result
    assert result["globalStep"] == steps
    assert result["effectiveBatchSize"] == effective
    assert (run.run_dir / "model" / "modules.json").is_file()
    # Checkpoints (saveTotalLimit 1 keeps the best epoch's): one written, none past the last step.
    saved = [int(p.name.rsplit("-", 1)[1]) for p in (run.run_dir / "checkpoints").glob("checkpoint-*")]
    assert len(saved) == 1 and 0 < saved[0] <= steps, saved

    # metrics.jsonl: one writer, so no event twice and exactly one loss line per logging interval.
    lines = run.metrics
    events = [json.dumps({k: v for k, v in line.items() if k != "time"}, sort_keys=True) for line in lines]
    assert [e for e, n in Counter(events).items() if n > 1] == []
    assert sum(1 for line in lines if line.get("baseline")) == 1
    every = auto_logging_steps(ROWS, BATCH)
    assert sum(1 for line in lines if "loss" in line) == steps // every

    # Status: the real KubernetesReporter, in rank 0 only, with the totals of the whole world.
    assert run.patches, "no status patch was sent"
    assert {p["rank"] for p in run.patches} == {"0"}
    assert len({p["pid"] for p in run.patches}) == 1
    final = run.patches[-1]["body"]["status"]
    assert final["progress"]["step"] == final["progress"]["totalSteps"] == steps
    assert final["progress"]["effectiveBatchSize"] == effective
    assert final["output"]["modelPath"].endswith("/model")
    assert run.termination is not None and run.termination["outcome"] == "Succeeded"


def test_pair_mnrl_gathers_across_two_processes(tmp_path: Path, tiny_model_dir: Path) -> None:
    run = run_under_torchrun(_document("pair", tmp_path, tiny_model_dir), tmp_path)
    assert_one_writer(run, gathers=True)


@pytest.mark.slow
def test_hard_negatives_are_mined_once_on_rank_0_and_shared(tmp_path: Path, tiny_model_dir: Path) -> None:
    document = _document("qa", tmp_path, tiny_model_dir, data={"hardNegatives": {"numNegatives": 1}})
    run = run_under_torchrun(document, tmp_path)
    assert run.returncode == 0, run.log[-4000:]
    assert run.log.count("hard negatives: rank 0 mines") == 1, run.log[-4000:]
    assert "hard negatives: rank 1 mines" not in run.log
    # Rank 1 waits for rank 0's set, or (a slow start) finds it already saved: either way it loads it once.
    assert run.log.count("hard negatives: rank 1 waits for rank 0") <= 1
    assert run.log.count("hard negatives: rank 1 loaded") == 1
    assert (RunLayout(run.run_dir).hard_negatives / KEY_FILE).is_file()


def test_data_error_keeps_its_exit_code_under_torchrun(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Plain torchrun exits 1 for any failure; the launcher keeps 4, so podFailurePolicy fails the Job."""
    document = _document("pair", tmp_path, tiny_model_dir, data={"columns": {"sentence1": "nope"}})
    run = run_under_torchrun(document, tmp_path)
    assert run.returncode == 4, run.log[-4000:]
    assert run.termination is not None
    assert (run.termination["outcome"], run.termination["reason"]) == ("Failed", "DataError")
    assert "nope" in run.termination["message"]


SHAPES = [
    pytest.param(
        "qa",
        {"loss": {"name": "CachedMultipleNegativesRankingLoss", "miniBatchSize": 8}},
        {"gathers": True},
        id="qa-cached-mnrl",
    ),
    pytest.param("triplet", {"loss": {"matryoshkaDimensions": [64, 32]}}, {"gathers": True}, id="triplet-matryoshka"),
    pytest.param("pair_class", {}, {"gathers": False}, id="pair_class"),
    pytest.param(
        "pair_score",
        {"training": {"batchSize": BATCH, "gradientAccumulation": 2, "epochs": 2}},
        {"gathers": False, "epochs": 2, "accumulation": 2},
        id="pair_score-accumulation",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("trainer", "overrides", "expect"), SHAPES)
def test_every_shape_trains_with_two_processes(
    trainer: str, overrides: dict[str, Any], expect: dict[str, Any], tmp_path: Path, tiny_model_dir: Path
) -> None:
    run = run_under_torchrun(_document(trainer, tmp_path, tiny_model_dir, **overrides), tmp_path)
    assert_one_writer(run, **expect)
    if trainer == "pair_class":
        assert json.loads((run.run_dir / "model" / "label_map.json").read_text())["labels"]


class _Failure:
    def __init__(self, exitcode: int, timestamp: int) -> None:
        self.exitcode, self.timestamp = exitcode, timestamp


@pytest.mark.parametrize(
    ("failures", "code"),
    [
        ({0: _Failure(4, 10)}, 4),
        # Rank 1 hit the DataError first; torchrun then stopped rank 0 (SIGTERM): report the cause.
        ({0: _Failure(143, 12), 1: _Failure(4, 11)}, 4),
        ({0: _Failure(-15, 11), 1: _Failure(6, 12)}, 6),
        # Only terminated workers (the launcher's own SIGTERM): the interrupted exit code.
        ({0: _Failure(143, 11), 1: _Failure(-15, 12)}, 143),
        ({0: _Failure(-9, 11)}, 137),
        ({}, 1),
    ],
)
def test_launcher_exits_with_the_root_cause(failures: dict[int, _Failure], code: int) -> None:
    assert root_cause_exit_code(failures) == code


def test_exit_code_of_signals_and_out_of_range() -> None:
    assert (exit_code_of(-15), exit_code_of(3), exit_code_of(300)) == (143, 3, 1)
