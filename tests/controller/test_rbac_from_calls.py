"""Least privilege, derived: the operator's recorded requests equal the chart's RBAC, both ways.

The operator runs a scenario that exercises every kind of request it can send (create, suspend,
resume, run and succeed; an invalid spec; an orphan in the way; children left by a killed operator; a
multi-node job's Service; a resource from the previous version with Kopf's finalizer; leader
election). Every request is mapped to its RBAC (group, resource, verb); the rules ``helm template``
renders must grant exactly those, plus what the operator must hold to create the trainer's Role
(Kubernetes refuses a Role granting more than its creator has). Cluster-wide and namespaced; in the
namespaced mode no request may leave the watched namespace (or the Lease's).
"""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

from typing import Any

import pytest

from stjob.controller import builders
from stjob.controller.settings import OperatorSettings
from tests.chart.rendering import NAMESPACE, RELEASE, of_kind, render
from tests.controller import kube
from tests.controller.api_calls import Call, operator_calls
from tests.controller.conftest import STJOBS, OperatorFactory, wait_until
from tests.controller.factories import META, resource, spec

Grant = tuple[str, str, str]  # (group, resource, verb)
LEASE = ("coordination.k8s.io", "leases")
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
RUNNING = {"phase": "Running"}
COMPLETE = {"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T01:00:00Z"}]}


async def _exercise_every_request(emulator: Any, operator: OperatorFactory, config: OperatorSettings) -> list[Call]:
    """Run the scenario; the operator's requests."""
    legacy = resource(name="legacy", uid="uid-legacy")
    legacy["metadata"]["finalizers"] = [KOPF_FINALIZER]
    await kube.create(emulator, STJOBS, legacy)
    # Children of "restarted" (multi-node: with a Service) that a killed operator created, labels not yet
    # on them, so no watch shows them: the operator's POSTs meet 409s and it reads each to see it is its own.
    meta = {**META, "name": "restarted", "uid": "uid-restarted"}
    for child in builders.build_children(spec(distributed={"nodes": 2}), meta, config):
        child["metadata"]["labels"] = {}
        await kube.create(emulator, "/".join(filter(None, [child["apiVersion"], child["kind"].lower() + "s"])), child)
    orphan = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "orphan-spec", "namespace": "ml"}}
    await kube.create(emulator, "v1/configmaps", orphan)
    async with operator(config):
        await wait_until(lambda: kube.status_of(emulator, name="legacy").get("phase") == "Pending", what="legacy")
        await kube.create(emulator, STJOBS, resource(name="restarted", uid="uid-restarted", distributed={"nodes": 2}))
        await kube.create(emulator, STJOBS, resource(name="orphan", uid="uid-orphan"))
        await kube.create(emulator, STJOBS, resource(name="bad", uid="uid-bad", resources={"gpus": -1}))
        await kube.create(emulator, STJOBS, resource())
        await kube.wait_phase(emulator, "Pending")
        await kube.patch(emulator, STJOBS, "ml", "sick", {"metadata": {"generation": 2}, "spec": {"suspend": True}})
        await kube.wait_phase(emulator, "Suspended")
        await kube.patch(emulator, STJOBS, "ml", "sick", {"metadata": {"generation": 3}, "spec": {"suspend": False}})
        await kube.create_pod(emulator)
        await kube.patch_status(emulator, kube.PODS, "ml", "sick-abc", RUNNING)
        await kube.wait_phase(emulator, "Running")
        await kube.patch_status(emulator, kube.JOBS, "ml", "sick", COMPLETE)
        await kube.wait_phase(emulator, "Succeeded")
        await kube.wait_phase(emulator, "Failed", name="bad")
        await kube.wait_phase(emulator, "Pending", name="restarted")
        await wait_until(lambda: kube.condition(kube.status_of(emulator, name="orphan"), "Ready").get("reason") == "ChildConflict", what="orphan")  # fmt: skip
    return operator_calls(emulator)


def _granted(rules: list[dict[str, Any]]) -> set[Grant]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def _needed(calls: list[Call]) -> set[Grant]:
    """What the calls need, plus what creating the trainer's Role needs the creator to hold."""
    recorded = {(c.group, c.resource, c.verb) for c in calls if (c.group, c.resource) != LEASE}
    delegated = _granted(builders.build_role(META)["rules"])
    return recorded | delegated


def _lease_rules(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (role,) = [r for r in of_kind(manifests, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert role["metadata"]["namespace"] == NAMESPACE
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def _check_lease(calls: list[Call], manifests: list[dict[str, Any]]) -> None:
    lease_calls = [c for c in calls if (c.group, c.resource) == LEASE]
    assert {c.verb for c in lease_calls} == {"get", "create", "patch"}
    assert {c.namespace for c in lease_calls} == {NAMESPACE}
    rules = _lease_rules(manifests)
    named = {(v, n) for rule in rules for v in rule["verbs"] for n in rule.get("resourceNames", [None])}
    for call in lease_calls:
        wanted = (call.verb, None if call.verb == "create" else call.name)
        assert wanted in named, f"{call.verb} on lease {call.name} not granted: {rules}"
    assert named == {("create", None), ("get", RELEASE), ("patch", RELEASE)}


def _config(**extra: Any) -> OperatorSettings:
    return OperatorSettings(
        metrics_port=0, health_port=0, trainer_image="trainer:test", leader_election=True,
        lease_name=RELEASE, lease_namespace=NAMESPACE, lease_retry_seconds=0.2, **extra,
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
async def test_the_chart_grants_exactly_what_the_operator_calls(
    emulator: Any, operator: OperatorFactory, mode: str
) -> None:
    namespaced = mode == "namespaced"
    calls = await _exercise_every_request(emulator, operator, _config(namespaces="ml" if namespaced else ""))
    manifests = render("namespaced" if namespaced else "default")
    if namespaced:
        assert not of_kind(manifests, "ClusterRole") and not of_kind(manifests, "ClusterRoleBinding")
        outside = [c for c in calls if c.namespace is None or c.namespace not in ("ml", NAMESPACE)]
        assert outside == [], f"requests outside the watched namespace: {outside}"
        roles = [r for r in of_kind(manifests, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
        rules = roles[0]["rules"]
        assert all(r["rules"] == rules for r in roles)
    else:
        (cluster_role,) = [r for r in of_kind(manifests, "ClusterRole") if "kube-state-metrics" not in r["metadata"]["name"]]  # fmt: skip
        rules = cluster_role["rules"]
    needed, granted = _needed(calls), _granted(rules)
    assert needed - granted == set(), "called but not granted"
    assert granted - needed == set(), "granted but never called (not least privilege)"
    _check_lease(calls, manifests)
