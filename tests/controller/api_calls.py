"""The operator's requests as the emulator logged them, in RBAC's terms (verb, group, resource, namespace).

The operator's own client sends ``User-Agent: stjob-operator``, Kopf's sends ``kopf/<version>``; the
tests' requests (kmock's client) are neither. Discovery (``/api``, ``/apis/<group>/<version>``) is not
counted: every authenticated user may read it (``system:discovery``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request: RBAC verb, API group ('' core), resource (``plural[/subresource]``), namespace, name."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None
    method: str
    path: str


def is_operators(request: Any) -> bool:
    """Sent by the operator (its own client or Kopf's), not by the test."""
    agent = str(request.headers.get("User-Agent", ""))
    return agent.startswith("stjob-operator") or agent.startswith("kopf/")


def parse(method: str, path: str, params: dict[str, str]) -> Call | None:
    """The RBAC view of one request (None for discovery)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return None  # discovery
    namespace = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
    resource = f"{plural}/{sub}" if sub else plural
    if method == "GET":
        verb = "get" if name else ("watch" if params.get("watch") in ("true", "1") else "list")
    else:
        verb = {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[method]
    return Call(verb, group, resource, namespace, name, method, path)


def operator_calls(requests: Iterable[Any]) -> list[Call]:
    """The operator's resource requests, in order."""
    calls = []
    for request in list(requests):
        if is_operators(request):
            call = parse(request.method.value, str(request.url.path), dict(request.params or {}))
            if call is not None:
                calls.append(call)
    return calls
