"""The operator's HTTP/1.1 client against a scripted server: framing, keep-alive, stale connections, timeouts."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from stjob.controller.http1 import Http1Pool, ProtocolError

#: One scripted answer: the raw bytes to send for a request (None: close the connection without a word).
Script = Callable[[bytes], bytes | None]


class Server:
    """Answers each request on a connection from ``script``; records requests and connections."""

    def __init__(self, script: Script, trickle: bool = False) -> None:
        self.script = script
        self.trickle = trickle  # (each answer written a byte at a time: the reads end anywhere in it)
        self.requests: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.script(request)
                if answer is None:
                    break
                step = 1 if self.trickle else max(len(answer), 1)
                for start in range(0, len(answer), step):
                    writer.write(answer[start : start + step])
                    await writer.drain()
                    if self.trickle:
                        await asyncio.sleep(0)  # (a loop turn: the client reads what has come so far)
                framed = b"Content-Length" in answer or b"chunked" in answer
                if answer and (b"Connection: close" in answer or not framed):
                    break  # (an answer without framing ends where the connection does)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(script: Script, trickle: bool = False) -> AsyncIterator[tuple[Server, Http1Pool]]:
    server = Server(script, trickle)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    pool = Http1Pool(f"http://127.0.0.1:{port}/prefix", False)
    try:
        yield server, pool
    finally:
        await pool.close()
        listener.close()
        for writer in server.writers:
            writer.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


async def test_a_request_is_sent_as_written_and_the_connection_kept() -> None:
    async with serving(lambda _: ok(b'{"a": 1}')) as (server, pool):
        reply = await pool.request("PATCH", "/api/v1/x?y=1", "Accept: application/json\r\n", b'{"b": 2}', 5)
        assert (reply.status, reply.body, reply.headers["content-type"]) == (200, b'{"a": 1}', "application/json")
        assert server.requests[0].startswith(b"PATCH /prefix/api/v1/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b'\r\nAccept: application/json\r\nContent-Length: 8\r\n\r\n{"b": 2}' in server.requests[0]
        await pool.request("GET", "/b", "", None, 5)
        assert server.connections == 1
        assert b"Content-Length" not in server.requests[1]


CHUNKED = b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{"a"\r\n4\r\n: 1}\r\n0\r\nT: t\r\n\r\n'


@pytest.mark.parametrize(
    "answer",
    [
        CHUNKED,
        b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{"a": 1}',
    ],
    ids=["chunked", "after-100-continue"],
)
@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "byte-by-byte"])
async def test_bodies_are_read_whatever_the_framing(answer: bytes, trickle: bool) -> None:
    async with serving(lambda _: answer, trickle) as (server, pool):
        for _ in range(2):  # the connection is left at the start of the next answer
            reply = await pool.request("POST", "/x", "", b"{}", 5)
            assert (reply.status, reply.body) == (201, b'{"a": 1}')
        assert server.connections == 1


async def test_connection_close_and_an_unframed_body_end_the_connection() -> None:
    answers = iter([ok(b"1", b"Connection: close\r\n"), b"HTTP/1.1 200 OK\r\n\r\nuntil the end", ok(b"2")])
    async with serving(lambda _: next(answers)) as (server, pool):
        assert (await pool.request("GET", "/a", "", None, 5)).body == b"1"
        assert (await pool.request("GET", "/b", "", None, 5)).body == b"until the end"
        assert (await pool.request("GET", "/c", "", None, 5)).body == b"2"
        assert server.connections == 3


async def test_a_kept_connection_closed_by_the_server_is_retried_except_for_a_post() -> None:
    closing = {"next": False}

    def script(_: bytes) -> bytes | None:
        if closing["next"]:
            closing["next"] = False
            return None  # the server dropped the idle connection just as the request came
        return ok(b"{}")

    async with serving(script) as (server, pool):
        await pool.request("GET", "/a", "", None, 5)
        closing["next"] = True
        assert (await pool.request("PATCH", "/a", "", b"{}", 5)).status == 200  # repeated on a new connection
        assert server.connections == 2
        closing["next"] = True
        with pytest.raises(asyncio.IncompleteReadError):
            await pool.request("POST", "/a", "", b"{}", 5)  # may have been processed: not repeated
        assert server.connections == 2


async def test_a_reply_that_never_comes_times_out_and_the_connection_is_not_reused() -> None:
    replies = iter([b"", ok(b"{}")])  # the first request hangs (nothing written, the connection open)
    async with serving(lambda _: next(replies)) as (server, pool):
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/slow", "", None, 0.2)
        assert (await pool.request("GET", "/a", "", None, 5)).status == 200
        assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000,
    ],
    ids=["not-http", "bad-length", "overlong-header"],
)
async def test_garbage_is_a_protocol_error(answer: bytes) -> None:
    async with serving(lambda _: answer) as (_, pool):
        with pytest.raises(ProtocolError):
            await pool.request("GET", "/a", "", None, 5)


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Http1Pool("unix:///var/run/x", False)
    assert Http1Pool("https://[::1]:6443", ssl.create_default_context())._host_header == ("Host", "[::1]:6443")
