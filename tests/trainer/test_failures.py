"""Exceptions → reasons and exit codes (contract)."""

from __future__ import annotations

import errno

import pytest
import torch

from stjob.errors import (
    EXIT_CONFIG_ERROR,
    EXIT_DATA_ERROR,
    EXIT_FAILED,
    EXIT_OUT_OF_MEMORY,
    EXIT_STORAGE_ERROR,
    ConfigError,
    DataError,
)
from stjob_trainer.failures import classify


def _chained(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "reason", "code"),
    [
        (DataError("bad", file="f.csv", row=3), "DataError", EXIT_DATA_ERROR),
        (ConfigError("bad model"), "ConfigError", EXIT_CONFIG_ERROR),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"), "OutOfMemory", EXIT_OUT_OF_MEMORY),
        (OSError(errno.ENOSPC, "No space left on device"), "StorageError", EXIT_STORAGE_ERROR),
        (OSError(errno.EROFS, "Read-only file system"), "StorageError", EXIT_STORAGE_ERROR),
        (RuntimeError("safetensors: No space left on device (os error 28)"), "StorageError", EXIT_STORAGE_ERROR),
        (_chained(RuntimeError("save failed"), OSError(errno.ENOSPC, "full")), "StorageError", EXIT_STORAGE_ERROR),
        (_chained(RuntimeError("wrapped"), DataError("inner")), "DataError", EXIT_DATA_ERROR),
        (ValueError("something else"), "Error", EXIT_FAILED),
        (OSError(errno.ENOENT, "missing"), "Error", EXIT_FAILED),
    ],
)
def test_classify(exc: Exception, reason: str, code: int) -> None:
    error = classify(exc)
    assert (error.reason, error.exit_code) == (reason, code)
