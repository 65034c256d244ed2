"""The trainer's termination message (docs/contracts.md, "Exit codes and termination message")."""

from __future__ import annotations

from stjob import errors
from stjob.api import contract
from stjob.api.contract import TerminationMessage

#: Exit code -> reason, for when the message is missing or unreadable (FallbackToLogsOnError may put
#: a log tail there instead).
REASON_BY_EXIT_CODE: dict[int, str] = {
    errors.EXIT_CONFIG_ERROR: errors.ConfigError.reason,
    errors.EXIT_DATA_ERROR: errors.DataError.reason,
    errors.EXIT_OUT_OF_MEMORY: errors.OutOfMemoryError.reason,
    errors.EXIT_STORAGE_ERROR: errors.StorageError.reason,
    errors.EXIT_QUALITY_GATE: errors.QualityGateFailed.reason,
}
#: Conditions and Events show at most this much of the trainer's message.
MAX_MESSAGE = 1024


def redact(text: str) -> str:
    """Mask anything shaped like a secret and cap the length (Events and conditions are public)."""
    return contract.redact(text, max_length=MAX_MESSAGE)


def parse_termination_message(text: str | None) -> TerminationMessage | None:
    """The trainer's message with its text redacted, or None when the text is not one (e.g. a log tail)."""
    parsed = TerminationMessage.parse(text)
    if parsed is None:
        return None
    # Whatever the trainer wrote, no credential reaches a condition or an Event.
    return parsed.model_copy(update={"message": redact(parsed.message or "")})
