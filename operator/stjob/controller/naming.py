"""Deterministic child names and labels (docs/contracts.md, "Child objects").

The paths and environment the trainer sees are the operator/trainer wire: ``stjob.api.contract``.
"""

from __future__ import annotations

from stjob.api.resource import LABEL_JOB_NAME as LABEL_JOB_NAME  # re-exported: the handlers select children by it

APP_NAME = "stjob-trainer"
MANAGED_BY = "stjob-operator"

LABEL_APP_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"

TRAINER_CONTAINER = "trainer"
#: torchrun's rendezvous port on rank 0 (multi-node only).
RENDEZVOUS_PORT = 29500


def configmap_name(name: str) -> str:
    """The ConfigMap holding the job file."""
    return f"{name}-spec"


def trainer_account_name(name: str) -> str:
    """The ServiceAccount, Role and RoleBinding of the trainer pods."""
    return f"{name}-trainer"


def job_name(name: str) -> str:
    """The batch/v1 Job running the trainer."""
    return name


def service_name(name: str) -> str:
    """The headless Service giving multi-node pods stable DNS names."""
    return name


def child_labels(name: str) -> dict[str, str]:
    """Labels on every child object and on the trainer pods."""
    return {LABEL_APP_NAME: APP_NAME, LABEL_MANAGED_BY: MANAGED_BY, LABEL_JOB_NAME: name}


def owner_name_of(labels: dict[str, str] | None) -> str | None:
    """The owning SentenceTransformerJob's name from a child's labels (None: not ours)."""
    if not labels:
        return None
    return labels.get(LABEL_JOB_NAME) or None
