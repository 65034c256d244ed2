"""A small HTTP/1.1 client for the operator's own API calls: keep-alive connections on the event loop.

The operator's requests are few and simple (JSON in, JSON out, one API server), but each went through
aiohttp's general machinery (a ClientRequest and a ClientResponse, a write task, timers, cookies,
payload registries): about a quarter of the operator's CPU per job lifecycle in
bench/operator_production.py. Here a request is one write of preformatted bytes and a few reads on
a pooled connection. Supported: TLS (the client configuration's context), Content-Length and chunked
bodies, ``Connection: close``, a timeout per request. Not supported (the operator needs none): proxies,
redirects, compression (no Accept-Encoding is sent), HTTP/2, streaming (Kopf keeps its own client
for the watches).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

#: A pooled connection idle longer than this is closed rather than reused (servers close idle ones).
KEEPALIVE_SECONDS = 15.0
#: Bounds a response head (status line and headers) and a chunk-size line.
MAX_LINE = 64 * 1024


class ProtocolError(Exception):
    """The server's reply is not HTTP/1.x as understood here."""


@dataclass(frozen=True)
class Reply:
    """Status, headers (lower-case names) and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - the images run 3.11

    @asynccontextmanager
    async def _timeout(seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel)
        try:
            yield
        except asyncio.CancelledError as exc:
            raise TimeoutError from exc
        finally:
            handle.cancel()


class Http1Pool:
    """Requests to one server (``base_url``: scheme, host, port, optional path prefix), ``limit`` at a time."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | bool, limit: int = 32) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._prefix = url.path.rstrip("/")
        self._ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            self._ssl = ssl_context if isinstance(ssl_context, ssl.SSLContext) else ssl.create_default_context()
        netloc = self._host if ":" not in self._host else f"[{self._host}]"
        self._host_header = f"Host: {netloc}:{self._port}\r\n"
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def request(self, method: str, target: str, headers: str, body: bytes | None, timeout: float) -> Reply:
        """One request; ``headers``: preformatted ``Name: value\\r\\n`` lines (no Host, no Content-Length).

        Raises OSError (connection), TimeoutError, asyncio.IncompleteReadError or ProtocolError.
        """
        head = f"{method} {self._prefix}{target} HTTP/1.1\r\n{self._host_header}{headers}"
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        data = (head + "\r\n").encode("latin-1") + (body or b"")
        async with self._slots, _timeout(timeout):
            connection = await self._connection()
            try:
                reply, keep = await self._exchange(connection, method, data)
            except (OSError, asyncio.IncompleteReadError, ProtocolError):
                connection.close()
                # A kept-alive connection the server closed meanwhile: once more on a new one, for the
                # requests that are safe to repeat (a POST may have been processed: not repeated).
                if not connection.reused or method == "POST":
                    raise
                connection = await self._open()
                try:
                    reply, keep = await self._exchange(connection, method, data)
                except BaseException:
                    connection.close()
                    raise
            except BaseException:  # (a timeout or a cancellation mid-exchange: the stream is unusable)
                connection.close()
                raise
        if keep and not self._closed:
            connection.idle_since, connection.reused = time.monotonic(), True
            self._idle.append(connection)
        else:
            connection.close()
        return reply

    async def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < KEEPALIVE_SECONDS and not connection.reader.at_eof():
                return connection
            connection.close()
        return await self._open()

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None, limit=MAX_LINE
        )
        return _Connection(reader, writer)

    @staticmethod
    async def _exchange(connection: _Connection, method: str, data: bytes) -> tuple[Reply, bool]:
        try:
            return await Http1Pool._exchange_once(connection, method, data)
        except ValueError as exc:  # (a line over MAX_LINE, a Content-Length that is not a number)
            raise ProtocolError(str(exc)) from exc

    @staticmethod
    async def _exchange_once(connection: _Connection, method: str, data: bytes) -> tuple[Reply, bool]:
        connection.writer.write(data)
        reader = connection.reader
        while True:
            status_line = await reader.readline()
            if not status_line:
                raise asyncio.IncompleteReadError(b"", None)  # closed before answering
            version, _, rest = status_line.partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or not code.isdigit():
                raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:100]!r}")
            headers = await _read_headers(reader)
            status = int(code)
            if status >= 200:  # (a 1xx is followed by the real answer)
                break
        keep = version != b"HTTP/1.0" and headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body, keep = await reader.read(), False  # delimited by the end of the connection
        return Reply(status, headers, body), keep


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        name, colon, value = line.partition(b":")
        if not colon:
            raise ProtocolError(f"not a header line: {line[:100]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"not a chunk size: {size_line[:100]!r}") from None
        if size == 0:
            await _read_headers(reader)  # trailers, then the blank line
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("a chunk does not end with CRLF")
