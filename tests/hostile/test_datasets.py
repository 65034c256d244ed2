"""Malformed and hostile datasets, end to end: each one is a real ``python -m stjob_trainer`` process (cluster
mode, the data on a mounted volume) that must exit with the documented code, write a termination message
naming the exact file, row and column, and print no traceback.

The 36 malformed datasets of tests/trainer/test_data_loading.py run here as processes too, next to the
hostile ones (issue 14). All processes come from one batch (tests/hostile/trainer_batch.py) so the
suite pays the trainer's import time once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stjob.errors import EXIT_CONFIG_ERROR, EXIT_DATA_ERROR, DataError
from tests.trainer.test_data_loading import BAD, COLUMNS, GOOD, write

BATCH = Path(__file__).with_name("trainer_batch.py")
SECRET = "AKIAIOSFODNN7EXAMPLE"  # the shape of an AWS access key id
OUTSIDE = f"s1,s2,score\nroot secret line {SECRET},b,0.5\nc,d,0.1\n"


@dataclass(frozen=True)
class Case:
    """A dataset (files under the data volume), the failure it must produce, and where it must point."""

    id: str
    files: dict[str, str | bytes]
    problem: str  # a substring of the message after "file F, row R, column 'C': "
    file: str | None  # relative to the data volume; None: the failure names no file
    row: int | None = None
    column: str | None = None
    trainer: str = "pair_score"
    path: str = "train.csv"
    valid: str | None = None
    exit_code: int = EXIT_DATA_ERROR
    setup: Callable[[Path], None] | None = None  # extra preparation of the volume folder
    volume: bool = True
    never: tuple[str, ...] = field(default=())  # must not reach the termination message or the log


def _link_outside(name: str) -> Callable[[Path], None]:
    def setup(volume: Path) -> None:
        outside = volume.parent / "outside" / "secret.csv"
        outside.parent.mkdir(exist_ok=True)
        outside.write_text(OUTSIDE, encoding="utf-8")
        (volume / name).parent.mkdir(parents=True, exist_ok=True)
        (volume / name).symlink_to(outside)

    return setup


def _fifo(name: str) -> Callable[[Path], None]:
    def setup(volume: Path) -> None:
        os.mkfifo(volume / name)

    return setup


def _rows(header: str, rows: list[str]) -> str:
    return header + "\n" + "".join(row + "\n" for row in rows)


LABELS = "s1,s2,label"
HOSTILE = [
    # --- labels (issue 14 item 2)
    Case("labels mix numbers and booleans", {"train.jsonl": '{"s1": "a", "s2": "b", "label": 1}\n'
         '{"s1": "c", "s2": "d", "label": "1"}\n{"s1": "e", "s2": "f", "label": true}\n'},
         "label 'true' mixes with '1' (row 1)", "train.jsonl", 3, "label", "pair_class", "train.jsonl"),
    Case("labels mix numbers and names", {"train.csv": _rows(LABELS, ["a,b,0", "c,d,1", "e,f,neg"])},
         "label 'neg' mixes with '0' (row 2)", "train.csv", 4, "label", "pair_class"),
    Case("labels differ only in case",
         {"train.csv": _rows(LABELS, ["a,b,ENTAILMENT", "c,d,neutral", "e,f,Entailment"])},
         "labels 'Entailment' and 'ENTAILMENT' (row 2) differ only in case", "train.csv", 4, "label", "pair_class"),
    Case("fractional label as text", {"train.csv": _rows(LABELS, ["a,b,0", "c,d,0.5"])},
         "label 0.5 is not a class", "train.csv", 3, "label", "pair_class"),
    Case("text column as the target",
         {"train.csv": _rows(LABELS, [f"a{i},b{i},sentence number {i}" for i in range(30)])},
         "30 different labels in 30 rows: this looks like a text column", "train.csv", None, "label", "pair_class"),
    Case("one class after normalisation", {"train.csv": _rows(LABELS, ["a,b,1", "c,d,01", "e,f,1.0", "g,h,+1"])},
         "only one class ('1')", "train.csv", None, "label", "pair_class"),
    # --- numbers are parsed strictly (issue 14 item 2)
    Case("underscore in a score", {"train.csv": _rows("s1,s2,score", ["a,b,0.5", "c,d,1_0"])},
         "score is not a number: '1_0'", "train.csv", 3, "score"),
    Case("arabic-indic digit score", {"train.csv": _rows("s1,s2,score", ["a,b,0.5", "c,d,\u0661"])},
         "score is not a number: '\u0661'", "train.csv", 3, "score"),
    Case("fullwidth digit score", {"train.csv": _rows("s1,s2,score", ["a,b,\uff11", "c,d,0.5"])},
         "score is not a number: '\uff11'", "train.csv", 2, "score"),
    Case("hex score", {"train.csv": _rows("s1,s2,score", ["a,b,0x1", "c,d,0.5"])},
         "score is not a number: '0x1'", "train.csv", 2, "score"),
    Case("overflowing score", {"train.csv": _rows("s1,s2,score", ["a,b,0.5", "c,d,1e400"])},
         "score is not finite: '1e400'", "train.csv", 3, "score"),
    Case("infinity word score", {"train.csv": _rows("s1,s2,score", ["a,b,0.5", "c,d, -Infinity"])},
         "score is not finite: ' -Infinity'", "train.csv", 3, "score"),
    # --- nothing to learn (issue 14 item 2)
    Case("all pairs identical", {"train.csv": _rows("s1,s2", ["a dog,a dog", "a cat, a cat", "rain,rain"])},
         "in all 3 rows the text equals column 's1': nothing to learn", "train.csv", None, "s2", "pair"),
    Case("all rows the same", {"train.csv": _rows("s1,s2,s3", ["q,yes,no"] * 4)},
         "all 4 rows are the same row: nothing to learn", "train.csv", trainer="triplet"),
    Case("constant training scores", {"train.csv": _rows("s1,s2,score", ["a,b,0.5", "c,d,0.5", "e,f,.5"])},
         "all 3 scores are equal (0.5)", "train.csv", None, "score"),
    # --- escapes from the data volume (issue 14 item 8) and secrets in bad rows (item 9)
    Case("train file symlinked out of the volume", {}, "data.path leads outside the data volume: not read",
         "train.csv", setup=_link_outside("train.csv"), never=(SECRET, "root secret line")),
    Case("valid file symlinked out of the volume", {"ds/train.csv": GOOD},
         "a symlink to a file outside the data volume: not read", "ds/valid.csv", path="ds", valid="valid",
         setup=_link_outside("ds/valid.csv"), never=(SECRET, "root secret line")),
    Case("train file is a fifo", {}, "not a regular file", "train.csv", setup=_fifo("train.csv")),
    Case("cloud key in a bad row", {"train.csv": _rows("s1,s2,score", ["a,b,0.5", f"c,d,{SECRET}"])},
         "score is not a number: '[redacted]'", "train.csv", 3, "score", never=(SECRET,)),
    # --- files that break parsers
    Case("utf-16 data file", {"train.csv": GOOD.encode("utf-16")}, "not valid UTF-8 (byte 0xff)", "train.csv", 1),
    Case("utf-16 data file without bom", {"train.csv": GOOD.encode("utf-16-le")}, "contains a NUL byte",
         "train.csv", 1),
    Case("nul byte in csv", {"train.csv": GOOD + "x\x00y,z,0.5\n"}, "contains a NUL byte", "train.csv", 4),
    Case("deeply nested json value", {"train.jsonl": '{"s1": "a", "s2": "b", "score": 1}\n'
         '{"s1": ' + "[" * 100_000 + "]" * 100_000 + "}\n"},
         "nested too deeply", "train.jsonl", 2, path="train.jsonl"),
    # --- data paths that can never be data (issue 14 item 7): refused with the job, exit 3
    Case("file url data path", {}, "spec.data.path: 'file:/etc/shadow': file: URLs are not data paths", None,
         path="file:/etc/shadow", exit_code=EXIT_CONFIG_ERROR, volume=False),
    Case("hf url climbing out", {}, "spec.data.path: 'hf://datasets/../..': expected hf://datasets/owner/name",
         None, path="hf://datasets/../..", exit_code=EXIT_CONFIG_ERROR, volume=False),
]  # fmt: skip

MALFORMED = [Case(b.id, b.files, b.problem, b.file, b.row, b.column, b.trainer, b.path, b.valid) for b in BAD]
CASES = MALFORMED + HOSTILE


def job_document(case: Case, number: int) -> dict[str, Any]:
    data: dict[str, Any] = {"path": case.path, "columns": COLUMNS[case.trainer], "validSplit": case.valid}
    if case.volume:
        data["volume"] = {"claimName": "datasets"}
    return {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": {"name": f"case-{number}"},
        "spec": {"trainer": case.trainer, "data": data, "output": {"projectName": f"case-{number}"}},
    }


@dataclass(frozen=True)
class Outcome:
    """What one trainer process left behind."""

    exit_code: int
    termination: dict[str, Any]
    log: str
    volume: Path


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("hostile-data")
    batch: list[dict[str, Any]] = []
    for number, case in enumerate(CASES):
        folder = root / f"case-{number}"
        volume = folder / "volume"
        volume.mkdir(parents=True)
        write(volume, case.files)
        if case.setup is not None:
            case.setup(volume)
        config = folder / "job.yaml"
        config.write_text(yaml.safe_dump(job_document(case, number)), encoding="utf-8")
        env = {"STJOB_DATA_DIR": str(volume), "STJOB_TERMINATION_LOG": str(folder / "termination-log")}
        argv = ["--config", str(config), "--output", str(folder / "out")]
        batch.append({"id": case.id, "argv": argv, "env": env,
                      "stdout": str(folder / "stdout"), "stderr": str(folder / "stderr")})  # fmt: skip
    (root / "cases.json").write_text(json.dumps(batch), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, str(BATCH), str(root / "cases.json"), str(root / "results.json")],
        check=True,
        env=env,
        timeout=600,
    )
    codes = json.loads((root / "results.json").read_text(encoding="utf-8"))
    out = {}
    for number, case in enumerate(CASES):
        folder = root / f"case-{number}"
        termination = folder / "termination-log"
        out[case.id] = Outcome(
            exit_code=codes[case.id],
            termination=json.loads(termination.read_text(encoding="utf-8")) if termination.exists() else {},
            log=(folder / "stdout").read_text(encoding="utf-8") + (folder / "stderr").read_text(encoding="utf-8"),
            volume=(folder / "volume").resolve(),
        )
    return out


def test_enough_cases() -> None:
    assert len(MALFORMED) == 36
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_trainer_process_names_file_row_column(outcomes: dict[str, Outcome], case: Case) -> None:
    outcome = outcomes[case.id]

    assert "Traceback" not in outcome.log, outcome.log
    assert outcome.exit_code == case.exit_code, outcome.log
    assert outcome.termination["outcome"] == "Failed"
    message = outcome.termination["message"]
    if case.exit_code == EXIT_DATA_ERROR:
        assert outcome.termination["reason"] == "DataError"
        where = DataError(
            "", file=str(outcome.volume / case.file) if case.file else None, row=case.row, column=case.column
        ).message
        assert message.startswith(where), message
        assert case.problem in message[len(where) :], message
    else:
        assert outcome.termination["reason"] == "ConfigError"
        assert case.problem in message, message
    for text in case.never:
        assert text not in message
        assert text not in outcome.log
