"""A small HTTP/1.1 client for the operator's own API calls: keep-alive connections on the event loop.

The operator's requests are few and simple (JSON in, JSON out, one API server), but each went through
aiohttp's general machinery (a ClientRequest and a ClientResponse, a write task, timers, cookies,
payload registries): about a quarter of the operator's CPU per job lifecycle in
bench/operator_production.py. Here a request is one write and a few reads on a pooled connection; the
HTTP/1.1 framing (request serialisation, status line and headers, Content-Length and chunked bodies,
1xx answers, whether the connection may be kept) is ``h11``'s, the sans-IO parser under httpcore, so
this module owns only the pool, the retry of a stale kept-alive connection and the timeout. Supported:
TLS (the client configuration's context), ``Connection: close``, a timeout per request. Not supported
(the operator needs none): proxies, redirects, compression (no Accept-Encoding is sent), HTTP/2,
streaming (Kopf keeps its own client for the watches).
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

import h11

#: A pooled connection idle longer than this is closed rather than reused (servers close idle ones).
KEEPALIVE_SECONDS = 15.0
#: Bounds a response head (status line and headers) and a chunk-size line (h11's incomplete event).
MAX_HEAD = 64 * 1024
#: How much is read from the socket at a time.
READ_SIZE = 64 * 1024


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
    framing: h11.Connection
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
        self._host_header = ("Host", f"{netloc}:{self._port}")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def request(self, method: str, target: str, headers: str, body: bytes | None, timeout: float) -> Reply:
        """One request; ``headers``: preformatted ``Name: value\\r\\n`` lines (no Host, no Content-Length).

        Raises OSError (connection), TimeoutError, asyncio.IncompleteReadError or ProtocolError; and
        h11.LocalProtocolError for a malformed request (a header value with a CR or LF: never sent).
        """
        fields = [self._host_header]
        fields += (_field(line) for line in headers.split("\r\n") if line)
        if body is not None:
            fields.append(("Content-Length", str(len(body))))
        request = h11.Request(method=method, target=f"{self._prefix}{target}", headers=fields)
        async with self._slots, _timeout(timeout):
            connection = await self._connection()
            try:
                reply, keep = await self._exchange(connection, request, body)
            except (OSError, asyncio.IncompleteReadError, ProtocolError):
                connection.close()
                # A kept-alive connection the server closed meanwhile: once more on a new one, for the
                # requests that are safe to repeat (a POST may have been processed: not repeated).
                if not connection.reused or method == "POST":
                    raise
                connection = await self._open()
                try:
                    reply, keep = await self._exchange(connection, request, body)
                except BaseException:
                    connection.close()
                    raise
            except BaseException:  # (a timeout or a cancellation mid-exchange: the stream is unusable)
                connection.close()
                raise
        if keep and not self._closed:
            connection.framing.start_next_cycle()
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
            self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None
        )
        return _Connection(reader, writer, h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD))

    @staticmethod
    async def _exchange(connection: _Connection, request: h11.Request, body: bytes | None) -> tuple[Reply, bool]:
        try:
            return await Http1Pool._exchange_once(connection, request, body)
        except h11.ProtocolError as exc:  # (not HTTP/1.x, a bad Content-Length, a head over MAX_HEAD, ...)
            raise ProtocolError(str(exc)) from exc

    @staticmethod
    async def _exchange_once(connection: _Connection, request: h11.Request, body: bytes | None) -> tuple[Reply, bool]:
        framing = connection.framing
        data = framing.send(request) or b""
        if body:
            data += framing.send(h11.Data(data=body)) or b""
        connection.writer.write(data + (framing.send(h11.EndOfMessage()) or b""))
        response: h11.Response | None = None
        parts: list[bytes] = []
        while True:
            event = framing.next_event()
            if event is h11.NEED_DATA:
                received = await connection.reader.read(READ_SIZE)
                if not received and response is None:
                    raise asyncio.IncompleteReadError(b"", None)  # closed before answering
                framing.receive_data(received)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif not isinstance(event, h11.InformationalResponse):  # (a 1xx is followed by the real answer)
                raise ProtocolError(f"unexpected {event!r}")  # (PAUSED, ConnectionClosed: not for a request)
        assert response is not None
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers}
        # Kept unless either side must close (Connection: close, HTTP/1.0, a body delimited by the close).
        keep = framing.our_state is h11.DONE and framing.their_state is h11.DONE
        return Reply(response.status_code, headers, b"".join(parts)), keep


def _field(line: str) -> tuple[str, str]:
    name, _, value = line.partition(": ")
    return name, value
