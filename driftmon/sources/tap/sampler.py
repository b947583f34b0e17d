"""Off the hot path: a sampled exchange becomes samples offered to the intake.

The proxy hands each sampled exchange over after the answer's last byte has gone to the client;
from there on nothing the sampler does can reach the user. At most `max_pending` exchanges wait
(more are shed and counted); for `SHED_BACKOFF` after the intake shed one, the proxy copies none
(counted shed: a full intake costs the hot path nothing); extraction runs in a worker thread;
images given as URLs are fetched with their own time and size bounds; every outcome is counted
with ``source="tap"``: refusals by the intake (shed, rejected), the rest here (rejected: nothing
usable in the answer; failed: a fetch failed or a bug). Log lines name the route and a reason,
never a prompt or a header.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import structlog

from driftmon.errors import Refused, Shed
from driftmon.sources.intake import Offer
from driftmon.sources.tap.config import TapConfig
from driftmon.sources.tap.routes import Exchange, Found, NotSampled, Route

log = structlog.get_logger("driftmon.tap")

SOURCE = "tap"
#: after the intake sheds a sample, sampled answers are not even copied for this long (each is
#: counted shed); then the next one is offered again, and so on while the intake stays full
SHED_BACKOFF = 1.0
OfferFn = Callable[[Offer], Awaitable[Any]]
CountFn = Callable[[str, str, str], None]


class FetchFailed(Exception):
    """An image URL could not be fetched within the bounds; the message is safe to log."""


def decode_content(body: bytes, encoding: str) -> bytes:
    """The body without its content-encoding (identity, gzip, deflate); NotSampled otherwise."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    raise NotSampled("unsupported_content_encoding")


class Sampler:
    """Turns sampled exchanges into offers, in background tasks bounded by `max_pending`."""

    def __init__(
        self,
        config: TapConfig,
        offer: OfferFn,
        count: CountFn,
        fetch_client: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.offer = offer
        self.count = count
        self.fetch_client = fetch_client
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._shedding_until = float("-inf")

    def shedding(self) -> bool:
        """Whether the intake shed a sample less than `SHED_BACKOFF` ago: then the proxy copies
        nothing (a full intake would shed the copy anyway) and counts the request shed."""
        return self.clock() < self._shedding_until

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def submit(self, route: Route, exchange: Exchange) -> None:
        """Take the exchange in the background; shed (counted) when `max_pending` are waiting."""
        if len(self._tasks) >= self.config.max_pending:
            self.count(SOURCE, "unknown", "shed")
            return
        task = asyncio.create_task(self.take(route, exchange))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def take(self, route: Route, exchange: Exchange) -> None:
        """Extract, fetch and offer; every outcome counted, nothing raised."""
        try:
            found = await anyio.to_thread.run_sync(self._extract, route, exchange)
        except NotSampled as exc:
            self.count(SOURCE, "unknown", "rejected")
            log.info("tap_sample_rejected", route=route.name, reason=exc.reason)
            return
        except Exception as exc:
            self.count(SOURCE, "unknown", "failed")
            log.warning("tap_sample_failed", route=route.name, error=type(exc).__name__)
            return
        if not found:
            self.count(SOURCE, "unknown", "rejected")
            log.info("tap_sample_rejected", route=route.name, reason="no_image")
        for item in found:
            await self._offer(route, item)

    @staticmethod
    def _extract(route: Route, exchange: Exchange) -> list[Found]:
        encoding = exchange.response_headers.get("content-encoding", "")
        if encoding:
            body = decode_content(exchange.response_body, encoding)
            exchange = dataclasses.replace(exchange, response_body=body)
        return route.extract(exchange)

    async def _offer(self, route: Route, item: Found) -> None:
        version = item.meta.model_version
        try:
            image = item.image if item.url is None else await self.fetch(item.url)
            await self.offer(Offer(SOURCE, image, item.meta, 1.0))
        except Shed:
            self._shedding_until = self.clock() + SHED_BACKOFF  # counted by the intake
        except Refused:
            pass  # counted by the intake
        except FetchFailed as exc:
            self.count(SOURCE, version, "failed")
            log.warning("tap_fetch_failed", route=route.name, error=str(exc))
        except Exception as exc:
            self.count(SOURCE, version, "failed")
            log.warning("tap_sample_failed", route=route.name, error=type(exc).__name__)

    async def fetch(self, url: str) -> bytes:
        """GET an image URL within `fetch_timeout` and `max_fetch_bytes` (FetchFailed otherwise)."""
        limit = self.config.max_fetch_bytes
        host = httpx.URL(url).host
        try:
            with anyio.fail_after(self.config.fetch_timeout):
                async with self.fetch_client.stream("GET", url) as response:
                    if not response.is_success:
                        raise FetchFailed(f"{host}: HTTP {response.status_code}")
                    parts, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise FetchFailed(f"{host}: more than {limit} bytes")
                        parts.append(chunk)
                    return b"".join(parts)
        except TimeoutError:
            raise FetchFailed(f"{host}: no image within {self.config.fetch_timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{host}: {type(exc).__name__}") from None

    async def drain(self, timeout: float) -> None:
        """Let waiting samples be offered for at most `timeout` seconds, then cancel the rest."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=1.0)
