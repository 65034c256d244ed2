"""`stjob train` as people run it: every example locally, volumes mapped to folders, results on stdout.

The examples are written for a cluster (PVCs, GPUs, large Hub models). Locally ``--data-dir`` stands in
for the data volume and ``--output-dir`` for the output volume; a tiny BERT replaces the Hub model (the
tests are offline) and the data comes from the bundled SICK sample, reshaped per trainer.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stjob.api import SentenceTransformerJob
from stjob.cli import app
from stjob.errors import EXIT_CONFIG_ERROR, EXIT_QUALITY_GATE, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
SICK_SAMPLE = ROOT / "examples" / "data" / "sick-sample"
EXAMPLES = sorted(ROOT.glob("examples/*.yaml"))
ROWS = 48
runner = CliRunner()

#: Examples that cannot finish offline, and the first thing they need: (exit code, message).
NEEDS_THE_NETWORK_OR_A_SECRET = {
    "qa.yaml": (EXIT_CONFIG_ERROR, "sentence-transformers/gooaq"),  # a Hub dataset
    "push_to_hub.yaml": (EXIT_CONFIG_ERROR, "HF_TOKEN"),  # pushes to the Hub with a token
}


def _sick_rows() -> list[dict[str, str]]:
    with (SICK_SAMPLE / "train.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _shape_rows(trainer: str, rows: list[dict[str, str]]) -> list[list[Any]]:
    """Rows for ``trainer`` in the canonical order (sentence1, sentence2[, sentence3 | target])."""
    if trainer == "pair_score":
        return [[r["sentence1"], r["sentence2"], float(r["score"])] for r in rows]
    if trainer == "pair_class":
        return [[r["sentence1"], r["sentence2"], r["label"]] for r in rows]
    related = [r for r in rows if float(r["score"]) >= 0.6]
    if trainer == "triplet":
        return [[r["sentence1"], r["sentence2"], related[i - 1]["sentence2"]] for i, r in enumerate(related)]
    return [[r["sentence1"], r["sentence2"]] for r in related]  # pair, qa


def write_example_data(job: SentenceTransformerJob, data_dir: Path) -> None:
    """The files ``data.path`` names inside the data volume, with the job's own column names."""
    spec = job.spec
    cols = spec.data.columns
    header = [cols.sentence1 or "sentence1", cols.sentence2 or "sentence2"]
    if spec.trainer == "triplet":
        header.append(cols.sentence3 or "sentence3")
    elif spec.trainer in ("pair_score", "pair_class"):
        header.append(cols.target or "target")
    rows = _sick_rows()
    splits = {spec.data.train_split: rows[:ROWS]}
    if spec.data.valid_split:
        splits[spec.data.valid_split] = rows[ROWS : 2 * ROWS]
    target = data_dir / spec.data.path
    single_file = target.suffix in (".csv", ".jsonl", ".json")
    for split, split_rows in splits.items():
        shaped = _shape_rows(spec.trainer, split_rows)
        if spec.trainer == "pair_class" and spec.loss_name == "BinaryCrossEntropyLoss":  # a reranker's 0/1 labels
            shaped = [[*r[:2], int(r[2] == "ENTAILMENT")] for r in shaped]
        folder = target.parent if single_file else target
        suffix = target.suffix or ".csv"
        path = target if single_file and split == spec.data.train_split else folder / f"{split}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".jsonl":
            path.write_text("".join(json.dumps(dict(zip(header, r, strict=True))) + "\n" for r in shaped))
        else:
            with path.open("w", encoding="utf-8", newline="") as f:
                csv.writer(f).writerows([header, *shaped])


