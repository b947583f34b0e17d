"""The tap: a transparent reverse proxy in front of the generator that samples what it serves.

    tap = Tap(config.sources.tap, offer=intake.offer, count=metrics.count, registry=registry)
    await tap.start(stack)        # binds `listen`, serves until the stack unwinds

It runs in the daemon's HTTP process (no torch there), on its own port and its own uvicorn
server, so scoring load, a scorer restart or models still loading never slow or stop the
generator's traffic. See `proxy` (the hot path), `routes` (what is sampled) and `sampler` (off the
hot path), and docs/tap.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import structlog
import uvicorn
from prometheus_client import CollectorRegistry

from driftmon.sources.tap.config import TapConfig, TapRouteConfig
from driftmon.sources.tap.proxy import HEALTH_PATH, TapProxy, make_upstream
from driftmon.sources.tap.sampler import CountFn, OfferFn, Sampler

__all__ = [
    "DRAIN_SECONDS",
    "HEALTH_PATH",
    "CountFn",
    "OfferFn",
    "Sampler",
    "Tap",
    "TapConfig",
    "TapProxy",
    "TapRouteConfig",
    "aclose_app",
    "make_tap_app",
    "make_upstream",
]

_log = structlog.get_logger("driftmon.tap")

#: how long samples already copied may still be offered at shutdown
DRAIN_SECONDS = 2.0


def _no_count(source: str, model_version: str, outcome: str) -> None:
    return None


def make_tap_app(
    config: TapConfig,
    offer: OfferFn,
    *,
    count: CountFn = _no_count,
    registry: CollectorRegistry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> TapProxy:
    """The tap's ASGI app with its upstream pool and fetch client (closed by `aclose_app`);
    `transport` serves the fetch client (image URLs), e.g. an `httpx.MockTransport` in tests."""
    upstream = make_upstream(config)
    fetch = httpx.AsyncClient(
        timeout=httpx.Timeout(config.fetch_timeout),
        follow_redirects=False,
        trust_env=False,
        transport=transport,
    )
    sampler = Sampler(config, offer, count, fetch)
    return TapProxy(config, upstream, sampler, registry=registry, **options)


async def aclose_app(app: TapProxy, drain: float = DRAIN_SECONDS) -> None:
    """Offer what is already copied (bounded), then close both clients."""
    if app.sampler is not None:
        await app.sampler.drain(drain)
        await app.sampler.fetch_client.aclose()
    await app.pool.aclose()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Tap:
    """The tap as a daemon part: `start(stack)` binds and serves, the stack's unwinding stops it."""

    def __init__(
        self,
        config: TapConfig,
        offer: OfferFn,
        *,
        count: CountFn = _no_count,
        registry: CollectorRegistry | None = None,
        port: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.app = make_tap_app(config, offer, count=count, registry=registry, transport=transport)
        self.port = config.port if port is None else port
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, stack: AsyncExitStack) -> None:
        """Bind `listen` and serve in the background; raises if the port cannot be bound."""
        server_config = uvicorn.Config(
            self.app,
            host=self.config.host,
            port=self.port,
            proxy_headers=False,  # X-Forwarded-* are the tap's to extend, not to trust
            ws="none",  # an Upgrade request reaches the app as HTTP and gets a clear 501
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,  # the generator's Server and Date headers pass through
            date_header=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=5,
        )
        self.server = _Server(server_config)
        stack.push_async_callback(aclose_app, self.app)
        self._task = asyncio.create_task(self.server.serve())
        stack.push_async_callback(self.stop)
        while not self.server.started:
            if self._task.done():
                self._task.result()  # the bind failed: raise it
                raise RuntimeError(f"the tap did not start on {self.config.listen}")
            await asyncio.sleep(0.01)
        _log.info(
            "tap_listening",
            listen=self.config.listen,
            upstream=self.app.upstream_label,
            sample_ratio=self.config.sample_ratio,
        )

    @property
    def bound_port(self) -> int:
        """The port actually bound (with port 0: the one the OS chose)."""
        assert self.server is not None
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (≤ 5 s)."""
        if self.server is None or self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
