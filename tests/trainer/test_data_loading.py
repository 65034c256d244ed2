"""Data loading and validation: every malformed dataset fails early, naming file, row and column."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub.constants
import pytest
from pydantic import ValidationError

from stjob.api import SentenceTransformerJobSpec
from stjob.errors import EXIT_CONFIG_ERROR, ConfigError, DataError
from stjob_trainer.data_loading import CANONICAL_COLUMNS, LoadedData, load_data, resolve_data_location
from tests.support import shared_data

# The user's column names for the synthetic files below.
COLUMNS: dict[str, dict[str, str]] = {
    "pair": {"sentence1": "s1", "sentence2": "s2"},
    "pair_class": {"sentence1": "s1", "sentence2": "s2", "target": "label"},
    "pair_score": {"sentence1": "s1", "sentence2": "s2", "target": "score"},
    "triplet": {"sentence1": "s1", "sentence2": "s2", "sentence3": "s3"},
    "qa": {"sentence1": "s1", "sentence2": "s2"},
}


def make_spec(
    trainer: str,
    path: str | Path,
    *,
    columns: dict[str, str] | None = None,
    valid: str | None = None,
    volume: bool = False,
    **data: Any,
) -> SentenceTransformerJobSpec:
    """A spec with only the data section of interest."""
    section: dict[str, Any] = {"path": str(path), "columns": columns or COLUMNS[trainer], "validSplit": valid, **data}
    if volume:
        section["volume"] = {"claimName": "datasets"}
    return SentenceTransformerJobSpec.model_validate({"trainer": trainer, "data": section})


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8", newline="")


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV or JSON lines, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


# ------------------------------------------------------------------------------------ real samples


def _read_tsv(path: Path, limit: int) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row for _, row in zip(range(limit), reader, strict=False)]


def _real(relative: str) -> Path:
    return shared_data(relative)


def sick(limit: int = 12, split: str = "SICK_train.txt") -> list[dict[str, str]]:
    """SICK: sentence_A, sentence_B, relatedness_score (1-5), entailment_judgment (3 labels)."""
    return _read_tsv(_real(f"sick2014/{split}"), limit)


def msrp(limit: int = 12) -> list[dict[str, str]]:
    """MSRP: Quality (1 = paraphrase), #1 String, #2 String."""
    return _read_tsv(_real("msrp/msr-para-train.tsv"), limit)


def trecqa(limit: int = 200, split: str = "train.csv") -> list[dict[str, str]]:
    """TREC-QA: qtext, label (1 = answers the question), atext."""
    with _real(f"trecqa/{split}").open(encoding="utf-8", newline="") as handle:
        return [row for _, row in zip(range(limit), csv.DictReader(handle), strict=False)]


def sample_pair() -> tuple[list[dict[str, Any]], dict[str, str]]:
    rows = [{"a": r["#1 String"], "b": r["#2 String"]} for r in msrp(20) if r["Quality"] == "1"]
    return rows, {"sentence1": "a", "sentence2": "b"}


def sample_pair_class() -> tuple[list[dict[str, Any]], dict[str, str]]:
    rows = [{"p": r["sentence_A"], "h": r["sentence_B"], "y": r["entailment_judgment"]} for r in sick(30)]
    return rows, {"sentence1": "p", "sentence2": "h", "target": "y"}


def sample_pair_score() -> tuple[list[dict[str, Any]], dict[str, str]]:
    rows = [
        {"id": r["pair_ID"], "A": r["sentence_A"], "B": r["sentence_B"], "sim": float(r["relatedness_score"]) / 5}
        for r in sick(12)
    ]
    return rows, {"sentence1": "A", "sentence2": "B", "target": "sim"}


def sample_qa() -> tuple[list[dict[str, Any]], dict[str, str]]:
    rows = [{"question": r["qtext"], "answer": r["atext"]} for r in trecqa() if r["label"] == "1"]
    return rows, {"sentence1": "question", "sentence2": "answer"}


def sample_triplet() -> tuple[list[dict[str, Any]], dict[str, str]]:
    by_question: dict[str, dict[str, list[str]]] = {}
    for r in trecqa(400):
        by_question.setdefault(r["qtext"], {"1": [], "0": []})[r["label"]].append(r["atext"])
    rows = [{"q": q, "pos": a["1"][0], "neg": a["0"][0]} for q, a in by_question.items() if a["1"] and a["0"]]
    return rows, {"sentence1": "q", "sentence2": "pos", "sentence3": "neg"}


