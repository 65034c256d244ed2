"""Find, read and validate the training data before any model is loaded.

The data is either local (CSV or JSON lines, a file or a folder of split files, possibly on the mounted
data volume) or a Hugging Face Hub dataset. Every row is checked up front so a bad dataset fails in
seconds with a :class:`~stjob.errors.DataError` that names the file, the row and the column, instead of
failing an hour into training on a GPU.

Decisions a user can rely on:

- **Row numbers are file line numbers** (1-based, the CSV header is line 1, so the first data row is row
  2; a quoted field spanning several lines counts at the line where its record starts). That is what an
  editor's go-to-line, ``sed -n 17p`` and a spreadsheet's row number show. For Hub datasets the row is the
  1-based index in the split.
- **Texts** are stripped strings; an empty, whitespace-only or null text is an error (the first few are
  listed), and so is a text over :data:`MAX_TEXT_CHARS` characters (the tokenizer would silently cut it).
  In JSON lines a text must be a JSON string: a number in a text column usually means a wrong mapping.
- **Numbers are parsed strictly**: ASCII digits, an optional sign, decimal point and exponent
  (``0.5``, ``-1``, ``2e-3``). ``1_0``, ``١``, ``0x1`` or ``½`` are not numbers (Python's ``float()``
  would accept the first two).
- **pair_score scores** must be finite numbers. Any range is accepted because CoSENT/AnglE only use the
  order of the scores; a range outside [0, 1] is logged as a warning because CosineSimilarityLoss (an
  allowed override) regresses cosine similarities onto the scores. Scores are not rescaled here. Training
  scores that are all equal are an error (those losses learn only from score differences: the loss
  would be 0 for the whole run); equal validation scores are a warning (correlations are undefined).
- **pair_class labels** are normalised one way: a label that is a whole number, written as a JSON
  number or as text (``1``, ``1.0``, ``"1"``, ``"01"``, ``"+1"``, ``"1e0"``), is the class ``"1"``; any
  other label is its stripped text (a JSON boolean is ``"true"``/``"false"``). A fractional number is an
  error, and so is mixing whole numbers with names (``1`` and ``true``, ``0`` and ``neg``) or two names
  that differ only in case. Ids follow a deterministic order: whole-number labels sorted numerically (so
  labels 0..K-1 keep their ids), names sorted as strings; ``label_names[id]`` is the label. A Hub
  ``ClassLabel`` column keeps the dataset's ids and names. A validation label that the training data
  lacks is an error, and so is a single class, and so are more than :data:`MAX_CLASSES_PER_ROW` classes
  per training row once there are over :data:`FEW_CLASSES` of them (a text column mapped as the target).
- **Nothing to learn** is an error: training pairs whose two texts are all identical, or training rows
  that are all the same row. When more than half of the pairs are identical it is a warning.
- **Files stay where they belong**: with ``data.volume`` every file read (not only ``data.path``) must
  resolve inside the volume after following symlinks, else it is not read at all. Locally, a file that
  resolves outside the data folder is read with a warning. Devices, pipes and sockets are never read.
- Local files are read with :mod:`csv` / :mod:`json` directly rather than through ``datasets``' builders:
  that gives exact line numbers and no stale cache when a file is rewritten; ``cache_dir`` only serves
  Hub downloads.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from stjob.api import SentenceTransformerJobSpec
from stjob.api.contract import ENV_DATA_DIR
from stjob.api.data_location import HF_DATASETS_PREFIX, data_path_problem, is_hub_id
from stjob.api.shapes import SHAPES, shape_of
from stjob.errors import ConfigError, DataError, StjobError

logger = logging.getLogger(__name__)

#: The columns each trainer shape hands to the training pipeline, in this order (the shape table).
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {trainer: shape.column_names for trainer, shape in SHAPES.items()}

#: Texts longer than this are rejected: no model reads them whole, and they are usually a broken file.
MAX_TEXT_CHARS = 100_000
#: Local file types, in the order they are looked for.
LOCAL_SUFFIXES = (".csv", ".jsonl", ".json")
#: pair_class: up to this many classes are always fine; beyond it, more than MAX_CLASSES_PER_ROW classes
#: per training row mean the target column holds text, not labels.
FEW_CLASSES = 10
MAX_CLASSES_PER_ROW = 0.5
_EXAMPLES_SHOWN = 5
_HF_PREFIX = HF_DATASETS_PREFIX
# Spelled with [0-9], not \d: in Python \d also matches '١' and other non-ASCII digits.
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_NON_FINITE = re.compile(r"^[+-]?(?:nan|inf|infinity)$", re.IGNORECASE)


@dataclass(frozen=True)
class LoadedData:
    """Validated data in the canonical columns of the job's trainer shape."""

    train: datasets.Dataset
    valid: datasets.Dataset | None
    label_names: list[str] | None
    source: str


