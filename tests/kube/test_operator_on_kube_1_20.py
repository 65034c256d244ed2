"""The real operator process on kube-apiserver 1.20 + kube-controller-manager, under the chart's RBAC.

The Job controller makes the Pods; no scheduler or kubelet runs, so the tests write Pod status the way a
kubelet would. 1.20 predates the operator's minimum Kubernetes version (no podFailurePolicy, no Indexed
Jobs, no Job suspend): the operator runs here in its documented degraded mode
(``STJOB_ALLOW_UNSUPPORTED_KUBERNETES=true``) and enforces the failure policy itself.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stjob.api import GROUP, PLURAL, VERSION
from stjob.api.contract import TerminationMessage
from stjob.controller import naming
from stjob.errors import EXIT_DATA_ERROR, EXIT_QUALITY_GATE
from tests.api.resources import BASE
from tests.support import operator_on_cluster as oc
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_objects import Kube

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def operator(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[oc.OperatorProcess]:
    """The operator as the chart installs it: its ServiceAccount's token is its only credential."""
    manifests = oc.render_chart()
    oc.install_chart_rbac(kube_cluster, manifests)
    token = oc.mint_token(kube_cluster, oc.OPERATOR_NAMESPACE, oc.service_account_of(manifests))
    folder = tmp_path_factory.mktemp("operator")
    kubeconfig = oc.token_kubeconfig(kube_cluster, token, folder / "kubeconfig")
    env = {
        **oc.operator_env(manifests),
        "STJOB_TRAINER_IMAGE": "trainer:test",
        "STJOB_ALLOW_UNSUPPORTED_KUBERNETES": "true",
        "STJOB_LEADER_ELECTION": "false",
    }
    process = oc.start_operator(kubeconfig, folder / "operator.log", env)
    yield process
    process.stop()
    forbidden = [line for line in process.text().splitlines() if "403" in line or "Forbidden" in line]
    assert not forbidden, "the chart's RBAC refused the operator:\n" + "\n".join(forbidden[:10])


@pytest.fixture
def kube(kube_cluster: KubeCluster, kube_namespace: str, operator: oc.OperatorProcess) -> Kube:
    return Kube(kube_cluster, kube_namespace)


def test_create_makes_owned_children_and_the_job_controller_makes_a_pod(kube: Kube) -> None:
    created = kube.create("lifecycle")
    children = oc.wait_for("a pod of the job", lambda: (c := kube.children("lifecycle")).get("Pod") and c)
    for kind in ("Job", "ConfigMap", "ServiceAccount"):
        (child,) = children[kind]
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["uid"] == created["metadata"]["uid"] and owner["controller"] is True, kind
    assert kube.phase("lifecycle") in ("Pending", "Queued")


def test_status_follows_the_pod_to_running_and_succeeded(kube: Kube) -> None:
    kube.create("succeeds")
    (pod,) = oc.wait_for("a pod", lambda: kube.pods("succeeds"))
    kube.kubelet_writes(pod, "Running")
    oc.wait_for("phase Running", lambda: kube.phase("succeeds") == "Running")
    kube.kubelet_writes(pod, "Succeeded", exit_code=0)
    oc.wait_for("phase Succeeded", lambda: kube.phase("succeeds") == "Succeeded")
    ready = kube.condition("succeeds", "Ready")
    assert ready is not None and ready["status"] == "True"


def test_a_data_error_fails_at_once_without_a_retry(kube: Kube) -> None:
    """No podFailurePolicy on 1.20: the operator itself stops the Job on a non-retryable exit code."""
    kube.create("bad-data")
    (pod,) = oc.wait_for("a pod", lambda: kube.pods("bad-data"))
    message = TerminationMessage(
        outcome="Failed", reason="DataError", message="file train.csv, row 3, column 'score': not a number"
    )
    kube.kubelet_writes(pod, "Failed", exit_code=EXIT_DATA_ERROR, message=message.model_dump_json(by_alias=True))
    oc.wait_for("phase Failed", lambda: kube.phase("bad-data") == "Failed")
    failed = kube.condition("bad-data", "Failed")
    assert failed is not None and failed["reason"] == "DataError" and "row 3" in failed["message"]
    # The Job controller would retry up to backoffLimit; the operator stopped it: no second pod comes.
    (job,) = kube.children("bad-data")["Job"]
    assert job["spec"].get("parallelism") == 0
    time.sleep(3)  # the Job controller acts within a second of a pod failure; give it three
    assert len(kube.pods("bad-data")) == 1


def test_a_missed_quality_gate_fails_with_its_reason_and_keeps_the_report(kube: Kube) -> None:
    """The trainer's QualityGateFailed (exit 8, non-retryable) fails the resource; its evaluation stays."""
    kube.create("gated", data={**BASE["spec"]["data"], "validSplit": "valid"}, evaluation={"gate": {}})
    (pod,) = oc.wait_for("a pod", lambda: kube.pods("gated"))
    evaluation = {"primaryMetric": "spearman_cosine", "baseline": 0.7012, "final": 0.65, "delta": -0.0512}
    kube.custom.patch_namespaced_custom_object_status(  # what the trainer's reporter sends before it exits
        GROUP, VERSION, kube.namespace, PLURAL, "gated", {"status": {"evaluation": evaluation}}
    )
    message = TerminationMessage(
        outcome="Failed",
        reason="QualityGateFailed",
        message="quality gate: spearman_cosine 0.7012 -> 0.6500 (-0.0512), the gate asks for at least +0.0000",
    )
    kube.kubelet_writes(pod, "Failed", exit_code=EXIT_QUALITY_GATE, message=message.model_dump_json(by_alias=True))
    oc.wait_for("phase Failed", lambda: kube.phase("gated") == "Failed")
    failed = kube.condition("gated", "Failed")
    assert failed is not None and failed["reason"] == "QualityGateFailed" and "-0.0512" in failed["message"]
    (job,) = kube.children("gated")["Job"]
    assert job["spec"].get("parallelism") == 0  # not retried
    stored = kube.get("gated")
    assert stored is not None and stored["status"]["evaluation"] == evaluation


