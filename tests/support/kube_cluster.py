"""Real Kubernetes API servers on loopback, for the tests that must meet the real thing.

Two tiers, both built from Debian sources by ``scripts/kube-build.sh`` (cached outside the clone):

- ``KubeCluster``: etcd + kube-apiserver 1.20.2 + kube-controller-manager (Job controller, garbage
  collector, ServiceAccount tokens), RBAC on. No scheduler and no kubelet: tests write Pod status.
- ``CrdServer``: Kubernetes 1.36's standalone apiextensions-apiserver (CEL, defaulting, pruning, the
  structural-schema checks). It serves CRDs and custom resources only (no ``/api``, so no kubectl).

Both share one etcd under different key prefixes. Certificates are generated per session with openssl:
a self-signed serving certificate (also the clients' CA) and an admin client certificate in
``system:masters``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "kube-build.sh"
STARTUP_TIMEOUT = 120.0


def ensure_binaries() -> Path:
    """The folder with kube-apiserver, kube-controller-manager and apiextensions-apiserver (built if missing).

    ``STJOB_KUBE_BIN`` points at prebuilt binaries instead (another build, a machine without apt)."""
    if os.environ.get("STJOB_KUBE_BIN"):
        return Path(os.environ["STJOB_KUBE_BIN"])
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/kube-build.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A loopback port free right now; a server that loses the race to it is started again (``retried``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass
class Pki:
    """The session's certificates and keys."""

    folder: Path

    @classmethod
    def create(cls, folder: Path) -> Pki:
        folder.mkdir(parents=True, exist_ok=True)
        o = lambda *a: _openssl(*a, cwd=folder)  # noqa: E731 - a local shorthand
        o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "serving.key", "-out", "serving.crt",
          "-days", "30", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")  # fmt: skip
        o("genrsa", "-out", "sa.key", "2048")
        o("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
        o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
          "-days", "30", "-subj", "/CN=stjob-test-ca")  # fmt: skip
        o("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "admin.key", "-out", "admin.csr",
          "-subj", "/O=system:masters/CN=stjob-test-admin")  # fmt: skip
        o("x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
          "-out", "admin.crt", "-days", "30")  # fmt: skip
        return cls(folder)

    def __getattr__(self, name: str) -> Path:
        # pki.serving_crt -> folder/serving.crt
        stem, _, ext = name.rpartition("_")
        if not stem:
            raise AttributeError(name)
        return self.folder / f"{stem}.{ext}"


