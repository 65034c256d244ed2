"""A small, asynchronous, dict-in/dict-out Kubernetes API client (on the operator's event loop).

Connection settings (host, TLS, token with its refresh hook) come from the official client's
``Configuration`` (in-cluster or kubeconfig); requests go through ``http1`` (keep-alive HTTP/1.1 on
asyncio streams) so that bodies stay plain dicts, the code does not depend on the client's generated
models (which changed shape between releases), and no thread is needed (a thread pool with
http.client cost the operator most of its CPU; aiohttp's general machinery, later, a quarter of
what was left). Only the calls the operator's RBAC
allows are offered: no LIST (the watches and Kopf's indices are the operator's view of the cluster),
no PUT, no DELETE (owner references and the garbage collector delete children).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import kubernetes

from stjob.api import GROUP, PLURAL, VERSION
from stjob.controller.http1 import Http1Pool, ProtocolError

#: How long the token from the configuration's refresh hook is reused (projected tokens rotate hourly).
AUTH_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class Resource:
    """An API resource: group ('' for core), version and plural."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        """The namespaced URL path of the collection or of one object."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        path = f"{base}/namespaces/{quote(namespace)}/{self.plural}"
        if name is not None:
            path += f"/{quote(name)}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


CONFIGMAPS = Resource("", "v1", "configmaps")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts")
SERVICES = Resource("", "v1", "services")
PODS = Resource("", "v1", "pods")
JOBS = Resource("batch", "v1", "jobs")
EVENTS = Resource("", "v1", "events")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings")
STJOBS = Resource(GROUP, VERSION, PLURAL)

_BY_KIND = {
    ("v1", "ConfigMap"): CONFIGMAPS,
    ("v1", "ServiceAccount"): SERVICEACCOUNTS,
    ("v1", "Service"): SERVICES,
    ("batch/v1", "Job"): JOBS,
    ("rbac.authorization.k8s.io/v1", "Role"): ROLES,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ROLEBINDINGS,
}


def resource_of(manifest: dict[str, Any]) -> Resource:
    """The resource a built manifest is created in."""
    return _BY_KIND[(manifest["apiVersion"], manifest["kind"])]


#: The API server's 403 message ending when a create lands in a namespace being deleted (NamespaceTerminating).
NAMESPACE_TERMINATING = "because it is being terminated"


class ApiError(Exception):
    """A failed API call: HTTP status (0 when the server was not reached), reason and message."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message, self.retry_after = status, reason, message, retry_after

    @property
    def transient(self) -> bool:
        """Whether retrying later can help: no answer, throttling, conflicts and server errors."""
        return self.status in (0, 409, 429) or self.status >= 500

    @property
    def namespace_terminating(self) -> bool:
        """The namespace is being deleted: it refuses new objects for good (nothing to retry or report)."""
        return self.status == 403 and NAMESPACE_TERMINATING in self.message


class ApiCalls(Protocol):
    """The calls the reconciler makes (KubeApi; a stand-in that refuses them all, see control_loop)."""

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self, resource: Resource, namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]: ...


def ssl_context(config: Any) -> ssl.SSLContext | bool:
    """The TLS settings of a client ``Configuration`` (False: plain HTTP or verification off)."""
    if not str(config.host).startswith("https"):
        return False
    context = ssl.create_default_context(cafile=config.ssl_ca_cert or None)
    if not config.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.cert_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context


class KubeApi:
    """GET/POST/PATCH against one API server, as plain dicts (use from the event loop that made it)."""

    def __init__(self, configuration: Any | None = None, timeout: float = 30.0) -> None:
        config = configuration or kubernetes.client.Configuration.get_default_copy()
        self._config = config
        self._host = str(config.host).rstrip("/")
        self._ssl = ssl_context(config)
        self._timeout = timeout
        self._pool: Http1Pool | None = None
        self._headers: str | None = None
        self._auth_until = 0.0

    def _fixed_headers(self) -> str:
        # auth_settings() calls the token refresh hook (exec plugins, projected tokens): costly (it
        # rebuilds the configuration and scans the environment for proxies), so at most once a minute.
        now = time.monotonic()
        if self._headers is None or now >= self._auth_until:
            settings = self._config.auth_settings().values()
            auth = {a["key"]: a["value"] for a in settings if a.get("in") == "header" and a.get("value")}
            fixed = {"Accept": "application/json", "User-Agent": "stjob-operator", **auth}
            self._headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
            self._auth_until = now + AUTH_REFRESH_SECONDS
        return self._headers

    def _client(self) -> Http1Pool:
        if self._pool is None:
            self._pool = Http1Pool(self._host, self._ssl, limit=32)
        return self._pool

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> Any:
        """One call; the decoded JSON response, or ApiError."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = self._fixed_headers()
        content_type = content_type or ("application/json" if payload is not None else None)
        if content_type:
            headers += f"Content-Type: {content_type}\r\n"
        target = f"{path}?{urlencode(query)}" if query else path
        try:
            reply = await self._client().request(method, target, headers, payload, self._timeout)
        except (OSError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
            raise ApiError(0, type(exc).__name__, str(exc) or "no answer") from exc
        if reply.status >= 400:
            raise _error_from(reply.status, reply.body, reply.headers.get("retry-after"))
        return json.loads(reply.body) if reply.body else None

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            result: dict[str, Any] = await self.request("GET", resource.path(namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST the object; ApiError 409 when the name is taken."""
        result: dict[str, Any] = await self.request("POST", resource.path(namespace), body=body)
        return result

    async def patch(
        self, resource: Resource, namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386): only the named keys change; lists are replaced whole."""
        path = resource.path(namespace, name, subresource)
        result: dict[str, Any] = await self.request(
            "PATCH", path, body=patch, content_type="application/merge-patch+json"
        )
        return result

    async def close(self) -> None:
        """Close the connections."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _error_from(status: int, data: bytes, retry_after: str | None) -> ApiError:
    reason, message = "", data.decode(errors="replace")[:500]
    try:
        decoded = json.loads(data)
        reason, message = str(decoded.get("reason") or ""), str(decoded.get("message") or message)
    except (ValueError, AttributeError):
        pass
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return ApiError(status, reason, message, retry_after=delay)
