"""The tap's upstream client against a loopback server that writes exact bytes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from driftmon.sources.tap.upstream import HIGH_WATER, Answer, Broken, Unreachable, UpstreamPool
from tests.support.raw_http import RawServer, raw_server, read_request

HEADERS = [(b"host", b"generator")]


def answering(*answers: bytes, close: bool = False):
    """A handler that answers each request on a connection with the next of `answers`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            handler.requests.append(await read_request(reader))
            writer.write(answer)
            await writer.drain()
            if close:
                return
        await reader.read()  # hold the connection until the client closes it

    handler.requests = []
    return handler


def pool_for(server: RawServer, **options) -> UpstreamPool:
    return UpstreamPool("http", server.host, server.port, connect_timeout=2.0, **options)


async def whole(answer: Answer) -> bytes:
    try:
        return b"".join([chunk async for chunk in answer.body()])
    finally:
        await answer.aclose()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


def test_content_length_answers_reuse_one_connection() -> None:
    handler = answering(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno!",
    )

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server)
            first = await pool.request("GET", b"/a", HEADERS, b"")
            assert (first.status, first.headers) == (200, [(b"content-length", b"5"), (b"x-a", b"1")])
            assert await whole(first) == b"hello"
            second = await pool.request("GET", b"/b", HEADERS, b"")
            assert (second.status, await whole(second)) == (404, b"no!")
            await pool.aclose()
            return server.connections

    assert run(go()) == 1
    assert [r.request_line for r in handler.requests] == [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1"]


def test_chunked_answer_arrives_without_its_transfer_coding() -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    handler = answering(chunked, chunked)

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server)
            bodies = [await whole(await pool.request("GET", b"/", HEADERS, b"")) for _ in range(2)]
            await pool.aclose()
            return bodies, server.connections

    assert run(go()) == ([b"hello world"] * 2, 1)


def test_a_close_delimited_answer_is_whole_and_its_connection_not_reused() -> None:
    handler = answering(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end", close=True)

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server)
            first = await whole(await pool.request("GET", b"/", HEADERS, b""))
            second = await whole(await pool.request("GET", b"/", HEADERS, b""))
            await pool.aclose()
            return first, second, server.connections

    assert run(go()) == (b"until the end", b"until the end", 2)


def test_interim_100_continue_is_skipped() -> None:
    handler = answering(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok")

    async def go():
        async with raw_server(handler) as server:
            answer = await pool_for(server).request("POST", b"/", [*HEADERS, (b"content-length", b"1")], b"x")
            return answer.status, answer.headers, await whole(answer)

    assert run(go()) == (201, [(b"content-length", b"2")], b"ok")


def test_head_answer_has_no_body_whatever_its_length_says() -> None:
    handler = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")

    async def go():
        async with raw_server(handler) as server:
            answer = await pool_for(server).request("HEAD", b"/", HEADERS, b"")
            return answer.status, await whole(answer)

    assert run(go()) == (200, b"")


def test_connection_close_answer_is_not_reused() -> None:
    handler = answering(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na", close=True)

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server)
            bodies = [await whole(await pool.request("GET", b"/", HEADERS, b"")) for _ in range(2)]
            return bodies, server.connections

    assert run(go()) == ([b"a", b"a"], 2)


def test_an_idle_connection_past_its_expiry_is_not_reused() -> None:
    handler = answering(*[b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na"] * 2)

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server, keepalive_expiry=0.0)
            for _ in range(2):
                await whole(await pool.request("GET", b"/", HEADERS, b""))
            return server.connections

    assert run(go()) == 2


def test_an_answer_cut_mid_body_raises_broken() -> None:
    handler = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part", close=True)

    async def go():
        async with raw_server(handler) as server:
            answer = await pool_for(server).request("GET", b"/", HEADERS, b"")
            await whole(answer)

    with pytest.raises(Broken, match="connection closed"):
        run(go())


def test_a_malformed_answer_raises_broken() -> None:
    handler = answering(b"NOT HTTP AT ALL\r\n\r\n")

    async def go():
        async with raw_server(handler) as server:
            await pool_for(server).request("GET", b"/", HEADERS, b"")

    with pytest.raises(Broken, match="malformed answer"):
        run(go())


def test_nothing_listening_raises_unreachable() -> None:
    async def go():
        async with raw_server(answering()) as server:
            port = server.port
        await UpstreamPool("http", "127.0.0.1", port, connect_timeout=2.0).request("GET", b"/", HEADERS, b"")

    with pytest.raises(Unreachable, match="ConnectionRefusedError"):
        run(go())


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


@pytest.mark.parametrize(
    ("headers", "framing"),
    [([(b"content-length", b"11")], b"content-length"), ([], b"transfer-encoding")],
)
def test_a_streamed_request_body_keeps_its_length_or_is_chunked(headers, framing) -> None:
    handler = answering(b"HTTP/1.1 204 No Content\r\n\r\n")

    async def go():
        async with raw_server(handler) as server:
            body = pieces(b"hello", b" world")
            answer = await pool_for(server).request("POST", b"/", HEADERS + headers, body)
            return answer.status, await whole(answer)

    assert run(go()) == (204, b"")
    (request,) = handler.requests
    assert request.body == b"hello world"
    assert request.header(framing) is not None


def test_a_large_answer_read_slowly_arrives_intact() -> None:
    payload = os.urandom(4 * HIGH_WATER + 12345)
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(payload)
    handler = answering(head + payload, head + payload)

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server)
            received = []
            for _ in range(2):
                answer = await pool.request("GET", b"/", HEADERS, b"")
                parts = []
                async for chunk in answer.body():
                    parts.append(chunk)
                    await asyncio.sleep(0.01)  # a slow client: the socket pauses, then resumes
                await answer.aclose()
                received.append(b"".join(parts))
            return received, server.connections

    received, connections = run(go())
    assert received == [payload, payload] and connections == 1


def test_max_connections_makes_further_requests_wait_for_a_free_one() -> None:
    handler = answering(*[b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na"] * 3)

    async def go():
        async with raw_server(handler) as server:
            pool = pool_for(server, max_connections=1)

            async def one():
                return await whole(await pool.request("GET", b"/", HEADERS, b""))

            bodies = await asyncio.gather(one(), one(), one())
            return bodies, server.connections

    assert run(go()) == ([b"a"] * 3, 1)


def test_the_proxy_passes_on_a_cancellation_that_is_not_a_client_disconnect() -> None:
    """Server shutdown cancels the request task: the proxy must not swallow it as a disconnect."""
    from driftmon.sources.tap import TapConfig, TapProxy, make_upstream

    answered = asyncio.Event()

    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        answered.set()
        await reader.read()  # returns when the tap closes its connection

    async def receive() -> dict:
        await asyncio.Event().wait()  # the client stays
        return {}

    async def send(message: dict) -> None:
        raise AssertionError(f"nothing may be sent: {message}")

    async def go():
        async with raw_server(never_answers) as server:
            config = TapConfig(enabled=True, upstream=f"http://{server.host}:{server.port}")
            proxy = TapProxy(config, make_upstream(config), None)
            scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
            task = asyncio.create_task(proxy.proxy(scope, receive, send))
            await answered.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await proxy.pool.aclose()
            return task.cancelled()

    assert run(go()) is True
