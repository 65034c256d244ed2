"""Replicas, disruptions and alerts that hold in production (issue 13): rendered by the real helm.

- More than one replica is allowed because the replicas elect a leader; the chart refuses several
  replicas (or a rolling update, which briefly runs two pods) with leader election off.
- A PodDisruptionBudget that never blocks a drain, and RollingUpdate with the new pod ready first.
- StjobOperatorDown only where something scrapes the operator (it fired forever without a target).
- StjobJobFailed from the failure counter the operator exports, not from the Failed gauge (which
  misses a job deleted soon after failing, and a failure across an operator restart).
"""

# ruff: noqa: E501  (test tables: one case per line reads better than wrapped rows)

from __future__ import annotations

import yaml
from prometheus_client import generate_latest

from stjob.controller import metrics
from tests.chart.rendering import NAMESPACE, of_kind, one, render, run_helm, template_args


def _alerts(*values: str) -> dict[str, dict[str, str]]:
    args = [arg for value in values for arg in ("--set", value)]
    result = run_helm(*template_args(*args, "--show-only", "templates/prometheusrule.yaml"))
    assert result.returncode == 0, result.stderr
    return {r["alert"]: r for r in yaml.safe_load(result.stdout)["spec"]["groups"][0]["rules"]}


def test_two_replicas_render_with_leader_election_and_a_disruption_budget() -> None:
    result = run_helm(*template_args("--set", "replicaCount=2"))
    assert result.returncode == 0, result.stderr
    manifests = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["STJOB_LEADER_ELECTION"]["value"] == "true"
    assert env["STJOB_POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    budget = one(manifests, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()  # fmt: skip


def test_several_replicas_or_a_rolling_update_without_leader_election_are_refused() -> None:
    several = run_helm(*template_args("--set", "replicaCount=2", "--set", "leaderElection.enabled=false"))
    assert several.returncode != 0 and "needs leaderElection.enabled" in several.stderr
    rolling = run_helm(*template_args("--set", "leaderElection.enabled=false"))
    assert rolling.returncode != 0 and "use Recreate" in rolling.stderr
    recreate = run_helm(*template_args("--set", "leaderElection.enabled=false", "--set", "strategy.type=Recreate"))
    assert recreate.returncode == 0, recreate.stderr


def test_the_lease_role_is_the_release_namespace_only() -> None:
    manifests = render("namespaced")
    (role,) = [r for r in of_kind(manifests, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert {g for rule in role["rules"] for g in rule["apiGroups"]} == {"coordination.k8s.io"}


def test_operator_down_is_not_rendered_without_a_scrape_target() -> None:
    """PrometheusRule on, ServiceMonitor off: `absent(up{...})` would be true forever."""
    assert "StjobOperatorDown" not in _alerts("metrics.prometheusRule.enabled=true")
    scraped = _alerts("metrics.prometheusRule.enabled=true", "metrics.prometheusRule.scrapeJob=stjob-operator")
    assert 'up{job="stjob-operator"' in scraped["StjobOperatorDown"]["expr"]
    monitored = _alerts("metrics.prometheusRule.enabled=true", "metrics.serviceMonitor.enabled=true")
    assert "StjobOperatorDown" in monitored


def test_job_failed_counts_failures_not_failed_jobs() -> None:
    """A counter survives the job's deletion; `unless ... offset` catches a series that starts at 1."""
    expr = _alerts("metrics.prometheusRule.enabled=true")["StjobJobFailed"]["expr"]
    assert "stjob_jobs_by_phase" not in expr
    assert "increase(stjob_job_failures_total[10m])" in expr
    assert "stjob_job_failures_total unless stjob_job_failures_total offset 10m" in expr
    metrics.JOB_FAILURES.labels("DataError")
    exported = generate_latest(metrics.REGISTRY).decode()
    assert 'stjob_job_failures_total{reason="DataError"}' in exported
