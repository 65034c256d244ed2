"""The page's HTTP handlers (Starlette's TestClient) over an in-memory API."""

from __future__ import annotations

import json
import queue
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from stjob.api.contract import RunLayout
from stjob.ui.app import board_changes, create_app
from stjob.ui.render import board_row
from tests.ui.fake_source import HOSTILE, FakeSource, make_job

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def _failed(name: str, message: str) -> dict[str, object]:
    cond = {"type": "Failed", "status": "True", "reason": "DataError", "message": message}
    return make_job(name, phase="Failed", conditions=[{**cond, "lastTransitionTime": "2026-11-29T11:00:00Z"}])


def _client(source: FakeSource, **kwargs: object) -> TestClient:
    return TestClient(create_app(source, hosts=("testserver",), now=lambda: NOW, **kwargs))  # type: ignore[arg-type]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.fixture
def source() -> FakeSource:
    running = make_job(
        "minilm-sts",
        progress={"percent": 42, "etaSeconds": 310, "step": 420, "totalSteps": 1000},
        metrics={"primaryMetric": "eval_spearman_cosine", "primaryMetricValue": 0.81, "bestMetricValue": 0.83},
    )
    return FakeSource([running, _failed("bad-data", HOSTILE), make_job("other", namespace="team-b", phase="Queued")])


def test_board_lists_every_visible_job_with_its_columns(source: FakeSource) -> None:
    html = _client(source).get("/").text
    assert "3 of 3 jobs" in html
    for text in ("minilm-sts", "pair_score", "sentence-transformers/all-MiniLM-L6-v2", "42%", "5m10s"):
        assert text in html
    assert "eval_spearman_cosine 0.81 (best 0.83)" in html
    assert "2h00m" in html  # age


def test_board_filters_by_namespace_and_phase(source: FakeSource) -> None:
    client = _client(source)
    assert "1 of 3 jobs" in client.get("/", params={"namespace": "team-b"}).text
    html = client.get("/", params={"phase": "Failed"}).text
    assert "1 of 3 jobs" in html and "bad-data" in html and "minilm-sts" not in html


def test_hostile_text_is_escaped_on_board_and_job_page(source: FakeSource) -> None:
    client = _client(source)
    for html in (client.get("/").text, client.get("/jobs/team-a/bad-data").text):
        assert "<script>document" not in html and "<img src=x" not in html
        assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in html


def test_job_page_shows_failure_timeline_spec_and_actions(source: FakeSource) -> None:
    source.event_items = [
        {"type": "Warning", "reason": "BackOff", "message": "restarted", "lastTimestamp": "2026-11-29T10:30:00Z"}
    ]
    html = _client(source).get("/jobs/team-a/bad-data").text
    assert "Failed: DataError" in html
    assert html.index("BackOff") < html.index("condition Failed=True")  # the timeline is in time order
    assert "trainer: pair_score" in html  # spec as YAML
    assert 'action="/jobs/team-a/bad-data/suspend"' in html and 'action="/jobs/team-a/bad-data/delete"' in html


def test_actions_need_the_csrf_token(source: FakeSource) -> None:
    client = _client(source)
    reply = client.post("/jobs/team-a/minilm-sts/delete", data={"csrf": "guess"}, follow_redirects=False)
    assert reply.status_code == 403
    assert ("team-a", "minilm-sts") in source.jobs


def test_suspend_resume_and_delete(source: FakeSource) -> None:
    client = _client(source)
    token = _csrf(client.get("/").text)
    reply = client.post("/jobs/team-a/minilm-sts/suspend", data={"csrf": token}, follow_redirects=False)
    assert reply.status_code == 303 and source.jobs["team-a", "minilm-sts"]["spec"]["suspend"] is True
    assert 'action="/jobs/team-a/minilm-sts/resume"' in client.get("/jobs/team-a/minilm-sts").text
    client.post("/jobs/team-a/minilm-sts/resume", data={"csrf": token}, follow_redirects=False)
    assert source.jobs["team-a", "minilm-sts"]["spec"]["suspend"] is False
    reply = client.post("/jobs/team-a/minilm-sts/delete", data={"csrf": token}, follow_redirects=False)
    assert reply.status_code == 303 and ("team-a", "minilm-sts") not in source.jobs


def test_rbac_refusal_is_shown_not_acted_on(source: FakeSource) -> None:
    source.forbidden = frozenset({"delete", "patch"})
    client = _client(source)
    token = _csrf(client.get("/").text)
    reply = client.post("/jobs/team-a/minilm-sts/delete", data={"csrf": token})
    assert reply.status_code == 403 and "user &quot;alice&quot; cannot delete" in reply.text
    assert client.post("/jobs/team-a/minilm-sts/suspend", data={"csrf": token}).status_code == 403
    assert ("team-a", "minilm-sts") in source.jobs


def test_board_shows_a_forbidden_list() -> None:
    html = _client(FakeSource([], forbidden=frozenset({"list"}))).get("/").text
    assert "cannot list sentencetransformerjobs" in html


def test_other_hosts_are_refused(source: FakeSource) -> None:
    """DNS rebinding: a page on 127.0.0.1 answers only to local host names."""
    client = TestClient(create_app(source), base_url="http://evil.example")
    assert client.get("/").status_code == 400


