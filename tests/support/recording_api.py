"""Stand-in servers that record every request: the API server the trainer's real reporter patches, and a Hub.

:class:`RecordingServer` answers the way its ``answer`` callable says and keeps each request (method, path,
headers, body). :func:`in_cluster` makes a TLS one look like the in-cluster API server to the Kubernetes
client (``KUBERNETES_SERVICE_HOST``/``PORT``, a ServiceAccount token and CA file), and :func:`trainer_command`
starts ``python -m stjob_trainer`` with the client's fixed ServiceAccount paths pointed at those files
(the only thing changed: the real pod reads them from /var/run/secrets/kubernetes.io/serviceaccount).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def text_without(self, *skip_headers: str) -> str:
        """Request line, headers (all but ``skip_headers``, case-insensitive) and body, as one text to scan."""
        skip = {h.lower() for h in skip_headers}
        headers = "\n".join(f"{k}: {v}" for k, v in self.headers if k.lower() not in skip)
        return f"{self.method} {self.path}\n{headers}\n\n{self.body.decode(errors='replace')}"

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


#: (status code, JSON body) for a recorded request.
Answer = Callable[[Recorded], tuple[int, object]]


def kubernetes_answer(request: Recorded) -> tuple[int, object]:
    """A patch or create succeeds and echoes the object (what the client expects back)."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = {}
    return (201 if request.method == "POST" else 200), body


def hostile_hub_answer(request: Recorded) -> tuple[int, object]:
    """A Hub that refuses every token and quotes it (without ``Bearer``, so no pattern masks it) in its error."""
    credential = (request.header("Authorization") or "").removeprefix("Bearer ")
    return 401, {"error": f"The credential {credential} was rejected"}


class RecordingServer:
    """A threaded HTTP(S) server on 127.0.0.1 that records every request and answers with ``answer``."""

    def __init__(self, answer: Answer, *, tls: tuple[Path, Path] | None = None) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(self.command, self.path, tuple(self.headers.items()), self.rfile.read(length))
                with recorder._lock:
                    recorder.requests.append(request)
                code, body = answer(request)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test reads self.requests

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-server", daemon=True)

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def recorded(self) -> list[Recorded]:
        """A copy of the requests so far."""
        with self._lock:
            return list(self.requests)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A serving certificate for 127.0.0.1 (also its own CA) and its key, made with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / "serving.crt", folder / "serving.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


#: The stand-in ServiceAccount token the trainer sends to the API server (never the Hub token).
SERVICE_ACCOUNT_TOKEN = "service-account-token"


@dataclass(frozen=True)
class InCluster:
    """What a pod gets to reach its API server: the service env and the ServiceAccount files."""

    env: dict[str, str]
    token_file: Path
    ca_file: Path
    token: str


@contextmanager
def in_cluster(folder: Path, *, token: str = SERVICE_ACCOUNT_TOKEN) -> Iterator[tuple[RecordingServer, InCluster]]:
    """A TLS recording API server and the in-cluster settings that point the Kubernetes client at it."""
    crt, key = self_signed(folder / "pki")
    sa = folder / "serviceaccount"
    sa.mkdir(parents=True, exist_ok=True)
    (sa / "token").write_text(token, encoding="utf-8")
    (sa / "ca.crt").write_bytes(crt.read_bytes())
    with RecordingServer(kubernetes_answer, tls=(crt, key)) as server:
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port)}
        yield server, InCluster(env, sa / "token", sa / "ca.crt", token)


def trainer_command(cluster: InCluster, *args: str) -> list[str]:
    """``python -m stjob_trainer ARGS`` with the client's ServiceAccount paths set to ``cluster``'s files."""
    launcher = (
        "import runpy, sys; from kubernetes.config import incluster_config as c; "
        f"c.SERVICE_TOKEN_FILENAME = {str(cluster.token_file)!r}; c.SERVICE_CERT_FILENAME = {str(cluster.ca_file)!r}; "
        "runpy.run_module('stjob_trainer', run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", launcher, *args]
