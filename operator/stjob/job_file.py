"""Read job files (YAML with SentenceTransformerJob resources) the way the API server would take them.

Used by ``stjob validate``, ``stjob train``, ``stjob convert`` and the trainer container. Whatever is
handed in (a 30 MB file, a symlink to ``/dev/zero``, a PNG, UTF-16, 5,000-deep nesting, duplicate
keys, ``metadata: null``, an empty file) ends in one :class:`JobFileError` line naming the file, the
line where it applies and the problem; never a traceback, never a silent "valid".

Exit codes (``stjob.errors``): a file that cannot be opened at all (missing, a folder, a device) is a
usage error, 2; a file that opens but is not an acceptable job file is a config error, 3.

Decisions:

- **At most 1 MiB** (:data:`MAX_JOB_FILE_BYTES`), the API server's request limit for an object is
  about that size too; read with a cap, so a file that grows while it is read cannot exhaust memory.
- **Regular files and pipes only**: ``stjob validate <(helm template ...)`` works, a device does not.
- **UTF-8 only** (a UTF-8 byte-order mark is dropped); UTF-16/32 and binary files are refused by name.
- **At most** :data:`MAX_NESTING` **levels** of mappings and sequences (a job needs five).
- **Duplicate keys are errors**, as in ``kubectl`` (YAML merge keys ``<<`` may still be overridden).
- **Multi-document files**: documents of another ``kind`` (a PVC or Secret next to the job) are skipped
  and named; a document without ``kind`` counts as a job. A file without any job is an error.
"""

from __future__ import annotations

import codecs
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import ValidationError

from stjob.api.data_location import HF_DATASETS_PREFIX, data_path_problem, is_hub_id
from stjob.api.resource import KIND, SentenceTransformerJob
from stjob.errors import EXIT_USAGE, ConfigError, format_validation_error

MAX_JOB_FILE_BYTES = 1024 * 1024
MAX_NESTING = 64
#: Problems shown per document, and characters per problem: a wrong file (say /etc/passwd) must not be
#: echoed back line by line through "Extra inputs" errors.
MAX_PROBLEMS_SHOWN = 20
MAX_PROBLEM_CHARS = 200

_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class JobFileError(ConfigError):
    """The file is not an acceptable job file; the message is one line: file, line, problem."""

    def __init__(self, file: Path | str, problem: str, *, line: int | None = None) -> None:
        where = f"{file}: line {line}" if line is not None else str(file)
        super().__init__(f"{where}: {problem}")
        self.file, self.line, self.problem = str(file), line, problem


class JobFileUnreadable(JobFileError):
    """The path cannot be opened as a file at all (missing, a folder, a device): a usage error."""

    exit_code: ClassVar[int] = EXIT_USAGE


