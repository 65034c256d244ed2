"""Extra evaluation sets (``spec.evaluation.datasets``): scored in the report, gated, and checked early."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stjob.api import SentenceTransformerJob, SentenceTransformerJobSpec
from stjob.errors import EXIT_DATA_ERROR, EXIT_QUALITY_GATE, DataError
from stjob_trainer import run as run_module
from stjob_trainer.entrypoint import execute
from stjob_trainer.evaluation_sets import load_evaluation_sets
from stjob_trainer.reporting import NullReporter
from tests.trainer.jobs import job_document

PAIRS = [
    ("A man is playing a guitar.", "A person plays an instrument.", 0.9, 1),
    ("A dog runs in the park.", "A cat sleeps on the sofa.", 0.1, 0),
    ("Two children are swimming.", "Kids are in the water.", 0.8, 1),
    ("A woman is cooking pasta.", "The stock market fell today.", 0.0, 0),
    ("The man is riding a horse.", "A horse is ridden by a man.", 1.0, 1),
    ("A bird is flying.", "A plane lands at the airport.", 0.3, 0),
]


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header), *(",".join(f'"{v}"' if isinstance(v, str) else str(v) for v in r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_sets(folder: Path) -> list[dict[str, str]]:
    """One set of each kind under ``folder``; returns the ``evaluation.datasets`` entries."""
    _csv(folder / "sts.csv", ["sentence1", "sentence2", "score"], [[a, b, s] for a, b, s, _ in PAIRS])
    _csv(folder / "para.csv", ["sentence1", "sentence2", "label"], [[a, b, y] for a, b, _, y in PAIRS])
    ir = folder / "ir"
    _csv(ir / "queries.csv", ["id", "text"], [[f"q{i}", a] for i, (a, *_) in enumerate(PAIRS)])
    (ir / "corpus.jsonl").write_text(
        "".join(json.dumps({"id": f"d{i}", "text": b}) + "\n" for i, (_, b, *_) in enumerate(PAIRS)), encoding="utf-8"
    )
    _csv(ir / "relevant.csv", ["query", "document"], [[f"q{i}", f"d{i}"] for i in range(len(PAIRS))])
    return [
        {"name": "sts", "kind": "pair_score", "path": str(folder / "sts.csv")},
        {"name": "para", "kind": "pair_class", "path": str(folder / "para.csv")},
        {"name": "ir", "kind": "retrieval", "path": str(ir)},
    ]


def _write_job(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_each_set_is_scored_before_and_after_and_the_gate_can_name_its_metric(
    tmp_path: Path, tiny_model_dir: Path, dataset_dir: Callable[[str], Path]
) -> None:
    sets = write_sets(tmp_path)
    gate = {"metric": "para_cosine_accuracy", "minImprovement": 1.0}  # accuracy cannot gain a full point
    doc = job_document(
        "pair_score", dataset_dir("pair_score"), tiny_model_dir, evaluation={"datasets": sets, "gate": gate}
    )
    code = execute(
        _write_job(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )

    assert code == EXIT_QUALITY_GATE
    message = json.loads((tmp_path / "termination-log").read_text())["message"]
    assert "para_cosine_accuracy" in message
    run = tmp_path / "out" / "test-pair-score"
    report = json.loads((run / "result.json").read_text())["evaluation"]
    assert report["primaryMetric"] == "spearman_cosine"  # the validation split's, unchanged
    for metric in ("spearman_cosine", "sts_spearman_cosine", "para_cosine_accuracy", "ir_cosine_mrr@10"):
        scores = report["metrics"][metric]
        assert scores["baseline"] is not None and scores["final"] is not None, metric
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert "| sts_spearman_cosine |" in card and "| ir_cosine_ndcg@10 |" in card
    # The extra sets were scored on the base model once (baseline), not at every evaluation during training.
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e for e in logged if "eval_sts_spearman_cosine" in e] == [e for e in logged if e.get("baseline")]


def _job(tmp_path: Path, datasets: list[dict[str, str]], **data: Any) -> SentenceTransformerJobSpec:
    doc = job_document("pair_score", tmp_path, "unused", evaluation={"datasets": datasets}, data=data)
    return SentenceTransformerJob.model_validate(doc).spec


def _error(tmp_path: Path, datasets: list[dict[str, str]], **kw: Any) -> DataError:
    with pytest.raises(DataError) as caught:
        load_evaluation_sets(_job(tmp_path, datasets), base_dir=tmp_path, **kw)
    return caught.value


@pytest.mark.parametrize(
    ("kind", "name", "content", "row", "column", "problem"),
    [
        ("pair_score", "s.csv", "sentence1,sentence2,score\na,b,0.5\nc,d,high\n", 3, "score", "not a number"),
        ("pair_score", "s.csv", "sentence1,sentence2,score\na,,0.5\n", 2, "sentence2", "empty"),
        ("pair_score", "s.csv", "sentence1,score\na,0.5\n", None, "sentence2", "missing column"),
        (
            "pair_class",
            "c.jsonl",
            '{"sentence1": "a", "sentence2": "b", "label": 1}\n{"sentence1": "c"',
            2,
            None,
            "JSON",
        ),
        ("pair_class", "c.csv", "sentence1,sentence2,label\na,b,1\nc,d,2\n", 3, "label", "labels 0 and 1"),
    ],
)
def test_a_malformed_pair_set_names_file_row_and_column(
    tmp_path: Path, kind: str, name: str, content: str, row: int | None, column: str | None, problem: str
) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    error = _error(tmp_path, [{"name": "x", "kind": kind, "path": name}], data_root=None)
    assert (error.file, error.row, error.column) == (str(tmp_path / name), row, column)
    assert problem in error.problem


@pytest.mark.parametrize(
    ("file", "content", "row", "column", "problem"),
    [
        ("relevant.csv", "query,document\nq0,d0\nq1,d9\n", 3, "document", "'d9' is not in the corpus"),
        ("relevant.csv", "query,document\nq7,d0\n", 2, "query", "'q7' is not in the queries"),
        ("queries.csv", "id,text\nq0,a\nq0,b\n", 3, "id", "appears twice"),
    ],
)
def test_a_malformed_retrieval_set_names_file_row_and_column(
    tmp_path: Path, file: str, content: str, row: int, column: str, problem: str
) -> None:
    ir = tmp_path / "ir"
    _csv(ir / "queries.csv", ["id", "text"], [["q0", "a question"], ["q1", "another"]])
    _csv(ir / "corpus.csv", ["id", "text"], [["d0", "an answer"], ["d1", "another"]])
    _csv(ir / "relevant.csv", ["query", "document"], [["q0", "d0"]])
    (ir / file).write_text(content, encoding="utf-8")
    error = _error(tmp_path, [{"name": "ir", "kind": "retrieval", "path": "ir"}], data_root=None)
    assert (error.file, error.row, error.column) == (str(ir / file), row, column)
    assert problem in error.problem


def test_missing_files_and_wrong_shapes_are_data_errors(tmp_path: Path) -> None:
    assert (
        "not found" in _error(tmp_path, [{"name": "x", "kind": "pair_score", "path": "no.csv"}], data_root=None).problem
    )
    (tmp_path / "ir").mkdir()
    _csv(tmp_path / "ir" / "queries.csv", ["id", "text"], [["q0", "a"]])
    error = _error(tmp_path, [{"name": "ir", "kind": "retrieval", "path": "ir"}], data_root=None)
    assert "corpus.csv or corpus.jsonl" in error.problem
    assert (
        "not a folder" in _error(tmp_path, [{"name": "x", "kind": "pair_class", "path": "ir"}], data_root=None).problem
    )


def test_on_the_data_volume_a_set_is_read_inside_it_only(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    _csv(volume / "eval" / "sts.csv", ["sentence1", "sentence2", "score"], [["a", "b", 0.5], ["c", "d", 0.1]])
    (volume / "leak.csv").symlink_to(tmp_path / "outside.csv")
    _csv(tmp_path / "outside.csv", ["sentence1", "sentence2", "score"], [["a", "b", 0.5]])
    on_volume: dict[str, Any] = {"path": "train.csv", "volume": {"claimName": "data"}}
    ok = _job(tmp_path, [{"name": "sts", "kind": "pair_score", "path": "eval/sts.csv"}], **on_volume)
    assert [s.name for s in load_evaluation_sets(ok, base_dir=None, data_root=volume)] == ["sts"]
    leak = _job(tmp_path, [{"name": "sts", "kind": "pair_score", "path": "leak.csv"}], **on_volume)
    with pytest.raises(DataError, match=r"evaluation.datasets\[sts\].path leads outside the data volume"):
        load_evaluation_sets(leak, base_dir=None, data_root=volume)


def test_a_bad_set_fails_the_job_with_exit_4_before_the_model_loads(
    tmp_path: Path, dataset_dir: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not be loaded before the evaluation sets are checked")

    monkeypatch.setattr(run_module, "load_model_and_loss", no_model)
    (tmp_path / "sts.csv").write_text("sentence1,sentence2,score\na,b,0.5\nc,d,\n", encoding="utf-8")
    datasets = [{"name": "sts", "kind": "pair_score", "path": str(tmp_path / "sts.csv")}]
    doc = job_document("pair_score", dataset_dir("pair_score"), "no-such/model", evaluation={"datasets": datasets})
    code = execute(
        _write_job(tmp_path / "job.yaml", doc), output_dir=tmp_path / "out", local=False, reporter=NullReporter()
    )
    assert code == EXIT_DATA_ERROR
    message = json.loads((tmp_path / "termination-log").read_text())["message"]
    assert f"file {tmp_path / 'sts.csv'}, row 3, column 'score'" in message
