"""The operator's RBAC is exactly the table "Operator RBAC" in docs/contracts.md, cluster-wide or per namespace."""

from __future__ import annotations

import re
from typing import Any

from tests.chart.rendering import NAMESPACE, ROOT, Manifest, of_kind, one, render

Grants = dict[tuple[str, str], set[str]]


def contract_grants() -> Grants:
    """Parse docs/contracts.md's RBAC table into {(apiGroup, resource): verbs}."""
    text = (ROOT / "docs" / "contracts.md").read_text()
    section = text.split("### Operator RBAC", 1)[1].split("\n\n", 2)[1]
    grants: Grants = {}
    for line in section.splitlines()[2:]:  # skip the header and the |---| row
        if not line.startswith("|"):
            break
        groups_cell, resources_cell, verbs_cell = (cell.strip() for cell in line.strip("|").split("|"))
        groups = [g.strip().strip('"') for g in groups_cell.split(",")]
        resources = [r.strip() for r in resources_cell.split(",")]
        verbs = {v.strip() for v in verbs_cell.split(",")}
        for group in groups:
            for resource in resources:
                grants.setdefault((group, resource), set()).update(verbs)
    return grants


def rule_grants(rules: list[dict[str, Any]]) -> Grants:
    grants: Grants = {}
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def test_contract_table_parses() -> None:
    grants = contract_grants()
    assert grants[("stjob.dev", "sentencetransformerjobs/status")] == {"get", "patch"}
    assert grants[("", "events")] == {"create"}
    assert grants[("", "configmaps")] == {"get", "create"}  # no patch: nothing is adopted
    assert len(grants) == 10


def _operator_role(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in of_kind(manifests, kind) if not m["metadata"]["name"].endswith("-kube-state-metrics")]


def test_cluster_role_equals_the_contract() -> None:
    for scenario in ("default", "metrics", "no-crds"):
        (role,) = _operator_role(render(scenario), "ClusterRole")
        assert rule_grants(role["rules"]) == contract_grants(), scenario


def test_cluster_role_binding_binds_the_operator_service_account() -> None:
    manifests = render("default")
    role = one(manifests, "ClusterRole")
    binding = one(manifests, "ClusterRoleBinding")
    account = one(manifests, "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]


def test_namespaced_renders_a_role_per_namespace_and_nothing_cluster_wide() -> None:
    manifests = render("namespaced")
    assert not of_kind(manifests, "ClusterRole")
    assert not of_kind(manifests, "ClusterRoleBinding")
    # (The leader election Role lives in the release namespace and grants only its Lease.)
    roles = [r for r in of_kind(manifests, "Role") if not r["metadata"]["name"].endswith("-leader-election")]
    bindings = [b for b in of_kind(manifests, "RoleBinding") if not b["metadata"]["name"].endswith("-leader-election")]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ml-team-a", "ml-team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["ml-team-a", "ml-team-b"]
    account = one(manifests, "ServiceAccount")
    for role in roles:
        assert rule_grants(role["rules"]) == contract_grants()
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
        ]


def test_kube_state_metrics_role_only_reads() -> None:
    (role,) = [
        m for m in of_kind(render("metrics"), "ClusterRole") if m["metadata"]["name"].endswith("-kube-state-metrics")
    ]
    assert rule_grants(role["rules"]) == {
        ("stjob.dev", "sentencetransformerjobs"): {"list", "watch"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    }


def test_rules_helper_mirrors_the_contract_rows() -> None:
    """One rule per contract row, in order: a reviewer can read them side by side."""
    (role,) = _operator_role(render("default"), "ClusterRole")
    text = (ROOT / "docs" / "contracts.md").read_text()
    rows = re.findall(r"^\| (stjob\.dev|batch|\"\"|rbac\.authorization\.k8s\.io|\"\" , events\.k8s\.io) \|", text, re.M)
    assert len(role["rules"]) == len(rows) == 7
