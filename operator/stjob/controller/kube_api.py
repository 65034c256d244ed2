"""A small, synchronous, dict-in/dict-out Kubernetes API client.

Connection settings (host, TLS, token with its refresh hook) come from the official client's
``Configuration`` (in-cluster or kubeconfig); requests go through urllib3 directly so that bodies stay
plain dicts and the code does not depend on the client's generated models, which changed shape
between client releases. Only the calls the operator's RBAC allows are offered: no LIST (the watches
and Kopf's indices are the operator's view of the cluster), no PUT, no DELETE (owner references and
the garbage collector delete children).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import kubernetes
import urllib3

from stjob.api import GROUP, PLURAL, VERSION


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


class ApiError(Exception):
    """A failed API call: HTTP status (0 when the server was not reached), reason and message."""

    def __init__(self, status: int, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message, self.retry_after = status, reason, message, retry_after

    @property
    def transient(self) -> bool:
        """Whether retrying later can help: no answer, throttling, conflicts and server errors."""
        return self.status in (0, 409, 429) or self.status >= 500


class ApiCalls(Protocol):
    """The calls the reconciler makes (KubeApi; a stand-in that refuses them all, see control_loop)."""

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None: ...

    def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def patch(
        self, resource: Resource, namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]: ...


class KubeApi:
    """GET/LIST/POST/PATCH against one API server, as plain dicts."""

    def __init__(self, configuration: Any | None = None, timeout: float = 30.0) -> None:
        config = configuration or kubernetes.client.Configuration.get_default_copy()
        self._config = config
        self._host = str(config.host).rstrip("/")
        self._timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
        tls: dict[str, Any] = {}
        if self._host.startswith("https"):
            tls = {
                "cert_reqs": "CERT_REQUIRED" if config.verify_ssl else "CERT_NONE",
                "ca_certs": config.ssl_ca_cert,
                "cert_file": config.cert_file,
                "key_file": config.key_file,
            }
            if not config.verify_ssl:
                tls["assert_hostname"] = False
        # Many handlers run in parallel threads: keep enough connections to avoid reconnecting.
        self._http = urllib3.PoolManager(num_pools=4, maxsize=32, **tls)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "stjob-operator"}
        if content_type:
            headers["Content-Type"] = content_type
        # auth_settings() calls the token refresh hook (exec plugins, projected tokens).
        for auth in self._config.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> Any:
        """One call; the decoded JSON response, or ApiError."""
        url = self._host + path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        headers = self._headers(content_type or ("application/json" if payload is not None else None))
        try:
            response = self._http.request(
                method, url, body=payload, headers=headers, timeout=self._timeout, retries=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(0, type(exc).__name__, str(exc)) from exc
        data = response.data
        if response.status >= 400:
            raise _error_from(response.status, data, response.headers.get("Retry-After"))
        return json.loads(data) if data else None

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            result: dict[str, Any] = self.request("GET", resource.path(namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def create(self, resource: Resource, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST the object; ApiError 409 when the name is taken."""
        result: dict[str, Any] = self.request("POST", resource.path(namespace), body=body)
        return result

    def patch(
        self, resource: Resource, namespace: str, name: str, patch: dict[str, Any], subresource: str | None = None
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386): only the named keys change; lists are replaced whole."""
        path = resource.path(namespace, name, subresource)
        result: dict[str, Any] = self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")
        return result

    def close(self) -> None:
        """Drop the pooled connections."""
        self._http.clear()


def _error_from(status: int, data: bytes, retry_after: str | None) -> ApiError:
    reason, message = "", data.decode(errors="replace")[:500]
    try:
        decoded = json.loads(data)
        reason, message = str(decoded.get("reason") or ""), str(decoded.get("message") or message)
    except (ValueError, AttributeError):
        pass
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return ApiError(status, reason, message, retry_after=delay)
