"""A namespace of a real API server seen through the admin client: create and read resources, list a
resource's children, and write Pod status as a kubelet would (the 1.20 tier has no kubelet)."""

from __future__ import annotations

import copy
import time
from typing import Any

from stjob.api import GROUP, PLURAL, VERSION
from stjob.controller import naming
from tests.api.resources import BASE
from tests.support.kube_cluster import KubeCluster


class Kube:
    """Typed-enough helpers over the admin client for one namespace."""

    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        import kubernetes

        client = cluster.admin_client()
        self.namespace = namespace
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.core = kubernetes.client.CoreV1Api(client)
        self.serialize = client.sanitize_for_serialization

    def create(self, name: str, **spec_changes: Any) -> dict[str, Any]:
        obj = copy.deepcopy(BASE)
        obj["metadata"] = {"name": name}
        obj["spec"].update(spec_changes)
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, obj
        )
        return result

    def get(self, name: str) -> dict[str, Any] | None:
        import kubernetes

        try:
            result: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def phase(self, name: str) -> str | None:
        obj = self.get(name) or {}
        return obj.get("status", {}).get("phase")

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        obj = self.get(name) or {}
        return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), None)

    def children(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Every object labelled as this resource's child, by kind."""
        selector = f"{naming.LABEL_JOB_NAME}={name}"
        ns = self.namespace
        found = {
            "Job": self.batch.list_namespaced_job(ns, label_selector=selector).items,
            "ConfigMap": self.core.list_namespaced_config_map(ns, label_selector=selector).items,
            "ServiceAccount": self.core.list_namespaced_service_account(ns, label_selector=selector).items,
            "Pod": self.core.list_namespaced_pod(ns, label_selector=selector).items,
        }
        return {kind: [self.serialize(o) for o in items] for kind, items in found.items() if items}

    def pods(self, name: str) -> list[dict[str, Any]]:
        return self.children(name).get("Pod", [])

    def kubelet_writes(self, pod: dict[str, Any], phase: str, exit_code: int | None = None, message: str = "") -> None:
        """Write a Pod's status as a kubelet would: phase, and the container's state (terminated: exit code and
        termination message)."""
        container = pod["spec"]["containers"][0]["name"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        state: dict[str, Any] = {"running": {"startedAt": now}}
        if exit_code is not None:
            state = {"terminated": {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed",
                                    "message": message, "startedAt": now, "finishedAt": now}}  # fmt: skip
        status = {
            "phase": phase,
            "startTime": now,
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [
                {
                    "name": container,
                    "ready": phase == "Running",
                    "restartCount": 0,
                    "image": "trainer:test",
                    "imageID": "",
                    "state": state,
                }
            ],
        }
        self.core.patch_namespaced_pod_status(pod["metadata"]["name"], self.namespace, {"status": status})
