"""`stjob plot`: curves from metrics.jsonl to a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stjob.cli import app
from stjob.errors import DataError
from stjob.metrics_plot import read_curves

runner = CliRunner()


def write_metrics(run: Path) -> None:
    run.mkdir(parents=True, exist_ok=True)
    events = [{"step": s, "epoch": s / 10, "loss": 1.0 / s, "learning_rate": 3e-5} for s in range(1, 21)]
    events += [
        {"step": 10, "epoch": 1.0, "eval_loss": 0.4, "eval_spearman_cosine": 0.71, "eval_runtime": 1.2},
        {"step": 20, "epoch": 2.0, "eval_loss": 0.3, "eval_spearman_cosine": 0.78, "eval_runtime": 1.1},
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")


def test_read_curves(tmp_path: Path) -> None:
    write_metrics(tmp_path)
    curves = read_curves(tmp_path / "metrics.jsonl")
    assert len(curves.train_loss) == 20
    assert curves.eval_loss == [(10, 0.4), (20, 0.3)]
    assert set(curves.eval_metrics) == {"eval_spearman_cosine"}


def test_plot_writes_a_png(tmp_path: Path) -> None:
    write_metrics(tmp_path / "run")
    result = runner.invoke(app, ["plot", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    png = tmp_path / "run" / "metrics.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


def test_broken_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"metrics.jsonl, row 2"):
        read_curves(tmp_path / "metrics.jsonl")


def test_empty_metrics_exit_4(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("")
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 4