def test_delete_collects_the_children_and_the_same_name_comes_back(kube: Kube) -> None:
    first = kube.create("again")
    oc.wait_for("a pod", lambda: kube.pods("again"))
    kube.delete("again")
    oc.wait_for("children garbage-collected", lambda: not kube.children("again").get("Job"))
    second = kube.create("again")
    assert second["metadata"]["uid"] != first["metadata"]["uid"]

    def owned_by_second() -> bool:
        jobs = kube.children("again").get("Job", [])
        return bool(jobs) and jobs[0]["metadata"]["ownerReferences"][0]["uid"] == second["metadata"]["uid"]

    oc.wait_for("a Job owned by the new resource", owned_by_second)


def test_operator_killed_mid_job_picks_up_where_it_was(kube: Kube, operator: oc.OperatorProcess) -> None:
    kube.create("restart")
    (pod,) = oc.wait_for("a pod", lambda: kube.pods("restart"))
    operator.kill()
    kube.kubelet_writes(pod, "Running")
    kube.kubelet_writes(pod, "Succeeded", exit_code=0)
    operator.restart()
    oc.wait_for("phase Succeeded after the restart", lambda: kube.phase("restart") == "Succeeded")
    assert len(kube.children("restart")["Job"]) == 1


def test_one_hundred_at_once(kube: Kube, record_property: Any) -> None:
    """Create 100 resources as fast as the client can; time from each create to its Job existing."""
    import kubernetes

    names = [f"burst-{i:03d}" for i in range(100)]
    created_at: dict[str, float] = {}
    for name in names:
        kube.create(name)
        created_at[name] = time.monotonic()
    last_create = time.monotonic()
    seen: dict[str, float] = {}
    watch = kubernetes.watch.Watch()
    for event in watch.stream(kube.batch.list_namespaced_job, kube.namespace, timeout_seconds=120):
        owner = event["object"].metadata.labels.get(naming.LABEL_JOB_NAME)
        if owner in created_at and owner not in seen:
            seen[owner] = time.monotonic()
        if len(seen) == len(names):
            watch.stop()
    assert len(seen) == len(names), f"{len(names) - len(seen)} Jobs never appeared"
    latencies = sorted(seen[n] - created_at[n] for n in names)
    figures = {
        "median_s": round(statistics.median(latencies), 3),
        "p99_s": round(latencies[98], 3),
        "all_jobs_after_last_create_s": round(max(seen.values()) - last_create, 3),
    }
    record_property("burst_100_real_1_20", figures)
    print("100 at once on kube-apiserver 1.20:", figures)


# ------------------------------------------------------------------ the trainer's own RBAC, for real


def test_trainer_token_patches_its_own_status_and_nothing_else(
    kube: Kube, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    """The ServiceAccount and Role the operator writes per job, used with a token minted as for its pod."""
    import kubernetes

    kube.create("mine")
    kube.create("theirs")
    account = oc.wait_for("the trainer ServiceAccount", lambda: kube.children("mine").get("ServiceAccount"))[0]
    oc.wait_for("the trainer RoleBinding", lambda: _role_binding_exists(kube, "mine"))
    elsewhere = f"{kube_namespace}-other"
    kube.core.create_namespace({"metadata": {"name": elsewhere}})
    try:
        Kube(kube_cluster, elsewhere).create("mine")
        token = oc.mint_token(kube_cluster, kube_namespace, account["metadata"]["name"])
        as_trainer = kube_cluster.token_client(token)
        custom = kubernetes.client.CustomObjectsApi(as_trainer)
        core = kubernetes.client.CoreV1Api(as_trainer)
        progress = {"status": {"progress": {"step": 1, "totalSteps": 10, "percent": 10}}}

        def status_patch(namespace: str, name: str) -> Any:
            return custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, progress)

        status_patch(kube_namespace, "mine")  # allowed: its own resource's status
        assert (kube.get("mine") or {})["status"]["progress"]["step"] == 1
        refused = {
            "another job's status": lambda: status_patch(kube_namespace, "theirs"),
            "its own spec": lambda: custom.patch_namespaced_custom_object(
                GROUP, VERSION, kube_namespace, PLURAL, "mine", {"spec": {"suspend": True}}
            ),
            "Secrets": lambda: core.list_namespaced_secret(kube_namespace),
            "a Secret by name": lambda: core.read_namespaced_secret("hf-token", kube_namespace),
            "the same name in another namespace": lambda: status_patch(elsewhere, "mine"),
            "creating Jobs": lambda: custom.create_namespaced_custom_object(
                "batch",
                "v1",
                kube_namespace,
                "jobs",
                {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}},
            ),
        }
        for what, call in refused.items():
            with pytest.raises(kubernetes.client.ApiException) as exc:
                call()
            assert exc.value.status == 403, f"{what}: {exc.value.status}"
    finally:
        kube.core.delete_namespace(elsewhere)


def _role_binding_exists(kube: Kube, name: str) -> bool:
    import kubernetes

    rbac = kubernetes.client.RbacAuthorizationV1Api(kube.custom.api_client)
    selector = f"{naming.LABEL_JOB_NAME}={name}"
    return bool(rbac.list_namespaced_role_binding(kube.namespace, label_selector=selector).items)
