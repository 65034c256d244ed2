"""One exit-code table (stjob.errors.EXIT_CODES), one meaning per code, the same in every command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stjob.cli import app
from stjob.errors import EXIT_CODES, EXIT_CONFIG_ERROR, EXIT_DATA_ERROR, EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("crd", "validate", "convert", "plot", "status", "watch", "logs", "train")
runner = CliRunner()


def test_the_readme_table_is_the_code_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\d+)` \| (.+?) \|$", readme, re.M)
    assert [(int(code), meaning) for code, meaning in rows] == list(EXIT_CODES)


def test_help_lists_every_code_and_h_is_help() -> None:
    result = runner.invoke(app, ["-h"])
    assert result.exit_code == 0
    for code, meaning in EXIT_CODES:
        assert f"{code:>5}  {meaning}" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_plain_help(command: str) -> None:
    result = runner.invoke(app, [command, "-h"])
    assert result.exit_code == 0, result.output
    assert f"Usage: stjob {command}" in result.stdout
    assert "<bool>" not in result.stdout  # the rich help showed "--help <bool>"
    if "--output" in result.stdout:
        assert "json|yaml" in result.stdout  # -o says what it prints


def test_version() -> None:
    from importlib.metadata import version

    proc = subprocess.run([str(Path(sys.executable).parent / "stjob"), "--version"], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, f"stjob {version('stjob')}\n")


BROKEN_YAML = "apiVersion: stjob.dev/v1alpha1\nkind: [SentenceTransformerJob\n"


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["validate", "{missing}"], EXIT_USAGE),
        (["convert", "{missing}"], EXIT_USAGE),
        (["train", "{missing}"], EXIT_USAGE),
        (["plot", "{missing}"], EXIT_USAGE),
        (["plot", "{empty_dir}"], EXIT_USAGE),
        (["status", "x", "-o", "xml"], EXIT_USAGE),
        (["train", "{broken}", "--bogus"], EXIT_USAGE),
        (["validate", "{broken}"], EXIT_CONFIG_ERROR),
        (["convert", "{broken}"], EXIT_CONFIG_ERROR),
        (["train", "{broken}"], EXIT_CONFIG_ERROR),
        (["plot", "{bad_metrics}"], EXIT_DATA_ERROR),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_same_problem_same_code_in_every_command(argv: list[str], code: int, tmp_path: Path) -> None:
    paths = {
        "missing": tmp_path / "missing.yaml",
        "empty_dir": tmp_path / "empty",
        "broken": tmp_path / "broken.yaml",
        "bad_metrics": tmp_path / "run",
    }
    paths["empty_dir"].mkdir()
    paths["broken"].write_text(BROKEN_YAML)
    paths["bad_metrics"].mkdir()
    (paths["bad_metrics"] / "metrics.jsonl").write_text('{"step": 1, "loss": 1}\n{oops\n')
    result = runner.invoke(app, [arg.format(**{k: str(v) for k, v in paths.items()}) for arg in argv])
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.stderr.strip(), "a failure says why"
