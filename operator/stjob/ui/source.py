"""Where the page's jobs come from: the API server through the user's kubeconfig, a local runs folder
(``local_runs``), or a fake in tests."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any, Protocol

from stjob.api.resource import GROUP, LABEL_JOB_NAME, PLURAL, VERSION
from stjob.errors import StjobError


class Forbidden(StjobError):
    """The API server said no (RBAC, not found, invalid): the page shows the server's answer instead of acting."""

    reason = "Forbidden"


#: A watch event: ADDED, MODIFIED or DELETED with the object; ERROR with ``{"message": ...}``.
WatchEvent = tuple[str, dict[str, Any]]
#: What a read-only source (a local runs folder) answers to every action.
READ_ONLY = "this page shows a local runs folder: creating, suspending and deleting jobs needs a cluster (stjob ui)"
#: Seconds a watch request stays open before it is renewed (and ``stop`` looked at again).
WATCH_RENEW_S = 60


class JobSource(Protocol):
    """What the page needs from a cluster; every call may raise ``Forbidden``."""

    #: True: the page offers no actions (create, suspend, delete); a local runs folder has none.
    read_only: bool

    def list_jobs(self) -> list[dict[str, Any]]: ...
    def watch_jobs(self, stop: threading.Event) -> Iterator[WatchEvent]: ...
    def get_job(self, namespace: str, name: str) -> dict[str, Any]: ...
    def events(self, namespace: str, name: str) -> list[dict[str, Any]]: ...
    def log_tail(self, namespace: str, name: str, lines: int) -> str: ...
    def delete_job(self, namespace: str, name: str) -> None: ...
    def set_suspend(self, namespace: str, name: str, suspend: bool) -> None: ...
    def create_job(self, namespace: str, body: dict[str, Any], dry_run: bool) -> dict[str, Any]: ...


class KubeSource:
    """The user's kubeconfig context; lists cluster-wide, or the given namespaces when that is forbidden."""

    read_only = False

    def __init__(self, context: str | None = None, namespaces: tuple[str, ...] = ()) -> None:
        from kubernetes import client

        from stjob.cluster_view import kube_api_client

        self._client = kube_api_client(context)
        self._custom = client.CustomObjectsApi(self._client)
        self._core = client.CoreV1Api(self._client)
        self._namespaces = namespaces

    def _guard(self, request: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return request()
        except ApiException as exc:
            if exc.status in (400, 401, 403, 404, 409, 422):  # 400: e.g. logs of a pod not started
                raise Forbidden(f"{exc.status} {exc.reason}: {_api_message(exc)}") from None
            raise

    def list_jobs(self) -> list[dict[str, Any]]:
        if not self._namespaces:
            listed = self._guard(lambda: self._custom.list_cluster_custom_object(GROUP, VERSION, PLURAL))
            return list(listed.get("items") or [])
        items: list[dict[str, Any]] = []
        for ns in self._namespaces:
            listed = self._guard(lambda ns=ns: self._custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL))
            items.extend(listed.get("items") or [])
        return items

    def watch_jobs(self, stop: threading.Event) -> Iterator[WatchEvent]:
        """Every job as ADDED, then each change, until ``stop``; one watch per namespace (or one cluster-wide)."""
        events: queue.Queue[WatchEvent] = queue.Queue()
        for ns in self._namespaces or (None,):
            threading.Thread(target=self._follow, args=(ns, events, stop), daemon=True).start()
        while not stop.is_set():
            try:
                yield events.get(timeout=1.0)
            except queue.Empty:
                continue

    def _follow(self, namespace: str | None, events: queue.Queue[WatchEvent], stop: threading.Event) -> None:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.watch.watch import iter_resp_lines

        request = self._custom.list_namespaced_custom_object if namespace else self._custom.list_cluster_custom_object
        args: tuple[str, ...] = (GROUP, VERSION, namespace, PLURAL) if namespace else (GROUP, VERSION, PLURAL)
        # The open watch response, shut as soon as the page stops: a quiet watch would otherwise hold its
        # connection (and the server's handler) until it times out. urllib3's shutdown() wakes the thread
        # blocked reading it (close() alone does not).
        opened: list[Any] = []

        def close_on_stop() -> None:
            stop.wait()
            for response in list(opened):
                response.shutdown()

        threading.Thread(target=close_on_stop, daemon=True).start()
        while not stop.is_set():
            try:
                # No resourceVersion: each renewal starts with ADDED for every job (the board diffs them away).
                response = request(
                    *args,
                    watch=True,
                    timeout_seconds=WATCH_RENEW_S,
                    _request_timeout=WATCH_RENEW_S + 10,
                    _preload_content=False,
                )
                opened[:] = [response]
                try:
                    if stop.is_set():  # stopped while the request was being made
                        return
                    if not 200 <= response.status <= 299:
                        raise ApiException(http_resp=response)
                    for line in iter_resp_lines(response):
                        if stop.is_set():
                            return
                        event = json.loads(line) if line else {}
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):  # ERROR (410 Gone): renew
                            events.put((event["type"], event["object"]))
                finally:
                    opened.clear()
                    response.close()
                    response.release_conn()
            except ApiException as exc:
                if exc.status in (401, 403):
                    events.put(("ERROR", {"message": f"{exc.status} {exc.reason}: {_api_message(exc)}"}))
                    return
            except Exception as exc:  # the connection dropped (or was closed on stop): say so, then renew
                if stop.is_set():
                    return
                events.put(("ERROR", {"message": f"watch interrupted: {str(exc).splitlines()[0][:200]}"}))
                stop.wait(2.0)

    def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self._guard(
            lambda: self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        )
        return obj

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        listed = self._guard(
            lambda: self._core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        )
        return [self._client.sanitize_for_serialization(e) for e in listed.items]

    def log_tail(self, namespace: str, name: str, lines: int) -> str:
        """The last lines of the job's newest trainer pod; "" before there is one."""
        pods = self._guard(
            lambda: self._core.list_namespaced_pod(namespace, label_selector=f"{LABEL_JOB_NAME}={name}")
        ).items
        if not pods:
            return ""
        newest = max(pods, key=lambda p: str(p.metadata.creation_timestamp or ""))
        text: str = self._guard(
            lambda: self._core.read_namespaced_pod_log(newest.metadata.name, namespace, tail_lines=lines)
        )
        return text

    def delete_job(self, namespace: str, name: str) -> None:
        self._guard(lambda: self._custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))

    def set_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        self._guard(
            lambda: self._custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"spec": {"suspend": suspend}}
            )
        )

    def create_job(self, namespace: str, body: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        extra = {"dry_run": "All"} if dry_run else {}
        created: dict[str, Any] = self._guard(
            lambda: self._custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body, **extra)
        )
        return created


def _api_message(exc: Any) -> str:
    """The Status message the API server sent (it names the user and the verb), else the reason."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)
