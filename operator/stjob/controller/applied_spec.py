"""Which spec the children were built from, so ``observedGeneration`` never claims a spec not applied.

The Job carries a digest of the spec it was built from (everything but the fields the operator can
still change on a running Job, i.e. ``spec.suspend``). The API server refuses other spec edits (CEL);
where it cannot (servers without CEL, an edit with the rule switched off), the operator keeps reporting
the last generation it did apply instead of the new one, and says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from stjob.api import SentenceTransformerJobSpec
from stjob.api.spec import MUTABLE_SPEC_FIELDS

#: On the Job: the digest of the (immutable part of the) spec it was built from.
SPEC_DIGEST_ANNOTATION = "stjob.dev/spec-digest"


def spec_digest(spec: SentenceTransformerJobSpec) -> str:
    """A short, stable digest of the spec without its mutable fields."""
    fixed = spec.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=set(MUTABLE_SPEC_FIELDS))
    return hashlib.sha256(json.dumps(fixed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def with_digest(job: dict[str, Any], spec: SentenceTransformerJobSpec, digest: str | None = None) -> dict[str, Any]:
    """The built Job manifest, annotated with the digest of the spec it was built from (``digest``, if known)."""
    job["metadata"].setdefault("annotations", {})[SPEC_DIGEST_ANNOTATION] = digest or spec_digest(spec)
    return job


def applies(job: Mapping[str, Any] | None, spec: SentenceTransformerJobSpec, digest: str | None = None) -> bool:
    """Whether the Job was built from this spec (a Job from before the digest existed is trusted).

    ``digest``: the spec's digest when the caller has it already (it is cached per spec change).
    """
    if job is None:
        return True
    recorded = (job.get("metadata", {}).get("annotations") or {}).get(SPEC_DIGEST_ANNOTATION)
    return recorded is None or recorded == (digest or spec_digest(spec))


def observed_generation(meta: Mapping[str, Any], current_status: Mapping[str, Any], applied: bool) -> int | None:
    """The generation to report: the resource's own when its spec is applied, else the last one that was."""
    if applied:
        generation = meta.get("generation")
        return int(generation) if isinstance(generation, int) else None
    previous = current_status.get("observedGeneration")
    return int(previous) if isinstance(previous, int) else None
