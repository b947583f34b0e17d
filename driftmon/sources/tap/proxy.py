"""The tap's hot path: an ASGI reverse proxy on one pooled upstream client (docs/tap.md).

Every request is forwarded to the upstream as it streams in, and every answer streams back
as it comes: the status, the end-to-end headers and the body bytes exactly as the generator sent
them (transfer coding removed, content coding kept: a gzip body stays gzip). What the proxy does of its own:

- hop-by-hop headers (RFC 9110 §7.6.1: Connection and the fields it names, Keep-Alive,
  Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate,
  Proxy-Authorization) are not forwarded, either way;
- ``Host`` is the upstream's; ``X-Forwarded-For`` gets the client's address appended;
  ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are set unless a proxy in front already set them;
- no redirect is followed (a 3xx goes back to the client as it is), no timeout but the connect
  timeout (a generation may take minutes, a stream may idle);
- a generator it cannot reach gets the client a ``502`` whose body says so (``driftmon tap:``);
  an answer that breaks mid-stream is cut (the client sees a truncated answer, never a short
  "complete" one);
- a client that goes away cancels the upstream request (its connection is closed);
- WebSocket (and any other ``Upgrade``) requests get a ``501``: the tap only samples HTTP answers,
  so a WebSocket endpoint should be reached on the generator's own port;
- ``GET /tap-healthz`` is answered by the tap itself (``200 ok``: the readiness of the pod when
  the tap is in the path).

Sampling is decided when the request arrives, before any copy: only a sampled request on a
recognised route, while the intake is not shedding, has its body and answer copied, each up to
its limit (beyond it the copy is dropped and the request counted ``too_large``). The copy is
handed to the `Sampler` after the last byte of the answer was sent, and the proxy never waits on
it.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter

from driftmon.sources.tap.config import TapConfig
from driftmon.sources.tap.routes import Exchange, Route, RouteTable
from driftmon.sources.tap.sampler import Sampler
from driftmon.sources.tap.upstream import Answer, Body, Broken, UpstreamError, UpstreamPool

log = structlog.get_logger("driftmon.tap")

HEALTH_PATH = "/tap-healthz"
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
FORWARDED = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
#: the request outcomes of `driftmon_tap_requests_total`
REQUEST_OUTCOMES = (
    "proxied",
    "sampled",
    "unsampled",
    "shed",
    "too_large",
    "upstream_unreachable",
    "upstream_broken",
    "client_gone",
    "refused_upgrade",
)

Headers = list[tuple[bytes, bytes]]
Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


def end_to_end(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """`headers` without the hop-by-hop ones, including those the Connection header names (pure)."""
    headers = list(headers)
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    drop = HOP_BY_HOP | named
    return [(name, value) for name, value in headers if name.lower() not in drop]


def forwarded(scope: Scope, headers: Headers, upstream_host: bytes) -> Headers:
    """The request headers for the upstream: end-to-end ones, its Host, X-Forwarded-* (pure)."""
    kept = end_to_end(headers)
    original = {name.lower(): value for name, value in kept if name.lower() in FORWARDED}
    client = scope.get("client")
    client_ip = str(client[0]).encode("latin-1") if client else b"unknown"
    chain = original.get(b"x-forwarded-for")
    out = [(name, value) for name, value in kept if name.lower() not in FORWARDED]
    out.append((b"host", upstream_host))
    out.append((b"x-forwarded-for", chain + b", " + client_ip if chain else client_ip))
    proto = original.get(b"x-forwarded-proto") or str(scope.get("scheme", "http")).encode("latin-1")
    out.append((b"x-forwarded-proto", proto))
    if b"x-forwarded-host" in original:
        out.append((b"x-forwarded-host", original[b"x-forwarded-host"]))
    elif b"host" in original:
        out.append((b"x-forwarded-host", original[b"host"]))
    return out


def decide_sample(recognised: bool, ratio: float, draw: Callable[[], float]) -> bool:
    """Whether to copy this request's exchange: a recognised route, then a draw under `ratio`
    (no draw otherwise, so unrecognised traffic costs nothing)."""
    return recognised and ratio > 0 and (ratio >= 1.0 or draw() < ratio)


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode("latin-1") for n, v in headers if n.lower() == name), None)


def is_upgrade(headers: Headers) -> bool:
    return any(name.lower() == b"upgrade" for name, _ in headers)


@dataclass(slots=True)
class Tee:
    """A bounded copy of a body; dropped (`overflow`) as soon as it would pass `limit`."""

    limit: int
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    overflow: bool = False

    def add(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow = True
            self.parts.clear()
        else:
            self.parts.append(chunk)

    def value(self) -> bytes:
        return b"".join(self.parts)


@dataclass(slots=True)
class Flight:
    """One request's state while it is proxied."""

    route: Route | None
    sampled: bool
    started: float
    request_tee: Tee | None = None
    response_tee: Tee | None = None
    status: int = 0
    response_headers: Headers = field(default_factory=list)
    completed: bool = False
    #: `_forward` has returned: a disconnect from now on cancels nothing
    forwarded: bool = False
    #: the client went away while the answer was being forwarded (its cancellation is ours)
    disconnected: bool = False
    finished: float = 0.0
    outcome: str = "proxied"