@dataclass
class Process:
    """One server process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=15)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def start_process(name: str, argv: list[str], run_dir: Path) -> Process:
    log = run_dir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=run_dir, start_new_session=True)
    return Process(name, popen, log)


def kubeconfig_text(server: str, pki: Pki, namespace: str = "default") -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: local, cluster: {{server: "{server}", certificate-authority: {pki.serving_crt}}}}}]\n'
        f"users: [{{name: admin, user: {{client-certificate: {pki.admin_crt}, client-key: {pki.admin_key}}}}}]\n"
        f"contexts: [{{name: local, context: {{cluster: local, user: admin, namespace: {namespace}}}}}]\n"
        "current-context: local\n"
    )


@dataclass
class ApiServer:
    """What a client needs to reach one of the servers."""

    server: str
    pki: Pki
    kubeconfig: Path
    processes: list[Process] = field(default_factory=list)

    @property
    def ca_file(self) -> Path:
        return self.pki.serving_crt

    def configuration(self, token: str | None = None) -> Any:
        import kubernetes

        config = kubernetes.client.Configuration()
        config.host = self.server
        config.ssl_ca_cert = str(self.ca_file)
        if token is None:
            config.cert_file = str(self.pki.admin_crt)
            config.key_file = str(self.pki.admin_key)
        else:
            config.api_key = {"authorization": f"Bearer {token}"}
        return config

    def admin_client(self) -> Any:
        """A kubernetes ApiClient as a cluster admin (system:masters)."""
        import kubernetes

        return kubernetes.client.ApiClient(self.configuration())

    def token_client(self, token: str) -> Any:
        """A kubernetes ApiClient authenticated only by a bearer token (a ServiceAccount's)."""
        import kubernetes

        return kubernetes.client.ApiClient(self.configuration(token))

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """A raw admin GET (health checks)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.pki.admin_crt), str(self.pki.admin_key))
        try:
            with urllib.request.urlopen(self.server + path, context=context, timeout=timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def wait_ready(self, what: str = "/readyz?verbose") -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last: object = None
        while True:
            for proc in self.processes:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
            try:
                last = self.get(what, timeout=5)
                if last[0] == 200:  # type: ignore[index]
                    return
            except OSError as exc:
                last = exc
            if time.monotonic() > deadline:
                tail = self.processes[-1].tail()
                raise RuntimeError(f"{self.server} not ready after {STARTUP_TIMEOUT:.0f}s: {last!r}\n{tail}")
            time.sleep(0.25)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


@dataclass
class KubeCluster(ApiServer):
    """kube-apiserver 1.20 + kube-controller-manager: kubectl works (``kubectl()``)."""

    def wait_for_controllers(self) -> None:
        """Until the controller-manager acts: its ServiceAccount controller makes ``default/default``."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self.get("/api/v1/namespaces/default/serviceaccounts/default")[0] != 200:
            kcm = self.processes[-1]
            if kcm.popen.poll() is not None:
                raise RuntimeError(f"{kcm.name} exited ({kcm.popen.returncode}):\n{kcm.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kcm.name} did nothing for {STARTUP_TIMEOUT:.0f}s:\n{kcm.tail()}")
            time.sleep(0.25)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        done = subprocess.run(
            [kubectl_binary(), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done


@dataclass
class CrdServer(ApiServer):
    """Kubernetes 1.36's apiextensions-apiserver: CRDs and custom resources only (REST, no kubectl)."""


def kubectl_binary() -> str:
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(ROOT / ".cache" / "bin"))
    if not found:
        raise RuntimeError("kubectl not found (preinstalled on this machine image; else put one in .cache/bin)")
    return found


def _start_etcd(run_dir: Path) -> tuple[Process, str]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    proc = start_process(
        "etcd",
        [
            "etcd",
            "--data-dir",
            str(run_dir / "etcd"),
            "--listen-client-urls",
            url,
            "--advertise-client-urls",
            url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            f"default=http://127.0.0.1:{peer}",
            "--quota-backend-bytes",
            str(2 * 1024**3),
        ],
        run_dir,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/health", timeout=2) as response:
            if response.status == 200:
                return proc, url
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"etcd did not start:\n{proc.tail()}")
        time.sleep(0.2)


def _endpoint(run_dir: Path, pki: Pki, kubeconfig_name: str) -> tuple[int, str, Path]:
    """A free port, its https URL, and an admin kubeconfig for it."""
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    kubeconfig = run_dir / kubeconfig_name
    kubeconfig.write_text(kubeconfig_text(server, pki))
    return port, server, kubeconfig


def _serving_flags(etcd_url: str, etcd_prefix: str, port: int, pki: Pki) -> list[str]:
    """The flags both API servers take alike: storage, loopback serving, TLS, client certificates."""
    return [
        f"--etcd-servers={etcd_url}",
        f"--etcd-prefix={etcd_prefix}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_crt}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_crt}",
    ]


def _start_kube_cluster(bin_dir: Path, run_dir: Path, pki: Pki, etcd_url: str) -> KubeCluster:
    """kube-apiserver 1.20 with RBAC, then kube-controller-manager against it."""
    port, server, kubeconfig = _endpoint(run_dir, pki, "kubeconfig")
    apiserver = start_process(
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"),
            *_serving_flags(etcd_url, "/registry-k8s", port, pki),
            "--advertise-address=127.0.0.1",
            "--insecure-port=0",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--api-audiences=https://kubernetes.default.svc",
            "--authorization-mode=Node,RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--endpoint-reconciler-type=none",
            "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,DefaultStorageClass",
        ],
        run_dir,
    )
    cluster = KubeCluster(server=server, pki=pki, kubeconfig=kubeconfig, processes=[apiserver])
    cluster.wait_ready()
    kcm = start_process(
        "kube-controller-manager",
        [
            str(bin_dir / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route,-attachdetach,"
            "-persistentvolume-binder,-persistentvolume-expander,-pv-protection,-pvc-protection,-ttl",
            f"--service-account-private-key-file={pki.sa_key}",
            f"--root-ca-file={pki.serving_crt}",
            "--concurrent-gc-syncs=20",
        ],
        run_dir,
    )
    cluster.processes.append(kcm)
    cluster.wait_for_controllers()
    return cluster


def _start_crd_server(bin_dir: Path, run_dir: Path, pki: Pki, etcd_url: str) -> CrdServer:
    """The standalone apiextensions-apiserver (Kubernetes 1.36 CRD machinery), its own etcd prefix."""
    port, server, kubeconfig = _endpoint(run_dir, pki, "kubeconfig-crd-server")
    proc = start_process(
        "apiextensions-apiserver",
        [
            str(bin_dir / "apiextensions-apiserver"),
            *_serving_flags(etcd_url, "/registry-apiext", port, pki),
            "--authentication-skip-lookup",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--disable-admission-plugins=NamespaceLifecycle,MutatingAdmissionPolicy,MutatingAdmissionWebhook,"
            "ValidatingAdmissionPolicy,ValidatingAdmissionWebhook",
        ],
        run_dir,
    )
    crd_server = CrdServer(server=server, pki=pki, kubeconfig=kubeconfig, processes=[proc])
    # Its informer-sync check waits for Services, which this server does not serve.
    crd_server.wait_ready("/readyz?verbose&exclude=informer-sync")
    return crd_server


T = TypeVar("T")
PORT_ATTEMPTS = 3


def retried(start: Callable[[], T]) -> T:
    """``start()``, again with fresh ports when a server lost the race for its port to another process."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return start()
        except RuntimeError as exc:
            if "address already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def start_etcd(run_dir: Path) -> tuple[Process, str]:
    """etcd on free loopback ports (its own data folder under ``run_dir``)."""
    return retried(lambda: _start_etcd(run_dir))


def start_kube_cluster(bin_dir: Path, run_dir: Path, pki: Pki, etcd_url: str) -> KubeCluster:
    """kube-apiserver 1.20 with RBAC, then kube-controller-manager against it."""
    return retried(lambda: _start_kube_cluster(bin_dir, run_dir, pki, etcd_url))


def start_crd_server(bin_dir: Path, run_dir: Path, pki: Pki, etcd_url: str) -> CrdServer:
    """The standalone apiextensions-apiserver (Kubernetes 1.36 CRD machinery), its own etcd prefix."""
    return retried(lambda: _start_crd_server(bin_dir, run_dir, pki, etcd_url))
