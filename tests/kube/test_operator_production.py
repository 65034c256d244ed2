"""The operator as a production controller on kube-apiserver 1.20, under the chart's RBAC (issue 13).

Deletes need no operator (no finalizer); two replicas elect one leader over the chart's Lease, so each
job gets one set of children and one Event per transition; a SIGKILLed leader (no release) is replaced
once its Lease runs out. The replicas are real ``stjob-operator`` processes, each with its own
``STJOB_POD_NAME``, a short Lease and the degraded mode that 1.20 needs.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from stjob.api import KIND
from stjob.controller.settings import OperatorSettings
from tests.support import operator_on_cluster as oc
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_objects import Kube

pytestmark = pytest.mark.timeout(600)

#: Short enough for a test, long enough for a loaded machine to renew (every RETRY seconds) in time.
LEASE_SECONDS = 4
RETRY_SECONDS = 0.5
#: What a standby may add to the Lease duration: its next look, and scheduling on a shared machine.
HANDOVER_SLACK_SECONDS = RETRY_SECONDS + 1.5
#: The chart's Lease name (STJOB_LEASE_NAME's default; its Role names it).
LEASE_NAME = OperatorSettings.model_fields["lease_name"].default


@dataclass
class Identity:
    """The chart's operator identity on the cluster: its token's kubeconfig and the chart's settings."""

    kubeconfig: Path
    env: dict[str, str]
    folder: Path


