"""Which Kubernetes versions the operator supports, and what it does on an older one.

The minimum is 1.28: the CRD's validation rules use ``fieldPath`` and ``reason`` (1.28), and the Jobs
rely on ``podFailurePolicy`` (on by default since 1.26), Indexed completion and ``suspend`` (1.24).
An older API server silently drops the fields it does not know from a Job, so a Job created there
would retry bad data ``backoffLimit`` times, ignore ``suspend`` and run multi-node gangs as plain Jobs.

The operator reads the server's version at start. Below the minimum it refuses every resource
(Failed, reason ``UnsupportedKubernetes``) unless ``STJOB_ALLOW_UNSUPPORTED_KUBERNETES`` is true: then it
runs single-node jobs in a degraded mode that enforces the failure policy itself (a non-retryable exit
code fails the resource and sets the Job's parallelism to 0, so no retry pod starts) and refuses what it
cannot emulate (multi-node, suspend, Kueue queueing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stjob.api import SentenceTransformerJobSpec

MINIMUM_KUBERNETES = (1, 28)
REASON_UNSUPPORTED = "UnsupportedKubernetes"


@dataclass(frozen=True)
class ServerSupport:
    """The API server's version and the Job features the operator relies on."""

    version: tuple[int, int]
    git_version: str = ""

    @property
    def supported(self) -> bool:
        return self.version >= MINIMUM_KUBERNETES

    @property
    def pod_failure_policy(self) -> bool:
        return self.version >= (1, 26)

    @property
    def indexed_jobs(self) -> bool:
        return self.version >= (1, 24)

    @property
    def job_suspend(self) -> bool:
        return self.version >= (1, 24)

    def describe(self) -> str:
        return self.git_version or ".".join(map(str, self.version))


#: What the operator assumes when it cannot read the version (an emulator, a proxy): a current server.
CURRENT = ServerSupport(MINIMUM_KUBERNETES, "unknown")


def parse_version(info: Mapping[str, Any]) -> ServerSupport:
    """From the server's ``/version`` answer (``major: "1"``, ``minor: "20+"`` on some distributions)."""
    try:
        major = int(re.sub(r"\D", "", str(info.get("major", ""))))
        minor = int(re.sub(r"\D", "", str(info.get("minor", ""))))
    except ValueError:
        return CURRENT
    return ServerSupport((major, minor), str(info.get("gitVersion") or f"v{major}.{minor}"))


def unsupported_message(support: ServerSupport) -> str:
    minimum = ".".join(map(str, MINIMUM_KUBERNETES))
    return (
        f"Kubernetes {support.describe()} is older than the minimum supported {minimum}: its Jobs have no "
        "podFailurePolicy, so bad data would be retried and suspend ignored. Upgrade the cluster, or set "
        "STJOB_ALLOW_UNSUPPORTED_KUBERNETES=true (chart: allowUnsupportedKubernetes) for the degraded mode "
        "(docs/operator.md)."
    )


def refusal(support: ServerSupport, allow_unsupported: bool, spec: SentenceTransformerJobSpec) -> str | None:
    """Why this resource cannot run on this server (None: it can, possibly degraded)."""
    if support.supported:
        return None
    if not allow_unsupported:
        return unsupported_message(support)
    missing = []
    if spec.distributed.nodes > 1 and not support.indexed_jobs:
        missing.append("multi-node training (distributed.nodes > 1) needs Indexed Jobs")
    if (spec.suspend or spec.queue_name is not None) and not support.job_suspend:
        missing.append("suspend and Kueue queueing need Job suspend")
    if not missing:
        return None
    return f"Kubernetes {support.describe()} (degraded mode): " + "; ".join(missing)
