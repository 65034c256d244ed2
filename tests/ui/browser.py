"""Headless Debian Chromium for the page's browser tests: serve an app on 127.0.0.1, load, dump or shoot.

No driver and nothing downloaded: Chromium's own ``--dump-dom`` (the DOM after scripts ran) and
``--screenshot``; ``--virtual-time-budget`` lets the page's timers and event stream run before the dump.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
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


def _run(url: str, *extra: str, budget_ms: int = 2000) -> str:
    binary = chromium()
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="stjob-chromium-") as profile:
        done = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={budget_ms}",
                *extra,
                url,
            ],
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