SAMPLES: dict[str, Callable[[], tuple[list[dict[str, Any]], dict[str, str]]]] = {
    "pair": sample_pair,
    "pair_class": sample_pair_class,
    "pair_score": sample_pair_score,
    "triplet": sample_triplet,
    "qa": sample_qa,
}


# ------------------------------------------------------------------------------------ good data


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("trainer", list(CANONICAL_COLUMNS))
def test_each_shape_loads_real_data(tmp_path: Path, trainer: str, suffix: str) -> None:
    rows, columns = SAMPLES[trainer]()
    assert len(rows) >= 3
    write_rows(tmp_path / f"train{suffix}", rows)

    loaded = load_data(make_spec(trainer, tmp_path / f"train{suffix}", columns=columns))

    assert isinstance(loaded, LoadedData)
    assert loaded.train.column_names == list(CANONICAL_COLUMNS[trainer])
    assert len(loaded.train) == len(rows)
    assert loaded.valid is None
    assert loaded.source == str(tmp_path / f"train{suffix}")
    first = loaded.train[0]
    canonical_text = CANONICAL_COLUMNS[trainer][0]
    assert first[canonical_text] == rows[0][columns["sentence1"]].strip()
    if trainer == "pair_class":
        assert loaded.label_names == ["CONTRADICTION", "ENTAILMENT", "NEUTRAL"]
        assert loaded.label_names[first["label"]] == rows[0]["y"]
    else:
        assert loaded.label_names is None
    if trainer == "pair_score":
        assert first["score"] == pytest.approx(rows[0]["sim"])


def test_folder_with_train_and_valid(tmp_path: Path) -> None:
    rows, columns = sample_pair_score()
    write_rows(tmp_path / "sick" / "train.csv", rows[:8])
    write_rows(tmp_path / "sick" / "valid.jsonl", rows[8:])  # formats may differ between splits

    loaded = load_data(make_spec("pair_score", "sick", columns=columns, valid="valid"), base_dir=tmp_path)

    assert len(loaded.train) == 8
    assert loaded.valid is not None
    assert loaded.valid.column_names == ["sentence1", "sentence2", "score"]
    assert len(loaded.valid) == len(rows) - 8


def test_file_with_sibling_valid(tmp_path: Path) -> None:
    train = [{"question": r["qtext"], "answer": r["atext"]} for r in trecqa() if r["label"] == "1"]
    dev = [{"question": r["qtext"], "answer": r["atext"]} for r in trecqa(100, "dev.csv") if r["label"] == "1"]
    write_rows(tmp_path / "train.csv", train)
    write_rows(tmp_path / "dev.csv", dev)

    spec = make_spec(
        "qa", tmp_path / "train.csv", columns={"sentence1": "question", "sentence2": "answer"}, valid="dev"
    )
    loaded = load_data(spec)

    assert loaded.valid is not None
    assert len(loaded.train) == len(train)
    assert len(loaded.valid) == len(dev)
    assert loaded.valid[0]["query"] == dev[0]["question"].strip()


def test_string_labels_become_sorted_ids(tmp_path: Path) -> None:
    rows, columns = sample_pair_class()
    trial = [
        {"p": r["sentence_A"], "h": r["sentence_B"], "y": r["entailment_judgment"]} for r in sick(20, "SICK_trial.txt")
    ]
    write_rows(tmp_path / "train.csv", rows)
    write_rows(tmp_path / "valid.csv", trial)

    loaded = load_data(make_spec("pair_class", tmp_path / "train.csv", columns=columns, valid="valid"))

    assert loaded.label_names == ["CONTRADICTION", "ENTAILMENT", "NEUTRAL"]
    assert [loaded.label_names[i] for i in loaded.train["label"]] == [r["y"] for r in rows]
    assert loaded.valid is not None
    assert [loaded.label_names[i] for i in loaded.valid["label"]] == [r["y"] for r in trial]


def test_integer_labels_keep_their_ids(tmp_path: Path) -> None:
    rows = [{"a": r["#1 String"], "b": r["#2 String"], "q": int(r["Quality"])} for r in msrp(20)]
    write_rows(tmp_path / "train.jsonl", rows)

    spec = make_spec(
        "pair_class", tmp_path / "train.jsonl", columns={"sentence1": "a", "sentence2": "b", "target": "q"}
    )
    loaded = load_data(spec)

    assert loaded.label_names == ["0", "1"]
    assert loaded.train["label"] == [r["q"] for r in rows]


