"""The project's errors, their reasons and the trainer's exit codes (the operator <-> trainer contract).

Part of the shared core with ``stjob.api``: the operator, the trainer and the CLI all use it, and it
imports nothing else of the project (the lowest layer in ``.importlinter``).

A reason is the CamelCase word that ends up in a status condition; an exit code tells the Job's
``podFailurePolicy`` whether retrying on another pod could help (it cannot for bad data or a bad spec).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import ValidationError

#: Exit codes of every command (``stjob ...``, ``stjob-trainer``): one meaning each, listed in EXIT_CODES.
#: Codes listed in NON_RETRYABLE_EXIT_CODES fail the Job at once (podFailurePolicy).
EXIT_OK = 0
EXIT_FAILED = 1  # unexpected error: retried up to backoffLimit
EXIT_USAGE = 2
EXIT_CONFIG_ERROR = 3
EXIT_DATA_ERROR = 4
EXIT_OUT_OF_MEMORY = 5
EXIT_STORAGE_ERROR = 6
EXIT_CLUSTER_ERROR = 7
EXIT_QUALITY_GATE = 8  # trained fine, did not improve enough: retrying the same job would not help
EXIT_TIMEOUT = 124  # the coreutils `timeout` convention
EXIT_CTRL_C = 130  # the shell convention for SIGINT
EXIT_INTERRUPTED = 143  # SIGTERM (preemption, eviction, suspend): checkpoint saved, retry resumes
NON_RETRYABLE_EXIT_CODES = (
    EXIT_CONFIG_ERROR,
    EXIT_DATA_ERROR,
    EXIT_OUT_OF_MEMORY,
    EXIT_STORAGE_ERROR,
    EXIT_QUALITY_GATE,
)

#: (code, meaning): the table `stjob --help` prints and the README repeats (a test keeps them equal).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success"),
    (EXIT_FAILED, "the job failed (watch), or an unexpected error (a bug: the traceback is printed)"),
    (EXIT_USAGE, "wrong command line: unknown option, bad value, a named file that does not exist or is unreadable"),
    (
        EXIT_CONFIG_ERROR,
        "the job or config cannot run as written: YAML syntax, a spec field, a model or tracker that cannot "
        "load, a spec changed under its checkpoints (--fresh), a diverged (NaN) loss",
    ),
    (EXIT_DATA_ERROR, "bad data: a dataset (or metrics) file that cannot be used; the file, row and column are named"),
    (EXIT_OUT_OF_MEMORY, "out of memory: the model and batch do not fit on the device"),
    (EXIT_STORAGE_ERROR, "the output folder cannot be written (missing, read-only, full)"),
    (EXIT_CLUSTER_ERROR, "no usable cluster: kubeconfig, context, connection, permission, or resource not found"),
    (
        EXIT_QUALITY_GATE,
        "the trained model missed spec.evaluation.gate: it stays in the output folder and is not pushed",
    ),
    (EXIT_TIMEOUT, "gave up waiting (watch --timeout)"),
    (EXIT_CTRL_C, "interrupted by Ctrl-C"),
    (EXIT_INTERRUPTED, "stopped by SIGTERM after saving a checkpoint; the next run resumes from it"),
)


#: The pydantic error type of a failed cross-field rule (stjob.api.rules); its context names the field.
RULE_ERROR = "cross_field_rule"


class StjobError(Exception):
    """Base class: a failure with a reason a user can act on."""

    reason: ClassVar[str] = "Error"
    exit_code: ClassVar[int] = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(StjobError):
    """The spec is invalid or names something that does not exist (model, loss, tracker)."""

    reason = "ConfigError"
    exit_code = EXIT_CONFIG_ERROR


class SpecError(ConfigError):
    """One invalid field of a resource."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class DataError(StjobError):
    """The dataset cannot be used as asked; the message names file, row and column where they apply."""

    reason = "DataError"
    exit_code = EXIT_DATA_ERROR

    def __init__(
        self, problem: str, *, file: str | None = None, row: int | None = None, column: str | None = None
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {problem}" if where else problem)
        self.file, self.row, self.column, self.problem = file, row, column, problem


class OutOfMemoryError(StjobError):
    """The model and batch do not fit on the device."""

    reason = "OutOfMemory"
    exit_code = EXIT_OUT_OF_MEMORY


class UsageError(StjobError):
    """The command line names something that cannot be used (a missing file, an unknown format)."""

    reason = "UsageError"
    exit_code = EXIT_USAGE


class QualityGateFailed(StjobError):
    """The trained model did not clear ``spec.evaluation.gate`` (message: metric, baseline, final)."""

    reason = "QualityGateFailed"
    exit_code = EXIT_QUALITY_GATE

    def __init__(self, message: str, *, evaluation: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.evaluation = evaluation  # the report, kept in the failed run's result.json


class StorageError(StjobError):
    """The output location cannot be written (full, read-only, missing)."""

    reason = "StorageError"
    exit_code = EXIT_STORAGE_ERROR


def validation_problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field, problem) per pydantic error: the camelCase path as the user wrote it, under ``prefix``."""
    problems = []
    for err in error.errors():
        parts = [str(part) for part in err["loc"]]
        if err["type"] == RULE_ERROR:  # name the rule's field, as the API server does
            parts.extend(p for p in str(err.get("ctx", {}).get("field", "")).split(".") if p)
        # List items as the API server and kubectl write them: tolerations[0].effect
        loc = ".".join(parts)
        loc = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", loc)
        field = f"{prefix}.{loc}" if prefix and loc else (loc or prefix)
        problems.append((field, err["msg"].removeprefix("Value error, ")))
    return problems


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: the field path, then the reason."""
    return [f"{field}: {problem}" if field else problem for field, problem in validation_problems(error, prefix)]
