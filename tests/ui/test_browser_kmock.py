"""The page over kmock (Kopf's Kubernetes emulator) through the real Kubernetes client, in a driven Chromium.

The same scenarios run against the real API server in ``tests/kube/test_ui_browser_on_kube_1_20.py``;
kmock adds what that tier has no kubelet for: a pod log, so the curves come from the Trainer's lines
in it. The emulator serves on this test's event loop: the browser and the page run in a thread.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from stjob.api.resource import GROUP, LABEL_JOB_NAME, PLURAL, VERSION
from stjob.cluster_view import kube_api_client
from stjob.ui.app import create_app
from stjob.ui.source import KubeSource
from tests.ui import browser, scenarios
from tests.ui.fake_source import make_job

pytestmark = pytest.mark.browser

NS = "team-a"
RESOURCE = f"{GROUP}/{VERSION}/{PLURAL}"
#: The trainer's pod log: the Trainer prints each logged event as a dict (values as text since transformers 5).
POD_LOG = [
    "step 0: measuring the base model",
    "{'eval_spearman_cosine': '0.771', 'epoch': 0}",
    "{'loss': '4.53', 'grad_norm': '4.4', 'learning_rate': '3e-05', 'epoch': '0.5'}",
    "{'loss': '3.87', 'grad_norm': '3.1', 'learning_rate': '1.5e-05', 'epoch': '1'}",
    "{'eval_loss': '3.2', 'eval_spearman_cosine': '0.812', 'epoch': '1'}",
    "[##########..........]  50%  step 7/14  epoch 1.00  ETA 12s",
]


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    if browser.chromium() is None:
        pytest.fail(browser.INSTALL_HINT)


@pytest.fixture
def cluster(kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """kmock with our resource, one running job with a trainer pod and its log; KUBECONFIG points at it."""
    kmock.resources.load_bundled()
    kmock.resources[RESOURCE] = {
        "kind": "SentenceTransformerJob",
        "namespaced": True,
        "singular": "sentencetransformerjob",
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    }
    kmock.objects[RESOURCE, NS, "minilm"] = make_job("minilm", namespace=NS, progress={"percent": 10})
    kmock.objects["v1/pods", NS, "minilm-0-abcde"] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "minilm-0-abcde", "namespace": NS, "labels": {LABEL_JOB_NAME: "minilm"}},
    }
    kmock[f"get /api/v1/namespaces/{NS}/pods/minilm-0-abcde/log"] << "\n".join(POD_LOG) + "\n"

    def dry_run(request: Any) -> Any:
        # kmock stores every create; a server-side dry run stores nothing, so forget it again.
        del kmock.objects[RESOURCE, NS, request.data["metadata"]["name"]]
        return request.data

    kmock["post", {"dryRun": "All"}] << dry_run
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
        f"clusters: [{{name: k, cluster: {{server: '{kmock.url}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: k, context: {cluster: k, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    return kmock


def _set_status(status: dict[str, Any]) -> None:
    api = kubernetes.client.CustomObjectsApi(kube_api_client(None))
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "minilm", {"status": status})


async def test_board_lists_the_job_and_follows_its_status(cluster: Any) -> None:
    def scenario() -> None:
        with browser.serving(create_app(KubeSource(), heartbeat_s=0.5)) as url, browser.driven() as tab:
            scenarios.board_follows_a_status_change(tab, url, f"{NS}/minilm", _set_status)

    await asyncio.to_thread(scenario)


async def test_job_page_draws_curves_from_the_pod_log_and_shows_its_tail(cluster: Any) -> None:
    def scenario() -> list[str]:
        with browser.serving(create_app(KubeSource(), heartbeat_s=0.5)) as url, browser.driven() as tab:
            return scenarios.job_page_shows_curves_and_log(tab, url, f"{NS}/minilm", POD_LOG[-1])

    assert await asyncio.to_thread(scenario) == ["eval_spearman_cosine", "loss", "eval_loss"]


async def test_form_refuses_an_invalid_spec_then_creates_after_a_dry_run(cluster: Any) -> None:
    def scenario() -> None:
        with browser.serving(create_app(KubeSource(), heartbeat_s=0.5)) as url, browser.driven() as tab:
            scenarios.form_refuses_then_creates(tab, url, NS, "fresh")

    await asyncio.to_thread(scenario)
    created = cluster.objects[RESOURCE, NS, "fresh"]
    assert created["spec"] == {"trainer": "pair", "data": {"path": "sick"}, "training": {"epochs": 1}}
    assert len(list(cluster["post", {"dryRun": "All"}])) == 1  # the form's create: a dry run, then the real one


#: kmock checks no names, so here a name itself can hold markup (a real API server refuses it: see
#: ``scenarios.HOSTILE_CONDITION`` for user text there). No "/" in it: it is a URL path segment.
HOSTILE_NAME = "<img src=x onerror=document.body.dataset.pwned=1><script>document.title='pwned'"


async def test_a_name_holding_markup_is_text_on_the_board_and_its_page(cluster: Any) -> None:
    cluster.objects[RESOURCE, NS, HOSTILE_NAME] = make_job(HOSTILE_NAME, namespace=NS)

    def scenario() -> None:
        with browser.serving(create_app(KubeSource(), heartbeat_s=0.5)) as url, browser.driven() as tab:
            tab.goto(url + "/")
            key = json.dumps(f"{NS}/{HOSTILE_NAME}")
            row = f"[...document.querySelectorAll('#board tbody tr')].find(tr => tr.dataset.key === {key})"
            link = f"{row}?.querySelector('a')"
            assert tab.wait_for(f"{link}?.textContent", "the row of the hostile name") == HOSTILE_NAME
            tab.wait_for("Number(document.getElementById('board').dataset.updates) >= 1", "the live stream")
            assert tab.evaluate(f"{link}?.textContent") == HOSTILE_NAME  # rewritten by ui.js: still text
            scenarios.untouched(tab)
            tab.evaluate(f"{link}?.click()")
            tab.wait_for("document.querySelector('dl.summary') && document.readyState === 'complete'", "its page")
            assert HOSTILE_NAME in tab.evaluate("document.querySelector('header span').textContent")
            scenarios.untouched(tab)

    await asyncio.to_thread(scenario)