@dataclass(frozen=True)
class _Table:
    """A split as read: its label for messages, its column names, and its rows with their line numbers."""

    label: str
    columns: list[str]
    rows: list[dict[str, Any]]
    lines: list[int]
    class_names: dict[str, list[str]] = field(default_factory=dict)  # Hub ClassLabel columns: id -> name


# ------------------------------------------------------------------------------------------ location


def resolve_data_location(
    spec: SentenceTransformerJobSpec, *, base_dir: Path | None, data_root: Path | None
) -> str | Path:
    """Where the data is: a local file or folder (``Path``) or a Hub dataset id (``str``, ``owner/name[:config]``).

    With ``spec.data.volume`` the path is relative to ``data_root`` (the mounted volume) and must stay
    inside it after resolving symlinks. Otherwise an existing path (absolute, or relative to ``base_dir``,
    the job file's folder) is local, and an ``hf://datasets/...`` URL or an ``owner/name`` id is the Hub.
    """
    path = spec.data.path
    if (problem := data_path_problem(path)) is not None:
        raise ConfigError(f"data.path {problem}")
    if spec.data.volume is not None:
        return _inside_volume(path, data_root)
    if path.startswith(_HF_PREFIX):
        return path[len(_HF_PREFIX) :]
    local = Path(path).expanduser()
    if not local.is_absolute() and base_dir is not None:
        local = base_dir / local
    if local.exists():
        return local
    if is_hub_id(path) and Path(path).suffix not in LOCAL_SUFFIXES:
        return path
    raise DataError("not found (neither a local file or folder nor a Hub id owner/name)", file=str(local))


def _inside_volume(path: str, data_root: Path | None, *, field: str = "data.path") -> Path:
    if data_root is None:
        raise ConfigError(f"data.volume is set but no data directory is mounted ({ENV_DATA_DIR} is unset)")
    root = data_root.resolve()
    # resolve() follows symlinks, so a link pointing out of the volume is caught like a literal '..'.
    target = (root / path).resolve()
    if not target.is_relative_to(root):  # named by the path the user wrote; where it leads stays unsaid
        raise DataError(f"{field} leads outside the data volume: not read", file=str(root / path))
    if not target.exists():
        held = ", ".join(sorted(p.name for p in root.iterdir())[:20]) or "nothing"
        raise DataError(f"not found in the data volume (the volume holds: {held})", file=str(target))
    return target


def locate_data_file(
    path: str, field: str, spec: SentenceTransformerJobSpec, *, base_dir: Path | None, data_root: Path | None
) -> tuple[Path, Path, bool]:
    """Another local file or folder of the job (``field`` names it in errors), found as data.path is.

    Returns the path, the folder reads must (volume: ``confined``) or should stay in, and ``confined``.
    """
    if spec.data.volume is not None:
        target = _inside_volume(path, data_root, field=field)
        return target, data_root.resolve() if data_root is not None else target, True
    local = Path(path).expanduser()
    if not local.is_absolute() and base_dir is not None:
        local = base_dir / local
    if not local.exists():
        raise DataError(f"{field}: not found", file=str(local))
    return local, (local if local.is_dir() else local.parent).resolve(), False


