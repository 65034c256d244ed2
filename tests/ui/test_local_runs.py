"""``stjob ui --local-runs DIR``: stjob train's run folders as board rows and job pages, with no cluster."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient
from typer.testing import CliRunner

from stjob.api.contract import RunLayout
from stjob.cli import app as cli
from stjob.ui import local_runs as local_runs_module
from stjob.ui.app import create_app
from stjob.ui.local_runs import ACTIVE_WITHIN_S, LOCAL_NAMESPACE, STOPPED, LocalRunsSource, run_resource
from stjob.ui.source import READ_ONLY, Forbidden
from tests.ui import browser, scenarios
from tests.ui.fake_source import HOSTILE
from tests.ui.run_folders import EVENTS, FINGERPRINT, NOW, SUCCEEDED, write_run


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_run(tmp_path, "sick", SUCCEEDED)
    failed = {"outcome": "Failed", "reason": "DataError", "message": HOSTILE, "timings": {"seconds": 1.0}}
    write_run(tmp_path, "broken", failed, events=[])
    write_run(tmp_path, "training", fingerprint=FINGERPRINT, events=EVENTS[:3])
    write_run(tmp_path, "abandoned", fingerprint=FINGERPRINT, events=EVENTS[:2], age_s=ACTIVE_WITHIN_S + 600)
    (tmp_path / "not-a-run").mkdir()  # no result, no metrics: not listed
    return tmp_path


def _jobs(runs: Path) -> dict[str, dict[str, Any]]:
    return {j["metadata"]["name"]: j for j in LocalRunsSource(runs, clock=lambda: NOW).list_jobs()}


def test_each_run_folder_is_a_job_with_phase_progress_metrics_and_report(runs: Path) -> None:
    jobs = _jobs(runs)
    assert sorted(jobs) == ["abandoned", "broken", "sick", "training"]
    sick = jobs["sick"]
    assert sick["metadata"]["namespace"] == LOCAL_NAMESPACE
    assert sick["spec"]["trainer"] == "pair_score" and sick["spec"]["model"]["name"].endswith("MiniLM-L6-v2")
    status = sick["status"]
    assert status["phase"] == "Succeeded" and status["progress"]["percent"] == 100
    assert status["metrics"] == {
        "trainLoss": 4.3,
        "evalLoss": 4.38,
        "primaryMetric": "eval_spearman_cosine",
        "primaryMetricValue": 0.61,
        "bestMetricValue": 0.61,
    }
    assert status["evaluation"] == {"primaryMetric": "spearman_cosine", "baseline": 0.52, "final": 0.61, "delta": 0.09}

    broken = jobs["broken"]["status"]
    assert broken["phase"] == "Failed"
    assert broken["conditions"][0]["reason"] == "DataError" and broken["conditions"][0]["message"] == HOSTILE

    training = jobs["training"]
    assert training["status"]["phase"] == "Running"
    # Epoch 1 of 4 after 1 s (metrics.jsonl's times): 3 s to go at that pace.
    assert training["status"]["progress"] == {"step": 2, "epoch": 1.0, "percent": 25, "etaSeconds": 3}
    assert training["spec"]["trainer"] == "pair" and training["spec"]["training"] == {"epochs": 4}  # the fingerprint

    abandoned = jobs["abandoned"]["status"]
    assert abandoned["phase"] == STOPPED
    assert "stjob train on the same file resumes" in abandoned["conditions"][0]["message"]


def test_the_page_over_a_runs_folder_offers_no_actions(runs: Path) -> None:
    client = TestClient(create_app(LocalRunsSource(runs), runs_dir=runs, hosts=("testserver",)))
    board = client.get("/").text
    assert "4 of 4 jobs" in board and 'href="/new"' not in board and "read-only" in board
    assert "spearman_cosine 0.5200 -&gt; 0.6100 (+0.0900)" in board  # baseline -> fine-tuned
    assert f'<option value="{STOPPED}">' in board  # the filter offers the local phase

    page = client.get(f"/jobs/{LOCAL_NAMESPACE}/sick").text
    assert "<form method=post" not in page
    report = re.search(r"<table id=evaluation>(.*?)</table>", page)
    assert report and report.group(1).index("spearman_cosine") < report.group(1).index("pearson_cosine")
    assert "<td>0.5500</td><td>+0.1000</td>" in report.group(1)
    assert "&lt;script&gt;" in client.get(f"/jobs/{LOCAL_NAMESPACE}/broken").text

    records = client.get(f"/jobs/{LOCAL_NAMESPACE}/sick/metrics").json()["records"]
    assert [r["step"] for r in records] == [0, 1, 2, 2]
    log = client.get(f"/jobs/{LOCAL_NAMESPACE}/sick/logs").json()["text"].splitlines()
    assert log[0].startswith("# the last 4 events of") and json.loads(log[-1])["eval_spearman_cosine"] == 0.61

    csrf = re.search(r'name="csrf-token" content="([^"]+)"', board)
    assert csrf
    for verb in ("delete", "suspend"):
        reply = client.post(f"/jobs/{LOCAL_NAMESPACE}/sick/{verb}", data={"csrf": csrf.group(1)})
        assert reply.status_code == 403 and READ_ONLY in reply.text
    assert client.get("/new").status_code == 403
    created = client.post("/api/jobs", json={"name": "x", "spec": {}}, headers={"x-csrf-token": csrf.group(1)})
    assert created.status_code in (403, 422)
    assert (runs / "sick" / "result.json").is_file()


@pytest.mark.parametrize(("namespace", "name"), [("local", ".."), ("local", "not-a-run"), ("team-a", "sick")])
def test_only_a_run_folder_of_the_runs_folder_is_a_job(runs: Path, namespace: str, name: str) -> None:
    with pytest.raises(Forbidden, match="404"):
        LocalRunsSource(runs).get_job(namespace, name)


def test_watch_adds_every_run_then_follows_the_folder(runs: Path) -> None:
    stop = threading.Event()
    events = LocalRunsSource(runs, poll_s=0.05).watch_jobs(stop)
    try:
        first = [next(events) for _ in range(4)]
        assert {kind for kind, _ in first} == {"ADDED"}
        layout = RunLayout.of(runs, "training")
        with layout.metrics.open("a") as f:
            f.write(json.dumps({**EVENTS[3], "epoch": 2.0}) + "\n")
        kind, job = next(events)
        assert kind == "MODIFIED" and job["status"]["progress"]["percent"] == 50
        for path in layout.root.rglob("*"):
            if path.is_file():
                path.unlink()
        assert next(events)[0] == "DELETED"
    finally:
        stop.set()


def test_cli_serves_a_runs_folder_without_a_kubeconfig(
    runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append((app, kwargs)))
    result = CliRunner().invoke(cli, ["ui", "--local-runs", str(runs)])
    assert result.exit_code == 0, result.output
    app, kwargs = served[0]
    assert kwargs["host"] == "127.0.0.1"
    assert "4 of 4 jobs" in TestClient(app, base_url="http://127.0.0.1").get("/").text
    assert CliRunner().invoke(cli, ["ui", "--local-runs", str(tmp_path / "nope")]).exit_code == 2


@pytest.mark.browser
def test_runs_folder_in_chromium_board_live_and_job_page(runs: Path) -> None:
    if browser.chromium() is None:
        pytest.fail(browser.INSTALL_HINT)
    source = LocalRunsSource(runs, poll_s=0.1)
    with browser.serving(create_app(source, runs_dir=runs, heartbeat_s=0.5)) as url, browser.driven() as tab:
        tab.goto(url + "/")
        tab.wait_for("Number(document.getElementById('board').dataset.updates) >= 1", "the live stream")
        write_run(runs, "newcomer", SUCCEEDED)  # a run finishing while the page is open
        tab.wait_for("document.querySelector('tr[data-key=\"local/newcomer\"] [data-col=phase]')", "the new run")
        message = "document.querySelector('tr[data-key=\"local/broken\"] [data-col=message]').textContent"
        assert tab.evaluate(message) == HOSTILE
        scenarios.untouched(tab)
        curves = scenarios.job_page_shows_curves_and_log(tab, url, "local/sick", '"eval_spearman_cosine": 0.61')
        assert curves == ["eval_spearman_cosine", "loss", "eval_loss"]
        assert tab.evaluate("document.querySelectorAll('#evaluation tbody tr').length") == 2
        assert tab.evaluate("document.querySelectorAll('.actions form').length") == 0


def test_a_run_is_read_again_only_when_its_files_change(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def counted(layout: RunLayout, now: float) -> dict[str, Any]:
        built.append(layout.root.name)
        return run_resource(layout, now)

    monkeypatch.setattr(local_runs_module, "run_resource", counted)
    source = LocalRunsSource(runs, clock=lambda: NOW)
    source.list_jobs()
    source.list_jobs()
    assert sorted(built) == ["abandoned", "broken", "sick", "training"]  # once each
    with RunLayout.of(runs, "training").metrics.open("a") as f:
        f.write(json.dumps(EVENTS[3]) + "\n")
    source.list_jobs()
    assert built[4:] == ["training"]
