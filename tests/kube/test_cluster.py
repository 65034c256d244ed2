"""The 1.20 tier itself: the servers answer, the committed CRD installs as Helm would, the Job controller runs."""

from __future__ import annotations

from tests.support.kube_cluster import KubeCluster


def test_kubectl_reaches_the_server_and_the_crd_serves(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    version = kube_cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.20.2' in version.replace('":"', '": "')
    assert "sentencetransformerjobs" in kube_cluster.kubectl("api-resources", "--api-group=stjob.dev").stdout
    assert kube_cluster.kubectl("get", "stj", "-n", kube_namespace).returncode == 0