def test_integer_labels_sort_numerically(tmp_path: Path) -> None:
    write(tmp_path, {"train.csv": "s1,s2,label\na,b,10\nc,d,2\ne,f,02\ng,h,1\n"})

    loaded = load_data(make_spec("pair_class", tmp_path / "train.csv"))

    assert loaded.label_names == ["1", "2", "10"]
    assert loaded.train["label"] == [2, 1, 1, 0]


def test_spellings_of_a_whole_number_are_one_class(tmp_path: Path) -> None:
    write(tmp_path, {"train.csv": "s1,s2,label\na,b,0\nc,d,1\ne,f,1.0\ng,h,01\ni,j,+1\nk,l,0.0\nm,n, 1e0\n"})

    loaded = load_data(make_spec("pair_class", tmp_path / "train.csv"))

    assert loaded.label_names == ["0", "1"]
    assert loaded.train["label"] == [0, 1, 1, 1, 1, 0, 1]


def test_json_numbers_and_number_strings_are_one_class(tmp_path: Path) -> None:
    lines = [{"s1": "a", "s2": "b", "label": v} for v in (1, "1", 1.0, 0, "0", " 1 ")]
    write_rows(tmp_path / "train.jsonl", lines)

    loaded = load_data(make_spec("pair_class", tmp_path / "train.jsonl"))

    assert loaded.label_names == ["0", "1"]
    assert loaded.train["label"] == [1, 1, 1, 0, 0, 1]


def test_json_booleans_are_named_classes(tmp_path: Path) -> None:
    write_rows(tmp_path / "train.jsonl", [{"s1": "a", "s2": "b", "label": v} for v in (True, False, True)])

    loaded = load_data(make_spec("pair_class", tmp_path / "train.jsonl"))

    assert loaded.label_names == ["false", "true"]
    assert loaded.train["label"] == [1, 0, 1]


def test_mostly_identical_pairs_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, {"train.csv": "s1,s2\na,a\nb,b\nc,d\n"})

    with caplog.at_level(logging.WARNING, logger="stjob_trainer.data_loading"):
        load_data(make_spec("pair", tmp_path / "train.csv"))

    assert "in 2 of 3 rows column 's2' equals column 's1'" in caplog.text


def test_constant_validation_scores_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, {"train.csv": GOOD, "valid.csv": "s1,s2,score\na,b,0.5\nc,d,0.5\n"})

    with caplog.at_level(logging.WARNING, logger="stjob_trainer.data_loading"):
        load_data(make_spec("pair_score", tmp_path / "train.csv", valid="valid"))

    assert "all validation scores are equal (0.5)" in caplog.text


def test_local_symlink_out_of_the_data_folder_is_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, {"elsewhere/train.csv": GOOD, "data/README": "x"})
    (tmp_path / "data" / "train.csv").symlink_to(tmp_path / "elsewhere" / "train.csv")

    with caplog.at_level(logging.WARNING, logger="stjob_trainer.data_loading"):
        loaded = load_data(make_spec("pair_score", "data", valid=None), base_dir=tmp_path)

    assert len(loaded.train) == 2
    assert f"resolves to {tmp_path / 'elsewhere' / 'train.csv'}, outside the data folder" in caplog.text


def test_texts_stripped_extra_columns_dropped_bom_and_crlf(tmp_path: Path) -> None:
    content = "\ufeffid,s2 , s1,score,notes\r\n7,  b  ,\ta\t,0.5,x\r\n8,d,c,1,\r\n\r\n"
    write(tmp_path, {"train.csv": content})

    loaded = load_data(make_spec("pair_score", tmp_path / "train.csv"))

    assert loaded.train.to_dict() == {"sentence1": ["a", "c"], "sentence2": ["b", "d"], "score": [0.5, 1.0]}


def test_multiline_quoted_field_keeps_line_numbers(tmp_path: Path) -> None:
    write(tmp_path, {"train.csv": 's1,s2,score\n"two\nlines",b,0.5\nc,d,oops\n'})

    with pytest.raises(DataError) as info:
        load_data(make_spec("pair_score", tmp_path / "train.csv"))

    assert info.value.row == 4


