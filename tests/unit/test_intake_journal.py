"""Intake in front of the journal: 202 means on disk; a full journal 429, a disk that cannot be
written (injected ENOSPC) 503 + Retry-After counted shed, nothing acknowledged lost, /healthz 200,
/readyz 503 until the disk is back (the scorer's state in its body, not its status)."""

from __future__ import annotations

import asyncio
import base64
import errno
import sqlite3
from pathlib import Path

import httpx
import numpy as np
from prometheus_client import CollectorRegistry

from driftmon.api.server import AppState, make_app
from driftmon.metrics import Metrics
from driftmon.sources.intake import Intake
from driftmon.store import Journal, Store
from tests.imaging import png_bytes

PNG = base64.b64encode(png_bytes(np.full((16, 16, 3), 90, np.uint8))).decode()


class FlakyDisk(Journal):
    """A journal whose disk can be made full: every connection then fails with ENOSPC."""

    full = False

    def _open(self) -> sqlite3.Connection:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._open()


def app_for(journal: Journal, store: Store, registry: CollectorRegistry) -> AppState:
    metrics = Metrics(registry)
    intake = Intake(journal, metrics)
    state = {"state": "starting", "up": False}
    return AppState(intake, store, registry, scorer_state=lambda: state)


def call(state: AppState, method: str, url: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, url, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def post(state: AppState) -> httpx.Response:
    return call(state, "POST", "/v1/samples", json={"image_b64": PNG, "model_version": "v1"})


def shed(registry: CollectorRegistry) -> float:
    labels = {"source": "push", "model_version": "v1", "outcome": "shed"}
    return registry.get_sample_value("driftmon_samples_total", labels) or 0.0


def test_full_disk_answers_503_keeps_what_was_acknowledged_and_stays_alive(tmp_path: Path) -> None:
    journal = FlakyDisk(tmp_path / "journal.db", 100, 1 << 20)
    registry = CollectorRegistry()
    state = app_for(journal, Store(tmp_path / "db.sqlite"), registry)
    accepted = post(state)
    assert accepted.status_code == 202 and accepted.json()["sampled"] is True
    ready = call(state, "GET", "/readyz")
    assert ready.status_code == 200 and ready.json()["scorer"]["state"] == "starting"
    journal.full = True
    journal.close()
    refused = post(state)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert shed(registry) == 1
    assert call(state, "GET", "/healthz").status_code == 200
    assert call(state, "GET", "/readyz").status_code == 503
    journal.full = False
    claimed = journal.claim(10, 60)
    assert [entry.sample.id for entry in claimed] == [accepted.json()["id"]]


def test_full_journal_answers_429(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db", 1, 1 << 20)
    registry = CollectorRegistry()
    state = app_for(journal, Store(tmp_path / "db.sqlite"), registry)
    assert post(state).status_code == 202
    refused = post(state)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert shed(registry) == 1
    assert call(state, "GET", "/readyz").status_code == 503  # no room: intake cannot accept
