"""The real-cluster tier (opt-in): skipped when KUBECONFIG is unset; with it set, an unreachable cluster is an error."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def _unreachable() -> str | None:
    """None when the cluster in KUBECONFIG answers; otherwise what went wrong."""
    import kubernetes

    try:
        kubernetes.config.load_kube_config()
        kubernetes.client.VersionApi().get_code(_request_timeout=5)
    except Exception as exc:  # whatever it is, the user asked for this cluster: report it
        return f"KUBECONFIG={os.environ['KUBECONFIG']} but no cluster answers: {exc!r}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here ``e2e``; skip them all only when no cluster was asked for (KUBECONFIG unset)."""
    for item in items:
        if "tests/e2e" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.e2e)
        if not os.environ.get("KUBECONFIG"):
            item.add_marker(pytest.mark.skip(reason="KUBECONFIG is not set (the e2e tier is opt-in: make e2e)"))


@pytest.fixture(scope="session")
def kube_config() -> Iterator[Any]:
    """The kubeconfig's client configuration, set as the default for the operator's client."""
    import kubernetes

    problem = _unreachable()
    if problem:
        pytest.fail(problem)
    yield kubernetes.client.Configuration.get_default_copy()
