"""Headless Debian Chromium for the page's browser tests: serve an app on 127.0.0.1, load, dump or shoot.

Nothing downloaded. Two ways in: Chromium's own ``--dump-dom`` (the DOM after scripts ran) and
``--screenshot``, where ``--virtual-time-budget`` lets the page's timers run before the dump; and
:func:`driven`, a tab driven over the DevTools protocol (websocket-client, which the Kubernetes client
already brings) for what needs a live page: typing into the form, clicking, watching the board change
while the test changes a job.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
import websocket
from starlette.applications import Starlette

#: How make test gets a browser (scripts/browser.sh installs Debian's chromium, or fails).
INSTALL_HINT = "no chromium on PATH: run `make browser` (apt-get install chromium)"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # uvicorn offers a flag, not an event
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _argv(profile: str, *extra: str) -> list[str]:
    binary = chromium()
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *extra,
    ]


def _run(url: str, *extra: str, budget_ms: int = 2000) -> str:
    with tempfile.TemporaryDirectory(prefix="stjob-chromium-", ignore_cleanup_errors=True) as profile:
        done = subprocess.run(
            [*_argv(profile, f"--virtual-time-budget={budget_ms}", *extra), url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return done.stdout


def dump_dom(url: str, budget_ms: int = 2000) -> str:
    """The serialized DOM after the page's scripts ran for ``budget_ms`` of virtual time."""
    return _run(url, "--dump-dom", budget_ms=budget_ms)


def screenshot(url: str, path: Path, size: str = "1280,640", budget_ms: int = 2000) -> None:
    _run(url, f"--screenshot={path}", f"--window-size={size}", "--hide-scrollbars", budget_ms=budget_ms)


#: Seconds a driven page may take to reach what a test waits for (generous: the machine is shared; a
#: wait ends as soon as the page gets there).
WAIT_S = 60.0


class Tab:
    """One page of a driven Chromium: navigate, run JavaScript, wait for the page to reach a state."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self._ids = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._ids += 1
        self._ws.send(json.dumps({"id": self._ids, "method": method, "params": params}))
        while True:  # skip the protocol's events until our answer
            reply = json.loads(self._ws.recv())
            if reply.get("id") == self._ids:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (a promise is awaited); a thrown error fails the test."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise AssertionError((details.get("exception") or {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_for(self, condition: str, what: str, timeout_s: float = WAIT_S) -> Any:
        """Re-check ``condition`` (JavaScript) every 20 ms until it is truthy; its value.

        A navigation (a click that follows a link) ends the page the check ran in: it starts again in
        the new one.
        """
        while True:
            try:
                return self._wait_once(condition, what, timeout_s)
            except RuntimeError as exc:
                if "navigated or closed" not in str(exc):
                    raise

    def _wait_once(self, condition: str, what: str, timeout_s: float) -> Any:
        return self.evaluate(
            f"""new Promise((resolve, reject) => {{
              const until = performance.now() + {timeout_s * 1000};
              const look = () => {{
                let value;
                try {{ value = ({condition}); }} catch (e) {{ value = undefined; }}
                if (value) resolve(value);
                else if (performance.now() > until) reject(new Error({json.dumps(f"timed out waiting for {what}")}));
                else setTimeout(look, 20);
              }};
              look();
            }})"""
        )

    def goto(self, url: str) -> None:
        """Load ``url`` and wait until its document (and deferred script) has run."""
        self.call("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", f"{url} to load")

    def html(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML"))


@contextmanager
def driven() -> Iterator[Tab]:
    """A headless Chromium with remote debugging on a free loopback port; yields its one tab."""
    # Chromium's helper processes may still write to the profile after the browser exits: the whole
    # process group goes, and a file left behind in the temporary profile is not a test failure.
    with tempfile.TemporaryDirectory(prefix="stjob-chromium-", ignore_cleanup_errors=True) as profile:
        argv = _argv(profile, "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank")
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            # Chromium names the port it took in its first stderr line: "DevTools listening on ws://...".
            assert proc.stderr is not None
            for line in proc.stderr:
                if line.startswith("DevTools listening on "):
                    break
            else:
                raise RuntimeError(f"chromium exited ({proc.wait()}) before opening its DevTools port")
            port = line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its pipe drained
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=WAIT_S) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]
            ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=WAIT_S + 30)
            try:
                yield Tab(ws)
            finally:
                ws.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its helpers (renderer, GPU, crash handler)