def find_split_file(folder: Path, stem: str) -> Path:
    """``{folder}/{stem}.csv`` or ``.jsonl`` (DataError naming what the folder holds when neither or both)."""
    return _find_split(folder, stem)


def read_checked_columns(
    path: Path, columns: Sequence[str], *, folder: Path, confined: bool
) -> tuple[dict[str, list[Any]], list[int]]:
    """Named columns of a CSV/JSONL file, checked row by row as training data is: texts non-empty,
    ``score`` a finite number, ``label`` a class. Returns the values per column and each row's line."""
    table = _read_local(path, folder, confined=confined)
    return _extract(table, {name: name for name in columns}, other=None), table.lines


# ------------------------------------------------------------------------------------------ loading


def load_data(
    spec: SentenceTransformerJobSpec,
    *,
    base_dir: Path | None = None,
    data_root: Path | None = None,
    cache_dir: Path | None = None,
) -> LoadedData:
    """Load and validate the train (and validation) split into the trainer's canonical columns.

    Raises :class:`DataError` for anything wrong with the data itself and :class:`ConfigError` when the
    data cannot be reached (an unknown or unreachable Hub dataset, no mounted volume).
    """
    location = resolve_data_location(spec, base_dir=base_dir, data_root=data_root)
    valid_split = spec.data.valid_split
    if isinstance(location, Path):
        train_file, valid_file = _split_files(location, spec.data.train_split, valid_split)
        # The volume's root, or locally the data folder: where every file read must (volume) or should be.
        volume_root = data_root.resolve() if spec.data.volume is not None and data_root is not None else None
        folder = volume_root or (location if location.is_dir() else location.parent).resolve()
        train_table = _read_local(train_file, folder, confined=volume_root is not None)
        valid_table = _read_local(valid_file, folder, confined=volume_root is not None) if valid_file else None
        source = str(location)
    else:
        train_table = _read_hub(location, spec.data.train_split, spec, cache_dir)
        valid_table = _read_hub(location, valid_split, spec, cache_dir) if valid_split is not None else None
        source = f"{_HF_PREFIX}{location}" + (f"@{spec.data.revision}" if spec.data.revision else "")
    loaded = _build(spec, train_table, valid_table, source)
    logger.info(
        "loaded %d training and %s validation rows (%s) from %s",
        len(loaded.train),
        len(loaded.valid) if loaded.valid is not None else "no",
        spec.trainer,
        source,
    )
    return loaded


def _split_files(location: Path, train_split: str, valid_split: str | None) -> tuple[Path, Path | None]:
    """A file is the training data (validation: its sibling); a folder holds one file per split."""
    if location.is_dir():
        valid = _find_split(location, valid_split) if valid_split is not None else None
        return _find_split(location, train_split), valid
    if valid_split is None:
        return location, None
    return location, _find_split(location.parent, valid_split, prefer=location.suffix, next_to=location)


def _find_split(folder: Path, split: str, *, prefer: str = "", next_to: Path | None = None) -> Path:
    suffixes = sorted(LOCAL_SUFFIXES, key=lambda s: s != prefer)
    found = [folder / f"{split}{s}" for s in suffixes if (folder / f"{split}{s}").is_file()]
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise DataError(f"both {names} exist for split {split!r}: keep one", file=str(folder))
    if found:
        return found[0]
    wanted = " or ".join(f"{split}{s}" for s in LOCAL_SUFFIXES)
    held = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
    if next_to is not None:  # name the training file: that is the path the user wrote
        problem = f"validation file {wanted} not found next to it; its folder holds: {held}"
        raise DataError(problem, file=str(next_to))
    raise DataError(f"no {wanted} for split {split!r}; the folder holds: {held}", file=str(folder))


# ------------------------------------------------------------------------------------------ reading