def test_scores_outside_unit_range_are_kept_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"A": r["sentence_A"], "B": r["sentence_B"], "sim": r["relatedness_score"]} for r in sick(10)]
    write_rows(tmp_path / "train.csv", rows)

    with caplog.at_level(logging.WARNING, logger="stjob_trainer.data_loading"):
        loaded = load_data(
            make_spec(
                "pair_score", tmp_path / "train.csv", columns={"sentence1": "A", "sentence2": "B", "target": "sim"}
            )
        )

    assert loaded.train["score"] == [float(r["sim"]) for r in rows]
    assert "outside [0, 1]" in caplog.text


def test_scores_inside_unit_range_do_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, {"train.csv": "s1,s2,score\na,b,0\nc,d,1\n"})

    with caplog.at_level(logging.WARNING, logger="stjob_trainer.data_loading"):
        load_data(make_spec("pair_score", tmp_path / "train.csv"))

    assert caplog.text == ""


def test_thousands_of_rows_validate(tmp_path: Path) -> None:
    # Speed is measured in bench/, not asserted here (a loaded 2-core machine makes timings flaky).
    rows = [{"A": r["sentence_A"], "B": r["sentence_B"], "y": r["entailment_judgment"]} for r in sick(5000)]
    write_rows(tmp_path / "train.csv", rows)
    spec = make_spec("pair_class", tmp_path / "train.csv", columns={"sentence1": "A", "sentence2": "B", "target": "y"})

    loaded = load_data(spec)

    assert len(loaded.train) == len(rows) >= 4000
    assert loaded.label_names == ["CONTRADICTION", "ENTAILMENT", "NEUTRAL"]


# ------------------------------------------------------------------------------------ malformed data

GOOD = "s1,s2,score\nA cat sits.,A cat is sitting.,0.9\nA dog runs.,A man sings.,0.1\n"
GOOD_CLASSES = "s1,s2,label\na,b,A\nc,d,B\n"


@dataclass(frozen=True)
class Bad:
    """A malformed dataset and the error it must produce."""

    id: str
    files: dict[str, str | bytes]
    problem: str  # a substring of DataError.problem
    file: str  # the file (or folder) the message must name, relative to the data folder
    row: int | None = None
    column: str | None = None
    trainer: str = "pair_score"
    path: str = "train.csv"
    valid: str | None = None


