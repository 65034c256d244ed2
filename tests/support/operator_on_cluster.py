"""The real ``stjob-operator`` process on a real API server, with exactly the chart's RBAC.

``helm template`` renders the chart; its ServiceAccount, (Cluster)Roles and bindings are applied to the
server; a token for that ServiceAccount is minted with the TokenRequest API; the operator runs with a
kubeconfig holding only that token. A permission the chart forgets shows up as a 403 in the operator's
log and a test that times out; one it grants needlessly is caught by ``tests/chart/test_rbac.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.chart.rendering import NAMESPACE, run_helm, template_args
from tests.support.kube_cluster import KubeCluster

OPERATOR_NAMESPACE = NAMESPACE
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def render_chart(*set_values: str) -> list[dict[str, Any]]:
    """The chart's manifests as ``helm template`` renders them (no CRDs: the tier installs those)."""
    extra = ["--skip-crds", *(arg for value in set_values for arg in ("--set", value))]
    done = run_helm(*template_args(*extra))
    assert done.returncode == 0, f"helm template failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def rbac_of(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] in RBAC_KINDS]


def operator_env(manifests: list[dict[str, Any]]) -> dict[str, str]:
    """The STJOB_* settings the chart's Deployment gives the operator (plain values only)."""
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def service_account_of(manifests: list[dict[str, Any]]) -> str:
    return str(next(m for m in manifests if m["kind"] == "ServiceAccount")["metadata"]["name"])


def mint_token(cluster: KubeCluster, namespace: str, service_account: str, seconds: int = 7200) -> str:
    """A bound ServiceAccount token from the TokenRequest API (what a projected volume gives a pod)."""
    import kubernetes

    core = kubernetes.client.CoreV1Api(cluster.admin_client())
    request = {"spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": seconds}}
    result = core.create_namespaced_service_account_token(service_account, namespace, request)
    return str(result.status.token)


def token_kubeconfig(cluster: KubeCluster, token: str, path: Path) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: c, cluster: {{server: "{cluster.server}", certificate-authority: {cluster.ca_file}}}}}]\n'
        f"users: [{{name: u, user: {{token: {token}}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
    )
    return path


def install_chart_rbac(cluster: KubeCluster, manifests: list[dict[str, Any]]) -> None:
    """Apply the rendered ServiceAccount, roles and bindings (the operator's identity) as Helm would."""
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(rbac_of(manifests)))


@dataclass
class OperatorProcess:
    """A running ``stjob-operator`` with its log (``restart`` starts it again the same way)."""

    popen: subprocess.Popen[bytes]
    log: Path
    kubeconfig: Path
    env: dict[str, str]

    def restart(self) -> None:
        self.stop()
        self.popen = start_operator(self.kubeconfig, self.log, self.env).popen

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def start_operator(kubeconfig: Path, log: Path, env: dict[str, str]) -> OperatorProcess:
    """The operator's real entry point (``stjob-operator``), credentials from ``kubeconfig`` only."""
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "STJOB_"))},
        **env,
        "KUBECONFIG": str(kubeconfig),
        # Several operators may run in one session: no fixed ports.
        "STJOB_METRICS_PORT": "0",
        "STJOB_HEALTH_PORT": "0",
    }
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "stjob.controller.main"], stdout=out, stderr=subprocess.STDOUT, env=full_env
        )
    return OperatorProcess(popen, log, kubeconfig, env)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 90.0, interval: float = 0.2) -> Any:
    """Poll ``probe`` until it returns something truthy (a real server has no event hook for tests)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
