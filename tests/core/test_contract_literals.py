"""No second copy of the operator/trainer wire: its literals live in stjob.api.contract (torchrun's in
stjob_trainer.world), and a stray copy anywhere else in the source fails here, naming file and line.

Docstrings may mention a name (they explain); code, messages and descriptions build it from the constant.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from stjob.api import contract
from stjob_trainer import world

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = (ROOT / "operator" / "stjob", ROOT / "trainer_image" / "stjob_trainer")
CONTRACT = Path(contract.__file__).resolve()
WORLD = Path(world.__file__).resolve()

#: Environment variable names: flagged wherever they appear as a word in a string.
ENV_NAMES = {value for name, value in vars(contract).items() if name.startswith("ENV_")}
TORCHRUN_NAMES = {value for name, value in vars(world).items() if name.startswith("ENV_")}
#: Paths in the container: flagged when a string is exactly one of them.
PATHS = {
    contract.CONFIG_DIR,
    contract.CONFIG_PATH,
    contract.DATA_DIR,
    contract.OUTPUT_DIR,
    contract.TERMINATION_LOG,
    contract.HF_HOME_DIR,
    contract.SHM_DIR,
    # the run folder's files
    contract.METRICS_FILE,
    contract.RESULT_FILE,
}
#: Pieces of the redaction patterns: a second regex for secrets is a second redaction function.
REDACTION_PIECES = re.compile(r"hf_\[|bearer\)|PRIVATE KEY-----|\(\?<=://\)|AKIA\|", re.IGNORECASE)


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Line and text of every string constant except docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def strays(path: Path) -> list[str]:
    """``file:line: what`` for every contract literal typed out in ``path``."""
    found = []
    home = path.resolve()
    for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        where = f"{path.relative_to(ROOT)}:{line}"
        if home != CONTRACT:
            found += [f"{where}: env {name}" for name in ENV_NAMES if re.search(rf"\b{name}\b", text)]
            found += [f"{where}: path {text}" for _ in [text] if text in PATHS]
            found += [f"{where}: redaction pattern {text!r}" for _ in [text] if REDACTION_PIECES.search(text)]
        if home != WORLD:
            found += [f"{where}: torchrun env {name}" for name in TORCHRUN_NAMES if re.search(rf"\b{name}\b", text)]
    return found


def _sources() -> list[Path]:
    return sorted(path for directory in SOURCE_DIRS for path in directory.rglob("*.py"))


def test_no_contract_literal_outside_its_home() -> None:
    found = [line for path in _sources() for line in strays(path)]
    assert not found, "contract literals outside stjob.api.contract / stjob_trainer.world:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'import os\nVALUE = os.environ.get("STJOB_OUTPUT_DIR")\n',
        'MOUNT = "/data"\n',
        'import re\nSECRET = re.compile(r"hf_[A-Za-z0-9]{8,}")\n',
        'RANK = int(__import__("os").environ.get("RANK", "0"))\n',
        'def f():\n    raise ValueError("STJOB_DATA_DIR is unset")\n',
    ],
)
def test_the_scan_finds_a_planted_copy(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(source, encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert strays(planted)


def test_docstrings_may_name_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planted = tmp_path / "doc.py"
    planted.write_text('"""Reads ``STJOB_OUTPUT_DIR`` (default /output)."""\n', encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert strays(planted) == []