BAD = [
    Bad("missing column csv", {"train.csv": "a,s2,score\nx,y,1\n"}, "missing column 's1'; the data has: a, s2, score",
        "train.csv", column="s1"),
    Bad("missing columns jsonl", {"train.jsonl": '{"text": "a", "score": 1}\n'},
        "missing columns 's1', 's2'; the data has: text, score", "train.jsonl", column="s1", path="train.jsonl"),
    Bad("empty file", {"train.csv": ""}, "the file is empty", "train.csv"),
    Bad("blank lines only", {"train.jsonl": "\n  \n"}, "the file is empty", "train.jsonl", path="train.jsonl"),
    Bad("header only", {"train.csv": "s1,s2,score\n"}, "no data rows (only a header)", "train.csv"),
    Bad("broken json line", {"train.jsonl": '{"s1": "a", "s2": "b", "score": 1}\n\n{"s1": "a", "s2": \n'},
        "not valid JSON: Expecting value", "train.jsonl", row=3, path="train.jsonl"),
    Bad("json array", {"train.json": '[{"s1": "a", "s2": "b", "score": 1}]'}, "looks like a JSON array",
        "train.json", row=1, path="train.json"),
    Bad("json line not an object", {"train.jsonl": '{"s1": "a", "s2": "b", "score": 1}\n["a", "b", 1]\n'},
        "expected a JSON object, found list", "train.jsonl", row=2, path="train.jsonl"),
    Bad("duplicate json keys", {"train.jsonl": '{"s1": "a", "s2": "b", "s1": "c", "score": 1}\n'},
        "duplicate keys 's1'", "train.jsonl", row=1, path="train.jsonl"),
    Bad("tab separated csv", {"train.csv": "s1\ts2\tscore\na\tb\t1\n"}, "looks tab-separated", "train.csv", row=1),
    Bad("semicolon separated csv", {"train.csv": "s1;s2;score\na;b;1\n"}, "looks semicolon-separated",
        "train.csv", row=1),
    Bad("duplicate header", {"train.csv": "s1,s2,s1,score\na,b,c,1\n"}, "duplicate column names in the header: 's1'",
        "train.csv", row=1),
    Bad("wrong field count", {"train.csv": GOOD + "x,y,0.5,extra\n"}, "4 fields, but the header has 3",
        "train.csv", row=4),
    Bad("non-numeric score", {"train.csv": GOOD + "x,y,abc\n"}, "score is not a number: 'abc'", "train.csv",
        row=4, column="score"),
    Bad("nan score", {"train.csv": "s1,s2,score\nx,y,NaN\n"}, "score is not finite: 'NaN'", "train.csv",
        row=2, column="score"),
    Bad("infinite score json", {"train.jsonl": '{"s1": "a", "s2": "b", "score": 1}\n{"s1": "a", "s2": "b", '
        '"score": Infinity}\n'}, "score is not finite: inf", "train.jsonl", row=2, column="score", path="train.jsonl"),
    Bad("missing score", {"train.csv": "s1,s2,score\nx,y,\n"}, "missing score", "train.csv", row=2, column="score"),
    Bad("boolean score json", {"train.jsonl": '{"s1": "a", "s2": "b", "score": true}\n'},
        "score is not a number: True", "train.jsonl", row=1, column="score", path="train.jsonl"),
    Bad("empty texts csv", {"train.csv": "s1,s2,score\n,b,1\nc,d,1\ne,   ,1\n"},
        "empty or null text in 2 places: row 2 column 's1', row 4 column 's2'", "train.csv", row=2, column="s1"),
    Bad("null text json", {"train.jsonl": '{"s1": "a", "s2": "b", "score": 1}\n{"s1": null, "s2": "b", "score": 1}\n'},
        "empty or null text in 1 place: row 2 column 's1'", "train.jsonl", row=2, column="s1", path="train.jsonl"),
    Bad("many empty texts listed first five", {"train.csv": "s1,s2,score\n" + ",b,1\n" * 8},
        "empty or null text in 8 places: row 2 column 's1', row 3 column 's1', row 4 column 's1', "
        "row 5 column 's1', row 6 column 's1' and 3 more", "train.csv", row=2, column="s1"),
    Bad("number as text json", {"train.jsonl": '{"s1": 5, "s2": "b", "score": 1}\n'}, "expected text, found int 5",
        "train.jsonl", row=1, column="s1", path="train.jsonl"),
    Bad("huge text", {"train.csv": "s1,s2,score\na," + "x" * 100_001 + ",1\n"},
        "text longer than 100000 characters (100001)", "train.csv", row=2, column="s2"),
    Bad("field over the csv limit", {"train.csv": "s1,s2,score\na,b,1\na," + "x" * 200_000 + ",1\n"},
        "text longer than 100000 characters", "train.csv", row=3),
    Bad("non utf-8 bytes", {"train.csv": b"s1,s2,score\na,b,1\ncaf\xe9,b,1\n"}, "not valid UTF-8 (byte 0xe9)",
        "train.csv", row=3),
    Bad("single class", {"train.csv": "s1,s2,label\na,b,ENTAILMENT\nc,d,ENTAILMENT\n"},
        "only one class ('ENTAILMENT'): pair_class needs at least two", "train.csv", column="label",
        trainer="pair_class"),
    Bad("fractional label json", {"train.jsonl": '{"s1": "a", "s2": "b", "label": 0.5}\n'}, "label 0.5 is not a class",
        "train.jsonl", row=1, column="label", trainer="pair_class", path="train.jsonl"),
    Bad("missing label", {"train.csv": "s1,s2,label\na,b,A\nc,d,\n"}, "missing label", "train.csv", row=3,
        column="label", trainer="pair_class"),
    Bad("unknown label in valid", {"ds/train.csv": GOOD_CLASSES, "ds/valid.csv": "s1,s2,label\na,b,A\nc,d,C\n"},
        "label 'C' does not occur in the training data (known: 'A', 'B')", "ds/valid.csv", row=3, column="label",
        trainer="pair_class", path="ds", valid="valid"),
    Bad("train and valid columns differ", {"ds/train.csv": GOOD, "ds/valid.csv": "s1,s2,similarity\na,b,1\n"},
        "missing column 'score'; the data has: s1, s2, similarity (the training data", "ds/valid.csv", column="score",
        path="ds", valid="valid"),
    Bad("missing valid split in folder",
        {"ds/train.csv": GOOD, "ds/validation.csv": GOOD, "ds/notes.txt": "hello"},
        "no valid.csv or valid.jsonl or valid.json for split 'valid'; the folder holds: notes.txt, train.csv, "
        "validation.csv", "ds", path="ds", valid="valid"),
    Bad("missing train split in folder", {"ds/training.csv": GOOD},
        "no train.csv or train.jsonl or train.json for split 'train'; the folder holds: training.csv", "ds",
        path="ds"),
    Bad("missing sibling valid", {"train.csv": GOOD, "valid.csv": GOOD},
        "validation file dev.csv or dev.jsonl or dev.json not found next to it; its folder holds: train.csv, valid.csv",
        "train.csv", valid="dev"),
    Bad("two files for one split", {"ds/train.csv": GOOD, "ds/train.jsonl": '{"s1": "a", "s2": "b", "score": 1}\n'},
        "both train.csv and train.jsonl exist for split 'train': keep one", "ds", path="ds"),
    Bad("unsupported file type", {"train.tsv": "s1\ts2\tscore\na\tb\t1\n"}, "unsupported file type '.tsv'",
        "train.tsv", path="train.tsv"),
    Bad("local file not found", {"other.csv": GOOD}, "not found", "train.csv"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[case.id for case in BAD])
def test_malformed_data_fails_with_location(tmp_path: Path, case: Bad) -> None:
    write(tmp_path, case.files)
    spec = make_spec(case.trainer, tmp_path / case.path, valid=case.valid)

    with pytest.raises(DataError) as info:
        load_data(spec)

    error = info.value
    assert case.problem in error.problem
    assert (error.file, error.row, error.column) == (str(tmp_path / case.file), case.row, case.column)
    assert str(error) == DataError(error.problem, file=error.file, row=case.row, column=case.column).message


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"train.csv": GOOD})

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    # Tests may run as root, where chmod 000 does not stop a read.
    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DataError) as info:
        load_data(make_spec("pair_score", tmp_path / "train.csv"))

    assert info.value.problem == "cannot read the file: Permission denied"
    assert info.value.file == str(tmp_path / "train.csv")


