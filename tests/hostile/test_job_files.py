"""Hostile job files through ``stjob validate`` and ``stjob train``: one line naming file/line/field, the
documented exit code (2: cannot open, 3: not an acceptable job), never a traceback, never a silent "valid"."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stjob.cli import app
from stjob.errors import EXIT_CONFIG_ERROR, EXIT_OK, EXIT_USAGE
from stjob.job_file import MAX_JOB_FILE_BYTES, MAX_NESTING, MAX_PROBLEM_CHARS

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

HEAD = "apiVersion: stjob.dev/v1alpha1\nkind: SentenceTransformerJob\n"
SPEC = "spec:\n  trainer: pair_score\n  data: {path: owner/data, columns: {target: score}}\n"
JOB = HEAD + "metadata: {name: hostile}\n" + SPEC
PVC = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: datasets}\nspec: {}\n"


def _deep_block(levels: int) -> str:
    return "".join(" " * level + f"k{level}:\n" for level in range(levels)) + " " * levels + "leaf: 1\n"


def _link(target: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.symlink_to(target)

    return make


def _folder(path: Path) -> None:
    path.mkdir()


@dataclass(frozen=True)
class Hostile:
    """A job file, what ``stjob validate`` must print (all substrings) and its exit code."""

    id: str
    content: str | bytes | Callable[[Path], None] | None  # None: no file at all
    exit_code: int
    says: tuple[str, ...]  # each must appear in the output; "{file}" is the job file's path
    never: tuple[str, ...] = field(default=())  # must not appear (echoed secrets, false verdicts)


CASES = [
    # --- empty and not-YAML files
    Hostile("empty file", "", EXIT_CONFIG_ERROR, ("{file}: empty",)),
    Hostile("comments only", "# a job, some day\n\n   \n# more\n", EXIT_CONFIG_ERROR, ("{file}: empty",)),
    Hostile("only document markers", "---\n---\n...\n", EXIT_CONFIG_ERROR, ("{file}: empty",)),
    Hostile("png image", (ROOT / "docs/img/metrics.png").read_bytes(), EXIT_CONFIG_ERROR,
            ("{file}: line 1: not UTF-8 text (byte 0x89)",)),
    Hostile("utf-16 with bom", JOB.encode("utf-16"), EXIT_CONFIG_ERROR, ("{file}: UTF-16/UTF-32 encoded",)),
    Hostile("utf-16 without bom", JOB.encode("utf-16-le"), EXIT_CONFIG_ERROR,
            ("{file}: line 1: contains NUL bytes",)),
    Hostile("latin-1 bytes", (JOB + "# caf\xe9\n").encode("latin-1"), EXIT_CONFIG_ERROR,
            ("{file}: line 7: not UTF-8 text (byte 0xe9)",)),
    Hostile("nul byte in the middle", JOB.encode() + b"\x00\n", EXIT_CONFIG_ERROR,
            ("{file}: line 7: contains NUL bytes",)),
    Hostile("control character", JOB + "note: bell\x07\n", EXIT_CONFIG_ERROR, ("{file}: line 7: invalid YAML",)),
    Hostile("broken flow sequence", JOB + "extra: [1, 2\n", EXIT_CONFIG_ERROR, ("{file}: line 8: invalid YAML",)),
    Hostile("tab indentation", HEAD + "spec:\n\ttrainer: pair\n", EXIT_CONFIG_ERROR, ("{file}: line 4: invalid YAML",)),
    Hostile("python object tag", JOB + "x: !!python/object/apply:os.system ['true']\n", EXIT_CONFIG_ERROR,
            ("{file}: line 7: invalid YAML", "could not determine a constructor")),
    Hostile("unhashable key", JOB + "? [a, b]\n: 1\n", EXIT_CONFIG_ERROR,
            ("{file}: line 7: invalid YAML", "unhashable")),
    # --- size and nesting
    Hostile("over the size cap", JOB + ("# padding padding padding\n" * 50_000), EXIT_CONFIG_ERROR,
            (f"{{file}}: {len(JOB) + 26 * 50_000} bytes: a job file is at most {MAX_JOB_FILE_BYTES} bytes",)),
    Hostile("5000-deep flow nesting", "a: " + "[" * 5000 + "]" * 5000 + "\n", EXIT_CONFIG_ERROR,
            ("{file}: line 1: invalid YAML", "nesting depth")),
    Hostile("200-deep block nesting", _deep_block(200), EXIT_CONFIG_ERROR,
            (f"{{file}}: line {MAX_NESTING + 1}: nested more than {MAX_NESTING} levels deep",)),
    Hostile("deep nesting inside spec", JOB + "  loss: " + "[" * 80 + "]" * 80 + "\n", EXIT_CONFIG_ERROR,
            (f"{{file}}: line 7: nested more than {MAX_NESTING} levels deep",)),
    # --- duplicate keys (the API server's decoder would keep the last one silently)
    Hostile("duplicate top-level key", JOB + "spec: {trainer: pair, data: {path: a/b}}\n", EXIT_CONFIG_ERROR,
            ("{file}: line 7: invalid YAML: duplicate key 'spec' (first at line 4)",)),
    Hostile("duplicate nested key", JOB + "  training:\n    epochs: 1\n    batchSize: 8\n    epochs: 50\n",
            EXIT_CONFIG_ERROR, ("{file}: line 10: invalid YAML: duplicate key 'epochs' (first at line 8)",)),
    Hostile("duplicate key in a flow mapping", HEAD + "metadata: {name: a, name: b}\n" + SPEC, EXIT_CONFIG_ERROR,
            ("{file}: line 3: invalid YAML: duplicate key 'name' (first at line 3)",)),
    Hostile("duplicate key in json", '{"apiVersion": "stjob.dev/v1alpha1", "kind": "SentenceTransformerJob", '
            '"metadata": {"name": "j"}, "spec": {"trainer": "pair", "trainer": "qa", "data": {"path": "a/b"}}}\n',
            EXIT_CONFIG_ERROR, ("{file}: line 1: invalid YAML: duplicate key 'trainer'",)),
    Hostile("merge key override is fine", HEAD + "metadata: {name: merged}\nbase: &base {trainer: pair_score}\n"
            "spec:\n  <<: *base\n  trainer: pair\n  data: {path: owner/data}\n", EXIT_CONFIG_ERROR,
            ("{file}: merged: base: Extra inputs are not permitted",), ("duplicate",)),
    # --- files that are not files
    Hostile("missing file", None, EXIT_USAGE, ("{file}: no such file",)),
    Hostile("a folder", _folder, EXIT_USAGE, ("{file}: is a folder",)),
    Hostile("symlink to /dev/zero", _link("/dev/zero"), EXIT_USAGE, ("{file}: not a regular file",)),
    Hostile("symlink to /dev/null", _link("/dev/null"), EXIT_USAGE, ("{file}: not a regular file",)),
    Hostile("dangling symlink", _link("/nonexistent/job.yaml"), EXIT_USAGE, ("{file}: no such file",)),
    Hostile("symlink to /etc/passwd", _link("/etc/passwd"), EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): expected a SentenceTransformerJob mapping, found str",), ("root:",)),
    Hostile("a mapping that is no resource", "root: x\ndaemon: x\nbin: x\n", EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): not a Kubernetes resource",), ("daemon", "bin:")),
    # --- odd documents and metadata
    Hostile("metadata null", HEAD + "metadata: null\n" + SPEC, EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): metadata: Input should be a valid dictionary",)),
    Hostile("metadata a string", HEAD + "metadata: hostile\n" + SPEC, EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): metadata: Input should be a valid dictionary",)),
    Hostile("metadata name a number", HEAD + "metadata: {name: 42}\n" + SPEC, EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): metadata.name: Input should be a valid string",)),
    Hostile("metadata name a list", HEAD + "metadata: {name: [a]}\n" + SPEC, EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): metadata.name:",)),
    Hostile("document is a list", "- " + JOB.replace("\n", "\n  "), EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): expected a SentenceTransformerJob mapping, found list",)),
    Hostile("document is a number", "42\n", EXIT_CONFIG_ERROR,
            ("{file}: document 1 (line 1): expected a SentenceTransformerJob mapping, found int",)),
    Hostile("second document is a string", JOB + "---\njust text\n", EXIT_CONFIG_ERROR,
            ("{file}: hostile: valid", "{file}: document 2 (line 7): expected a SentenceTransformerJob mapping")),
    # --- multi-document files
    Hostile("pvc next to the job", PVC + "---\n" + JOB, EXIT_OK,
            ("note: {file}: datasets: skipped, kind 'PersistentVolumeClaim' is not SentenceTransformerJob",
             "{file}: hostile: valid")),
    Hostile("only other kinds", PVC + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", EXIT_CONFIG_ERROR,
            ("{file}: no SentenceTransformerJob in the file (2 other document(s) skipped)",)),
    # --- echo limits
    Hostile("a 10 kB key", JOB + "  ? " + "k" * 10_000 + "\n  : 1\n", EXIT_CONFIG_ERROR,
            ("{file}: hostile: spec.kkkk", "…"), ("k" * (MAX_PROBLEM_CHARS + 1),)),
    Hostile("hundreds of unknown keys", JOB + "".join(f"  extra{i}: 1\n" for i in range(300)), EXIT_CONFIG_ERROR,
            ("{file}: hostile: spec.extra0: Extra inputs", "... and 280 more problems"), ("extra299",)),
    # --- data paths that can never work
    Hostile("file url data path", JOB.replace("owner/data", "'file:/etc/passwd'"), EXIT_CONFIG_ERROR,
            ("{file}: hostile: spec.data.path: 'file:/etc/passwd': file: URLs are not data paths",)),
    Hostile("hf url climbing out", JOB.replace("owner/data", "hf://datasets/../.."), EXIT_CONFIG_ERROR,
            ("{file}: hostile: spec.data.path: 'hf://datasets/../..': expected hf://datasets/owner/name",)),
    Hostile("hf url with a dotdot name", JOB.replace("owner/data", "hf://datasets/owner/.."), EXIT_CONFIG_ERROR,
            ("{file}: hostile: spec.data.path: 'hf://datasets/owner/..'",)),
    Hostile("s3 url data path", JOB.replace("owner/data", "'s3:bucket/key'"), EXIT_CONFIG_ERROR,
            ("{file}: hostile: spec.data.path: 's3:bucket/key': s3: URLs are not data paths",)),
    Hostile("missing local data warns", JOB.replace("owner/data", "data/train.csv"), EXIT_OK,
            ("{file}: hostile: valid", "warning: {file}: hostile: spec.data.path 'data/train.csv': no such local")),
    # --- encodings that are fine
    Hostile("utf-8 bom and crlf", ("\ufeff" + JOB).replace("\n", "\r\n").encode(), EXIT_OK,
            ("{file}: hostile: valid",)),
]  # fmt: skip


def write_case(path: Path, case: Hostile) -> None:
    if case.content is None:
        return
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8", newline="")


def assert_clean_exit(result: Result, exit_code: int) -> None:
    """The CLI ended through its exit code: no exception escaped and nothing like a traceback was printed."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == exit_code, result.output


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_validate_names_the_problem(tmp_path: Path, case: Hostile) -> None:
    job = tmp_path / "job.yaml"
    write_case(job, case)

    result = runner.invoke(app, ["validate", str(job)])

    assert_clean_exit(result, case.exit_code)
    for text in case.says:
        assert text.format(file=job) in result.output
    for text in case.never:
        assert text not in result.output
    if case.exit_code != EXIT_OK:
        assert ": valid" not in result.output or "second document" in case.id


