"""Operator settings from the environment (``STJOB_`` prefix, docs/contracts.md)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TRAINER_IMAGE = "ghcr.io/stjob/trainer:0.1.0"
#: Where Kubernetes mounts the pod's service account; its ``namespace`` file names the pod's namespace.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class OperatorSettings(BaseSettings):
    """What the operator reads at start; every field is one ``STJOB_*`` variable."""

    model_config = SettingsConfigDict(env_prefix="STJOB_", extra="ignore")

    namespaces: str = Field("", description="Comma-separated namespaces to watch; empty: cluster-wide.")
    trainer_image: str = Field(DEFAULT_TRAINER_IMAGE, min_length=1, description="Default trainer image.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Trainer image pull policy."
    )
    default_cpu: str = Field("", description="Trainer CPU request and limit when the spec sets none.")
    default_memory: str = Field("", description="Trainer memory request and limit when the spec sets none.")
    metrics_port: int = Field(8080, ge=0, le=65535, description="Prometheus /metrics port; 0 disables it.")
    health_port: int = Field(8081, ge=0, le=65535, description="Kopf liveness /healthz port; 0 disables it.")
    log_format: Literal["plain", "json"] = Field("plain", description="Operator log format.")
    leader_election: bool = Field(
        False, description="Elect one acting replica with a coordination.k8s.io Lease (the chart turns it on)."
    )
    lease_name: str = Field("stjob-operator", min_length=1, description="Name of the leader election Lease.")
    lease_namespace: str = Field(
        "", description="Namespace of the Lease; empty: the operator pod's own (its service account's)."
    )
    lease_duration_seconds: float = Field(
        15.0, gt=0, description="A standby takes over after seeing the Lease unrenewed this long."
    )
    lease_retry_seconds: float = Field(2.0, gt=0, description="How often the leader renews and a standby looks.")
    allow_unsupported_kubernetes: bool = Field(
        False,
        description="On a server older than the minimum (compat), run single-node jobs in the degraded mode "
        "instead of refusing every resource.",
    )
    pod_name: str = Field(
        "", description="This replica's name (downward API): the Lease holder and the Events' reportingInstance."
    )

    @property
    def namespace_list(self) -> list[str]:
        """The watched namespaces; empty means cluster-wide."""
        return [ns.strip() for ns in self.namespaces.split(",") if ns.strip()]

    @property
    def clusterwide(self) -> bool:
        """Whether the operator watches every namespace."""
        return not self.namespace_list

    @property
    def identity(self) -> str:
        """This replica's name: the pod name, else host and process (two processes on one host differ)."""
        return self.pod_name or f"{socket.gethostname()}_{os.getpid()}"

    def lease_location(self) -> str:
        """The Lease's namespace: configured, else the pod's own; ValueError when neither is known."""
        if self.lease_namespace:
            return self.lease_namespace
        try:
            return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
        except OSError:
            raise ValueError("STJOB_LEADER_ELECTION is on: set STJOB_LEASE_NAMESPACE (not running in a pod)") from None
