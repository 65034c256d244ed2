"""`stjob convert`: AutoTrain configs (one per trainer type) become valid SentenceTransformerJobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

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


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("hf_CANARY_TOKEN_DO_NOT_COPY", "--from-file=token=PATH"),
        ("${HF_TOKEN}", '--from-file=token=<(printf %s "$HF_TOKEN")'),
        ("$HF_TOKEN", '--from-file=token=<(printf %s "$HF_TOKEN")'),
    ],
)
def test_token_advice_keeps_the_token_out_of_shell_history(tmp_path: Path, token: str, expected: str) -> None:
    config = tmp_path / "autotrain.yml"
    config.write_text(
        "task: sentence-transformers:pair_score\nbase_model: microsoft/mpnet-base\nproject_name: p\n"
        "data: {path: d, column_mapping: {target_column: score}}\n"
        f"hub: {{username: my-org, token: '{token}', push_to_hub: true}}\n"
    )
    result = runner.invoke(app, ["convert", str(config)])
    assert result.exit_code == 0, result.output
    assert expected in result.stderr
    assert "--from-literal" not in result.stderr.replace("not --from-literal", "")
    assert "hf_CANARY" not in result.stdout
    if token.startswith("$"):
        assert "plain-text" not in result.stderr  # an environment reference is not a plain-text token


# ------------------------------------------------------------------------------------------ issue 14 item 10

SHAPES = {  # the six official AutoTrain sentence-transformers configs, by shape: (task, data section)
    "pair": ("pair", "path: sentence-transformers/all-nli\n  train_split: pair:train\n  valid_split: pair:dev\n"
             "  column_mapping: {sentence1_column: anchor, sentence2_column: positive}\n"),
    "pair_class": ("pair_class", "path: sentence-transformers/all-nli\n  train_split: pair-class:dev\n"
                   "  valid_split: pair-class:test\n  column_mapping: {sentence1_column: premise, "
                   "sentence2_column: hypothesis, target_column: label}\n"),
    "pair_score": ("pair_score", "path: sentence-transformers/stsb\n  train_split: train\n"
                   "  valid_split: validation\n  column_mapping: {sentence1_column: sentence1, "
                   "sentence2_column: sentence2, target_column: score}\n"),
    "qa": ("qa", "path: sentence-transformers/natural-questions\n  train_split: train\n  valid_split: null\n"
           "  column_mapping: {sentence1_column: query, sentence2_column: answer}\n"),
    "triplet": ("triplet", "path: sentence-transformers/all-nli\n  train_split: triplet:train\n"
                "  valid_split: triplet:dev\n  column_mapping: {sentence1_column: anchor, "
                "sentence2_column: positive, sentence3_column: negative}\n"),
    "local_dataset": ("pair_score", "path: /path/to/your/dataset\n  train_split: train\n  valid_split: null\n"
                      "  column_mapping: {sentence1_column: input_sentence, sentence2_column: target_sentence, "
                      "target_column: score}\n"),
}  # fmt: skip


def autotrain_config(shape: str, *, backend: str = "local", push: bool = True) -> str:
    trainer, data = SHAPES[shape]
    return (
        f"task: sentence-transformers:{trainer}\nbase_model: microsoft/mpnet-base\nproject_name: autotrain-st-{shape}\n"
        f"log: tensorboard\nbackend: {backend}\ndata:\n  {data}params:\n  max_seq_length: 512\n  epochs: 5\n"
        "  batch_size: 8\n  lr: 2e-5\n  optimizer: adamw_torch\n  scheduler: linear\n  gradient_accumulation: 1\n"
        f"  mixed_precision: fp16\nhub:\n  username: ${{HF_USERNAME}}\n  token: ${{HF_TOKEN}}\n"
        f"  push_to_hub: {str(push).lower()}\n"
    )


def run_convert(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> Result:
    monkeypatch.delenv("HF_USERNAME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "config.yml"
    config.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["convert", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("shape", list(SHAPES))
def test_official_configs_expand_the_username(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    result = run_convert(tmp_path, autotrain_config(shape), monkeypatch, HF_USERNAME="my-org")

    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.stdout)["spec"]
    assert spec["output"]["hub"]["username"] == "my-org"
    assert "username: '${HF_USERNAME}' expanded from the environment to 'my-org'" in result.stderr
    assert "${" not in result.stdout


@pytest.mark.parametrize("shape", list(SHAPES))
def test_an_unset_variable_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    result = run_convert(tmp_path, autotrain_config(shape), monkeypatch)

    assert result.exit_code == 3
    assert "error: username: '${HF_USERNAME}' refers to $HF_USERNAME, which is not set" in result.stderr
    assert result.stdout == ""


def test_local_data_warns_about_the_volume_and_the_missing_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_convert(tmp_path, autotrain_config("local_dataset"), monkeypatch, HF_USERNAME="me")

    assert result.exit_code == 0, result.output
    assert "data.path '/path/to/your/dataset' is a local path: in a cluster the trainer reads data from a volume" in (
        result.stderr
    )
    assert "valid_split is null: AutoTrain would hold out 25% of the local training data" in result.stderr


def test_hub_data_without_a_split_does_not_warn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_convert(tmp_path, autotrain_config("qa"), monkeypatch, HF_USERNAME="me")

    assert result.exit_code == 0, result.output
    assert "valid_split" not in result.stderr and "local path" not in result.stderr


@pytest.mark.parametrize(
    ("backend", "gpus"),
    [("spaces-a10g-large", 1), ("spaces-a10g-largex4", 4), ("spaces-l40sx8", 8), ("spaces-cpu-basic", 0),
     ("dgx-4a100", 4), ("local-cli", None), ("ep-aws-useast1-xl", None)],
)  # fmt: skip
def test_backend_becomes_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, gpus: int | None) -> None:
    result = run_convert(tmp_path, autotrain_config("pair", backend=backend), monkeypatch, HF_USERNAME="me")

    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.stdout)["spec"]
    assert spec.get("resources", {}).get("gpus") == gpus
    if gpus is not None:
        assert f"backend '{backend}': mapped to resources.gpus: {gpus}" in result.stderr
    elif backend.startswith("ep-"):
        assert f"backend '{backend}' has no equivalent: set spec.resources.gpus yourself" in result.stderr


REWRITTEN_PARAMS = (
    '{"data_path": "autotrain-st-pair/autotrain-data", "model": "microsoft/mpnet-base", "trainer": "pair", '
    '"sentence1_column": "autotrain_sentence1", "sentence2_column": "autotrain_sentence2", "train_split": "train", '
    '"valid_split": "validation", "project_name": "autotrain-st-pair", "epochs": 1}\n'
)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (REWRITTEN_PARAMS, "data_path 'autotrain-st-pair/autotrain-data' is AutoTrain's processed copy of the data"),
        (autotrain_config("pair").replace("sentence-transformers:pair", "text-classification"),
         "error: task 'text-classification' is not a sentence-transformers task"),
        ('{"data_path": "imdb", "model": "bert-base-uncased", "text_column": "text", "target_column": "label"}\n',
         "error: parameters of another AutoTrain task (text_column)"),
        ("task: sentence-transformers:pair\ndata: just-a-string\n", "error: data: expected a mapping, found str"),
        ("task: sentence-transformers:pair\ndata: {path: a/b}\nparams: [1, 2]\n",
         "error: params: expected a mapping, found list"),
        ("task: sentence-transformers:pair\ndata: {path: a/b, column_mapping: [x]}\n",
         "error: data.column_mapping: expected a mapping, found list"),
    ],
    ids=["rewritten training_params.json", "text classification", "flat text classification", "data a string",
         "params a list", "column mapping a list"],
)  # fmt: skip
def test_refused_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, says: str) -> None:
    result = run_convert(tmp_path, text, monkeypatch, HF_USERNAME="me")

    assert result.exit_code == 3
    assert says in result.stderr
    assert result.stdout == ""


def test_a_token_in_the_wrong_field_is_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "hf_" + "A1b2C3d4E5f6G7h8"
    text = autotrain_config("pair").replace("${HF_USERNAME}", token).replace("epochs: 5", f"epochs: 5\n  {token}: 1")

    result = run_convert(tmp_path, text + "extra: Bearer abcdefghijklmnop\n", monkeypatch)

    assert token not in result.output
    assert "abcdefghijklmnop" not in result.output
    assert "spec.output.hub.username: the value looks like a credential; not copied" in result.stderr
