"""The page in a driven Chromium over a real kube-apiserver 1.20: the scenarios of ``tests/ui/scenarios.py``.

The same checks as over kmock (``tests/ui/test_browser_kmock.py``), here with the server's own watch,
status subresource, CRD schema and dry run. This tier has no kubelet, so there is no pod log: the log
panel says so, and the curves come from the job's run folder (``--runs-dir``, the output volume as it
would be mounted on the user's machine).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from stjob.api.contract import RunLayout
from stjob.api.resource import API_VERSION, GROUP, KIND, PLURAL, VERSION
from stjob.ui import source as source_module
from stjob.ui.app import create_app
from stjob.ui.source import KubeSource
from tests.support import kube_cluster as kc
from tests.ui import browser, scenarios

pytestmark = pytest.mark.browser

SPEC = {"trainer": "pair", "data": {"path": "sick"}, "output": {"projectName": "minilm"}}


@pytest.fixture
def page(kube_cluster: kc.KubeCluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """One running job (its status written as the operator and trainer would), the admin's kubeconfig."""
    if browser.chromium() is None:
        pytest.fail(browser.INSTALL_HINT)
    ns = kube_namespace
    job = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "minilm", "namespace": ns}, "spec": SPEC}
    kube_cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(job))
    api = kubernetes.client.CustomObjectsApi(kube_cluster.admin_client())

    def set_status(status: dict[str, Any]) -> None:
        api.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, "minilm", {"status": status})

    set_status({"phase": "Running", "progress": {"percent": 10}})
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    return set_status


def test_board_lists_the_job_and_follows_its_status(
    page: Any, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The change must come as the watch's MODIFIED, not with the ADDED of a renewed watch.
    monkeypatch.setattr(source_module, "WATCH_RENEW_S", 3600)
    with browser.serving(create_app(KubeSource(), heartbeat_s=0.5)) as url, browser.driven() as tab:
        scenarios.board_follows_a_status_change(tab, url, f"{kube_namespace}/minilm", page)


def test_job_page_draws_curves_and_shows_the_log_panel(page: Any, kube_namespace: str, tmp_path: Path) -> None:
    run = RunLayout.of(tmp_path, "minilm")
    run.root.mkdir()
    events = [{"step": s, "epoch": s / 10, "loss": 4 / (s + 1)} for s in range(1, 10)]
    events.append({"step": 10, "epoch": 1.0, "eval_loss": 0.5, "eval_spearman_cosine": 0.8})
    run.metrics.write_text("".join(json.dumps(e) + "\n" for e in events))
    with browser.serving(create_app(KubeSource(), runs_dir=tmp_path)) as url, browser.driven() as tab:
        curves = scenarios.job_page_shows_curves_and_log(tab, url, f"{kube_namespace}/minilm", None)
    assert curves == ["loss", "eval_loss", "eval_spearman_cosine"]


def test_form_refuses_an_invalid_spec_then_creates(
    page: Any, kube_cluster: kc.KubeCluster, kube_namespace: str
) -> None:
    with browser.serving(create_app(KubeSource())) as url, browser.driven() as tab:
        scenarios.form_refuses_then_creates(tab, url, kube_namespace, "fresh")
    stored = kube_cluster.kubectl(
        "get", PLURAL, "fresh", "-n", kube_namespace, "-o", "jsonpath={.spec.training.epochs}"
    )
    assert stored.stdout == "1"
