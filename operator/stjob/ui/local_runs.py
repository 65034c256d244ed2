"""The page over a local runs folder (``stjob ui --local-runs DIR``): each ``stjob train`` run, read-only.

A run folder has no resource, so this builds one in the cluster's shape (metadata, spec, status) from
what the trainer leaves there (docs/contracts.md, "Run folder layout"): ``result.json`` (outcome,
summary metrics, evaluation report), ``metrics.jsonl`` (the history, and the progress of a run still
training) and the checkpoints' fingerprint (the spec sections it trains from). The board, the job page
and ui.js then serve both sources alike. Nothing here needs a cluster, so nothing here acts on one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from stjob.api.contract import RunLayout
from stjob.ui.render import EVALUATION_REPORT_KEY
from stjob.ui.source import READ_ONLY, Forbidden, WatchEvent

#: The namespace the page shows for local runs (URLs are /jobs/{namespace}/{name}).
LOCAL_NAMESPACE = "local"
#: A run without result.json whose metrics.jsonl changed this recently is taken to be still training.
ACTIVE_WITHIN_S = 300
#: Seconds between two looks at the folder for the board's live updates.
POLL_S = 2.0
#: The phase of a run that stopped without a result (Ctrl-C, a crash, a killed machine).
STOPPED = "Stopped"
#: How many metrics.jsonl events the job page's log panel shows (stjob train logs to its terminal only).
LOG_EVENTS = 200


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent, or being written right now
    return data if isinstance(data, dict) else {}


def _events(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the line being appended
        if isinstance(record, dict):
            events.append(record)
    return events


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except ValueError:
        return None


def is_run(folder: Path) -> bool:
    """Whether ``folder`` looks like a ``stjob train`` run: it has a result or a metrics history."""
    layout = RunLayout(folder)
    return layout.result.is_file() or layout.metrics.is_file()


def _condition(kind: str, reason: str, message: str, at: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": at}


def _evaluation(report: dict[str, Any]) -> dict[str, Any] | None:
    """``status.evaluation`` (the primary metric's baseline, final, delta) from result.json's report."""
    primary = report.get("primaryMetric")
    row = (report.get("metrics") or {}).get(primary) or {}
    if not primary:
        return None
    return {"primaryMetric": primary, **{k: row.get(k) for k in ("baseline", "final", "delta")}}


def run_resource(layout: RunLayout, now: float) -> dict[str, Any]:
    """One run folder as a SentenceTransformerJob-shaped dict (``now``: seconds since the epoch)."""
    result, events = _read_json(layout.result), _events(layout.metrics)
    recorded = _read_json(layout.fingerprint).get("spec") or {}
    spec: dict[str, Any] = {**recorded, "output": {"projectName": layout.root.name}}
    spec.setdefault("trainer", result.get("trainer", ""))
    spec.setdefault("model", {"name": result.get("baseModel", "")})
    timings = result.get("timings") or {}
    mtime = max((p.stat().st_mtime for p in (layout.result, layout.metrics) if p.exists()), default=now)
    started = timings.get("startedAt") or (events[0].get("time") if events else None) or _iso(mtime)
    finished = timings.get("finishedAt") or _iso(mtime)

    summary = result.get("metrics") or {}
    last = {k: v for e in events for k, v in e.items() if k in ("step", "epoch", "loss", "eval_loss")}
    status: dict[str, Any] = {"startTime": started}
    primary = summary.get("primaryMetric")
    metrics = {
        "trainLoss": summary.get("trainLoss", last.get("loss")),
        "evalLoss": (summary.get("lastEval") or {}).get("eval_loss", last.get("eval_loss")),
    }
    if primary:
        metrics |= {
            "primaryMetric": f"eval_{primary}",
            "primaryMetricValue": (summary.get("lastEval") or {}).get(f"eval_{primary}"),
            "bestMetricValue": summary.get("best"),
        }
    status["metrics"] = {k: v for k, v in metrics.items() if v is not None}
    report = result.get("evaluation") or {}
    evaluation = _evaluation(report)
    if evaluation:
        status["evaluation"] = evaluation
        status[EVALUATION_REPORT_KEY] = report.get("metrics") or {}

    outcome = result.get("outcome")
    if outcome == "Succeeded":
        status["phase"] = "Succeeded"
        status["completionTime"] = finished
        step, epoch = result.get("globalStep"), result.get("epoch")
        status["progress"] = {"percent": 100, "step": step, "epoch": epoch, "totalSteps": step}
        status["conditions"] = [_condition("Succeeded", "Succeeded", f"model in {result.get('modelPath')}", finished)]
        status["output"] = {"modelPath": result.get("modelPath"), "hubUrl": result.get("hubUrl")}
    elif outcome == "Failed":
        status["phase"] = "Failed"
        status["completionTime"] = finished
        reason, message = str(result.get("reason") or "Failed"), str(result.get("message") or "")
        status["conditions"] = [_condition("Failed", reason, message, finished)]
    else:
        epochs = (recorded.get("training") or {}).get("epochs")
        epoch = last.get("epoch")
        progress: dict[str, Any] = {"step": last.get("step"), "epoch": epoch}
        if isinstance(epoch, (int, float)) and isinstance(epochs, (int, float)) and epochs > 0:
            progress["percent"] = max(0, min(99, int(100 * epoch / epochs)))
            elapsed = _seconds_between(events[0].get("time"), events[-1].get("time"))
            if elapsed is not None and epoch > 0:  # the pace so far, over the epochs left
                progress["etaSeconds"] = int(elapsed * (epochs - epoch) / epoch)
        status["progress"] = {k: v for k, v in progress.items() if v is not None}
        idle = now - mtime
        if idle <= ACTIVE_WITHIN_S:
            status["phase"] = "Running"
            status["conditions"] = [_condition("Running", "Training", "metrics.jsonl is growing", _iso(mtime))]
        else:
            status["phase"] = STOPPED
            message = (
                f"no result.json and no new metrics for {int(idle // 60)} min: the run was stopped or interrupted "
                "(stjob train on the same file resumes from its newest checkpoint)"
            )
            status["conditions"] = [_condition("Stalled", "NoResult", message, _iso(mtime))]
    return {
        "apiVersion": "local",
        "kind": "Run",
        "metadata": {"name": layout.root.name, "namespace": LOCAL_NAMESPACE, "creationTimestamp": started},
        "spec": spec,
        "status": status,
    }


class LocalRunsSource:
    """``JobSource`` over a folder of run folders; it only reads, and refuses every action."""

    read_only = True

    def __init__(self, runs_dir: Path, poll_s: float = POLL_S, clock: Any = time.time) -> None:
        self.runs_dir = runs_dir
        self._poll_s = poll_s
        self._clock = clock
        # Each run's resource, rebuilt only when its files change (or it turns idle): a long run's
        # metrics.jsonl is not re-read at every look at the folder.
        self._built: dict[Path, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _resource(self, layout: RunLayout, now: float) -> dict[str, Any]:
        stats: list[tuple[int, int] | None] = []
        for path in (layout.result, layout.metrics, layout.fingerprint):
            try:
                st = path.stat()
                stats.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stats.append(None)
        newest = max((st[0] for st in stats if st), default=0) / 1e9
        key = (*stats, now - newest > ACTIVE_WITHIN_S)
        with self._lock:  # the board and each open event stream share the source
            built = self._built.get(layout.root)
            if built is None or built[0] != key:
                built = (key, run_resource(layout, now))
                self._built[layout.root] = built
            return built[1]

    def _runs(self) -> list[RunLayout]:
        if not self.runs_dir.is_dir():
            raise Forbidden(f"404 Not Found: no folder {self.runs_dir}")
        return [RunLayout(p) for p in sorted(self.runs_dir.iterdir()) if p.is_dir() and is_run(p)]

    def list_jobs(self) -> list[dict[str, Any]]:
        now = self._clock()
        return [self._resource(layout, now) for layout in self._runs()]

    def watch_jobs(self, stop: threading.Event) -> Iterator[WatchEvent]:
        """Every run as ADDED, then what changed at each look at the folder, until ``stop``."""
        seen: dict[str, dict[str, Any]] = {}
        while not stop.is_set():
            current = {job["metadata"]["name"]: job for job in self.list_jobs()}
            for name, job in current.items():
                if name not in seen:
                    yield "ADDED", job
                elif seen[name] != job:
                    yield "MODIFIED", job
            for name in seen.keys() - current.keys():
                yield "DELETED", seen[name]
            seen = current
            stop.wait(self._poll_s)

    def _layout(self, namespace: str, name: str) -> RunLayout:
        folder = self.runs_dir / name
        # The name comes from a URL: only a direct child of the runs folder is a run.
        direct_child = name not in ("", ".", "..") and "/" not in name and "\\" not in name
        if namespace != LOCAL_NAMESPACE or not direct_child or not is_run(folder):
            raise Forbidden(f"404 Not Found: no run {name!r} in {self.runs_dir}")
        return RunLayout(folder)

    def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        return run_resource(self._layout(namespace, name), self._clock())

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return []

    def log_tail(self, namespace: str, name: str, lines: int) -> str:
        """The run's last metrics events: ``stjob train`` logs to its terminal, the folder keeps only these."""
        layout = self._layout(namespace, name)
        tail = [json.dumps(e) for e in _events(layout.metrics)[-min(lines, LOG_EVENTS) :]]
        header = f"# the last {len(tail)} events of {layout.metrics} (stjob train logs to its terminal)"
        return "\n".join([header, *tail])

    def delete_job(self, namespace: str, name: str) -> None:
        raise Forbidden(READ_ONLY)

    def set_suspend(self, namespace: str, name: str, suspend: bool) -> None:
        raise Forbidden(READ_ONLY)

    def create_job(self, namespace: str, body: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        raise Forbidden(READ_ONLY)
