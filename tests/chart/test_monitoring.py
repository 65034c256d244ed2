"""ServiceMonitor, PrometheusRule, Grafana dashboard and kube-state-metrics config: shape and metric names."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.chart.rendering import CHART, NAMESPACE, ROOT, one, render

# The operator's metrics (docs/contracts.md and issue #5); the trainer exports none (it reports to the status).
OPERATOR_METRICS = {
    "stjob_jobs_by_phase",
    "stjob_job_failures_total",
    "stjob_reconciles_total",
    "stjob_reconcile_errors_total",
    "stjob_reconcile_duration_seconds_bucket",
    "stjob_time_to_running_seconds_bucket",
}
KSM_METRICS = {
    "kube_customresource_stjob_phase",
    "kube_customresource_stjob_train_loss",
    "kube_customresource_stjob_primary_metric_value",
    "kube_customresource_stjob_samples_per_second",
    "kube_customresource_stjob_progress_percent",
}
PROMQL_WORDS = {
    "sum",
    "max",
    "by",
    "rate",
    "offset",
    "absent",
    "histogram_quantile",
    "increase",
    "unless",
    "or",
    "reason",
    "le",
    "up",
    "phase",
    "kind",
    "namespace",
    "name",
    "job",
}


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that are metric names (not functions, labels or strings)."""
    stripped = re.sub(r'"[^"]*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "[]", stripped)
    stripped = re.sub(r"\boffset\s+\w+", "", stripped)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped))
    return words - PROMQL_WORDS


def _dashboard() -> dict[str, Any]:
    configmap = next(
        m for m in render("metrics") if m["kind"] == "ConfigMap" and "grafana_dashboard" in m["metadata"]["labels"]
    )
    dashboard: dict[str, Any] = json.loads(configmap["data"]["stjob-overview.json"])
    return dashboard


def test_service_monitor_scrapes_the_metrics_port() -> None:
    manifests = render("metrics")
    monitor = one(manifests, "ServiceMonitor")
    service = one(manifests, "Service")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "http-metrics", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_prometheus_rule_alerts() -> None:
    manifests = render("metrics")
    rule = one(manifests, "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {"StjobJobFailed", "StjobJobStuckPending", "StjobOperatorDown"}
    assert "increase(stjob_job_failures_total[10m])" in alerts["StjobJobFailed"]["expr"]
    assert alerts["StjobJobStuckPending"]["for"] == "30m"
    assert 'phase="Pending"' in alerts["StjobJobStuckPending"]["expr"]
    service = one(manifests, "Service")["metadata"]["name"]
    assert f'absent(up{{job="{service}", namespace="{NAMESPACE}"}} == 1)' in alerts["StjobOperatorDown"]["expr"]
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
        assert metric_names(alert["expr"]) <= OPERATOR_METRICS | KSM_METRICS | {"up"}, alert["alert"]


def test_stuck_pending_without_kube_state_metrics_uses_the_operator_gauge() -> None:
    from tests.chart.rendering import run_helm, template_args

    result = run_helm(
        *template_args("--set", "metrics.prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml")
    )
    assert result.returncode == 0, result.stderr
    rules = {r["alert"]: r for r in yaml.safe_load(result.stdout)["spec"]["groups"][0]["rules"]}
    assert metric_names(rules["StjobJobStuckPending"]["expr"]) == {"stjob_jobs_by_phase"}


def test_dashboard_panels_cover_the_issue() -> None:
    dashboard = _dashboard()
    titles = {p["title"] for p in dashboard["panels"] if p["type"] != "row"}
    assert {"Jobs by phase", "Training loss", "Eval metric", "Samples/s", "Reconcile latency (p50 / p99)"} <= titles
    latency = next(p for p in dashboard["panels"] if p["title"] == "Reconcile latency (p50 / p99)")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
    ]


def test_dashboard_queries_only_known_metrics() -> None:
    dashboard = _dashboard()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names = metric_names(target["expr"].replace("$__rate_interval", "5m"))
            assert names <= OPERATOR_METRICS | KSM_METRICS, (panel["title"], names)
            used |= names
    assert {"kube_customresource_stjob_train_loss", "stjob_jobs_by_phase"} <= used


def test_dashboard_configmap_is_labelled_for_the_grafana_sidecar() -> None:
    configmap = next(
        m for m in render("metrics") if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboard")
    )
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "ML"}


def _crd_schema_at(path: list[str]) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / "stjob.dev_sentencetransformerjobs.yaml").read_text())
    node: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for segment in path:
        node = node["properties"][segment]
    return node


def test_kube_state_metrics_config_paths_exist_in_the_crd() -> None:
    configmap = next(
        m for m in render("metrics") if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-ksm-config")
    )
    config = yaml.safe_load(configmap["data"]["custom-resource-state.yaml"])
    assert config == yaml.safe_load((CHART / "files" / "kube-state-metrics" / "custom-resource-state.yaml").read_text())
    assert config["kind"] == "CustomResourceStateMetrics"
    (resource,) = config["spec"]["resources"]
    assert resource["groupVersionKind"] == {
        "group": "stjob.dev",
        "version": "v1alpha1",
        "kind": "SentenceTransformerJob",
    }
    names: set[str] = set()
    for metric in resource["metrics"]:
        names.add(f"{resource['metricNamePrefix']}_{metric['name']}")
        each = metric["each"]
        spec = each["gauge"] if each["type"] == "Gauge" else each["stateSet"]
        leaf = _crd_schema_at(spec["path"])
        if each["type"] == "Gauge":
            assert leaf["type"] in ("number", "integer"), metric["name"]
        else:
            assert set(spec["list"]) == set(leaf["enum"]), "phase list must match the CRD's enum"
        for label_path in metric.get("labelsFromPath", {}).values():
            _crd_schema_at(label_path)
    for label_path in resource["labelsFromPath"].values():
        if label_path[0] != "metadata":
            _crd_schema_at(label_path)
    assert names == KSM_METRICS


def _operator_exposed_metrics() -> set[str]:
    """Sample names the operator's registry exposes (operator/stjob/controller/metrics.py)."""
    from stjob.controller import metrics  # an ImportError here is a failure, never a skip

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_chart_queries_metrics_the_operator_exposes() -> None:
    exposed = _operator_exposed_metrics()
    missing = OPERATOR_METRICS - exposed
    assert not missing, f"the chart queries {sorted(missing)}; the operator exposes {sorted(exposed)}"
