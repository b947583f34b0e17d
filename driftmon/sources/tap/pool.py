"""A lean keep-alive pool for the tap's one upstream: an httpx transport over httpcore connections.

httpcore's own pool re-examines every connection on every request and every release (an
``is_idle`` scan per connection, quadratic in the pool's size, and a readability poll of each
socket): with 16 concurrent clients that was about half of the tap's CPU per request
(bench/tap.py under cProfile). The tap talks to one origin, so a stack of idle connections is
enough: take the most recently used one (one readability check), else open one; give it back
when its answer is closed. `max_connections` bounds the connections open at once; more requests
wait for one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpcore
import httpx
from httpx._transports.default import map_httpcore_exceptions


class _Released(httpx.AsyncByteStream):
    """The answer's body; closing it gives the connection back to the pool."""

    def __init__(
        self, stream: AsyncIterator[bytes], pool: LeanPool, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection: httpcore.AsyncHTTPConnection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_httpcore_exceptions():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        try:
            closer = getattr(self._stream, "aclose", None)
            if closer is not None:
                with map_httpcore_exceptions():
                    await closer()
        finally:
            if self._connection is not None:
                self._pool.release(self._connection)
                self._connection = None


class LeanPool(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive connections to the upstream, most recently used first."""

    #: an idle connection is not reused after this long: well under the keep-alive timeout of
    #: common generator servers (uvicorn 5 s, gunicorn 2 s), so a reuse never races their close
    KEEPALIVE_EXPIRY = 1.0

    def __init__(self, max_connections: int = 100, keepalive_expiry: float = KEEPALIVE_EXPIRY) -> None:
        self._idle: list[httpcore.AsyncHTTPConnection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._keepalive_expiry = keepalive_expiry

    def _connection(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            self._close_soon(connection)
        return httpcore.AsyncHTTPConnection(origin=origin, keepalive_expiry=self._keepalive_expiry)

    def release(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._slots.release()
        if connection.is_idle():
            self._idle.append(connection)
        elif not connection.is_closed():
            self._close_soon(connection)

    @staticmethod
    def _close_soon(connection: httpcore.AsyncHTTPConnection) -> None:
        task = asyncio.get_running_loop().create_task(connection.aclose())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        origin = httpcore.Origin(url.raw_scheme, url.raw_host, port)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        await self._slots.acquire()
        connection = self._connection(origin)
        try:
            with map_httpcore_exceptions():
                response = await connection.handle_async_request(core)
        except BaseException:
            self._slots.release()
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.aclose())
            raise
        stream = response.stream
        assert isinstance(stream, AsyncIterator) or hasattr(stream, "__aiter__")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Released(stream, self, connection),  # type: ignore[arg-type]
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.aclose()
