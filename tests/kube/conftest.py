"""Session fixtures for the real-API-server tier (see ``tests/support/kube_cluster.py``).

Every test under ``tests/kube`` is marked ``kube``: it runs in ``make test`` (and CI); ``-m "not kube"``
leaves the tier out on a machine that cannot build the servers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.support import kube_cluster as kc
from tests.support.crd_install import install_crd

S = TypeVar("S", bound=kc.ApiServer)
CRD_FILE = kc.ROOT / "crds" / "stjob.dev_sentencetransformerjobs.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.kube)


@pytest.fixture(scope="session")
def kube_bin() -> Path:
    return kc.ensure_binaries()


@pytest.fixture(scope="session")
def kube_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kube")


@pytest.fixture(scope="session")
def kube_pki(kube_run_dir: Path) -> kc.Pki:
    return kc.Pki.create(kube_run_dir / "pki")


@pytest.fixture(scope="session")
def etcd_url(kube_run_dir: Path) -> Iterator[str]:
    proc, url = kc.start_etcd(kube_run_dir)
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def committed_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return crd


@contextmanager
def serving_the_crd(server: S, crd: dict[str, Any]) -> Iterator[S]:
    """A started server with the committed CRD created (as Helm would), stopped at the end."""
    try:
        install_crd(server.admin_client(), crd)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kube_cluster(
    kube_bin: Path, kube_run_dir: Path, kube_pki: kc.Pki, etcd_url: str, committed_crd: dict[str, Any]
) -> Iterator[kc.KubeCluster]:
    """kube-apiserver 1.20 + controller-manager, RBAC on, the committed CRD installed as Helm would."""
    with serving_the_crd(kc.start_kube_cluster(kube_bin, kube_run_dir, kube_pki, etcd_url), committed_crd) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def crd_server(
    kube_bin: Path, kube_run_dir: Path, kube_pki: kc.Pki, etcd_url: str, committed_crd: dict[str, Any]
) -> Iterator[kc.CrdServer]:
    """Kubernetes 1.36's CRD server with the committed CRD created (REST only)."""
    with serving_the_crd(kc.start_crd_server(kube_bin, kube_run_dir, kube_pki, etcd_url), committed_crd) as server:
        yield server


@pytest.fixture
def kube_namespace(kube_cluster: kc.KubeCluster) -> Iterator[str]:
    """A fresh namespace on the 1.20 server, deleted (without waiting) after the test."""
    import kubernetes

    name = f"t-{uuid.uuid4().hex[:10]}"
    core = kubernetes.client.CoreV1Api(kube_cluster.admin_client())
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def crd_namespace() -> str:
    """A namespace name for the CRD server (it has no namespaces API: any name is accepted)."""
    return f"t-{uuid.uuid4().hex[:10]}"
