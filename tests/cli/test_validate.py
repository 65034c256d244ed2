"""`stjob validate`: exit codes and messages that name the field."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from stjob.cli import app
from stjob.errors import EXIT_CONFIG_ERROR, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_examples_validate() -> None:
    files = [str(p) for p in sorted(ROOT.glob("examples/*.yaml"))]
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid") == len(files)


def test_invalid_file_reports_field_and_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: bad}\n"
        "spec:\n  trainer: triplet\n  data: {path: d}\n  training: {learningRate: -1}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert "spec.training.learningRate: Input should be greater than 0" in result.output


def test_cross_field_problem_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: bad}\n"
        "spec:\n  trainer: triplet\n  data: {path: d}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == EXIT_CONFIG_ERROR
    assert "sentence3" in result.output


def test_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code == EXIT_USAGE