def localize(
    example: Path,
    tiny_model_dir: Path,
    target: Path,
    *,
    batch_size: int | None = None,
    tiny_mlm_dir: Path | None = None,
) -> SentenceTransformerJob:
    """The example with the tiny model (and Matryoshka sizes that fit it) and one epoch; nothing else changed.

    A sparse example gets ``tiny_mlm_dir`` (a SPLADE model needs a masked-LM head).
    """
    doc = yaml.safe_load(example.read_text(encoding="utf-8"))
    spec = doc["spec"]
    sparse = spec.get("model", {}).get("type") == "sparse"
    spec.setdefault("model", {})["name"] = str(tiny_mlm_dir if sparse and tiny_mlm_dir else tiny_model_dir)
    spec["model"].pop("maxSeqLength", None)
    spec.setdefault("training", {})["epochs"] = 1
    if batch_size is not None:
        spec["training"]["batchSize"] = batch_size
    if "matryoshkaDimensions" in spec.get("loss", {}):
        spec["loss"]["matryoshkaDimensions"] = [64, 32]
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return SentenceTransformerJob.model_validate(doc)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_example_runs_locally(
    example: Path,
    tiny_model_dir: Path,
    tiny_mlm_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    caplog.set_level(logging.INFO)
    job_file = tmp_path / example.name
    job = localize(example, tiny_model_dir, job_file, tiny_mlm_dir=tiny_mlm_dir)
    data_dir, output_dir = tmp_path / "data", tmp_path / "out"
    data_dir.mkdir()
    if job.spec.data.volume is not None:
        write_example_data(job, data_dir)

    args = ["train", str(job_file), "--output-dir", str(output_dir), "--data-dir", str(data_dir)]
    result = runner.invoke(app, args)

    run_dir = output_dir / job.spec.output.project_name
    if example.name in NEEDS_THE_NETWORK_OR_A_SECRET:
        code, needed = NEEDS_THE_NETWORK_OR_A_SECRET[example.name]
        assert result.exit_code == code, result.output + caplog.text
        assert needed in caplog.text + result.stderr
        assert not output_dir.exists(), "a failed run left its folder behind"
        return
    assert result.exit_code == 0, result.output + caplog.text
    assert result.stdout == f"{run_dir / 'model'}\n"  # stdout: the model path, nothing else
    summary = json.loads((run_dir / "result.json").read_text())
    if "evaluation" in summary:  # the evaluation report ends stderr, primary metric first
        rows = len(summary["evaluation"]["metrics"])
        table = result.stderr.splitlines()[-rows - 1 :]
        assert table[0].split() == ["metric", "base", "model", "fine-tuned", "delta"]
        assert table[1].startswith(f"*{summary['evaluation']['primaryMetric']} ")
    assert (run_dir / "model" / "modules.json").is_file()
    if job.spec.data.volume is not None:
        assert f"from {data_dir / job.spec.data.path}" in caplog.text


def test_a_job_with_a_data_volume_needs_a_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STJOB_DATA_DIR", raising=False)
    result = runner.invoke(app, ["train", str(ROOT / "examples" / "pair_score.yaml"), "--output-dir", str(tmp_path)])
    assert result.exit_code == EXIT_USAGE
    assert "data.volume is set (claim 'datasets'): pass --data-dir DIR" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_data_dir_comes_from_the_pods_variable_too(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    job_file = tmp_path / "job.yaml"
    job = localize(ROOT / "examples" / "pair_class.yaml", tiny_model_dir, job_file)
    write_example_data(job, tmp_path / "volume")
    monkeypatch.setenv("STJOB_DATA_DIR", str(tmp_path / "volume"))
    monkeypatch.setenv("STJOB_OUTPUT_DIR", str(tmp_path / "models"))
    result = runner.invoke(app, ["train", str(job_file), "-o", "json"])
    assert result.exit_code == 0, result.output + caplog.text
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "Succeeded"
    assert summary["modelPath"] == str(tmp_path / "models" / "sick-entailment" / "model")


def test_a_missed_quality_gate_keeps_the_model_and_prints_the_report(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    job_file = tmp_path / "job.yaml"
    job = localize(ROOT / "examples" / "pair_class.yaml", tiny_model_dir, job_file)
    doc = yaml.safe_load(job_file.read_text(encoding="utf-8"))
    doc["spec"]["evaluation"] = {"gate": {"minImprovement": 1.0}}  # accuracy cannot rise by a whole point
    job_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    write_example_data(job, tmp_path / "volume")
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))
    args = ["train", str(job_file), "--output-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "volume")]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_QUALITY_GATE
    assert result.stdout == ""
    run_dir = tmp_path / "runs" / job.spec.output.project_name
    assert (run_dir / "model" / "modules.json").is_file()  # kept, though the job failed
    assert "QualityGateFailed: quality gate: accuracy" in caplog.text
    assert (
        result.stderr.splitlines()[
            -len(json.loads((run_dir / "result.json").read_text())["evaluation"]["metrics"]) - 1
        ].split()[0]
        == "metric"
    )


def test_a_failed_run_leaves_no_folder_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job_file = tmp_path / "job.yaml"
    job_file.write_text(
        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: broken}\n"
        "spec: {trainer: pair_score, data: {path: broken, columns: {target: score}}, resources: {gpus: 0}}\n"
    )
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "train.csv").write_text("sentence1,sentence2,score\na,b,high\n")
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))
    result = runner.invoke(app, ["train", str(job_file), "--output-dir", str(tmp_path / "runs")])
    assert result.exit_code == 4
    assert result.stdout == ""
    assert not (tmp_path / "runs").exists()


def test_piped_train_prints_plain_progress_lines_and_no_library_noise(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The real command in a pipe: periodic progress lines on stderr, only the model path on stdout."""
    job_file = tmp_path / "job.yaml"
    job = localize(ROOT / "examples" / "pair_class.yaml", tiny_model_dir, job_file, batch_size=8)
    write_example_data(job, tmp_path / "volume")
    env = {**os.environ, "STJOB_PROGRESS_INTERVAL": "0", "STJOB_TERMINATION_LOG": str(tmp_path / "tl")}
    stjob = Path(sys.executable).parent / "stjob"
    proc = subprocess.run(
        [str(stjob), "train", str(job_file), "--data-dir", str(tmp_path / "volume"), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{tmp_path / 'sick-entailment' / 'model'}\n"
    log = proc.stderr
    steps = [line for line in log.splitlines() if line.startswith("step ") and "%)" in line]
    total = ROWS // 8
    assert {line.split()[1] for line in steps} == {f"{step}/{total}" for step in range(total + 1)}
    assert "loss " in steps[-1] and "samples/s" in steps[-1]
    assert "loading model" in log and "measuring the base model" in log
    # One throughput figure: the summary repeats the last progress line's.
    rate = steps[-1].split("  ")[-1]
    assert f"throughput: {rate}" in log
    for noise in ("Computing widget examples", "pin_memory", "select_columns", "\r", "\x1b["):
        assert noise not in log, noise
