"""examples/kueue/: the queue objects fit together and can admit examples/multi_gpu.yaml as one workload.

kubernetes-validate knows no Kueue kinds, so the fields Kueue acts on are checked here by hand.
"""

from __future__ import annotations

from typing import Any

import yaml

from stjob.api import SentenceTransformerJobSpec
from stjob.controller import builders
from stjob.controller.settings import OperatorSettings
from tests.controller.factories import META, ROOT

KUEUE = ROOT / "examples" / "kueue" / "gpu-queue.yaml"
MULTI_GPU = ROOT / "examples" / "multi_gpu.yaml"
API = "kueue.x-k8s.io/v1beta1"
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a number (the suffixes these examples use)."""
    text = str(value)
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _UNITS[suffix]
    return float(text)


def _objects() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(KUEUE.read_text()) if d]
    assert {d["apiVersion"] for d in docs} == {API}
    by_kind = {d["kind"]: d for d in docs}
    assert sorted(by_kind) == ["ClusterQueue", "LocalQueue", "ResourceFlavor"]
    return by_kind


def _multi_gpu_job() -> dict[str, Any]:
    doc = yaml.safe_load(MULTI_GPU.read_text())
    spec = SentenceTransformerJobSpec.model_validate(doc["spec"])
    settings = OperatorSettings(trainer_image="trainer:1")
    return builders.build_job(spec, {**META, "name": doc["metadata"]["name"]}, settings)


def test_local_queue_points_at_the_cluster_queue_and_its_flavor_exists() -> None:
    objs = _objects()
    local, cluster, flavor = objs["LocalQueue"], objs["ClusterQueue"], objs["ResourceFlavor"]
    assert local["metadata"]["namespace"]  # LocalQueues are namespaced; the others are cluster-scoped
    assert "namespace" not in cluster["metadata"] and "namespace" not in flavor["metadata"]
    assert local["spec"]["clusterQueue"] == cluster["metadata"]["name"]
    for group in cluster["spec"]["resourceGroups"]:
        for fl in group["flavors"]:
            assert fl["name"] == flavor["metadata"]["name"]
            # Kueue rejects a flavor whose resources differ from the group's coveredResources.
            assert [r["name"] for r in fl["resources"]] == group["coveredResources"]


def test_the_multi_gpu_example_is_queued_here_and_fits_the_quota_as_one_workload() -> None:
    objs = _objects()
    job = _multi_gpu_job()
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == objs["LocalQueue"]["metadata"]["name"]
    assert job["spec"]["suspend"] is True  # created suspended: Kueue admits by un-suspending it

    # One Job = one Workload with one podSet of `parallelism` pods: the quota must hold all of them.
    pods = job["spec"]["parallelism"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    requests = {**container["resources"].get("requests", {}), **container["resources"]["limits"]}
    quota = {
        r["name"]: quantity(r["nominalQuota"])
        for group in objs["ClusterQueue"]["spec"]["resourceGroups"]
        for fl in group["flavors"]
        for r in fl["resources"]
    }
    assert quota["nvidia.com/gpu"] >= pods * quantity(requests["nvidia.com/gpu"]) == 8
    for name, amount in requests.items():
        assert name in quota, f"{name} is requested but not covered by the ClusterQueue"
        assert quota[name] >= pods * quantity(amount), name

    # The flavor's node labels agree with where the job asks to run.
    node_selector = job["spec"]["template"]["spec"]["nodeSelector"]
    assert objs["ResourceFlavor"]["spec"]["nodeLabels"].items() <= node_selector.items()


def test_quantity() -> None:
    assert (quantity("128Gi"), quantity(16), quantity("500m")) == (128 * 2**30, 16.0, 0.5)
