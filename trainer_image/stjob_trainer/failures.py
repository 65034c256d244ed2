"""Map any exception to the contract's failure reasons and exit codes (``stjob.errors``)."""

from __future__ import annotations

import errno

import torch

from stjob.errors import OutOfMemoryError, StjobError, StorageError

#: Errors of the output storage: retrying on another pod cannot help.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
_STORAGE_TEXTS = ("No space left on device", "Read-only file system", "Disk quota exceeded")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException) -> StjobError:
    """The StjobError that describes ``exc``: itself, OutOfMemory, StorageError, or a plain (retried) error."""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, StjobError):
            return item
    for item in chain:
        if isinstance(item, torch.OutOfMemoryError):
            return OutOfMemoryError(
                f"out of memory: {str(item).splitlines()[0] if str(item) else 'device memory exhausted'}; "
                "lower training.batchSize, set training.autoFindBatchSize, or use more GPU memory"
            )
    for item in chain:
        if isinstance(item, OSError) and item.errno in STORAGE_ERRNOS:
            return StorageError(f"cannot write the output: {item}")
        # safetensors and some writers re-raise storage failures as other types; the text survives.
        if any(text in str(item) for text in _STORAGE_TEXTS):
            return StorageError(f"cannot write the output: {item}")
    return StjobError(f"{type(exc).__name__}: {exc}")
