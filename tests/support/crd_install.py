"""Create (or replace) a CRD on a real API server and wait until it serves."""

from __future__ import annotations

import time
from typing import Any

ESTABLISH_TIMEOUT = 60.0


def install_crd(api_client: Any, crd: dict[str, Any]) -> dict[str, Any]:
    """Create the CRD (replacing an older copy) and wait for Established; return the stored object.

    The server's refusal is raised as is: its message is the finding (a CRD a cluster would reject).
    """
    import kubernetes

    ext = kubernetes.client.ApiextensionsV1Api(api_client)
    name = crd["metadata"]["name"]
    try:
        current = ext.read_custom_resource_definition(name)
        body = {**crd, "metadata": {**crd["metadata"], "resourceVersion": current.metadata.resource_version}}
        ext.replace_custom_resource_definition(name, body)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        ext.create_custom_resource_definition(crd)
    deadline = time.monotonic() + ESTABLISH_TIMEOUT
    while True:
        stored = api_client.sanitize_for_serialization(ext.read_custom_resource_definition(name))
        conditions = {c["type"]: c["status"] for c in stored.get("status", {}).get("conditions", [])}
        if conditions.get("Established") == "True":
            return dict(stored)
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {name} not Established: {conditions}")
        time.sleep(0.1)