def _read_local(path: Path, folder: Path, *, confined: bool) -> _Table:
    if path.suffix not in LOCAL_SUFFIXES:
        raise DataError(f"unsupported file type {path.suffix or '(none)'!r}: use .csv or .jsonl", file=str(path))
    target = path.resolve()  # follows every symlink on the way: what would really be read
    if not target.is_relative_to(folder):
        if confined:  # docs/security.md: nothing outside the data volume is read, not even a first line
            raise DataError("a symlink to a file outside the data volume: not read", file=str(path))
        logger.warning("%s resolves to %s, outside the data folder %s", path, target, folder)
    text = _read_text(path, target)
    if not text.strip():
        raise DataError("the file is empty", file=str(path))
    table = _parse_csv(text, str(path)) if path.suffix == ".csv" else _parse_json_lines(text, str(path))
    if not table.rows:
        raise DataError("no data rows (only a header)", file=str(path))
    return table


def _read_text(path: Path, target: Path) -> str:
    try:
        if not stat.S_ISREG(target.stat().st_mode):  # /dev/zero would never end, a FIFO could block
            raise DataError("not a regular file (a device, pipe or socket)", file=str(path))
        raw = target.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file: {exc.strerror or exc}", file=str(path)) from exc
    if raw.startswith(codecs.BOM_UTF8):  # Excel and Windows tools write one; it is not part of the header
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise DataError(problem, file=str(path), row=line) from exc
    if "\x00" in text:  # the csv module would pass it into a text; it means a binary or UTF-16 file
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError("contains a NUL byte: not a UTF-8 text file", file=str(path), row=line)
    return text


def _parse_csv(text: str, label: str) -> _Table:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    start = 1  # the line where the current record begins
    try:
        for record in reader:
            if record and header is None:
                header = _check_header([name.strip() for name in record], label)
            elif record and header is not None:
                if len(record) != len(header):
                    problem = f"{len(record)} fields, but the header has {len(header)}"
                    raise DataError(problem, file=label, row=start)
                rows.append(dict(zip(header, record, strict=True)))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        # The csv module refuses fields over its limit (131,072 characters) before we can measure them.
        problem = f"text longer than {MAX_TEXT_CHARS} characters" if "field limit" in str(exc) else f"bad CSV: {exc}"
        raise DataError(problem, file=label, row=reader.line_num) from exc
    return _Table(label, header or [], rows, lines)


def _check_header(header: list[str], label: str) -> list[str]:
    if len(header) == 1:
        for sep, name in (("\t", "tab"), (";", "semicolon")):
            if sep in header[0]:
                raise DataError(f"looks {name}-separated: a .csv file must be comma-separated", file=label, row=1)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"duplicate column names in the header: {', '.join(map(repr, duplicates))}", file=label, row=1)
    return header


def _parse_json_lines(text: str, label: str) -> _Table:
    if text.lstrip().startswith("["):
        raise DataError("looks like a JSON array: write JSON lines (one object per line)", file=label, row=1)
    columns: dict[str, None] = {}  # ordered set: key order of first appearance
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        row = _parse_json_object(line, label, number)
        columns.update(dict.fromkeys(row))
        rows.append(row)
        lines.append(number)
    return _Table(label, list(columns), rows, lines)


def _parse_json_object(line: str, label: str, number: int) -> dict[str, Any]:
    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise DataError(f"duplicate keys {', '.join(map(repr, duplicates))}", file=label, row=number)
        return dict(pairs)

    try:
        value = json.loads(line, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg} (character {exc.colno})", file=label, row=number) from exc
    except RecursionError:  # the json module recurses per nesting level
        raise DataError("not valid JSON here: nested too deeply", file=label, row=number) from None
    if not isinstance(value, dict):
        raise DataError(f"expected a JSON object, found {type(value).__name__}", file=label, row=number)
    return value


