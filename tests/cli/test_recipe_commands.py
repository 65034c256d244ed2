"""The recipe on the command line: `stjob validate --explain`, and `stjob convert` keeping AutoTrain's recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stjob.api import SentenceTransformerJob
from stjob.api.autotrain import AUTOTRAIN_PARAMS
from stjob.api.recipes import TUNABLE
from stjob.autotrain_import import RECOMMENDED_HINT, convert_autotrain_config
from stjob.cli import app

CONFIGS = Path(__file__).parent / "autotrain_configs"
runner = CliRunner()

JOB = (
    "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\nmetadata: {name: j}\n"
    "spec:\n  trainer: pair_class\n  data: {path: d, columns: {target: label}}\n"
)


def test_validate_explain_shows_each_case_and_where_each_value_comes_from(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB + "  training: {recipe: recommended, epochs: 2}\n")
    result = runner.invoke(app, ["validate", "--explain", str(job)])
    assert result.exit_code == 0, result.output
    assert "recipe recommended for pair_class (binary labels)" in result.stdout
    assert "recipe recommended for pair_class (three or more labels)" in result.stdout
    assert "training.epochs: 2  (explicit in the spec)" in result.stdout
    assert "loss.name: OnlineContrastiveLoss  (from the recipe)" in result.stdout


def test_validate_without_explain_prints_no_recipe(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    result = runner.invoke(app, ["validate", str(job)])
    assert result.exit_code == 0 and "recipe" not in result.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.iterdir()))
def test_convert_pins_autotrain_and_keeps_autotrains_meaning(name: str) -> None:
    config = yaml.safe_load((CONFIGS / name).read_text())
    resource, _ = convert_autotrain_config(config)
    spec = SentenceTransformerJob.model_validate(resource).spec
    assert resource["spec"]["training"]["recipe"] == "autotrain"
    flat = {**config, **config.get("params", {})}
    for param, at in AUTOTRAIN_PARAMS.items():
        if at.path in TUNABLE:  # what the config says, else AutoTrain's default: as AutoTrain would train
            expected = float(flat[param]) if param in flat and param == "lr" else flat.get(param, at.default)
            assert spec.hyperparameters.value(at.path) == expected, param


def test_convert_suggests_recommended() -> None:
    result = runner.invoke(app, ["convert", str(CONFIGS / "pair_class.yml")])
    assert result.exit_code == 0, result.output
    assert f"note: {RECOMMENDED_HINT}" in result.stderr
    assert "recipe: autotrain" in result.stdout
