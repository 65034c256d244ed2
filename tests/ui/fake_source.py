"""An in-memory JobSource: jobs as the API server returns them, and verbs RBAC refuses."""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Iterator
from typing import Any

from stjob.ui.source import Forbidden, WatchEvent

#: A status message no browser may execute: names are DNS labels, messages are free text.
#: Were it run, it would leave a mark in the DOM that the browser tests look for.
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.body.dataset.pwned=1">'


def make_job(name: str, namespace: str = "team-a", phase: str = "Running", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "stjob.dev/v1alpha1",
        "kind": "SentenceTransformerJob",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-11-29T10:00:00Z"},
        "spec": {
            "trainer": "pair_score",
            "output": {"projectName": name},
            "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
        },
        "status": {"phase": phase, **status},
    }


class FakeSource:
    read_only = False

    def __init__(self, jobs: list[dict[str, Any]], forbidden: frozenset[str] = frozenset()) -> None:
        self.jobs = {(j["metadata"]["namespace"], j["metadata"]["name"]): j for j in jobs}
        self.forbidden = forbidden
        self.event_items: list[dict[str, Any]] = []
        self.dry_runs = 0
        self.logs: dict[tuple[str, str], list[str]] = {}
        #: Events a test sends after the initial ADDED; ``None`` ends the watch (and the page's stream).
        self.feed: queue.Queue[WatchEvent | None] = queue.Queue()
        self.feed.put(None)  # by default the watch ends after the initial listing

    def _check(self, verb: str) -> None:
        if verb in self.forbidden:
            raise Forbidden(f'403 Forbidden: user "alice" cannot {verb} sentencetransformerjobs')

    def list_jobs(self) -> list[dict[str, Any]]:
        self._check("list")
        return [copy.deepcopy(j) for j in self.jobs.values()]

    def watch_jobs(self, stop: threading.Event) -> Iterator[WatchEvent]:
        for job in self.list_jobs():
            yield "ADDED", job
        while not stop.is_set():
            event = self.feed.get()
            if event is None:
                return
            yield event

    def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        self._check("get")
        if (namespace, name) not in self.jobs:
            raise Forbidden(f"404 Not Found: {namespace}/{name}")
        return copy.deepcopy(self.jobs[namespace, name])

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return list(self.event_items)

    def log_tail(self, namespace: str, name: str, lines: int) -> str:
        self._check("logs")
        return "\n".join(self.logs.get((namespace, name), [])[-lines:])

    def delete_job(self, namespace: str, name: str) -> None:
        self._check("delete")
        del self.jobs[namespace, name]

    def create_job(self, namespace: str, body: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        self._check("create")
        self.dry_runs += int(dry_run)
        if not dry_run:
            self.jobs[namespace, body["metadata"]["name"]] = copy.deepcopy(body)
        return body

    def set_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        self._check("patch")
        self.jobs[namespace, name]["spec"]["suspend"] = suspend
