"""`stjob convert`: AutoTrain configs (one per trainer type) become valid SentenceTransformerJobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stjob.api import SentenceTransformerJob
from stjob.autotrain_import import convert_autotrain_config
from stjob.cli import app

CONFIGS = Path(__file__).parent / "autotrain_configs"
runner = CliRunner()


def convert_file(name: str) -> tuple[dict[str, Any], list[str]]:
    return convert_autotrain_config(yaml.safe_load((CONFIGS / name).read_text()))


@pytest.mark.parametrize(
    ("name", "trainer"),
    [
        ("pair_score.yml", "pair_score"),
        ("pair_class.yml", "pair_class"),
        ("pair.yml", "pair"),
        ("triplet.json", "triplet"),
        ("qa.yml", "qa"),
    ],
)
def test_each_trainer_type_converts_to_a_valid_job(name: str, trainer: str) -> None:
    resource, _ = convert_file(name)
    job = SentenceTransformerJob.model_validate(resource)
    assert job.spec.trainer == trainer


def test_pair_score_values_and_secret_handling() -> None:
    resource, warnings = convert_file("pair_score.yml")
    spec = resource["spec"]
    assert resource["metadata"]["name"] == "autotrain-st-pair-score"
    assert spec["model"] == {"name": "microsoft/mpnet-base", "maxSeqLength": 512}
    assert spec["training"]["learningRate"] == 2e-5  # YAML 1.1 read "2e-5" as a string
    assert spec["training"]["mixedPrecision"] == "fp16"
    assert spec["data"] == {
        "path": "sentence-transformers/stsb",
        "trainSplit": "train",
        "validSplit": "validation",
        "columns": {"sentence1": "sentence1", "sentence2": "sentence2", "target": "score"},
    }
    assert spec["tracking"] == {"log": "tensorboard"}
    assert spec["output"]["hub"] == {
        "push": True,
        "username": "my-org",
        "tokenSecretRef": {"name": "hf-token", "key": "token"},
    }
    assert "hf_CANARY_TOKEN_DO_NOT_COPY" not in yaml.safe_dump(resource)
    assert any("plain-text token is never copied" in w for w in warnings)


def test_unknown_parameters_warn() -> None:
    resource, warnings = convert_file("pair_class.yml")
    assert any(w.startswith("use_flash_attention has no equivalent") for w in warnings)
    assert resource["metadata"]["name"] == "nli-classifier"
    assert resource["spec"]["training"]["earlyStopping"] == {"patience": 2, "threshold": 0.001}


def test_flat_params_json() -> None:
    resource, warnings = convert_file("triplet.json")
    spec = resource["spec"]
    assert spec["data"]["columns"]["sentence3"] == "negative"
    assert spec["training"]["seed"] == 7
    assert spec["training"]["mixedPrecision"] == "none"
    assert warnings == []


def test_cli_prints_yaml_and_warnings() -> None:
    result = runner.invoke(app, ["convert", str(CONFIGS / "pair_class.yml")])
    assert result.exit_code == 0, result.output
    assert "warning: use_flash_attention has no equivalent" in result.output
    assert "kind: SentenceTransformerJob" in result.output


def test_cli_json_output() -> None:
    result = runner.invoke(app, ["convert", str(CONFIGS / "qa.yml"), "-o", "json"])
    assert result.exit_code == 0
    assert '"trainer": "qa"' in result.output


def test_cli_reports_an_invalid_result(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("task: sentence-transformers:triplet\ndata: {path: x}\nparams: {epochs: 0}\n")
    result = runner.invoke(app, ["convert", str(bad)])
    assert result.exit_code == 3
    assert "invalid:" in result.output
