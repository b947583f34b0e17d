"""The tap's upstream client: HTTP/1.1 keep-alive connections to its one generator.

Built on asyncio's protocol layer and httptools' C parser (the one uvicorn serves with), not on
httpx: the hot path of every proxied request runs here, and a general client's machinery
(request and response models, h11's per-event state machine, anyio's socket stream re-arming
epoll on every read) cost about 2 ms of CPU per 256 KB answer under bench/tap.py, enough to queue
requests on one core at 300 answers/s. What it does, and no more:

- a request is a method, a target, header pairs and a body (bytes, or an async iterator sent with
  ``Content-Length`` if the client gave one, else chunked);
- the answer's status and header pairs arrive first; its body then streams as the generator sent
  it (transfer coding removed, content coding untouched), held to `HIGH_WATER` bytes in memory by
  pausing the socket while the client is slower;
- a connection goes back to the pool only after a complete answer that keeps it alive; one idle
  longer than `keepalive_expiry` is closed instead of reused;
- `Unreachable`: no connection within `connect_timeout`; `Broken`: the connection failed or the
  answer could not be parsed before its last byte. Nothing else is raised of its own making.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast

import httptools

Headers = list[tuple[bytes, bytes]]
Body = bytes | AsyncIterator[bytes]

#: answer bytes buffered before the socket is paused (resumed when the reader has taken them)
HIGH_WATER = 1024 * 1024


class UpstreamError(Exception):
    """The generator could not be reached or its answer not read."""


class Unreachable(UpstreamError):
    """No connection to the generator within the connect timeout."""


class Broken(UpstreamError):
    """The connection failed, or the answer was malformed, before the answer was complete."""


class _Connection(asyncio.Protocol):
    """One TCP connection and the parser of the answer it carries (httptools callbacks)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = time.monotonic()
        self.reusable = True
        self.lost = False
        #: between `request` handing it out and `release` taking it back
        self.active = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: Headers = []
        self.head_done = False
        self.complete = False
        self.framed = False
        self.error: Broken | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self._wake: asyncio.Future[None] | None = None

    # -- asyncio protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes nobody asked for (a late error page): the connection is spent
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Broken(f"malformed answer: {exc}"))

    def eof_received(self) -> bool | None:
        if self.head_done and not self.complete and not self.framed:
            self.complete = True  # a body delimited by the connection's close (RFC 9112 §6.3)
            self.reusable = False
            self._notify()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        if not self.complete:
            self._fail(Broken(f"connection closed: {exc!r}" if exc else "connection closed"))
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- httptools callbacks -----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.headers = []  # an interim answer (100 Continue): the final one follows
            return
        self.status = status
        self.framed = any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )
        self.head_done = True
        if not self.parser.should_keep_alive():
            self.reusable = False
        self._notify()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._notify()

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            self._notify()

    # -- used by the pool and the answer -----------------------------------------------------------

    def _notify(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _fail(self, error: Broken) -> None:
        self.reusable = False
        if self.error is None and not self.complete:
            self.error = error
        self._notify()
        if self.transport is not None:
            self.transport.close()

    async def wait(self) -> None:
        """Until the parser has news (head, body, end) or the connection failed."""
        if self.error is not None:
            raise self.error
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await self._wake
        finally:
            self._wake = None
        if self.error is not None:
            raise self.error

    async def write(self, data: bytes) -> None:
        if self.lost or self.transport is None:
            raise self.error or Broken("connection closed")
        self.transport.write(data)
        await self._writable.wait()

    def take(self) -> bytes:
        """Every body byte buffered so far (resumes a paused socket)."""
        data = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks.clear()
        if self.buffered > HIGH_WATER and self.transport is not None and not self.lost:
            self.transport.resume_reading()
        self.buffered = 0
        return data

    @property
    def open(self) -> bool:
        """Still connected, and nothing it carried rules out another request on it."""
        return self.reusable and not self.lost

    def usable(self, expiry: float) -> bool:
        return self.open and time.monotonic() - self.idle_since < expiry

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class Answer:
    """The generator's answer: `status`, `headers`, then `body()`; `aclose()` always."""

    def __init__(self, connection: _Connection, pool: UpstreamPool) -> None:
        self._connection: _Connection | None = connection
        self._pool = pool
        self.status = connection.status
        self.headers = connection.headers

    async def body(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in the pieces buffered since the last one; Broken if cut."""
        connection = self._connection
        assert connection is not None
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.complete:
                return
            else:
                await connection.wait()

    async def aclose(self) -> None:
        """Give the connection back if the answer was read whole and it stays open, else close it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.release(connection)


class UpstreamPool:
    """Keep-alive connections to one origin, most recently used first, at most `max_connections`."""

    #: an idle connection is not reused after this long: well under the keep-alive timeout of
    #: common generator servers (uvicorn 5 s, gunicorn 2 s), so a reuse never races their close
    KEEPALIVE_EXPIRY = 1.0

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        max_connections: int = 100,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        self.host, self.port = host, port
        self.connect_timeout = connect_timeout
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl.create_default_context() if scheme == "https" else None
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def request(self, method: str, target: bytes, headers: Headers, body: Body) -> Answer:
        """Send one request and return its answer once the status and headers are in."""
        await self._slots.acquire()
        try:
            connection = self._idle_connection() or await self._connect()
        except BaseException:
            self._slots.release()
            raise
        try:
            await self._send(connection, method, target, headers, body)
            while not connection.head_done:
                await connection.wait()
        except BaseException:
            connection.close()
            self._slots.release()
            raise
        if method == "HEAD":  # its answer has no body, whatever its Content-Length says; the
            connection.complete = True  # parser cannot be told so: the connection is not reused
            connection.reusable = False
        return Answer(connection, self)

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(self.keepalive_expiry):
                connection._reset()
                connection.active = True
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(_Connection, self.host, self.port, ssl=self._ssl)
        except (OSError, TimeoutError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        connection.active = True
        return connection

    @staticmethod
    async def _send(
        connection: _Connection, method: str, target: bytes, headers: Headers, body: Body
    ) -> None:
        streamed = not isinstance(body, bytes)
        chunked = streamed and not any(name.lower() == b"content-length" for name, _ in headers)
        lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1"]
        lines += [name + b": " + value for name, value in headers]
        if chunked:
            lines.append(b"transfer-encoding: chunked")
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if isinstance(body, bytes):
            await connection.write(head + body)
            return
        await connection.write(head)
        async for chunk in body:
            if chunked:
                chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
            await connection.write(chunk)
        if chunked:
            await connection.write(b"0\r\n\r\n")

    def release(self, connection: _Connection) -> None:
        self._slots.release()
        connection.active = False
        if connection.complete and connection.open and not connection.chunks:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.close()