class TapMetrics:
    """``driftmon_tap_requests_total{route, outcome}``: every request the tap proxied."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "driftmon_tap_requests_total",
            "Requests proxied by the tap, by recognised route (none: not sampled by route) and outcome.",
            ("route", "outcome"),
            registry=registry,
        )

    def request(self, route: Route | None, outcome: str) -> None:
        self.requests.labels(route.name if route else "none", outcome).inc()


async def plain(send: Send, status: int, message: str, extra: Headers | None = None) -> None:
    body = message.encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def make_upstream(config: TapConfig) -> UpstreamPool:
    """The pool of keep-alive connections to `config.upstream`, with only a connect timeout."""
    url = httpx.URL(config.upstream)
    port = url.port or (443 if url.scheme == "https" else 80)
    return UpstreamPool(
        url.scheme,
        url.host,
        port,
        connect_timeout=config.connect_timeout,
        max_connections=config.max_connections,
    )


class TapProxy:
    """The ASGI app: proxy everything to `config.upstream`, sample recognised routes."""

    def __init__(
        self,
        config: TapConfig,
        pool: UpstreamPool,
        sampler: Sampler | None,
        *,
        registry: CollectorRegistry | None = None,
        routes: RouteTable | None = None,
        random: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.pool = pool
        self.sampler = sampler
        self.routes = routes or RouteTable.from_config(config)
        self.metrics = TapMetrics(registry)
        self.random = random
        self.clock = clock
        self.upstream = httpx.URL(config.upstream)
        self.upstream_host = self.upstream.netloc
        self.upstream_label = f"{self.upstream.scheme}://{self.upstream.netloc.decode('ascii')}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await self._refuse_websocket(scope, send)
        elif scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            await plain(send, 200, "ok\n")
        elif is_upgrade(scope["headers"]):
            self.metrics.request(None, "refused_upgrade")
            await plain(
                send,
                501,
                "driftmon tap: protocol upgrades (WebSocket) are not proxied; "
                "reach that endpoint on the generator's own port\n",
            )
        else:
            await self.proxy(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _refuse_websocket(self, scope: Scope, send: Send) -> None:
        self.metrics.request(None, "refused_upgrade")
        if "websocket.http.response" in scope.get("extensions", {}):
            body = b"driftmon tap: WebSocket is not proxied\n"
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 501,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1003})

    # -- the hot path ----------------------------------------------------------------------------

    async def proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward one request, stream the answer back, then hand a sampled copy over."""
        started = self.clock()
        route = self.routes.match(scope["method"], scope["path"])
        sampled = decide_sample(route is not None, self.config.sample_ratio, self.random)
        flight = Flight(route, sampled, started)
        if sampled and self.sampler is not None and self.sampler.shedding():
            flight.sampled, flight.outcome = False, "shed"
        if flight.sampled:
            flight.request_tee = Tee(self.config.max_request_bytes)
        body_done = asyncio.Event()
        has_body = any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
        )
        if has_body:
            body: AsyncIterator[bytes] | bytes = self._body(receive, flight, body_done)
        else:
            body = b""
            body_done.set()  # the watcher reads the one empty body message
        await self._forward_watched(scope, body, receive, send, flight, body_done)
        self._finish(scope, flight)

    async def _forward_watched(
        self, scope: Scope, body: Body, receive: Receive, send: Send, flight: Flight, body_done: asyncio.Event
    ) -> None:
        """`_forward`, cancelled if the client disconnects first (plain asyncio: an anyio task
        group per request cost a quarter of the proxy's own CPU)."""
        task = asyncio.current_task()
        assert task is not None
        watcher = asyncio.create_task(self._watch_disconnect(receive, body_done, task, flight))
        try:
            await self._forward(scope, body, send, flight)
        except asyncio.CancelledError:
            if not flight.disconnected or task.uncancel() > 0:
                raise  # not (only) ours: the server is shutting down, let it go on
        finally:
            flight.forwarded = True
            watcher.cancel()

    def _target(self, scope: Scope) -> bytes:
        raw_path = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        query = scope.get("query_string") or b""
        return self.upstream.raw_path.rstrip(b"/") + raw_path + (b"?" + query if query else b"")

    async def _body(self, receive: Receive, flight: Flight, done: asyncio.Event) -> AsyncIterator[bytes]:
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                if flight.request_tee is not None:
                    flight.request_tee.add(chunk)
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return
        finally:
            done.set()

    @staticmethod
    async def _watch_disconnect(
        receive: Receive, body_done: asyncio.Event, forwarding: asyncio.Task[Any], flight: Flight
    ) -> None:
        """Once the body is read, a disconnect cancels the upstream request (unless it completed)."""
        await body_done.wait()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not flight.completed:
                    flight.outcome = "client_gone"
                if not flight.forwarded:
                    flight.disconnected = True
                    forwarding.cancel()
                return

    async def _forward(self, scope: Scope, body: Body, send: Send, flight: Flight) -> None:
        headers = forwarded(scope, scope["headers"], self.upstream_host)
        try:
            answer = await self.pool.request(scope["method"], self._target(scope), headers, body)
        except ClientGone:
            flight.outcome = "client_gone"
            return
        except UpstreamError as exc:
            flight.outcome = "upstream_unreachable"
            log.warning("tap_upstream_unreachable", upstream=self.upstream_label, error=str(exc))
            await plain(
                send,
                502,
                f"driftmon tap: the generator at {self.upstream_label} could not be reached ({exc})\n",
            )
            return
        try:
            await self._stream_back(answer, send, flight)
        finally:
            await answer.aclose()

    async def _stream_back(self, answer: Answer, send: Send, flight: Flight) -> None:
        flight.status = answer.status
        flight.response_headers = end_to_end(answer.headers)
        if flight.sampled and 200 <= answer.status < 300:
            declared = header(flight.response_headers, b"content-length")
            flight.response_tee = Tee(self.config.max_response_bytes)
            if declared and declared.isdigit() and int(declared) > self.config.max_response_bytes:
                flight.response_tee.overflow = True
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": flight.response_headers}
        )
        tee = flight.response_tee
        try:
            async for chunk in answer.body():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if tee is not None:
                    tee.add(chunk)
        except Broken as exc:
            flight.outcome = "upstream_broken"
            log.warning("tap_upstream_broken", upstream=self.upstream_label, error=str(exc))
            raise  # the server cuts the connection: the client must not take a short body as whole
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        flight.completed = True
        flight.finished = self.clock()

    # -- off the hot path --------------------------------------------------------------------------

    def _finish(self, scope: Scope, flight: Flight) -> None:
        """Count the request; hand a complete sampled copy to the sampler (never raises)."""
        try:
            outcome = self._outcome(flight)
            self.metrics.request(flight.route, outcome)
            if outcome in ("unsampled", "shed") and self.sampler is not None:
                self.sampler.count("tap", "unknown", outcome)
            if outcome == "sampled" and self.sampler is not None and flight.route is not None:
                self.sampler.submit(flight.route, self._exchange(scope, flight))
        except Exception as exc:  # a tap bug never reaches the client, and is counted
            log.error("tap_bug", error=repr(exc))

    def _outcome(self, flight: Flight) -> str:
        if flight.outcome != "proxied" or flight.route is None:
            return flight.outcome
        if not flight.sampled:
            return "unsampled"
        if not flight.completed or flight.response_tee is None:
            return "proxied"  # a non-2xx answer: nothing to sample
        if flight.response_tee.overflow or (flight.request_tee is not None and flight.request_tee.overflow):
            return "too_large"
        return "sampled"

    def _exchange(self, scope: Scope, flight: Flight) -> Exchange:
        assert flight.response_tee is not None and flight.request_tee is not None
        response_headers = {
            n.decode("latin-1").lower(): v.decode("latin-1") for n, v in flight.response_headers
        }
        request_id = response_headers.get("x-request-id") or header(scope["headers"], b"x-request-id")
        return Exchange(
            method=scope["method"],
            path=scope["path"],
            request_content_type=header(scope["headers"], b"content-type") or "",
            request_body=flight.request_tee.value(),
            status=flight.status,
            response_headers=response_headers,
            response_body=flight.response_tee.value(),
            latency_seconds=max(0.0, flight.finished - flight.started),
            request_id=request_id or uuid.uuid4().hex,
        )