# ------------------------------------------------------------------------------------ location


def test_volume_path_inside_data_root(tmp_path: Path) -> None:
    write(tmp_path, {"volume/sick/train.csv": GOOD, "volume/sick/valid.csv": GOOD})
    spec = make_spec("pair_score", "sick", valid="valid", volume=True)

    assert resolve_data_location(spec, base_dir=None, data_root=tmp_path / "volume") == tmp_path / "volume" / "sick"
    loaded = load_data(spec, data_root=tmp_path / "volume")
    assert loaded.valid is not None
    assert loaded.source == str(tmp_path / "volume" / "sick")


def test_volume_symlink_escape_rejected(tmp_path: Path) -> None:
    write(tmp_path, {"secret/train.csv": GOOD, "volume/README": "x"})
    (tmp_path / "volume" / "sick").symlink_to(Path("..") / "secret")
    spec = make_spec("pair_score", "sick/train.csv", volume=True)

    with pytest.raises(DataError, match="outside the data volume"):
        load_data(spec, data_root=tmp_path / "volume")


def test_volume_dotdot_rejected_even_if_the_spec_was_not_validated(tmp_path: Path) -> None:
    write(tmp_path, {"secret/train.csv": GOOD, "volume/README": "x"})
    spec = make_spec("pair_score", "train.csv", volume=True)
    # The pydantic model rejects '..' with a volume; model_copy skips validation, as a hand-built spec might.
    spec = spec.model_copy(update={"data": spec.data.model_copy(update={"path": "../secret/train.csv"})})

    with pytest.raises(DataError, match="outside the data volume"):
        resolve_data_location(spec, base_dir=None, data_root=tmp_path / "volume")


def test_volume_symlink_inside_is_fine(tmp_path: Path) -> None:
    write(tmp_path, {"volume/v1/train.csv": GOOD})
    (tmp_path / "volume" / "latest").symlink_to("v1")

    loaded = load_data(make_spec("pair_score", "latest", volume=True), data_root=tmp_path / "volume")

    assert len(loaded.train) == 2


def test_volume_missing_path_lists_volume(tmp_path: Path) -> None:
    write(tmp_path, {"volume/sick/train.csv": GOOD})

    with pytest.raises(DataError, match=r"not found in the data volume \(the volume holds: sick\)"):
        load_data(make_spec("pair_score", "stsb", volume=True), data_root=tmp_path / "volume")


