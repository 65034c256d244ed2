"""HTML for the board and the job page: pure functions of the resource dicts, every user string escaped.

Escaping happens in exactly one place, ``_e``; live updates go through ``textContent`` in ui.js, so a
``<script>`` in a status message is text on both paths.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

import yaml

from stjob.api.status import evaluation_text, format_duration

#: Board columns: key in ``board_row`` -> header. ui.js fills cells by these keys.
COLUMNS: dict[str, str] = {
    "namespace": "Namespace",
    "name": "Name",
    "trainer": "Trainer",
    "model": "Model",
    "phase": "Phase",
    "progress": "Progress",
    "eta": "ETA",
    "metric": "Primary metric",
    "message": "Message",
    "age": "Age",
}
#: The cluster's phases, for the board's filter (a local runs folder adds its own, e.g. Stopped).
PHASES = ("Pending", "Queued", "Running", "Suspended", "Succeeded", "Failed")
#: ``status`` key only a local run carries: result.json's whole evaluation report, metric -> baseline,
#: final, delta (a cluster job's ``status.evaluation`` holds the primary metric only).
EVALUATION_REPORT_KEY = "evaluationReport"


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("-" if value is None else str(value))


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def latest_message(status: dict[str, Any]) -> str:
    """The message of the most telling condition: Failed, then Stalled, then the newest one."""
    conditions = status.get("conditions") or []
    for kind in ("Failed", "Stalled"):
        for cond in conditions:
            if cond.get("type") == kind and cond.get("status") == "True":
                return str(cond.get("message") or cond.get("reason") or "")
    newest = max(conditions, key=lambda c: str(c.get("lastTransitionTime") or ""), default=None)
    return str((newest or {}).get("message") or "")


def board_row(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One job as the board's cells (plain strings, escaped only when rendered)."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    progress, metrics = status.get("progress") or {}, status.get("metrics") or {}
    created = _parse_time(meta.get("creationTimestamp"))
    metric = "-"
    if evaluation_text(status.get("evaluation") or {}):  # the report: base model -> fine-tuned
        metric = str(evaluation_text(status["evaluation"]))
    elif metrics.get("primaryMetric"):
        metric = (
            f"{metrics['primaryMetric']} {_fmt(metrics.get('primaryMetricValue'))}"
            f" (best {_fmt(metrics.get('bestMetricValue'))})"
        )
    eta = progress.get("etaSeconds")
    return {
        "key": f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "trainer": spec.get("trainer", ""),
        "model": (spec.get("model") or {}).get("name", ""),
        "phase": status.get("phase") or "Pending",
        "percent": progress.get("percent") or 0,
        "progress": f"{progress['percent']}%" if progress.get("percent") is not None else "-",
        "eta": format_duration(eta) if eta is not None else "-",
        "metric": metric,
        "message": latest_message(status),
        "age": format_duration((now - created).total_seconds()) if created else "-",
    }


def _layout(title: str, body: str, csrf: str, read_only: bool = False) -> str:
    new = '<a class=new href="/new">new job</a>'
    if read_only:
        new = "<span class=new>read-only: a local runs folder</span>"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta name="csrf-token" content="{_e(csrf)}"><title>{_e(title)} · stjob</title>'
        '<link rel=stylesheet href="/static/ui.css"><script src="/static/ui.js" defer></script>'
        f'</head><body><header><a href="/">stjob</a> <span>{_e(title)}</span> {new}'
        f"</header><main>{body}</main>"
        "</body></html>"
    )


def _cell(key: str, row: dict[str, Any]) -> str:
    if key == "name":
        href = f"/jobs/{_e(row['namespace'])}/{_e(row['name'])}"
        return f'<td data-col=name><a href="{href}">{_e(row["name"])}</a></td>'
    if key == "progress":
        return (
            f'<td data-col=progress><progress max=100 value="{int(row["percent"])}"></progress> '
            f"<span>{_e(row['progress'])}</span></td>"
        )
    if key == "phase":
        return f'<td data-col=phase class="phase-{_e(row["phase"])}">{_e(row["phase"])}</td>'
    return f"<td data-col={key}>{_e(row[key])}</td>"


def board_page(
    rows: list[dict[str, Any]], namespace: str, phase: str, csrf: str, error: str = "", read_only: bool = False
) -> str:
    """The board: a filter form, then one row per job; ui.js keeps it live from ``/events``."""
    namespaces = sorted({str(r["namespace"]) for r in rows} | ({namespace} if namespace else set()))
    phases = [*PHASES, *sorted({str(r["phase"]) for r in rows} - set(PHASES))]
    shown = [r for r in rows if (not namespace or r["namespace"] == namespace) and (not phase or r["phase"] == phase)]

    def options(values: list[str], chosen: str) -> str:
        return "".join(
            f'<option value="{_e(v)}"{" selected" if v == chosen else ""}>{_e(v or "all")}</option>'
            for v in ["", *values]
        )

    head = "".join(f"<th>{_e(h)}</th>" for h in COLUMNS.values())
    body = "".join(f'<tr data-key="{_e(r["key"])}">' + "".join(_cell(k, r) for k in COLUMNS) + "</tr>" for r in shown)
    alert = f"<p class=error role=alert>{_e(error)}</p>" if error else ""
    return _layout(
        "jobs",
        f"{alert}<form class=filters method=get>"
        f"<label>Namespace <select name=namespace>{options(namespaces, namespace)}</select></label> "
        f"<label>Phase <select name=phase>{options(phases, phase)}</select></label> <button>Filter</button></form>"
        f'<table id=board data-namespace="{_e(namespace)}" data-phase="{_e(phase)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table><p class=count>{len(shown)} of {len(rows)} jobs</p>",
        csrf,
        read_only,
    )


def _timeline(obj: dict[str, Any], events: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """Conditions and Events merged by time: (time, kind, reason, message)."""
    items = [
        (
            str(c.get("lastTransitionTime") or ""),
            f"condition {c.get('type')}={c.get('status')}",
            str(c.get("reason") or ""),
            str(c.get("message") or ""),
        )
        for c in (obj.get("status") or {}).get("conditions") or []
    ]
    for ev in events:
        when = ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
        kind = f"event {ev.get('type') or ''}"
        items.append((str(when or ""), kind, str(ev.get("reason") or ""), str(ev.get("message") or "")))
    return sorted(items)


#: The evaluation table's columns: key, and the format sign (a delta shows its +).
_REPORT_COLUMNS = (("baseline", ""), ("final", ""), ("delta", "+"))


def _score(value: Any, sign: str) -> str:
    return f"{value:{sign}.4f}" if isinstance(value, (int, float)) else "-"


def _evaluation(status: dict[str, Any]) -> str:
    """Base model vs fine-tuned: every metric of a local run's report, else the cluster's primary metric."""
    summary = status.get("evaluation") or {}
    report = status.get(EVALUATION_REPORT_KEY) or (
        {summary["primaryMetric"]: summary} if summary.get("primaryMetric") else {}
    )
    if not report:
        return ""
    primary = summary.get("primaryMetric")
    rows = "".join(
        f"<tr{' class=primary' if name == primary else ''}><td>{_e(name)}</td>"
        + "".join(f"<td>{_e(_score((values or {}).get(k), sign))}</td>" for k, sign in _REPORT_COLUMNS)
        + "</tr>"
        for name, values in sorted(report.items(), key=lambda item: item[0] != primary)
    )
    return (
        "<h2>Evaluation</h2><table id=evaluation><thead><tr><th>Metric</th><th>Base model</th><th>Fine-tuned</th>"
        f"<th>Delta</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def job_page(
    obj: dict[str, Any],
    events: list[dict[str, Any]],
    now: datetime,
    csrf: str,
    error: str = "",
    read_only: bool = False,
) -> str:
    """Summary, failure, actions, evaluation, curves (drawn by ui.js from ``metrics``), timeline, spec as YAML."""
    row = board_row(obj, now)
    status = obj.get("status") or {}
    base = f"/jobs/{_e(row['namespace'])}/{_e(row['name'])}"
    failed = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Failed" and c.get("status") == "True"), None
    )
    failure = ""
    if failed:
        failure = f"<section class=failure><h2>Failed: {_e(failed.get('reason'))}</h2>"
        failure += f"<p>{_e(failed.get('message'))}</p></section>"
    suspended = bool((obj.get("spec") or {}).get("suspend"))
    toggle = "resume" if suspended else "suspend"
    actions = "".join(
        f'<form method=post action="{base}/{verb}"><input type=hidden name=csrf value="{_e(csrf)}">'
        f"<button{' class=danger' if verb == 'delete' else ''}>{verb}</button></form>"
        for verb in (() if read_only else (toggle, "delete"))
    )
    summary = "".join(
        f"<dt>{_e(COLUMNS[k])}</dt><dd data-col={k}>{_e(row[k])}</dd>" for k in COLUMNS if k not in ("name", "message")
    )
    timeline = "".join(
        f"<li><time>{_e(t)}</time> <b>{_e(kind)}</b> {_e(reason)} <span>{_e(msg)}</span></li>"
        for t, kind, reason, msg in _timeline(obj, events)
    )
    spec_yaml = yaml.safe_dump(obj.get("spec") or {}, sort_keys=False)
    alert = f"<p class=error role=alert>{_e(error)}</p>" if error else ""
    return _layout(
        f"{row['namespace']}/{row['name']}",
        f"{alert}{failure}<dl class=summary>{summary}</dl><div class=actions>{actions}</div>{_evaluation(status)}"
        f'<h2>Curves</h2><canvas id=curves width=800 height=300 data-src="{base}/metrics"></canvas>'
        f'<p id=curves-note></p><h2>Log</h2><pre id=logs class=spec data-src="{base}/logs"></pre>'
        f"<h2>Timeline</h2><ol class=timeline>{timeline or '<li>nothing yet</li>'}</ol>"
        f"<h2>Spec</h2><pre class=spec>{_e(spec_yaml)}</pre>",
        csrf,
        read_only,
    )


def submit_page(form: str, csrf: str) -> str:
    """Name, namespace and the generated spec inputs; ui.js validates on every change and previews YAML."""
    return _layout(
        "new job",
        "<form id=submit class=submit><fieldset><legend>metadata</legend>"
        "<label for=f-name>name</label><input id=f-name name=name required><small>a DNS label</small>"
        "<label for=f-namespace>namespace</label><input id=f-namespace name=namespace value=default><small></small>"
        f"</fieldset>{form}<button id=create type=button>create</button></form>"
        "<aside><h2>Problems</h2><ul id=errors></ul><h2>YAML</h2><pre id=preview class=spec></pre></aside>",
        csrf,
    )
