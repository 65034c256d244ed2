"""``stjob ui`` against a real kube-apiserver 1.20 with RBAC: the page acts as the kubeconfig's user.

A viewer (a ServiceAccount token allowed get/list on the resource and Events in one namespace) sees the
board and the job page, and the server's 403 comes back for delete, suspend and create; the admin's
create goes through a server-side dry run (nothing stored) before the real one.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from stjob.api.resource import API_VERSION, KIND, PLURAL
from stjob.ui.app import create_app
from stjob.ui.source import KubeSource
from tests.support import kube_cluster as kc
from tests.support import operator_on_cluster as oc

SPEC = {"trainer": "pair", "data": {"path": "sick"}}


def _viewer_rbac(namespace: str) -> str:
    rules = [
        {"apiGroups": ["stjob.dev"], "resources": [PLURAL], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list"]},
    ]
    docs = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer", "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "stjob-viewer", "namespace": namespace},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "stjob-viewer", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "stjob-viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
    ]
    return yaml.safe_dump_all(docs)


def _client(source: KubeSource) -> tuple[TestClient, str]:
    client = TestClient(create_app(source, hosts=("testserver",)))
    match = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/new").text)
    assert match
    return client, match.group(1)


def test_viewer_sees_jobs_and_gets_the_servers_no(
    kube_cluster: kc.KubeCluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = kube_namespace
    kube_cluster.kubectl("apply", "-f", "-", stdin=_viewer_rbac(ns))
    job = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "minilm", "namespace": ns}, "spec": SPEC}
    kube_cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(job))

    token = oc.mint_token(kube_cluster, ns, "viewer")
    monkeypatch.setenv("KUBECONFIG", str(oc.token_kubeconfig(kube_cluster, token, tmp_path / "viewer")))
    viewer, csrf = _client(KubeSource(namespaces=(ns,)))
    assert 'href="/jobs/' + ns + '/minilm"' in viewer.get("/").text
    assert "trainer: pair" in viewer.get(f"/jobs/{ns}/minilm").text

    for verb in ("delete", "suspend"):
        reply = viewer.post(f"/jobs/{ns}/minilm/{verb}", data={"csrf": csrf})
        assert reply.status_code == 403 and "forbidden" in reply.text.lower(), reply.text
    created = viewer.post(
        "/api/jobs", json={"name": "new", "namespace": ns, "spec": SPEC}, headers={"x-csrf-token": csrf}
    )
    assert created.status_code == 403 and "cannot create" in created.json()["errors"][0]["message"]
    assert kube_cluster.kubectl("get", PLURAL, "-n", ns, "-o", "name").stdout.split() == [
        "sentencetransformerjob.stjob.dev/minilm"
    ]


def test_admin_creates_after_a_dry_run_suspends_and_deletes(
    kube_cluster: kc.KubeCluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns = kube_namespace
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    source = KubeSource()
    dry = source.create_job(
        ns, {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "dry"}, "spec": SPEC}, True
    )
    assert dry["metadata"]["name"] == "dry"
    assert kube_cluster.kubectl("get", PLURAL, "-n", ns, "-o", "name").stdout.strip() == ""  # a dry run stores nothing

    admin, csrf = _client(source)
    reply = admin.post(
        "/api/jobs", json={"name": "fresh", "namespace": ns, "spec": SPEC}, headers={"x-csrf-token": csrf}
    )
    assert reply.status_code == 201, reply.text
    assert f"{ns}/fresh" in admin.get("/").text  # listed cluster-wide
    assert admin.post(f"/jobs/{ns}/fresh/suspend", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    suspended = kube_cluster.kubectl("get", PLURAL, "fresh", "-n", ns, "-o", "jsonpath={.spec.suspend}").stdout
    assert suspended == "true"
    assert admin.post(f"/jobs/{ns}/fresh/delete", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert kube_cluster.kubectl("get", PLURAL, "-n", ns, "-o", "name").stdout.strip() == ""


def test_watch_sees_every_job_then_each_change(
    kube_cluster: kc.KubeCluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The board's live feed: ADDED for the jobs there, then MODIFIED and DELETED as they happen."""
    ns = kube_namespace
    job = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "watched", "namespace": ns}, "spec": SPEC}
    kube_cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(job))
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    stop = threading.Event()
    events = KubeSource(namespaces=(ns,)).watch_jobs(stop)
    try:
        assert next(events)[0] == "ADDED"
        kube_cluster.kubectl("patch", PLURAL, "watched", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
        kind, obj = next(events)
        assert kind == "MODIFIED" and obj["spec"]["suspend"] is True
        kube_cluster.kubectl("delete", PLURAL, "watched", "-n", ns)
        assert next(events)[0] == "DELETED"
    finally:
        stop.set()
