"""The page in headless Debian Chromium: live board, curves, and hostile text staying text.

Marked ``browser``: ``make test`` installs Chromium first (``make browser``); without it these fail, never skip.
"""

from __future__ import annotations

import json
import queue
import re
from pathlib import Path
from typing import Any

import pytest

from stjob.api.contract import RunLayout
from stjob.ui.app import create_app
from tests.ui import browser
from tests.ui.fake_source import HOSTILE, FakeSource, make_job

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    if browser.chromium() is None:
        pytest.fail(browser.INSTALL_HINT)


def _stalled(message: str) -> list[dict[str, Any]]:
    return [
        {"type": "Stalled", "status": "True", "reason": "X", "message": message, "lastTransitionTime": "2026-11-29"}
    ]


class ChangingSource(FakeSource):
    """After the watch's initial ADDED: a status change and a new job, then the watch ends."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        super().__init__(jobs)
        changed = self.get_job("team-a", "minilm")
        changed["status"]["progress"]["percent"] = 60
        self.feed = queue.Queue()
        for event in [("MODIFIED", changed), ("ADDED", make_job("newcomer", conditions=_stalled(HOSTILE))), None]:
            self.feed.put(event)  # type: ignore[arg-type]


def _row(dom: str, key: str) -> str:
    match = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', dom)
    assert match, f"no row {key} in {dom[-2000:]}"
    return match.group(1)


def _untouched_by(dom: str) -> None:
    assert "data-pwned" not in dom and "<title>pwned" not in dom
    assert "&lt;script&gt;document.title" in dom


def test_board_follows_status_changes_and_shows_hostile_text_as_text() -> None:
    jobs = [make_job("minilm", progress={"percent": 10}), make_job("bad", conditions=_stalled(HOSTILE))]
    source = ChangingSource(jobs)
    with browser.serving(create_app(source)) as url:
        dom = browser.dump_dom(url + "/")
    assert "<span>60%</span>" in _row(dom, "team-a/minilm")  # changed by ui.js from the stream
    assert "&lt;script&gt;" in _row(dom, "team-a/newcomer")  # inserted by ui.js (textContent)
    assert "&lt;script&gt;" in _row(dom, "team-a/bad")  # rendered by the server
    _untouched_by(dom)


def test_job_page_draws_the_curves_and_shows_the_failure_and_log_as_text(tmp_path: Path) -> None:
    job = make_job("minilm", phase="Failed", conditions=[{**_stalled(HOSTILE)[0], "type": "Failed"}])
    layout = RunLayout.of(tmp_path, "minilm")
    layout.root.mkdir()
    records = [{"step": s, "loss": 3 / (s + 1)} for s in range(0, 50, 5)]
    records += [{"step": s, "eval_spearman_cosine": 0.7 + s / 500} for s in (0, 25, 49)]
    layout.metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    source = FakeSource([job])
    source.logs["team-a", "minilm"] = ["step 5 loss 0.5", HOSTILE]
    with browser.serving(create_app(source, runs_dir=tmp_path)) as url:
        dom = browser.dump_dom(url + "/jobs/team-a/minilm")
    log = re.search(r'<pre id="logs"[^>]*>(.*?)</pre>', dom, re.S)
    assert log and "step 5 loss 0.5\n&lt;script&gt;document.title" in log.group(1)
    assert 'data-curves="loss,eval_spearman_cosine"' in dom
    assert "Failed: X" in dom
    _untouched_by(dom)


def test_submit_form_validates_on_the_server_and_names_the_field() -> None:
    """On load the empty form is checked: the problems list names the missing fields, the YAML is previewed."""
    with browser.serving(create_app(FakeSource([]))) as url:
        dom = browser.dump_dom(url + "/new")
    assert 'data-field="spec.data"' in dom and 'data-field="metadata.name"' in dom
    assert "kind: SentenceTransformerJob" in dom  # the preview
    assert 'data-path="training.learningRate"' in dom
