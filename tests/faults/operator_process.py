"""The operator as a separate process against an emulator URL, so a test can SIGKILL it mid-reconcile.

python -m tests.faults.operator_process http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys
from typing import Any

import kopf
import kubernetes

from stjob.controller.handlers import register
from stjob.controller.settings import OperatorSettings
from tests.controller.conftest import fast_kopf_settings


def main(url: str) -> None:
    """Run the operator (cluster-wide, standalone) against ``url`` until killed."""
    kubernetes.client.Configuration.set_default(kubernetes.client.Configuration(host=url))
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True)

    config = OperatorSettings(metrics_port=0, health_port=0, trainer_image="trainer:test")
    register(registry, config)
    kopf.run(registry=registry, settings=fast_kopf_settings(), standalone=True, clusterwide=True)


if __name__ == "__main__":
    main(sys.argv[1])