@dataclass(frozen=True)
class Document:
    """One YAML document of a job file: its 1-based number, the line it starts on, and its content."""

    number: int
    line: int
    data: Any

    @property
    def kind(self) -> str | None:
        """The document's ``kind`` when it is a mapping with a string kind."""
        kind = self.data.get("kind") if isinstance(self.data, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def label(self) -> str:
        """``metadata.name`` when there is one, else ``document N (line L)``: never fails on odd metadata."""
        metadata = self.data.get("metadata") if isinstance(self.data, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if isinstance(name, str) and name.strip() and len(name) <= 253:
            return name
        return f"document {self.number} (line {self.line})"


@dataclass(frozen=True)
class JobFile:
    """The jobs of a file and the other documents that were skipped (one note each)."""

    path: Path
    jobs: list[Document]
    skipped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading


def read_text(path: Path) -> str:
    """The file's text: a regular file or pipe, at most 1 MiB, UTF-8 (a BOM dropped), no NUL bytes."""
    try:
        info = path.stat()  # follows symlinks: the target is what gets read
    except FileNotFoundError:
        raise JobFileUnreadable(path, "no such file") from None
    except OSError as exc:
        raise JobFileUnreadable(path, f"cannot open: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise JobFileUnreadable(path, "is a folder, not a file")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        raise JobFileUnreadable(path, "not a regular file (a device or socket): refusing to read it")
    if info.st_size > MAX_JOB_FILE_BYTES:
        raise JobFileError(path, f"{info.st_size} bytes: a job file is at most {MAX_JOB_FILE_BYTES} bytes")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_JOB_FILE_BYTES + 1)
    except OSError as exc:
        raise JobFileUnreadable(path, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_JOB_FILE_BYTES:
        raise JobFileError(path, f"more than {MAX_JOB_FILE_BYTES} bytes: a job file is at most that")
    return _decode(path, raw)


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith(_UTF16_32_BOMS):
        raise JobFileError(path, "UTF-16/UTF-32 encoded: save the file as UTF-8")
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): a job file is YAML saved as UTF-8"
        raise JobFileError(path, problem, line=line) from None
    if "\x00" in text:
        raise JobFileError(
            path, "contains NUL bytes: not a text file", line=text.count("\n", 0, text.index("\x00")) + 1
        )
    return text


class _StrictLoader(_Loader):  # type: ignore[valid-type,misc]
    """The safe loader, refusing duplicate keys (the API server's JSON decoding would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the base class raises its own error for it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {str(key)[:80]!r} (first at line {first})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


def _yaml_problem(exc: yaml.YAMLError, text: str) -> tuple[str, int | None]:
    """One line from a YAML error, without the file excerpt PyYAML appends (it may echo any file)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return f"invalid YAML: {problem}", (mark.line + 1 if mark is not None else None)
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids, e.g. a control character
        line = text.count("\n", 0, exc.position) + 1
        return f"invalid YAML: character #x{exc.character:04x} is not allowed ({exc.reason})", line
    return f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", None


def _document_lines(path: Path, text: str) -> list[int]:
    """The start line of each document, after checking nesting depth (the constructor recurses)."""
    lines: list[int] = []
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            if isinstance(event, yaml.DocumentStartEvent):
                lines.append(line or 1)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    problem = f"nested more than {MAX_NESTING} levels deep: not a job file"
                    raise JobFileError(path, problem, line=line)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:
        problem, line = _yaml_problem(exc, text)
        raise JobFileError(path, problem, line=line) from None
    return lines


def read_documents(path: Path) -> list[Document]:
    """Every non-empty YAML document of the file, checked as described in the module docstring."""
    text = read_text(path)
    lines = _document_lines(path, text)
    try:
        loaded = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as exc:
        problem, line = _yaml_problem(exc, text)
        raise JobFileError(path, problem, line=line) from None
    return [
        Document(number, line, data)
        for number, (line, data) in enumerate(zip(lines, loaded, strict=False), start=1)
        if data is not None
    ]


def read_mapping(path: Path) -> dict[str, Any]:
    """A file holding one YAML (or JSON) mapping, e.g. an AutoTrain config."""
    documents = read_documents(path)
    if not documents:
        raise JobFileError(path, "empty (no YAML document, only blank lines or comments)")
    if len(documents) > 1:
        raise JobFileError(path, f"{len(documents)} YAML documents: expected one", line=documents[1].line)
    if not isinstance(documents[0].data, dict):
        kind = type(documents[0].data).__name__
        raise JobFileError(path, f"expected a mapping, found {kind}", line=documents[0].line)
    return documents[0].data


def read_job_file(path: Path) -> JobFile:
    """The SentenceTransformerJob documents of a file; other kinds are skipped with a note."""
    jobs: list[Document] = []
    skipped: list[str] = []
    documents = read_documents(path)
    for document in documents:
        kind = document.kind
        if kind is not None and kind != KIND:
            skipped.append(f"{path}: {document.label}: skipped, kind {kind[:60]!r} is not {KIND}")
        else:
            jobs.append(document)
    if not documents:
        raise JobFileError(path, f"empty (no YAML document, only blank lines or comments): expected a {KIND}")
    if not jobs:
        raise JobFileError(path, f"no {KIND} in the file ({len(skipped)} other document(s) skipped)")
    return JobFile(path, jobs, skipped)


# ------------------------------------------------------------------------------------------ checking


def _short(problem: str) -> str:
    return problem if len(problem) <= MAX_PROBLEM_CHARS else problem[: MAX_PROBLEM_CHARS - 1] + "…"


def document_problems(data: Any) -> list[str]:
    """Problems with one document that should be a SentenceTransformerJob (empty list: valid)."""
    if not isinstance(data, dict):
        return [f"expected a {KIND} mapping, found {type(data).__name__}"]
    if "apiVersion" not in data and "kind" not in data and "spec" not in data:
        # Not a resource at all (a wrong file): listing its keys as "extra inputs" would echo it back.
        return [f"not a Kubernetes resource (no apiVersion, kind or spec): is this a {KIND} file?"]
    problems: list[str] = []
    try:
        SentenceTransformerJob.model_validate(data)
    except ValidationError as exc:
        problems = format_validation_error(exc)
    spec = data.get("spec")
    data_section = spec.get("data") if isinstance(spec, dict) else None
    path = data_section.get("path") if isinstance(data_section, dict) else None
    if isinstance(path, str) and (problem := data_path_problem(path)) is not None:
        problems.append(f"spec.data.path: {problem}")
    shown = [_short(problem) for problem in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more problems")
    return shown


def local_data_warning(job: SentenceTransformerJob, base_dir: Path) -> str | None:
    """A warning when a job without a data volume names a local path that does not exist.

    Such a path is read relative to the job file by ``stjob train``; a Hub id (``owner/name``) is
    fine. A missing path is only a warning: the file may be validated on another machine.
    """
    data = job.spec.data
    if data.volume is not None or data.path.startswith(HF_DATASETS_PREFIX):
        return None
    local = Path(data.path).expanduser()
    local = local if local.is_absolute() else base_dir / local
    if local.exists() or (is_hub_id(data.path) and local.suffix not in (".csv", ".jsonl", ".json")):
        return None
    return f"spec.data.path {data.path!r}: no such local file or folder ({local}) and not a Hub id owner/name"


def load_job(path: Path) -> SentenceTransformerJob:
    """The one SentenceTransformerJob of a job file (``stjob train``, the trainer); JobFileError otherwise."""
    job_file = read_job_file(path)
    if len(job_file.jobs) > 1:
        names = ", ".join(document.label for document in job_file.jobs)
        raise JobFileError(path, f"{len(job_file.jobs)} {KIND}s ({names}): expected one")
    document = job_file.jobs[0]
    data = document.data
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key != "status"}  # a copied resource may carry it
    problems = document_problems(data)
    if problems:
        raise JobFileError(path, f"invalid {KIND} {document.label}: " + "; ".join(problems))
    return SentenceTransformerJob.model_validate(data)
