"""Prompts are user data: `store.prompts` decides what is stored (driftmon.privacy); logs never
carry a prompt; Authorization and cookies are never stored or logged (push and tap)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import structlog
from prometheus_client import CollectorRegistry

from driftmon.api.server import AppState, make_app
from driftmon.config import StoreConfig
from driftmon.logs import configure_logging
from driftmon.privacy import prompt_free_evidence, prompt_hash, stored_form
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.sources.intake import Offer
from driftmon.sources.tap import TapConfig, aclose_app, make_tap_app
from driftmon.store import Store
from tests.imaging import png_bytes
from tests.journaled import journal_intake, taken_in
from tests.support.raw_http import raw_server, read_request

PROMPT = 'a secret launch poster that says "PROJECT NIGHTJAR"'
TOKEN = "sk-very-private-token-42"
COOKIE = "session=cookie-value-99"
PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))
EVIDENCE = {
    "scorer_version": "s1",
    "reading": "lines",
    "accents_folded": False,
    "words": [{"word": "NIGHTJAR", "matched": False}],
    "missing_words": ["NIGHTJAR"],
    "composition": {"objects": [{"name": "poster", "expected": 1}], "sanity": {"blank": False}},
}


def scored(meta: SampleMeta, sample_id: str = "s1") -> ScoredSample:
    return ScoredSample(
        id=sample_id,
        source="tap",
        received_at=1000.0,
        scored_at=1001.0,
        meta=meta,
        scores={"text_fidelity": 0.5},
        ocr_text="PROJECT NIGHTJR",
        expected_text="PROJECT NIGHTJAR",
        evidence=EVIDENCE,
        failing=True,
    )


def test_full_keeps_the_sample_unchanged() -> None:
    sample = scored(SampleMeta(prompt=PROMPT))
    assert stored_form(sample, "full") is sample


def test_expected_only_keeps_what_the_scores_need() -> None:
    sample = scored(SampleMeta(prompt=PROMPT, expected_objects={"poster": 1}))
    kept = stored_form(sample, "expected_only")
    assert kept.meta.prompt is None
    assert kept.expected_text == kept.meta.expected_text == "PROJECT NIGHTJAR"
    assert kept.meta.expected_objects == {"poster": 1}
    assert kept.evidence == EVIDENCE
    assert kept.scores == sample.scores


def test_hash_keeps_only_the_prompts_sha256() -> None:
    kept = stored_form(scored(SampleMeta(prompt=PROMPT, expected_text="PROJECT NIGHTJAR")), "hash")
    assert kept.meta.prompt == prompt_hash(PROMPT)
    assert len(kept.meta.prompt) == 64 and int(kept.meta.prompt, 16) >= 0
    assert kept.meta.expected_text is None and kept.expected_text == ""
    assert "NIGHTJAR" not in json.dumps(kept.evidence)
    assert kept.evidence == {
        "scorer_version": "s1",
        "reading": "lines",
        "accents_folded": False,
        "composition": {"sanity": {"blank": False}},
    }


def test_hash_of_a_sample_without_prompt_stays_none() -> None:
    assert stored_form(scored(SampleMeta()), "hash").meta.prompt is None


def test_prompt_free_evidence_drops_unknown_keys() -> None:
    assert prompt_free_evidence({"new_check": {"quote": PROMPT}, "scorer_version": "x"}) == {
        "scorer_version": "x"
    }


def test_store_prompts_is_a_config_key_default_full() -> None:
    assert StoreConfig().prompts == "full"
    assert StoreConfig(prompts="hash").prompts == "hash"
    with pytest.raises(ValueError, match="prompts"):
        StoreConfig(prompts="encrypted")


def row_text(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return json.dumps([list(row) for row in conn.execute("SELECT * FROM samples")])
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("policy", "stored_prompt"),
    [("full", PROMPT), ("expected_only", None), ("hash", prompt_hash(PROMPT))],
)
def test_store_applies_the_policy_on_every_write(tmp_path: Path, policy, stored_prompt) -> None:
    store = Store(tmp_path / "db.sqlite", prompts=policy)
    store.add(scored(SampleMeta(prompt=PROMPT), "a"))
    assert store.add_once(scored(SampleMeta(prompt=PROMPT), "b"))
    for sample_id in ("a", "b"):
        got = store.get(sample_id)
        assert got is not None and got.meta.prompt == stored_prompt
    text = row_text(tmp_path / "db.sqlite")
    assert ("secret launch poster" in text) == (policy == "full")
    assert ("NIGHTJAR" in text) == (policy != "hash")
    store.close()


# -- logs and headers ------------------------------------------------------------------------------


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """Everything logged (structlog and stdlib, debug level, JSON) while the test runs."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_config)


SECRET_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Cookie": COOKIE}


def push(state: AppState, image: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://driftmon") as client:
            body = {"image_b64": base64.b64encode(image).decode(), "prompt": PROMPT, "model_version": "v1"}
            return await client.post("/v1/samples", json=body, headers=SECRET_HEADERS)

    return asyncio.run(go())


def test_push_logs_no_prompt_and_stores_no_secret_header(tmp_path: Path, captured_log) -> None:
    store = Store(tmp_path / "db.sqlite")
    registry = CollectorRegistry()
    intake = journal_intake(tmp_path, registry, max_entries=4)
    state = AppState(intake, store, registry)
    assert push(state, PNG).status_code == 202
    assert push(state, b"not an image at all").status_code == 422
    queued = taken_in(intake.journal)[0]
    sample = queued[-1] if isinstance(queued, tuple) else queued
    assert sample.meta.prompt == PROMPT
    store.add(scored(sample.meta))
    logged = captured_log.getvalue()
    assert logged  # the log was captured (the rejected image is logged)
    stored = row_text(tmp_path / "db.sqlite")
    for secret in (TOKEN, COOKIE):
        assert secret not in logged and secret not in stored and secret not in repr(sample)
    assert PROMPT not in logged and "NIGHTJAR" not in logged


async def openai_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    images = [base64.b64encode(PNG).decode(), base64.b64encode(b"broken").decode()]
    body = json.dumps({"created": 1, "data": [{"b64_json": i} for i in images]}).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()


def test_tap_logs_no_prompt_and_copies_no_secret_header(captured_log) -> None:
    offers: list[Offer] = []

    async def offer(item: Offer) -> None:
        offers.append(item)
        raise ValueError(f"a failing intake that quotes {item.meta.prompt!r}")  # counted, not logged

    async def go() -> httpx.Response:
        async with raw_server(openai_answer) as generator:
            upstream = f"http://{generator.host}:{generator.port}"
            config = TapConfig(enabled=True, upstream=upstream, sample_ratio=1.0)
            app = make_tap_app(config, offer)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tap") as client:
                body = {"prompt": PROMPT, "n": 2, "response_format": "b64_json"}
                response = await client.post("/v1/images/generations", json=body, headers=SECRET_HEADERS)
            await aclose_app(app, drain=5.0)
        return response

    assert asyncio.run(go()).status_code == 200
    assert len(offers) == 2 and {o.meta.prompt for o in offers} == {PROMPT}
    logged = captured_log.getvalue()
    assert "tap_sample_failed" in logged
    for secret in (TOKEN, COOKIE, PROMPT, "NIGHTJAR"):
        assert secret not in logged
    for item in offers:
        assert TOKEN not in repr(item.meta) and COOKIE not in repr(item.meta)