def _read_hub(dataset_id: str, split: str, spec: SentenceTransformerJobSpec, cache_dir: Path | None) -> _Table:
    """One split of a Hub dataset; ``split`` may be ``config:split``. Any load failure is a ConfigError."""
    name, _, path_config = dataset_id.partition(":")
    split_config, _, split_name = split.rpartition(":")
    if path_config and split_config and path_config != split_config:
        raise ConfigError(f"dataset {dataset_id!r}: split {split!r} names config {split_config!r}, path says otherwise")
    config = split_config or path_config or None
    label = f"{_HF_PREFIX}{name}" + (f" ({config})" if config else "") + f" split {split_name!r}"
    try:
        loaded = datasets.load_dataset(
            name,
            config,
            split=split_name,
            revision=spec.data.revision,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
        )
    except StjobError:
        raise
    except Exception as exc:  # offline, unknown id, gated, unknown split: all mean "fix data.path/splits"
        raise ConfigError(f"cannot load Hub dataset {dataset_id!r} split {split!r}: {exc}") from exc
    if not isinstance(loaded, datasets.Dataset):
        raise ConfigError(f"Hub dataset {dataset_id!r} split {split!r} is not a single table")
    return _hub_table(loaded, label, _source_columns(spec))


def _hub_table(dataset: datasets.Dataset, label: str, wanted: Sequence[str]) -> _Table:
    keep = [name for name in dict.fromkeys(wanted) if name in dataset.column_names]
    values = dataset.select_columns(keep).to_dict()
    class_names = {}
    for name in keep:
        feature = dataset.features[name]
        if isinstance(feature, datasets.ClassLabel):
            # Names instead of ids make label_names readable; -1 is the Hub's "no label".
            values[name] = [feature.int2str(v) if v is not None and v >= 0 else None for v in values[name]]
            class_names[name] = list(feature.names)
    rows = [dict(zip(keep, row, strict=True)) for row in zip(*(values[c] for c in keep), strict=True)]
    if not rows:
        raise DataError("no data rows", file=label)
    return _Table(label, list(dataset.column_names), rows, list(range(1, len(rows) + 1)), class_names)


# ------------------------------------------------------------------------------------------ validation


def _column_mapping(spec: SentenceTransformerJobSpec) -> dict[str, str]:
    """Canonical column → the user's column, for the job's trainer (the shape table, stjob.api.shapes)."""
    columns = spec.data.columns
    mapping = {}
    for column in shape_of(spec.trainer).columns:
        source = getattr(columns, column.source)
        if source is None:  # the spec validators forbid this; keep a clear message for hand-built specs
            raise ConfigError(f"data.columns.{column.source} is required by the {spec.trainer} trainer")
        mapping[column.name] = source
    return mapping


def _source_columns(spec: SentenceTransformerJobSpec) -> list[str]:
    return list(_column_mapping(spec).values())


def _build(spec: SentenceTransformerJobSpec, train: _Table, valid: _Table | None, source: str) -> LoadedData:
    mapping = _column_mapping(spec)
    train_columns = _extract(train, mapping, other=None)
    valid_columns = _extract(valid, mapping, other=train) if valid is not None else None
    label_names = None
    if spec.trainer == "pair_class":
        label_names = _label_names(train_columns["label"], train, mapping["label"])
        _encode_labels(train_columns, label_names, train, mapping["label"])
        if valid is not None and valid_columns is not None:
            _encode_labels(valid_columns, label_names, valid, mapping["label"])
    _check_something_to_learn(spec.trainer, train_columns, train, mapping)
    if spec.trainer == "pair_score":
        _warn_on_score_range(train_columns["score"], train.label)
        if valid is not None and valid_columns is not None and len(set(valid_columns["score"])) == 1:
            logger.warning(
                "%s: all validation scores are equal (%g): correlation metrics are undefined and reported as null",
                valid.label,
                valid_columns["score"][0],
            )
    features = datasets.Features({name: _feature(name) for name in shape_of(spec.trainer).column_names})
    return LoadedData(
        train=datasets.Dataset.from_dict(train_columns, features=features),
        valid=datasets.Dataset.from_dict(valid_columns, features=features) if valid_columns is not None else None,
        label_names=label_names,
        source=source,
    )


