"""The trainer's termination message (docs/contracts.md, "Exit codes and termination message")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stjob import errors

#: Exit code -> reason, for when the message is missing or unreadable (FallbackToLogsOnError may put
#: a log tail there instead).
REASON_BY_EXIT_CODE: dict[int, str] = {
    errors.EXIT_CONFIG_ERROR: errors.ConfigError.reason,
    errors.EXIT_DATA_ERROR: errors.DataError.reason,
    errors.EXIT_OUT_OF_MEMORY: errors.OutOfMemoryError.reason,
    errors.EXIT_STORAGE_ERROR: errors.StorageError.reason,
}
MAX_MESSAGE = 1024
# Hugging Face tokens and bearer tokens must never reach a condition or an Event, whatever the trainer wrote.
_SECRET = re.compile(r"(hf_[A-Za-z0-9]{8,}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,})")


@dataclass(frozen=True)
class TerminationMessage:
    """What the trainer said on its way out."""

    outcome: str
    reason: str | None = None
    message: str = ""
    model_path: str | None = None
    hub_url: str | None = None


def redact(text: str) -> str:
    """Mask anything shaped like a token and cap the length (Events and conditions are public)."""
    masked = _SECRET.sub("[redacted]", text)
    return masked if len(masked) <= MAX_MESSAGE else masked[: MAX_MESSAGE - 3] + "..."


def parse_termination_message(text: str | None) -> TerminationMessage | None:
    """The JSON object the trainer wrote, or None when the text is not one (e.g. a log tail)."""
    if not isinstance(text, str) or not text.strip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("outcome"), str):
        return None
    reason = data.get("reason")
    return TerminationMessage(
        outcome=data["outcome"],
        reason=reason if isinstance(reason, str) and reason.isidentifier() else None,
        message=redact(str(data.get("message") or "")),
        model_path=_optional_str(data.get("modelPath")),
        hub_url=_optional_str(data.get("hubUrl")),
    )


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
