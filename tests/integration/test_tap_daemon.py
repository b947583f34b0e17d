"""The tap wired into the daemon: step 6b binds `sources.tap.listen` before the models load, and
a sampled answer reaches the scoring queue through the daemon's one door (`Intake.offer`)."""

from __future__ import annotations

import hashlib
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx
import pytest

from driftmon.sources.intake import Admitted, Intake, Offer
from tests.integration.tap_servers import upstream_server
from tests.unit.test_daemon import daemon_for, settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PROMPT = 'a roadside diner with a neon sign saying "EAT HERE"'


async def test_daemon_tap_offers_to_the_intake_before_the_scoring_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admitted: list[tuple[Offer, Admitted]] = []
    original = Intake.offer

    async def spy(self: Intake, offer: Offer) -> Admitted:
        result = await original(self, offer)
        admitted.append((offer, result))
        return result

    monkeypatch.setattr(Intake, "offer", spy)
    with upstream_server() as (upstream, _):
        tap = {"enabled": True, "listen": "127.0.0.1:0", "upstream": upstream.url, "sample_ratio": 1.0}
        config = settings(tmp_path, sources={"tap": tap}, scoring={"queue_size": 4})
        daemon = daemon_for(config)
        skipped = {"scheduler", "scoring thread", "probe job"}
        async with AsyncExitStack() as stack:
            for name, start in daemon.steps():
                if name not in skipped:
                    await start(stack)
            assert daemon.tap_part.tap is not None
            url = f"http://127.0.0.1:{daemon.tap_part.tap.bound_port}"
            body = {"prompt": PROMPT, "n": 1, "size": "128x128"}
            async with httpx.AsyncClient(timeout=30) as client:
                through = await client.post(f"{url}/v1/images/generations", json=body)
                direct = await client.post(f"{upstream.url}/v1/images/generations", json=body)
            assert hashlib.sha256(through.content).digest() == hashlib.sha256(direct.content).digest()
            with anyio.fail_after(10):
                while not admitted:
                    await anyio.sleep(0.02)
            offer, result = admitted[0]
            assert result.sampled
            assert offer.source == "tap"
            assert offer.meta.prompt == PROMPT
            assert offer.meta.latency_seconds and offer.meta.latency_seconds > 0