def _check_something_to_learn(
    trainer: str, columns: dict[str, list[Any]], table: _Table, mapping: dict[str, str]
) -> None:
    """Training data that cannot teach anything (loss 0 or a constant from the first step) is an error."""
    first, second = CANONICAL_COLUMNS[trainer][:2]
    rows = len(columns[first])
    same = sum(a == b for a, b in zip(columns[first], columns[second], strict=True))
    if rows > 1 and same == rows:
        problem = f"in all {rows} rows the text equals column {mapping[first]!r}: nothing to learn"
        raise DataError(problem, file=table.label, column=mapping[second])
    if same * 2 > rows:
        logger.warning(
            "%s: in %d of %d rows column %r equals column %r: such pairs teach nothing",
            table.label, same, rows, mapping[second], mapping[first],
        )  # fmt: skip
    if rows > 1 and len(set(zip(*(columns[c] for c in CANONICAL_COLUMNS[trainer]), strict=True))) == 1:
        raise DataError(f"all {rows} rows are the same row: nothing to learn", file=table.label)
    if trainer == "pair_score" and rows > 1 and len(set(columns["score"])) == 1:
        problem = (
            f"all {rows} scores are equal ({columns['score'][0]:g}): the losses learn only from score "
            "differences (the loss would be 0 for the whole run)"
        )
        raise DataError(problem, file=table.label, column=mapping["score"])


def _feature(canonical: str) -> datasets.Value:
    return datasets.Value({"score": "float64", "label": "int64"}.get(canonical, "string"))


def _extract(table: _Table, mapping: dict[str, str], *, other: _Table | None) -> dict[str, list[Any]]:
    """The mapped columns of a table, converted and checked row by row."""
    _check_columns(table, mapping, other)
    parsers: dict[str, Callable[[Any], Any]] = {
        canonical: _TARGET_PARSERS.get(canonical, _parse_text) for canonical in mapping
    }
    out: dict[str, list[Any]] = {canonical: [] for canonical in mapping}
    empty: list[tuple[int, str]] = []
    for row, line in zip(table.rows, table.lines, strict=True):
        for canonical, source in mapping.items():
            try:
                value = parsers[canonical](row.get(source))
            except _EmptyTextError:
                empty.append((line, source))
                value = ""
            except ValueError as exc:
                raise DataError(str(exc), file=table.label, row=line, column=source) from None
            out[canonical].append(value)
    if empty:
        raise _empty_text_error(table.label, empty)
    return out


def _check_columns(table: _Table, mapping: dict[str, str], other: _Table | None) -> None:
    missing = [source for source in dict.fromkeys(mapping.values()) if source not in table.columns]
    if not missing:
        return
    names = ", ".join(map(repr, missing))
    problem = f"missing column{'s' if len(missing) > 1 else ''} {names}; the data has: {', '.join(table.columns)}"
    if other is not None:
        problem += f" (the training data {other.label} has them: train and validation columns differ)"
    raise DataError(problem, file=table.label, column=missing[0])


class _EmptyTextError(ValueError):
    """An empty or null text: collected across rows so one error lists them all."""


def _parse_text(value: Any) -> str:
    if value is None:
        raise _EmptyTextError
    if not isinstance(value, str):
        raise ValueError(f"expected text, found {type(value).__name__} {value!r}")
    text = value.strip()
    if not text:
        raise _EmptyTextError
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text longer than {MAX_TEXT_CHARS} characters ({len(text)})")
    return text


def _empty_text_error(label: str, empty: list[tuple[int, str]]) -> DataError:
    shown = ", ".join(f"row {line} column {column!r}" for line, column in empty[:_EXAMPLES_SHOWN])
    more = f" and {len(empty) - _EXAMPLES_SHOWN} more" if len(empty) > _EXAMPLES_SHOWN else ""
    first_line, first_column = empty[0]
    problem = f"empty or null text in {len(empty)} place{'s' if len(empty) > 1 else ''}: {shown}{more}"
    return DataError(problem, file=label, row=first_line, column=first_column)


