"""The whole SentenceTransformerJob object and its identity (group, version, names)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stjob.api.spec import SentenceTransformerJobSpec
from stjob.api.status import SentenceTransformerJobStatus

GROUP = "stjob.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "SentenceTransformerJob"
PLURAL = "sentencetransformerjobs"
SINGULAR = "sentencetransformerjob"
SHORT_NAMES = ("stj", "stjob")
LIST_KIND = f"{KIND}List"
#: On every child object (Job, Pods, ConfigMap, Service, RBAC): the owning resource's name. The operator
#: maps events of children to their owner through it; ``stjob logs`` finds the trainer pods by it.
LABEL_JOB_NAME = f"{GROUP}/job-name"
#: Longest resource name: child object names add a suffix and must stay within 63 characters.
MAX_NAME_LENGTH = 52


class ObjectMeta(BaseModel):
    """The part of metav1.ObjectMeta we check; everything else passes through."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(..., min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str | None = None


class SentenceTransformerJob(BaseModel):
    """A SentenceTransformerJob resource as written by a user (``kubectl apply -f job.yaml``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: Literal["stjob.dev/v1alpha1"] = Field("stjob.dev/v1alpha1", alias="apiVersion")
    kind: Literal["SentenceTransformerJob"] = "SentenceTransformerJob"
    metadata: ObjectMeta
    spec: SentenceTransformerJobSpec
    status: SentenceTransformerJobStatus | None = None


def dump_spec(spec: SentenceTransformerJobSpec) -> dict[str, Any]:
    """The spec as the API server stores it: camelCase, defaults filled in, unset optionals and empty
    lists and maps left out (the CRD has no defaults for those; ``tests/kube`` compares the two)."""
    return spec.model_dump(by_alias=True, exclude_none=True, mode="json", exclude=_empty_collections(spec))


def _empty_collections(model: BaseModel) -> dict[str, Any]:
    """A pydantic ``exclude`` tree naming every empty list or dict field, at any depth."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            nested = _empty_collections(value)
            if nested:
                out[name] = nested
        elif isinstance(value, (list, dict)) and not value:
            out[name] = True
    return out