def test_at_least_forty_job_file_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.exit_code != EXIT_OK and "second document" not in c.id], ids=lambda c: c.id
)
def test_train_refuses_before_anything_runs(tmp_path: Path, case: Hostile) -> None:
    job = tmp_path / "job.yaml"
    write_case(job, case)

    result = runner.invoke(app, ["train", str(job), "--output-dir", str(tmp_path / "runs")])

    assert_clean_exit(result, case.exit_code)
    assert f"{job}: " in result.output
    assert not (tmp_path / "runs").exists()


def test_train_refuses_two_jobs_in_one_file(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB + "---\n" + JOB.replace("hostile", "other"), encoding="utf-8")

    result = runner.invoke(app, ["train", str(job), "--output-dir", str(tmp_path / "runs")])

    assert_clean_exit(result, EXIT_CONFIG_ERROR)
    assert f"{job}: 2 SentenceTransformerJobs (hostile, other): expected one" in result.output


def test_validate_goes_on_after_a_bad_file_and_exits_with_the_worst(tmp_path: Path) -> None:
    good, dup = tmp_path / "good.yaml", tmp_path / "dup.yaml"
    good.write_text(JOB, encoding="utf-8")
    dup.write_text(JOB + "kind: again\n", encoding="utf-8")

    result = runner.invoke(app, ["validate", str(tmp_path / "missing.yaml"), str(dup), str(good)])

    assert_clean_exit(result, EXIT_CONFIG_ERROR)
    assert f"{tmp_path / 'missing.yaml'}: no such file" in result.output
    assert f"{dup}: line 7: invalid YAML: duplicate key 'kind'" in result.output
    assert f"{good}: hostile: valid" in result.output


def test_a_pipe_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "job.fifo"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # the writer: what `stjob validate <(helm template ...)` hands over
        with fifo.open("w", encoding="utf-8") as handle:
            handle.write(JOB)
        os._exit(0)
    try:
        result = runner.invoke(app, ["validate", str(fifo)])
    finally:
        os.waitpid(pid, 0)

    assert_clean_exit(result, EXIT_OK)
    assert f"{fifo}: hostile: valid" in result.output
