"""A loopback HTTP/1.1 server written byte by byte, for tests of HTTP clients and proxies.

    async with raw_server(handler) as server:   # handler(reader, writer) owns the connection
        ... connect to server.host, server.port ...

`read_request` reads one request (head, then a Content-Length or chunked body) as a client sent it,
so a handler can answer with exactly the bytes a test needs: chunked, close-delimited, interim
100s, malformed or cut-off answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawRequest:
    head: bytes
    body: bytes

    @property
    def request_line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]

    def header(self, name: bytes) -> bytes | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None


@dataclass
class RawServer:
    host: str
    port: int
    connections: int = 0
    requests: list[RawRequest] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader) -> RawRequest:
    head = (await reader.readuntil(b"\r\n\r\n"))[:-4]
    request = RawRequest(head, b"")
    length = request.header(b"content-length")
    if length is not None:
        request.body = await reader.readexactly(int(length))
    elif (request.header(b"transfer-encoding") or b"").lower() == b"chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")
        request.body = b"".join(parts)
    return request


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    state = RawServer("127.0.0.1", 0)

    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()
            tasks.discard(task)

    server = await asyncio.start_server(serve, state.host, 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            yield state
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
