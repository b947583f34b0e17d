"""driftmon_client: fire-and-forget pushes on a bounded queue; never raises, never blocks;
every drop and failure counted. Against driftmon's real push endpoint where it matters."""

from __future__ import annotations

import asyncio
import base64
import threading
import time

import httpx
import numpy as np
import pytest
from driftmon_client import AsyncDriftmonClient, DriftmonClient
from PIL import Image

from tests.imaging import png_bytes

PNG = png_bytes(np.full((16, 16, 3), 200, np.uint8))


class Recording:
    """A MockTransport handler: records bodies, answers `status`, optionally waits on `gate`."""

    def __init__(self, status: int = 202, gate: threading.Event | None = None) -> None:
        self.status = status
        self.gate = gate
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.gate is not None:
            self.gate.wait(10)
        import json

        self.bodies.append(json.loads(request.content))
        return httpx.Response(self.status, json={"id": "x", "sampled": True})


def test_push_sends_image_and_meta_in_the_background() -> None:
    handler = Recording()
    with DriftmonClient(
        "http://driftmon.test", token="t0k", transport=httpx.MockTransport(handler)
    ) as client:
        assert client.push(PNG, prompt='a sign "OPEN"', model_version="sdxl", seed=3, labels={"svc": "a"})
        assert client.flush(5)
        assert client.stats().sent == 1
    body = handler.bodies[0]
    assert base64.b64decode(body["image_b64"]) == PNG
    assert body["prompt"] == 'a sign "OPEN"' and body["model_version"] == "sdxl" and body["seed"] == 3
    assert body["labels"] == {"svc": "a"} and "steps" not in body


def test_pil_images_and_arrays_are_encoded_off_the_callers_thread() -> None:
    handler = Recording()
    with DriftmonClient(transport=httpx.MockTransport(handler)) as client:
        client.push(Image.new("RGB", (8, 8), "red"))
        client.push(np.zeros((8, 8, 3), np.uint8))
        assert client.flush(5)
    assert [base64.b64decode(b["image_b64"])[:8] for b in handler.bodies] == [b"\x89PNG\r\n\x1a\n"] * 2


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    gate = threading.Event()
    handler = Recording(gate=gate)
    client = DriftmonClient(max_queue=4, transport=httpx.MockTransport(handler))
    started = time.perf_counter()
    results = [client.push(PNG) for _ in range(100)]
    elapsed = time.perf_counter() - started
    gate.set()
    client.close(5)
    stats = client.stats()
    assert results.count(False) == stats.dropped >= 100 - 4 - 1
    assert stats.sent + stats.dropped == 100
    assert elapsed / 100 < 0.001  # microseconds each, far below a millisecond


def test_refusals_and_failures_are_counted_never_raised() -> None:
    with DriftmonClient(transport=httpx.MockTransport(Recording(status=429))) as client:
        client.push(PNG)
        client.push(object())  # not an image: fails in the worker, not in the caller
        assert client.flush(5)
        assert client.stats().refused == 1 and client.stats().failed == 1

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with DriftmonClient(transport=httpx.MockTransport(boom)) as client:
        assert client.push(PNG)
        assert client.flush(5)
        assert client.stats().failed == 1


def test_a_dead_daemon_costs_the_caller_nothing() -> None:
    client = DriftmonClient("http://127.0.0.1:9", timeout=0.5, connect_timeout=0.2)
    assert client.push(PNG)
    assert client.flush(5)
    client.close(1)
    assert client.stats().failed == 1
    assert client.push(PNG) is False and client.stats().dropped == 1  # closed: dropped, counted


def test_async_client_pushes_from_the_event_loop() -> None:
    handler = Recording()

    async def handle(request: httpx.Request) -> httpx.Response:
        return handler(request)

    async def main() -> None:
        async with AsyncDriftmonClient(transport=httpx.MockTransport(handle), max_queue=2) as client:
            assert client.push(PNG, prompt="p", model_version="v9")
            assert client.push(PNG)
            assert client.push(PNG) is False  # the queue holds 2 until the worker runs
            assert await client.flush(5)
            stats = client.stats()
            assert stats.sent == 2 and stats.dropped == 1

    asyncio.run(main())
    assert handler.bodies[0]["model_version"] == "v9"


@pytest.mark.slow
def test_against_the_real_push_endpoint(tmp_path, monkeypatch) -> None:
    """driftmon's own app accepts what the client sends (202), through a real socket."""
    from driftmon.sources.intake import Intake
    from tests.integration.tap_servers import serve
    from tests.unit.test_daemon import daemon_for, settings

    offered = []
    original = Intake.offer

    async def spy(self, offer):
        result = await original(self, offer)
        offered.append((offer.meta.prompt, result.sampled))
        return result

    monkeypatch.setattr(Intake, "offer", spy)

    async def run() -> tuple[int, int]:
        from contextlib import AsyncExitStack

        daemon = daemon_for(settings(tmp_path, scoring={"queue_size": 4}))
        async with AsyncExitStack() as stack:
            for name, start in daemon.steps():
                if name in ("store", "gpu", "rules", "notifier", "scoring", "http"):
                    await start(stack)
            app = daemon.http.server.config.app
            with serve(app) as running:
                client = DriftmonClient(running.url)
                client.push(PNG, prompt='a sign that says "HELLO"', model_version="v1")
                await asyncio.to_thread(client.flush, 10)
                client.close(1)
            return client.stats().sent

    assert asyncio.run(run()) == 1
    assert offered == [('a sign that says "HELLO"', True)]