@pytest.fixture(scope="module")
def identity(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Identity:
    manifests = oc.render_chart()
    oc.install_chart_rbac(kube_cluster, manifests)  # with the leader election Role on Leases in stjob-system
    token = oc.mint_token(kube_cluster, oc.OPERATOR_NAMESPACE, oc.service_account_of(manifests))
    folder = tmp_path_factory.mktemp("production")
    env = {
        **oc.operator_env(manifests),
        "STJOB_TRAINER_IMAGE": "trainer:test",
        "STJOB_ALLOW_UNSUPPORTED_KUBERNETES": "true",
        "STJOB_LEADER_ELECTION": "true",
        "STJOB_LEASE_NAMESPACE": oc.OPERATOR_NAMESPACE,
        "STJOB_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
        "STJOB_LEASE_RETRY_SECONDS": str(RETRY_SECONDS),
    }
    return Identity(oc.token_kubeconfig(kube_cluster, token, folder / "kubeconfig"), env, folder)


class Replicas:
    """Operator processes started by one test, each its own pod name; all stopped, logs checked, at the end."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.running: dict[str, oc.OperatorProcess] = {}
        self.all: list[oc.OperatorProcess] = []

    def start(self, *, leader_election: bool = True) -> str:
        name = f"stjob-operator-{uuid.uuid4().hex[:6]}"
        env = {**self.identity.env, "STJOB_POD_NAME": name, "STJOB_LEADER_ELECTION": str(leader_election).lower()}
        process = oc.start_operator(self.identity.kubeconfig, self.identity.folder / f"{name}.log", env)
        self.running[name] = process
        self.all.append(process)
        return name

    def stop_all(self) -> None:
        for process in self.running.values():
            process.stop()
        self.running.clear()

    def problems(self) -> list[str]:
        """Log lines that a run with the chart's RBAC and a healthy server must not have."""
        bad = ("403", "Forbidden", "Traceback", "ERROR")
        return [line for p in self.all for line in p.text().splitlines() if any(b in line for b in bad)]


@pytest.fixture
def replicas(identity: Identity) -> Iterator[Replicas]:
    started = Replicas(identity)
    try:
        yield started
    finally:
        started.stop_all()
    assert not started.problems(), "\n".join(started.problems()[:10])


@pytest.fixture
def kube(kube_cluster: KubeCluster, kube_namespace: str) -> Kube:
    return Kube(kube_cluster, kube_namespace)


def lease(kube_cluster: KubeCluster) -> dict[str, Any]:
    """The chart's Lease's spec ({} before anyone took it; the chart's name, from the module's env)."""
    import kubernetes

    coordination = kubernetes.client.CoordinationV1Api(kube_cluster.admin_client())
    try:
        found = coordination.read_namespaced_lease(LEASE_NAME, oc.OPERATOR_NAMESPACE)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return {}
        raise
    spec: dict[str, Any] = kube_cluster.admin_client().sanitize_for_serialization(found.spec)
    return spec


def wait_for_holder(kube_cluster: KubeCluster, *candidates: str) -> str:
    """The Lease holder, once it is one of ``candidates``."""

    def holder() -> str | None:
        name = lease(kube_cluster).get("holderIdentity")
        return name if name in candidates else None

    return str(oc.wait_for(f"one of {candidates} to hold the Lease", holder))


def events_of(kube: Kube, name: str) -> list[dict[str, Any]]:
    found = kube.core.list_namespaced_event(
        kube.namespace, field_selector=f"involvedObject.kind={KIND},involvedObject.name={name}"
    ).items
    return sorted((kube.serialize(e) for e in found), key=lambda e: e["metadata"]["name"])


def drive_to_success(kube: Kube, name: str) -> None:
    (pod,) = oc.wait_for(f"a pod of {name}", lambda: kube.pods(name))
    kube.kubelet_writes(pod, "Running")
    oc.wait_for(f"{name} Running", lambda: kube.phase(name) == "Running")
    kube.kubelet_writes(pod, "Succeeded", exit_code=0)
    oc.wait_for(f"{name} Succeeded", lambda: kube.phase(name) == "Succeeded")


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------------------- tests


def test_delete_with_the_operator_stopped_completes_at_once(kube: Kube, replicas: Replicas) -> None:
    """No finalizer on a running job: with every replica gone, the delete is done when the call returns."""
    replicas.start()
    kube.create("orphaned")
    oc.wait_for("the children", lambda: kube.children("orphaned").get("Job"))
    replicas.stop_all()
    kube.delete("orphaned")
    left = kube.get("orphaned")
    assert left is None, f"still there, finalizers {left['metadata'].get('finalizers')}"
    oc.wait_for("children garbage-collected", lambda: not kube.children("orphaned").get("Job"))


def test_two_replicas_make_one_set_of_children_and_one_event_per_transition(
    kube: Kube, replicas: Replicas, kube_cluster: KubeCluster
) -> None:
    first, second = replicas.start(), replicas.start()
    leader = wait_for_holder(kube_cluster, first, second)
    names = [f"pair-{i}" for i in range(5)]
    for name in names:
        kube.create(name)
    drive_to_success(kube, names[0])
    for name in names:
        oc.wait_for(f"the pod of {name}", functools.partial(kube.pods, name))
    for name in names:
        children = kube.children(name)
        assert {kind: len(items) for kind, items in children.items()} == {
            "Job": 1, "ConfigMap": 1, "ServiceAccount": 1, "Pod": 1,
        }, name  # fmt: skip
    assert lease(kube_cluster)["holderIdentity"] == leader  # no handover happened meanwhile
    for name in names:
        events = events_of(kube, name)
        messages = [e["message"] for e in events]
        assert len(messages) == len(set(messages)), f"{name}: an Event twice: {messages}"
        assert {e["reportingInstance"] for e in events} == {leader}, name
    phases = [e["message"].split(":")[0] for e in events_of(kube, names[0])]
    assert phases[-2:] == ["Pending -> Running", "Running -> Succeeded"], phases


def test_killing_the_leader_hands_over_when_its_lease_runs_out(
    kube: Kube, replicas: Replicas, kube_cluster: KubeCluster
) -> None:
    first, second = replicas.start(), replicas.start()
    leader = wait_for_holder(kube_cluster, first, second)
    standby = second if leader == first else first
    kube.create("before")
    oc.wait_for("children of the first job", lambda: kube.children("before").get("Job"))
    replicas.running.pop(leader).kill()  # SIGKILL: no release, the Lease must expire
    last_renewal = _stamp(lease(kube_cluster)["renewTime"])
    kube.create("after")  # while no one leads
    wait_for_holder(kube_cluster, standby)
    taken = lease(kube_cluster)
    gap = (_stamp(taken["acquireTime"]) - last_renewal).total_seconds()
    # Never before the Lease expired; after it, within one look of the standby (plus a loaded machine's lag).
    assert LEASE_SECONDS <= gap <= LEASE_SECONDS + HANDOVER_SLACK_SECONDS, gap
    assert taken["leaseTransitions"] >= 1
    drive_to_success(kube, "after")  # the new leader caught up with what was created meanwhile
    assert len(kube.children("after")["Job"]) == len(kube.children("before")["Job"]) == 1