def test_volume_without_data_root_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="STJOB_DATA_DIR"):
        load_data(make_spec("pair_score", "sick", volume=True))


def test_relative_path_uses_base_dir(tmp_path: Path) -> None:
    write(tmp_path, {"jobs/data/train.csv": GOOD})
    spec = make_spec("pair_score", "data/train.csv")

    assert resolve_data_location(spec, base_dir=tmp_path / "jobs", data_root=None) == tmp_path / "jobs/data/train.csv"
    with pytest.raises(DataError, match="not found"):  # a missing local file is not mistaken for a Hub id
        resolve_data_location(spec, base_dir=tmp_path, data_root=None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("hf://datasets/sentence-transformers/stsb", "sentence-transformers/stsb"),
        ("hf://datasets/nyu-mll/glue:mrpc", "nyu-mll/glue:mrpc"),
        ("sentence-transformers/all-nli", "sentence-transformers/all-nli"),
        ("sentence-transformers/all-nli:pair-class", "sentence-transformers/all-nli:pair-class"),
    ],
)
def test_hub_ids(tmp_path: Path, path: str, expected: str) -> None:
    spec = make_spec("pair_score", path)

    assert resolve_data_location(spec, base_dir=tmp_path, data_root=None) == expected


def test_other_hf_urls_are_refused_by_the_spec_and_again_by_the_trainer() -> None:
    with pytest.raises(ValidationError, match="hf://datasets/owner/name"):
        make_spec("pair_score", "hf://models/x/y")
    spec = make_spec("pair_score", "hf://datasets/a/b")
    spec.data.__dict__["path"] = "hf://models/x/y"  # past validation (a hand-made config file): checked again
    with pytest.raises(ConfigError, match="hf://datasets/owner/name"):
        resolve_data_location(spec, base_dir=None, data_root=None)


def test_hub_dataset_offline_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both libraries read the variable at import time: patch their copies too.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    spec = make_spec("pair_score", "hf://datasets/stjob-test/no-such-dataset", valid="validation")

    with pytest.raises(ConfigError) as info:
        load_data(spec, base_dir=tmp_path, cache_dir=tmp_path / "cache")

    assert info.value.exit_code == EXIT_CONFIG_ERROR
    assert "cannot load Hub dataset 'stjob-test/no-such-dataset' split 'train'" in str(info.value)


def test_hub_dataset_rows_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_load_dataset(name: str, config: str | None, *, split: str, revision: str | None, cache_dir: str) -> Any:
        calls.append((name, config, split, revision))
        scores: list[Any] = [0.5, 1.0] if split == "train" else [0.5, "bad"]
        return datasets.Dataset.from_dict({"s1": ["a", "b"], "s2": ["c", "d"], "score": [str(s) for s in scores]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    spec = make_spec("pair_score", "owner/name:main", valid="main:dev", revision="v1")

    with pytest.raises(DataError) as info:
        load_data(spec, base_dir=tmp_path, cache_dir=tmp_path)

    assert calls == [("owner/name", "main", "train", "v1"), ("owner/name", "main", "dev", "v1")]
    assert str(info.value) == (
        "file hf://datasets/owner/name (main) split 'dev', row 2, column 'score': score is not a number: 'bad'"
    )


def test_hub_dataset_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, columns = sample_pair_score()

    def fake_load_dataset(name: str, config: str | None, **_: Any) -> datasets.Dataset:
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_data(make_spec("pair_score", "hf://datasets/owner/sick", columns=columns, revision="abc"))

    assert loaded.source == "hf://datasets/owner/sick@abc"
    assert loaded.train.column_names == ["sentence1", "sentence2", "score"]
    assert len(loaded.train) == len(rows)


def test_hub_class_labels_keep_their_ids_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["entailment", "neutral", "contradiction"]  # deliberately not sorted
    features = datasets.Features(
        {"s1": datasets.Value("string"), "s2": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    table = {"s1": ["a", "b", "c"], "s2": ["d", "e", "f"], "label": [2, 0, 2]}

    def fake_load_dataset(name: str, config: str | None, **_: Any) -> datasets.Dataset:
        return datasets.Dataset.from_dict(table, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    loaded = load_data(make_spec("pair_class", "owner/nli", valid="validation"))

    assert loaded.label_names == names
    assert loaded.train["label"] == [2, 0, 2]
    assert loaded.valid is not None
    assert loaded.valid["label"] == [2, 0, 2]
