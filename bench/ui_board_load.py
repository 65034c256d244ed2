"""Load time of the ``stjob ui`` board with N jobs (a fake API: the page's own cost), and its screenshots.

    .venv/bin/python bench/ui_board_load.py [N]              # default 200
    .venv/bin/python bench/ui_board_load.py --screenshots    # also rewrite docs/img/ui-board.png, ui-job.png,
                                                             # ui-local-run.png (stjob ui --local-runs)

Server: GET / over HTTP to uvicorn on 127.0.0.1 (median of 20). Browser: headless Chromium's wall time
to load the board and run its script (``--dump-dom``), for N jobs and for 1 job; the difference is what
N rows cost over Chromium's own start. The fake's watch, and so the event stream, ends after the initial
listing: Chromium's virtual time stands still while a request is open. Then, in one driven Chromium
(DevTools protocol), the page's own Navigation Timing (request to load event) and the time until the
live stream's first message has been applied to the rows (median of 5 loads each).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stjob.api.contract import RunLayout  # noqa: E402
from stjob.ui.app import create_app  # noqa: E402
from stjob.ui.local_runs import LOCAL_NAMESPACE, LocalRunsSource  # noqa: E402
from tests.ui import browser  # noqa: E402
from tests.ui.fake_source import FakeSource, make_job  # noqa: E402
from tests.ui.run_folders import SUCCEEDED, write_run  # noqa: E402

PHASES = ["Running", "Running", "Succeeded", "Queued", "Failed", "Suspended", "Pending"]
TRAINERS = ["pair_score", "pair", "pair_class", "triplet", "mnrl"]


def demo_jobs(n: int) -> list[dict[str, Any]]:
    jobs = []
    for i in range(n):
        phase = PHASES[i % len(PHASES)]
        job = make_job(f"minilm-{i:03d}", namespace=f"team-{'abc'[i % 3]}", phase=phase)
        job["spec"]["trainer"] = TRAINERS[i % len(TRAINERS)]
        job["metadata"]["creationTimestamp"] = f"2026-11-29T{8 + i % 4:02d}:{i % 60:02d}:00Z"
        percent = 100 if phase == "Succeeded" else (i * 37) % 100
        job["status"]["progress"] = {"percent": percent, "etaSeconds": (100 - percent) * 9, "step": percent * 10}
        job["status"]["metrics"] = {
            "primaryMetric": "eval_spearman_cosine",
            "primaryMetricValue": 0.77 + percent / 1000,
            "bestMetricValue": 0.78 + percent / 1000,
        }
        if phase == "Failed":
            job["status"]["conditions"] = [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DataError",
                    "message": "column 'score' not found in train.csv (columns: sentence1, sentence2, label)",
                    "lastTransitionTime": "2026-11-29T11:40:00Z",
                }
            ]
        jobs.append(job)
    return jobs


def _write_metrics(runs: Path, project: str) -> None:
    import json

    layout = RunLayout.of(runs, project)
    layout.root.mkdir(parents=True)
    lines = [{"step": 0, "baseline": True, "eval_spearman_cosine": 0.771}]
    lines += [{"step": s, "loss": 7.6 * 0.93**s + 1.2} for s in range(2, 200, 4)]
    lines += [{"step": s, "eval_spearman_cosine": 0.771 + 0.06 * (1 - 0.98**s)} for s in range(40, 200, 40)]
    layout.metrics.write_text("".join(json.dumps(line) + "\n" for line in lines))


def measure(n: int) -> None:
    app = create_app(FakeSource(demo_jobs(n)))
    with browser.serving(app) as url:
        server = []
        for _ in range(20):
            start = time.perf_counter()
            with urllib.request.urlopen(url + "/") as reply:
                body = reply.read()
            server.append(time.perf_counter() - start)
        walls = {}
        for rows in (1, n):
            with browser.serving(create_app(FakeSource(demo_jobs(rows)))) as one:
                start = time.perf_counter()
                dom = browser.dump_dom(one + "/", budget_ms=500)
                walls[rows] = time.perf_counter() - start
                assert f"{rows} of {rows} jobs" in dom
    with browser.serving(create_app(FakeSource(demo_jobs(n)), heartbeat_s=0.5)) as url, browser.driven() as tab:
        loads, live = [], []
        for _ in range(5):
            tab.goto(url + "/")
            tab.wait_for("document.getElementById('board').dataset.updates", "the live stream's first message")
            loads.append(tab.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
            live.append(tab.evaluate("performance.now()"))
        assert tab.evaluate("document.querySelectorAll('#board tbody tr').length") == n
    median_ms = statistics.median(server) * 1e3
    print(f"board, {n} jobs: {len(body) / 1024:.0f} KiB HTML, server GET / median {median_ms:.1f} ms")
    print(
        f"chromium load+script: {walls[n] * 1e3:.0f} ms with {n} jobs, {walls[1] * 1e3:.0f} ms with 1 job "
        f"(ratio {walls[n] / walls[1]:.2f})"
    )
    print(
        f"in the page (Navigation Timing), {n} jobs: load event at {statistics.median(loads):.0f} ms, "
        f"live rows updated by {statistics.median(live):.0f} ms (median of 5)"
    )


def screenshots() -> None:
    img = ROOT / "docs" / "img"
    source = FakeSource(demo_jobs(9))
    conditions = [("Admitted", "Admitted", "10:00:01"), ("Running", "TrainerRunning", "10:00:40")]
    source.jobs["team-b", "minilm-001"]["status"]["conditions"] = [
        {"type": t, "status": "True", "reason": r, "message": "", "lastTransitionTime": f"2026-11-29T{at}Z"}
        for t, r, at in conditions
    ]
    source.event_items = [
        {"type": "Normal", "reason": "Created", "message": "Job minilm-001", "lastTimestamp": "2026-11-29T10:00:02Z"}
    ]
    source.logs["team-b", "minilm-001"] = [
        "{'loss': 1.43, 'grad_norm': 9.1, 'learning_rate': 2.1e-05, 'epoch': 1.1}",
        "{'eval_spearman_cosine': 0.817, 'eval_pearson_cosine': 0.824, 'epoch': 1.13}",
        "[#########...................]  37%  step 74/200  epoch 1.13  ETA 9m27s  63.1 samples/s",
    ]
    with tempfile.TemporaryDirectory() as runs:
        _write_metrics(Path(runs), "minilm-001")
        with browser.serving(create_app(source, runs_dir=Path(runs))) as url:
            browser.screenshot(url + "/", img / "ui-board.png", size="1600,420")
            browser.screenshot(url + "/jobs/team-b/minilm-001", img / "ui-job.png", size="1000,1000")
    with tempfile.TemporaryDirectory() as runs:
        events = [{"step": 0, "epoch": 0.0, "baseline": True, "eval_spearman_cosine": 0.771}]
        events += [{"step": s, "epoch": s / 100, "loss": 7.6 * 0.93**s + 1.2} for s in range(2, 200, 4)]
        events += [
            {"step": s, "epoch": s / 100, "eval_spearman_cosine": 0.771 + 0.06 * (1 - 0.98**s)}
            for s in range(40, 201, 40)
        ]
        report = {
            "primaryMetric": "spearman_cosine",
            "metrics": {
                "spearman_cosine": {"baseline": 0.771, "final": 0.8296, "delta": 0.0586},
                "pearson_cosine": {"baseline": 0.7802, "final": 0.8321, "delta": 0.0519},
            },
        }
        result = {**SUCCEEDED, "globalStep": 200, "epoch": 2.0, "evaluation": report}
        result["metrics"] = {**SUCCEEDED["metrics"], "baseline": 0.771, "best": 0.8296}
        result["metrics"]["lastEval"] = {"eval_loss": 1.21, "eval_spearman_cosine": 0.8296}
        write_run(Path(runs), "sick-similarity", result, events=events)
        with browser.serving(create_app(LocalRunsSource(Path(runs)), runs_dir=Path(runs))) as url:
            shot = img / "ui-local-run.png"
            browser.screenshot(f"{url}/jobs/{LOCAL_NAMESPACE}/sick-similarity", shot, size="1000,900")
    print(f"wrote {img / 'ui-board.png'}, {img / 'ui-job.png'} and {img / 'ui-local-run.png'}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    measure(int(args[0]) if args else 200)
    if "--screenshots" in sys.argv:
        screenshots()
