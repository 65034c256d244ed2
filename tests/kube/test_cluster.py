"""The 1.20 tier itself: the servers answer, the committed CRD installs as Helm would, the Job controller runs."""

from __future__ import annotations

import pytest

from tests.support.kube_cluster import KubeCluster


def test_kubectl_reaches_the_server_and_the_crd_serves(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    version = kube_cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.20.2' in version.replace('":"', '": "')
    assert "sentencetransformerjobs" in kube_cluster.kubectl("api-resources", "--api-group=stjob.dev").stdout
    assert kube_cluster.kubectl("get", "stj", "-n", kube_namespace).returncode == 0


def test_a_server_that_loses_its_port_is_started_again_and_other_failures_are_not_retried() -> None:
    from tests.support.kube_cluster import retried

    attempts: list[int] = []

    def loses_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("kube-apiserver exited (1):\nlisten tcp 127.0.0.1:6443: bind: address already in use")
        return "up"

    assert retried(loses_once) == "up" and len(attempts) == 2

    def broken() -> str:
        attempts.append(1)
        raise RuntimeError("kube-apiserver exited (1):\nunknown flag")

    attempts.clear()
    with pytest.raises(RuntimeError, match="unknown flag"):
        retried(broken)
    assert len(attempts) == 1
