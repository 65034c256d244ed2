"""What a person does with the page, in a driven Chromium: the same checks over kmock and the real API server.

Each takes a :class:`tests.ui.browser.Tab`, the page's base URL and callbacks into the cluster under
test, so ``test_browser_kmock.py`` and ``tests/kube/test_ui_browser_on_kube_1_20.py`` differ only in
the cluster behind the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.ui.browser import Tab
from tests.ui.fake_source import HOSTILE

#: The job's Stalled condition that carries user text: names are DNS labels, messages are free text.
HOSTILE_CONDITION = {
    "type": "Stalled",
    "status": "True",
    "reason": "DataError",
    "message": HOSTILE,
    "lastTransitionTime": "2026-11-29T10:05:00Z",
}


def _row_text(key: str, col: str) -> str:
    return f"document.querySelector('tr[data-key={json.dumps(key)}] [data-col={col}]')?.textContent"


def untouched(tab: Tab) -> None:
    """The hostile text did not run: no title change, no mark from its ``onerror``."""
    assert tab.evaluate("document.title") != "pwned"
    assert tab.evaluate("document.body.dataset.pwned") is None


def board_follows_a_status_change(tab: Tab, url: str, key: str, set_status: Callable[[dict[str, Any]], None]) -> None:
    """The board lists the job; a status written to the cluster reaches the row; hostile text stays text."""
    tab.goto(url + "/")
    tab.wait_for(f"{_row_text(key, 'phase')} === 'Running'", f"{key} listed as Running")
    # The stream's first message is every job (the watch's ADDED): from then on the watch is open.
    tab.wait_for("Number(document.getElementById('board').dataset.updates) >= 1", "the live stream")
    set_status({"phase": "Failed", "progress": {"percent": 60}, "conditions": [HOSTILE_CONDITION]})
    tab.wait_for(f"{_row_text(key, 'phase')} === 'Failed'", f"{key} to turn Failed on the board")
    assert tab.evaluate(_row_text(key, "progress")).strip() == "60%"
    assert tab.evaluate(_row_text(key, "message")) == HOSTILE  # shown as the characters it is
    untouched(tab)
    tab.goto(url + "/")  # and rendered by the server after a reload
    assert tab.evaluate(_row_text(key, "message")) == HOSTILE
    untouched(tab)


def job_page_shows_curves_and_log(tab: Tab, url: str, key: str, log_line: str | None) -> list[str]:
    """The curves drawn (their names) and the log panel showing ``log_line`` (None: no pod, the page says so)."""
    tab.goto(f"{url}/jobs/{key}")
    curves = tab.wait_for("document.getElementById('curves').dataset.curves", "the curves to be drawn")
    tab.wait_for("Number(document.getElementById('logs').dataset.reads) >= 1", "the log tail")
    text = tab.evaluate("document.getElementById('logs').textContent")
    assert (log_line or "no trainer pod yet") in text, text
    untouched(tab)
    return str(curves).split(",")


def _type(tab: Tab, path: str, value: str) -> None:
    """Set an input as a person would, and fire the event the form listens to."""
    tab.evaluate(
        f"(() => {{ const el = document.getElementById({json.dumps('f-' + path)}); el.value = {json.dumps(value)};"
        " el.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )


def form_refuses_then_creates(tab: Tab, url: str, namespace: str, name: str) -> None:
    """An invalid spec is refused naming the field; the corrected one is created and its page opens."""
    tab.goto(url + "/new")
    _type(tab, "name", name)
    _type(tab, "namespace", namespace)
    _type(tab, "trainer", "pair")
    _type(tab, "data.path", "sick")
    _type(tab, "training.epochs", "-1")
    tab.wait_for("document.querySelector('#errors li[data-field=\"spec.training.epochs\"]')", "the epochs error")
    problems = tab.evaluate("[...document.querySelectorAll('#errors li')].map(li => li.dataset.field)")
    assert problems == ["spec.training.epochs"], problems
    _type(tab, "training.epochs", "1")
    tab.wait_for("document.querySelector('#errors li')?.textContent === 'none'", "the form to be valid")
    assert "epochs: 1" in tab.evaluate("document.getElementById('preview').textContent")
    tab.evaluate("document.getElementById('create').click()")
    tab.wait_for(f"location.pathname === {json.dumps(f'/jobs/{namespace}/{name}')}", "the new job's page")
    tab.wait_for("document.readyState === 'complete'", "the new job's page to load")
    assert "trainer: pair" in tab.html()