def _parse_score(value: Any) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("missing score")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"score is not a number: {value!r}")
    if isinstance(value, str) and not (_NUMBER.match(value.strip()) or _NON_FINITE.match(value.strip())):
        raise ValueError(f"score is not a number: {value!r}")
    score = float(value)
    if not math.isfinite(score):
        raise ValueError(f"score is not finite: {value!r}")
    return score


def _parse_label(value: Any) -> str:
    """The label as its class name: whole numbers as canonical integers ("01", "1.0", 1.0 -> "1"), text stripped."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("missing label")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.match(text):
            return str(int(text))
        if not (_NUMBER.match(text) or _NON_FINITE.match(text)):
            return text
        value = float(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"label {value!r} is not a class (use the pair_score trainer for scores)")
        value = int(value)
    if isinstance(value, int):
        return str(value)
    raise ValueError(f"label is not a string or an integer: {value!r}")


def _label_names(labels: list[str], table: _Table, column: str) -> list[str]:
    distinct = set(labels)
    if len(distinct) < 2:
        only = ", ".join(map(repr, distinct))
        raise DataError(f"only one class ({only}): pair_class needs at least two", file=table.label, column=column)
    if column in table.class_names:  # a Hub ClassLabel: keep the dataset's own ids
        return table.class_names[column]
    _check_label_kinds(labels, table, column)
    if len(distinct) > max(FEW_CLASSES, MAX_CLASSES_PER_ROW * len(labels)):
        problem = (
            f"{len(distinct)} different labels in {len(labels)} rows: this looks like a text column, not classes "
            "(map data.columns.target to the label column)"
        )
        raise DataError(problem, file=table.label, column=column)
    if all(_INTEGER.match(label) for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def _check_label_kinds(labels: list[str], table: _Table, column: str) -> None:
    """Whole numbers and names in one label column, or names differing only in case: a sloppy file."""
    first_row: dict[str, int] = {}
    for label, line in zip(labels, table.lines, strict=True):
        first_row.setdefault(label, line)
    numbers = [label for label in first_row if _INTEGER.match(label)]
    names = [label for label in first_row if not _INTEGER.match(label)]
    if numbers and names:
        name, number = min(names, key=first_row.__getitem__), min(numbers, key=first_row.__getitem__)
        later = max((name, number), key=first_row.__getitem__)
        earlier = number if later == name else name
        problem = (
            f"label {later!r} mixes with {earlier!r} (row {first_row[earlier]}): labels are either all whole "
            "numbers or all names"
        )
        raise DataError(problem, file=table.label, row=first_row[later], column=column)
    by_case: dict[str, str] = {}
    for label in sorted(first_row, key=first_row.__getitem__):
        other = by_case.setdefault(label.casefold(), label)
        if other != label:
            problem = f"labels {label!r} and {other!r} (row {first_row[other]}) differ only in case"
            raise DataError(problem, file=table.label, row=first_row[label], column=column)


def _encode_labels(columns: dict[str, list[Any]], names: list[str], table: _Table, column: str) -> None:
    ids = {name: index for index, name in enumerate(names)}
    encoded = []
    for label, line in zip(columns["label"], table.lines, strict=True):
        if label not in ids:
            known = ", ".join(map(repr, names))
            problem = f"label {label!r} does not occur in the training data (known: {known})"
            raise DataError(problem, file=table.label, row=line, column=column)
        encoded.append(ids[label])
    columns["label"] = encoded


_TARGET_PARSERS: dict[str, Callable[[Any], Any]] = {"score": _parse_score, "label": _parse_label}


def _warn_on_score_range(scores: list[float], label: str) -> None:
    low, high = min(scores), max(scores)
    if low < 0.0 or high > 1.0:
        logger.warning(
            "%s: scores range from %g to %g, outside [0, 1]; fine for CoSENTLoss/AnglELoss (they use only the "
            "order), but CosineSimilarityLoss expects [0, 1]: rescale the scores if you use it",
            label,
            low,
            high,
        )
