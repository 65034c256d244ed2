"""The wire between the operator and the trainer (docs/contracts.md), written once for both images.

The operator (``stjob.controller.builders``) sets these environment variables and mounts these paths on
the trainer container; the trainer (``stjob_trainer``) reads them. The trainer writes the run folder and
the termination message; the operator and the CLI read them. Neither side types any of these literals
itself: ``tests/core/test_contract_literals.py`` fails on a stray copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

# ----------------------------------------------------------------------------- environment variables

#: The resource's name and namespace: where the trainer patches its status.
ENV_NAME = "STJOB_NAME"
ENV_NAMESPACE = "STJOB_NAMESPACE"
#: Which reporter the trainer uses; the operator always sets :data:`REPORTER_KUBERNETES`.
ENV_REPORTER = "STJOB_REPORTER"
REPORTER_KUBERNETES = "kubernetes"
ENV_DATA_DIR = "STJOB_DATA_DIR"
ENV_OUTPUT_DIR = "STJOB_OUTPUT_DIR"
ENV_TERMINATION_LOG = "STJOB_TERMINATION_LOG"
#: The Hub token, only by reference to a Secret and only when the spec pushes to the Hub.
ENV_HF_TOKEN = "HF_TOKEN"
#: The Hugging Face libraries' cache, on the writable scratch volume (the root filesystem is read-only).
ENV_HF_HOME = "HF_HOME"
#: Multi-node only: the pod's Job completion index, handed to torchrun as ``--node-rank``.
ENV_NODE_RANK = "STJOB_NODE_RANK"

# ----------------------------------------------------------------------------- paths in the container

#: The job file (the resource as YAML), from the ``{name}-spec`` ConfigMap.
CONFIG_DIR = "/etc/stjob"
CONFIG_KEY = "job.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_KEY}"
#: ``spec.data.volume``, read-only; ``spec.data.path`` is relative to it.
DATA_DIR = "/data"
#: ``spec.output.volume`` (else an emptyDir); the run folder is ``{OUTPUT_DIR}/{projectName}``.
OUTPUT_DIR = "/output"
TERMINATION_LOG = "/dev/termination-log"
SCRATCH_DIR = "/tmp"
HF_HOME_DIR = f"{SCRATCH_DIR}/hf-home"
SHM_DIR = "/dev/shm"

# ----------------------------------------------------------------------------- the run folder

CHECKPOINTS_DIR = "checkpoints"
MODEL_DIR = "model"
LABEL_MAP_FILE = "label_map.json"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
TENSORBOARD_DIR = "tensorboard"
HARD_NEGATIVES_DIR = "hard-negatives"
#: In the checkpoints folder: the spec sections and data digest every checkpoint there was trained from.
FINGERPRINT_FILE = "stjob_fingerprint.json"


@dataclass(frozen=True)
class RunLayout:
    """The run folder ``{output}/{projectName}`` (docs/contracts.md, "Run folder layout")."""

    root: Path

    @classmethod
    def of(cls, output_dir: Path, project_name: str) -> RunLayout:
        """The run folder of a project under an output root."""
        return cls(output_dir / project_name)

    @property
    def checkpoints(self) -> Path:
        """Trainer checkpoints ``checkpoint-{step}/``; the newest complete one is resumed."""
        return self.root / CHECKPOINTS_DIR

    @property
    def model(self) -> Path:
        """The final Sentence Transformer with its model card."""
        return self.root / MODEL_DIR

    @property
    def label_map(self) -> Path:
        """``pair_class`` only: ``{"labels": [...]}``, label id -> original label."""
        return self.model / LABEL_MAP_FILE

    @property
    def metrics(self) -> Path:
        """One JSON object per log or evaluation event."""
        return self.root / METRICS_FILE

    @property
    def result(self) -> Path:
        """The final summary: outcome, metrics, model path, Hub URL, timings."""
        return self.root / RESULT_FILE

    @property
    def fingerprint(self) -> Path:
        """What the checkpoints were trained from: ``{"spec": {trainer, model, training, loss}, "data": digest}``."""
        return self.checkpoints / FINGERPRINT_FILE

    @property
    def hard_negatives(self) -> Path:
        """``data.hardNegatives``: the mined training set (a saved dataset), reused by a resumed run."""
        return self.root / HARD_NEGATIVES_DIR

    @property
    def tensorboard(self) -> Path:
        """TensorBoard event files (``tracking.log: tensorboard``)."""
        return self.root / TENSORBOARD_DIR


# ----------------------------------------------------------------------------- redaction

REDACTED = "[redacted]"

# Secret shapes that may show up in an error message, a traceback or a log tail. Conditions, Events,
# the termination message and the pod log are readable by far more people than the Secret: whatever
# looks like a credential is masked before it gets there. Each entry: (what, pattern, replacement).
_SECRET_VALUE = r"[^\s'\"&,;)}\]]+"
_SECRET_KEY = (
    r"[A-Za-z0-9_.-]*?(?:token|passw(?:or)?d|pwd|secret|secret_?access_?key|api_?key|access_?key|private_?key)"
)
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "PEM private key (a cut-off one up to the end)",
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*\Z)", re.S),
        REDACTED,
    ),
    ("URL userinfo scheme://user:password@", re.compile(r"(?<=://)[^\s/@:]+:[^\s/@]+@"), f"{REDACTED}@"),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{8,}"), REDACTED),
    (
        "AWS access key id",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA)[A-Z0-9]{16}\b"),
        REDACTED,
    ),
    ("bearer token", re.compile(r"(?i:\bbearer)\s+[A-Za-z0-9._~+/=-]{8,}"), REDACTED),
    (
        "key=value / key: value credential (token, password, secret, AWS secret key, API key)",
        re.compile(rf"(?i)\b({_SECRET_KEY})(['\"]?\s*[=:]\s*['\"]?)(?!\[redacted\]){_SECRET_VALUE}"),
        rf"\1\2{REDACTED}",
    ),
)


def redact(text: str, *, secrets: Iterable[str] = (), max_length: int | None = None) -> str:
    """``text`` with every known secret value and anything credential-shaped masked as ``[redacted]``.

    ``secrets``: exact values to mask wherever they appear (the Hub token from the environment), for
    secrets of no recognisable shape. ``max_length``: cap the result (conditions and Events stay short).
    """
    for secret in secrets:
        secret = secret.strip()
        if secret:
            text = text.replace(secret, REDACTED)
    for _what, pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    if max_length is not None and len(text) > max_length:
        text = text[: max_length - 3] + "..."
    return text


# ----------------------------------------------------------------------------- termination message

#: Kubernetes keeps at most 4096 bytes of a termination message.
MAX_TERMINATION_BYTES = 4096
Outcome = Literal["Succeeded", "Failed", "Interrupted"]
#: The keys a shortened message keeps to the end; the others are dropped first when it is too long.
_ESSENTIAL_KEYS = ("outcome", "reason", "message")


class TerminationMessage(BaseModel):
    """What the trainer says on its way out, as one JSON object in its termination log.

    ``{"outcome": "Succeeded", "modelPath": "...", "hubUrl": "..."}``,
    ``{"outcome": "Failed", "reason": "DataError", "message": "..."}`` or, after SIGTERM,
    ``{"outcome": "Interrupted", "reason": "Interrupted", "message": "...", "checkpoint": "..."}``.
    Reading is lenient (the text may be anything a crashed container left): a malformed optional field
    reads as absent, a text that is no such object as None.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    outcome: Outcome
    reason: str | None = None
    message: str | None = None
    model_path: str | None = None
    hub_url: str | None = None
    checkpoint: str | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _reason_is_an_identifier(cls, value: Any) -> str | None:
        # A reason becomes a condition reason: CamelCase, never free text.
        return value if isinstance(value, str) and value.isidentifier() else None

    @field_validator("message", mode="before")
    @classmethod
    def _message_is_text(cls, value: Any) -> str | None:
        return None if value is None else str(value)

    @field_validator("model_path", "hub_url", "checkpoint", mode="before")
    @classmethod
    def _non_empty_text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) and value else None

    @classmethod
    def parse(cls, text: object) -> TerminationMessage | None:
        """The message in ``text``, or None when it is not one (e.g. a log tail of FallbackToLogsOnError)."""
        if not isinstance(text, str) or not text.strip().startswith("{"):
            return None
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            return None

    def to_json(self, max_bytes: int = MAX_TERMINATION_BYTES) -> str:
        """Compact JSON without nulls, within ``max_bytes``: the message is shortened first, then optional
        keys are dropped."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        text = json.dumps(data, ensure_ascii=False)
        if len(text.encode()) <= max_bytes:
            return text
        message = str(data.get("message", ""))
        if message:
            overflow = len(text.encode()) - max_bytes
            keep = max(0, len(message.encode()) - overflow - 8)
            data["message"] = message.encode()[:keep].decode(errors="ignore") + " …"
            text = json.dumps(data, ensure_ascii=False)
        for key in [k for k in data if k not in _ESSENTIAL_KEYS]:
            if len(text.encode()) <= max_bytes:
                break
            del data[key]
            text = json.dumps(data, ensure_ascii=False)
        return text
