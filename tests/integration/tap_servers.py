"""Servers for the tap tests: the synthetic generator with the routes a real one has and the
demo lacks (OpenAI ``url`` answers, edits, img2img), faulty routes, and the tap in a thread.

Each server runs uvicorn in a thread of the test process, on a free loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from driftmon.demo.generator import DemoGenerator, a1111_txt2img, make_generator_app, stable_seed
from driftmon.sources.intake import Offer, image_bytes
from driftmon.sources.tap import Tap, TapConfig
from tests.integration.servers import free_port, wait_until


@dataclass
class Recorder:
    """The intake's stand-in: checks each image as the intake does, records what it admitted."""

    offers: list[Offer] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    counts: list[tuple[str, str, str]] = field(default_factory=list)
    #: raise this (e.g. Shed) instead of admitting
    refuse_with: Exception | None = None

    async def offer(self, offer: Offer) -> None:
        if self.refuse_with is not None:
            self.refusals.append(type(self.refuse_with).__name__)
            raise self.refuse_with
        try:
            image_bytes(offer.image, 40_000_000)
        except Exception as exc:
            self.refusals.append(type(exc).__name__)
            raise
        self.offers.append(offer)

    def count(self, source: str, model_version: str, outcome: str) -> None:
        self.counts.append((source, model_version, outcome))


@dataclass
class Upstream:
    """What the faulty routes saw (the disconnect test reads `cancelled`)."""

    generator: DemoGenerator
    files: dict[str, bytes] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""


def make_upstream_app(upstream: Upstream) -> Starlette:
    generator = upstream.generator
    demo = make_generator_app(generator)

    async def openai(request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("multipart/"):
            async with request.form() as form:
                body: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            body = await request.json()
        prompt = str(body.get("prompt", ""))
        count = int(body.get("n", 1))
        outputs = [
            await generator.generate(prompt, stable_seed(prompt) + i, (256, 256)) for i in range(count)
        ]
        data = []
        for output in outputs:
            if body.get("response_format") == "url":
                name = uuid.uuid4().hex
                upstream.files[name] = output.png
                data.append({"url": f"{upstream.base_url}/files/{name}.png", "revised_prompt": prompt})
            else:
                data.append({"b64_json": base64.b64encode(output.png).decode(), "revised_prompt": prompt})
        payload = {"created": 1700000000, "data": data}
        return JSONResponse(payload, headers={"X-Model-Version": outputs[0].model_version})

    async def files(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in upstream.files:
            return Response(status_code=404)
        return Response(upstream.files[name], media_type="image/png")

    async def img2img(request: Request) -> Response:
        return await a1111_txt2img(request)

    async def fail(request: Request) -> Response:
        return Response(b'{"error": "boom \xe2\x9c\x97"}\n', status_code=500, media_type="application/json")

    async def broken_image(request: Request) -> Response:
        return JSONResponse({"created": 1, "data": [{"b64_json": base64.b64encode(b"not a png").decode()}]})

    async def slow(request: Request) -> Response:
        await request.body()
        for _ in range(300):  # a long generation that stops when its client goes away
            if await request.is_disconnected():
                upstream.cancelled.set()
                return Response(b"gone")
            await asyncio.sleep(0.1)
        return Response(b"late")

    async def events(request: Request) -> Response:
        async def stream() -> Any:
            for index in range(5):
                yield f"data: {index}\n\n".encode()
                await asyncio.sleep(0.02)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def echo(request: Request) -> Response:
        return JSONResponse(
            {"headers": [[k, v] for k, v in request.headers.items()], "body": (await request.body()).decode()}
        )

    async def redirect(request: Request) -> Response:
        return Response(status_code=302, headers={"Location": "/healthz"})

    routes = [
        Route("/v1/images/generations", openai, methods=["POST"]),
        Route("/v1/images/edits", openai, methods=["POST"]),
        Route("/sdapi/v1/img2img", img2img, methods=["POST"]),
        Route("/files/{name}.png", files),
        Route("/fail", fail, methods=["GET", "POST"]),
        Route("/broken/v1/images/generations", broken_image, methods=["POST"]),
        Route("/slow", slow, methods=["GET", "POST"]),
        Route("/events", events),
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/redirect", redirect),
        Mount("/", demo),
    ]
    app = Starlette(routes=routes)
    app.state.generator = generator
    return app


@dataclass
class Running:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop | None = None


@contextlib.contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[Running]:
    """uvicorn serving `app` in a thread; stopped on exit."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws="none")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20, interval=0.02, what="server")
    try:
        yield Running(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def upstream_server(latency_scale: float = 0.0) -> Iterator[tuple[Running, Upstream]]:
    upstream = Upstream(DemoGenerator("v1", latency_scale=latency_scale))
    port = free_port()
    upstream.base_url = f"http://127.0.0.1:{port}"
    with serve(make_upstream_app(upstream), port) as running:
        yield running, upstream


@dataclass
class TapRunning:
    url: str
    tap: Tap
    loop: asyncio.AbstractEventLoop

    def call(self, factory: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout)


@contextlib.contextmanager
def tap_server(config: TapConfig, recorder: Recorder) -> Iterator[TapRunning]:
    """The tap (`driftmon.sources.tap.Tap`) on its own loop in a thread, offering to `recorder`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()
    config = config.model_copy(update={"listen": "127.0.0.1:0"})
    tap = Tap(config, recorder.offer, count=recorder.count)
    asyncio.run_coroutine_threadsafe(tap.start(stack), loop).result(20)
    try:
        yield TapRunning(f"http://127.0.0.1:{tap.bound_port}", tap, loop)
    finally:
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
