"""Operator settings from the environment (``STJOB_`` prefix, docs/contracts.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TRAINER_IMAGE = "ghcr.io/stjob/trainer:0.1.0"


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

    @property
    def namespace_list(self) -> list[str]:
        """The watched namespaces; empty means cluster-wide."""
        return [ns.strip() for ns in self.namespaces.split(",") if ns.strip()]

    @property
    def clusterwide(self) -> bool:
        """Whether the operator watches every namespace."""
        return not self.namespace_list