def test_board_changes_are_the_rows_new_or_different_and_the_keys_gone(source: FakeSource) -> None:
    first = [board_row(j, NOW) for j in source.list_jobs()]
    everyone = {"team-a/minilm-sts", "team-a/bad-data", "team-b/other"}
    assert {r["key"] for r in board_changes({}, first)["upsert"]} == everyone
    source.jobs["team-a", "minilm-sts"]["status"]["progress"]["percent"] = 50
    del source.jobs["team-b", "other"]
    changes = board_changes({r["key"]: r for r in first}, [board_row(j, NOW) for j in source.list_jobs()])
    assert [r["progress"] for r in changes["upsert"]] == ["50%"] and changes["remove"] == ["team-b/other"]


def _board_after(body: str) -> dict[str, dict[str, object]]:
    """Apply every ``data:`` message of an event stream, as ui.js does."""
    board: dict[str, dict[str, object]] = {}
    for message in body.split("\n\n"):
        if message.startswith("data: "):
            changes = json.loads(message.removeprefix("data: "))
            board.update({r["key"]: r for r in changes["upsert"]})
            for key in changes["remove"]:
                board.pop(key)
    return board


def test_event_stream_follows_the_watch(source: FakeSource) -> None:
    """Every job first (the watch's ADDED), then each change; the stream ends with the watch."""
    changed = source.get_job("team-a", "minilm-sts")
    changed["status"]["progress"]["percent"] = 50
    source.feed = queue.Queue()
    for event in [("MODIFIED", changed), ("DELETED", source.get_job("team-b", "other")), None]:
        source.feed.put(event)  # type: ignore[arg-type]
    with _client(source).stream("GET", "/events") as reply:
        body = "".join(reply.iter_text())
    assert reply.headers["content-type"].startswith("text/event-stream")
    board = _board_after(body)
    assert set(board) == {"team-a/minilm-sts", "team-a/bad-data"}
    assert board["team-a/minilm-sts"]["progress"] == "50%"


def test_event_stream_reports_a_forbidden_watch() -> None:
    source = FakeSource([], forbidden=frozenset({"list"}))
    with _client(source).stream("GET", "/events") as reply:
        body = "".join(reply.iter_text())
    assert body.startswith("event: error") and "cannot list" in body


def test_metrics_come_from_the_runs_folder(source: FakeSource, tmp_path: Path) -> None:
    layout = RunLayout.of(tmp_path, "minilm-sts")
    layout.root.mkdir()
    layout.metrics.write_text('{"step": 1, "loss": 2.5}\n{"step": 2, "eval_spearman_cosine": 0.8}\n{"step": 3, "lo')
    records = _client(source, runs_dir=tmp_path).get("/jobs/team-a/minilm-sts/metrics").json()["records"]
    assert records == [{"step": 1, "loss": 2.5}, {"step": 2, "eval_spearman_cosine": 0.8}]
    assert _client(source).get("/jobs/team-a/minilm-sts/metrics").json()["records"] == []


VALID: dict[str, Any] = {"name": "fresh", "namespace": "team-a", "spec": {"trainer": "pair", "data": {"path": "sick"}}}


def test_validation_names_the_field_and_previews_yaml(source: FakeSource) -> None:
    client = _client(source)
    token = _csrf(client.get("/new").text)
    invalid = {**VALID, "spec": {**VALID["spec"], "training": {"epochs": -1}}}
    reply = client.post("/api/validate", json=invalid, headers={"x-csrf-token": token}).json()
    assert [e["field"] for e in reply["errors"]] == ["spec.training.epochs"]
    assert "epochs: -1" in reply["yaml"] and "kind: SentenceTransformerJob" in reply["yaml"]
    assert client.post("/api/validate", json=VALID, headers={"x-csrf-token": token}).json()["errors"] == []
    assert client.post("/api/validate", json=VALID).status_code == 403


def test_create_dry_runs_first_and_refuses_invalid_or_forbidden(source: FakeSource) -> None:
    client = _client(source)
    token = _csrf(client.get("/new").text)
    bad = client.post("/api/jobs", json={**VALID, "name": "Not_A_Label"}, headers={"x-csrf-token": token})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "metadata.name"
    assert client.post("/api/jobs", json=VALID).status_code == 403  # no CSRF token
    reply = client.post("/api/jobs", json=VALID, headers={"x-csrf-token": token})
    assert reply.status_code == 201 and reply.json() == {"url": "/jobs/team-a/fresh"}
    assert source.dry_runs == 1 and source.jobs["team-a", "fresh"]["spec"] == VALID["spec"]
    source.forbidden = frozenset({"create"})
    refused = client.post("/api/jobs", json={**VALID, "name": "other"}, headers={"x-csrf-token": token})
    assert refused.status_code == 403 and "cannot create" in refused.json()["errors"][0]["message"]


def test_log_tail_of_the_trainer(source: FakeSource) -> None:
    source.logs["team-a", "minilm-sts"] = [f"line {i}" for i in range(300)]
    text = _client(source).get("/jobs/team-a/minilm-sts/logs").json()["text"]
    assert text.splitlines() == [f"line {i}" for i in range(100, 300)]  # the last 200
    source.forbidden = frozenset({"logs"})
    assert _client(source).get("/jobs/team-a/minilm-sts/logs").status_code == 403
