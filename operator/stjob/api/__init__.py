"""The SentenceTransformerJob API: spec, status and resource identity (no Kubernetes or torch imports)."""

from stjob.api.resource import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    VERSION,
    SentenceTransformerJob,
    dump_spec,
)
from stjob.api.shapes import LOSSES_BY_TRAINER
from stjob.api.spec import SentenceTransformerJobSpec
from stjob.api.status import Condition, SentenceTransformerJobStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "LOSSES_BY_TRAINER",
    "PLURAL",
    "SHORT_NAMES",
    "VERSION",
    "Condition",
    "SentenceTransformerJob",
    "SentenceTransformerJobSpec",
    "SentenceTransformerJobStatus",
    "dump_spec",
]
