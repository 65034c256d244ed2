"""helm lint --strict and helm template for every ci/ scenario; every manifest valid for Kubernetes 1.33."""

from __future__ import annotations

from collections import Counter

import kubernetes_validate
import pytest
import yaml

from tests.chart.rendering import CHART, KUBE_VERSION, NAMESPACE, SCENARIOS, one, render, run_helm, values_file

# prometheus-operator kinds have no schema in kubernetes-validate; their shape is tested in test_monitoring.py.
UNVALIDATED_GROUPS = ("monitoring.coreos.com/",)

EXPECTED_KINDS = {
    "default": {
        "CustomResourceDefinition": 1,
        "ServiceAccount": 1,
        "ClusterRole": 1,
        "ClusterRoleBinding": 1,
        "Role": 1,  # the leader election Lease, in the release namespace
        "RoleBinding": 1,
        "Deployment": 1,
        "PodDisruptionBudget": 1,
        "Service": 1,
    },
    "namespaced": {
        "CustomResourceDefinition": 1,
        "ServiceAccount": 1,
        "Role": 3,  # one per watched namespace and the leader election one
        "RoleBinding": 3,
        "Deployment": 1,
        "PodDisruptionBudget": 1,
        "Service": 1,
    },
    "metrics": {
        "CustomResourceDefinition": 1,
        "ServiceAccount": 1,
        "ClusterRole": 2,  # the operator's and kube-state-metrics' (list/watch on the custom resources)
        "ClusterRoleBinding": 2,
        "Role": 1,
        "RoleBinding": 1,
        "Deployment": 1,
        "PodDisruptionBudget": 1,
        "Service": 1,
        "ServiceMonitor": 1,
        "PrometheusRule": 1,
        "ConfigMap": 2,  # Grafana dashboard, kube-state-metrics custom resource state config
    },
    "no-crds": {
        "ServiceAccount": 1,
        "ClusterRole": 1,
        "ClusterRoleBinding": 1,
        "Role": 1,
        "RoleBinding": 1,
        "Deployment": 1,
        "PodDisruptionBudget": 1,
        "Service": 1,
    },
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(scenario: str) -> None:
    result = run_helm("lint", "--strict", str(CHART), "-f", str(values_file(scenario)), "--kube-version", KUBE_VERSION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ci_values_file_is_a_scenario() -> None:
    assert sorted(p.name for p in (CHART / "ci").glob("*.yaml")) == sorted(f"{s}-values.yaml" for s in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_kinds(scenario: str) -> None:
    assert Counter(m["kind"] for m in render(scenario)) == EXPECTED_KINDS[scenario]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_manifest_passes_kubernetes_validate_strict(scenario: str) -> None:
    checked = 0
    for manifest in render(scenario):
        if manifest["apiVersion"].startswith(UNVALIDATED_GROUPS):
            continue
        kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_namespaced_objects_land_in_the_release_namespace(scenario: str) -> None:
    for manifest in render(scenario):
        if manifest["kind"] in ("Deployment", "Service", "ServiceAccount"):
            assert manifest["metadata"]["namespace"] == NAMESPACE


def test_deployment_env_follows_the_operator_settings_contract() -> None:
    pod = one(render("default"), "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env == {
        "STJOB_NAMESPACES": "",
        "STJOB_TRAINER_IMAGE": "ghcr.io/stjob/trainer:0.1.0",
        "STJOB_IMAGE_PULL_POLICY": "IfNotPresent",
        "STJOB_DEFAULT_CPU": "",
        "STJOB_DEFAULT_MEMORY": "",
        "STJOB_METRICS_PORT": "8080",
        "STJOB_HEALTH_PORT": "8081",
        "STJOB_LOG_FORMAT": "plain",
        "STJOB_ALLOW_UNSUPPORTED_KUBERNETES": "false",
        "STJOB_LEADER_ELECTION": "true",
        "STJOB_LEASE_NAME": "stjob-operator",
        "STJOB_LEASE_NAMESPACE": "stjob-system",
        "STJOB_LEASE_DURATION_SECONDS": "15",
        "STJOB_LEASE_RETRY_SECONDS": "2",
        "STJOB_POD_NAME": None,  # from the downward API: metadata.name
    }
    assert pod["containers"][0]["image"] == "ghcr.io/stjob/operator:0.1.0"


def test_namespaced_deployment_env() -> None:
    container = one(render("namespaced"), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STJOB_NAMESPACES"] == "ml-team-a,ml-team-b"
    assert env["STJOB_TRAINER_IMAGE"] == "registry.example.com/ml/stjob-trainer:0.1.0-cu128"
    assert env["STJOB_DEFAULT_CPU"] == "4"
    assert env["STJOB_DEFAULT_MEMORY"] == "16Gi"
    assert env["STJOB_LOG_FORMAT"] == "json"
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


def test_image_digest_replaces_the_tag() -> None:
    container = one(render("no-crds"), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/stjob/operator@sha256:" + "0" * 64


def test_deployment_shape() -> None:
    deployment = one(render("default"), "Deployment")
    spec = deployment["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert spec["replicas"] == 1
    # Leader election makes a rolling update safe: the new pod is ready (a standby) before the old one stops.
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert container["resources"] == {}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http-metrics": 8080, "healthz": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert (
        spec["template"]["spec"]["serviceAccountName"] == one(render("default"), "ServiceAccount")["metadata"]["name"]
    )


def test_metrics_service_selects_the_operator_pod() -> None:
    manifests = render("default")
    service = one(manifests, "Service")
    pod_labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": 8080, "targetPort": "http-metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_notes_tell_the_next_step() -> None:
    # `helm template` does not render NOTES.txt; a client-side dry-run install does, without a cluster.
    result = run_helm("install", "stjob-operator", str(CHART), "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -n default -f examples/pair_score.yaml" in notes
    assert "kubectl get stj -n default -w" in notes


def test_values_yaml_documents_every_value() -> None:
    """helm-docs style: every leaf value (and every empty map/list) has a `# --` comment above it."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented: list[str] = []

    def documented(key: str, depth: int) -> bool:
        prefix = " " * (2 * depth) + f"{key}:"
        for index, line in enumerate(lines):
            if line.startswith(prefix):
                above = index - 1
                while above >= 0 and lines[above].lstrip().startswith("#") and "# --" not in lines[above]:
                    above -= 1
                if above >= 0 and lines[above].lstrip().startswith("# --"):
                    return True
        return False

    def walk(node: dict[str, object], depth: int, path: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and value and key not in ("labels",):
                walk(value, depth + 1, f"{path}{key}.")
            elif not documented(key, depth):
                undocumented.append(path + key)

    walk(values, 0, "")
    assert not undocumented, f"values without a `# --` comment: {undocumented}"
