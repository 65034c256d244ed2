"""The shared core both images use: the SentenceTransformerJob API (spec, status, resource identity), the
operator/trainer wire (``contract``) and the trainer-shape table (``shapes``).

It lives under ``operator/`` for packaging, but it is not the operator: the trainer depends on it exactly as
the operator does, and it imports neither of them, nor Kubernetes clients, Kopf or torch (``.importlinter``).
"""

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
