"""The real-cluster tier: skipped unless KUBECONFIG points at a reachable cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def _reachable() -> str | None:
    """None when a cluster answers; otherwise why the tier is skipped."""
    if not os.environ.get("KUBECONFIG"):
        return "KUBECONFIG is not set"
    try:
        import kubernetes

        kubernetes.config.load_kube_config()
        kubernetes.client.VersionApi().get_code(_request_timeout=5)
    except Exception as exc:  # any failure means: no cluster to test against
        return f"no reachable cluster: {exc}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here ``e2e`` and skip them all when there is no cluster."""
    reason = None
    for item in items:
        if "tests/e2e" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.e2e)
        if reason is None:
            reason = _reachable() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def kube_config() -> Iterator[Any]:
    """The kubeconfig's client configuration, set as the default for the operator's client."""
    import kubernetes

    kubernetes.config.load_kube_config()
    yield kubernetes.client.Configuration.get_default_copy()
