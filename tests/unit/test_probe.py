"""The probe source: probe file validation, rounds, failure counting, burst logging, scheduling."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from driftmon.config import ProbeConfig
from driftmon.errors import ConfigError, GeneratorError
from driftmon.samples import SampleMeta
from driftmon.sources import (
    PROBE_FAILURE_REASONS,
    Generated,
    Probe,
    Prober,
    generator_config,
    load_probes,
    make_generator,
)
from driftmon.sources.probe import BurstTracker
from tests.support import FakeClock

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def png_bytes() -> bytes:
    """A small valid PNG."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


PNG = png_bytes()
PROBES = (
    Probe(name="alpha", prompt='a sign "ALPHA"', seed=1, size="512x512", expected_objects={"cat": 2}),
    Probe(name="beta", prompt='a sign "BETA"', seed=2, size=(256, 256), expected_text="BETA!"),
)


class Intake:
    """Records what the prober submits; can be told to refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.items: list[tuple[bytes, SampleMeta, str]] = []
        self.refuse = refuse

    def __call__(self, encoded_image: bytes, meta: SampleMeta, source: str = "probe") -> None:
        if self.refuse:
            raise RuntimeError("queue full")
        self.items.append((encoded_image, meta, source))


class Mode:
    """What the mock generator does next: ``ok``, an HTTP status, or a transport exception."""

    def __init__(self) -> None:
        self.value: Any = "ok"

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler following the current mode."""
        if isinstance(self.value, Exception):
            raise self.value
        if isinstance(self.value, int):
            return httpx.Response(self.value, text="unavailable")
        payload = {"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
        return httpx.Response(200, json=payload, headers={"X-Model-Version": "v1"})


def build(mode: Mode, intake: Any, registry: CollectorRegistry, **kwargs: Any) -> Prober:
    """A prober over the two test probes, its OpenAI adapter on a MockTransport."""
    config = generator_config(
        kind="openai_images", url="http://gen.test", model_version_header="X-Model-Version"
    )
    generator = make_generator(config, transport=httpx.MockTransport(mode.handler))
    return Prober(PROBES, generator, intake, interval=60, registry=registry, **kwargs)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when absent)."""
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def bounded(awaitable: Any, seconds: float = 5.0) -> Any:
    """Await with a bound so a broken prober fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


async def test_run_once_submits_every_probe_with_meta() -> None:
    """Each probe's image reaches submit with labels, size, seed, objects, version and latency."""
    intake, registry = Intake(), CollectorRegistry()
    prober = build(Mode(), intake, registry)
    results = await bounded(prober.run_once())
    await prober.shutdown()
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert [source for _, _, source in intake.items] == ["probe", "probe"]
    image, meta, _ = intake.items[0]
    assert image == PNG
    assert meta.labels == {"probe": "alpha"}
    assert meta.size == (512, 512) and meta.seed == 1 and meta.expected_objects == {"cat": 2}
    assert meta.model_version == "v1" and meta.prompt == 'a sign "ALPHA"'
    assert meta.latency_seconds is not None and meta.latency_seconds >= 0
    second = intake.items[1][1]
    assert second.size == (256, 256) and second.expected_text == "BETA!"
    assert meta.request_id != second.request_id
    assert value(registry, "driftmon_probe_requests_total", outcome="ok") == 2
    assert value(registry, "driftmon_probe_last_success_timestamp_seconds") > 0


async def test_async_submit_is_awaited() -> None:
    """A coroutine submit function is awaited."""
    received: list[str] = []

    async def submit(encoded_image: bytes, meta: SampleMeta, source: str = "probe") -> None:
        await asyncio.sleep(0)
        received.append(meta.labels["probe"])

    prober = build(Mode(), submit, CollectorRegistry())
    await bounded(prober.run_once())
    await prober.shutdown()
    assert received == ["alpha", "beta"]


async def test_failures_counted_by_reason_and_reported() -> None:
    """Each failed call counts once under its reason and reaches on_outcome; nothing raises."""
    mode, registry, outcomes = Mode(), CollectorRegistry(), []
    prober = build(mode, Intake(), registry, on_outcome=lambda *args: outcomes.append(args))
    mode.value = 503
    await bounded(prober.run_once())
    mode.value = httpx.ConnectError("Connection refused")
    await bounded(prober.run_once())
    mode.value = "ok"
    await bounded(prober.run_once())
    await prober.shutdown()
    assert value(registry, "driftmon_probe_failures_total", reason="http_5xx") == 2
    assert value(registry, "driftmon_probe_failures_total", reason="connection") == 2
    assert value(registry, "driftmon_probe_requests_total", outcome="failed") == 4
    assert value(registry, "driftmon_probe_requests_total", outcome="ok") == 2
    assert outcomes == [
        ("alpha", False, "http_5xx"),
        ("beta", False, "http_5xx"),
        ("alpha", False, "connection"),
        ("beta", False, "connection"),
        ("alpha", True, None),
        ("beta", True, None),
    ]


def test_every_reason_label_exists_at_zero() -> None:
    """All reason and outcome series are exported from the start (rate() works from zero)."""
    registry = CollectorRegistry()
    build(Mode(), Intake(), registry)
    for reason in PROBE_FAILURE_REASONS:
        assert registry.get_sample_value("driftmon_probe_failures_total", {"reason": reason}) == 0
    dropped = [
        sample for metric in registry.collect() for sample in metric.samples
        if sample.name == "driftmon_probe_requests_total" and sample.labels["outcome"] == "dropped"
    ]
    assert dropped and all(sample.value == 0 for sample in dropped)


async def test_burst_is_logged_once_then_summarised() -> None:
    """Many failures of one reason give one warning; recovery gives one summary with the counts."""
    mode, clock = Mode(), FakeClock()
    prober = build(mode, Intake(), CollectorRegistry(), clock=clock)
    mode.value = httpx.ConnectError("Connection refused")
    with capture_logs() as logs:
        for _ in range(3):
            await bounded(prober.run_once())
            clock.now += 60
        mode.value = "ok"
        await bounded(prober.run_once())
    await prober.shutdown()
    events = [entry["event"] for entry in logs]
    assert events == ["probe_failing", "probe_recovered"]
    assert logs[0]["reason"] == "connection" and logs[0]["log_level"] == "warning"
    assert logs[1]["failures"] == 6 and logs[1]["reasons"] == {"connection": 6}
    assert logs[1]["probes"] == ["alpha", "beta"] and logs[1]["duration_seconds"] == 180


async def test_new_reason_within_a_burst_is_logged_once() -> None:
    """A burst that changes cause (connection → 5xx) logs the new reason once, not per failure."""
    mode = Mode()
    prober = build(mode, Intake(), CollectorRegistry())
    with capture_logs() as logs:
        mode.value = httpx.ConnectError("refused")
        await bounded(prober.run_once())
        mode.value = 500
        await bounded(prober.run_once())
        await bounded(prober.run_once())
    await prober.shutdown()
    assert [entry["event"] for entry in logs] == ["probe_failing", "probe_still_failing"]
    assert logs[1]["reason"] == "http_5xx"


async def test_long_burst_gets_a_reminder() -> None:
    """While a burst lasts longer than remind_every, a reminder is logged, then quiet again."""
    mode, clock = Mode(), FakeClock()
    prober = build(mode, Intake(), CollectorRegistry(), clock=clock, remind_every=300)
    mode.value = 502
    with capture_logs() as logs:
        for _ in range(8):
            await bounded(prober.run_once())
            clock.now += 60
    await prober.shutdown()
    assert [entry["event"] for entry in logs] == ["probe_failing", "probe_still_failing"]
    assert logs[1]["failures"] == 11


async def test_dropped_samples_are_counted_not_fatal() -> None:
    """When submit raises, the outcome is `dropped`, logged once, and the generator counts as ok."""
    registry, outcomes = CollectorRegistry(), []
    prober = build(Mode(), Intake(refuse=True), registry, on_outcome=lambda *a: outcomes.append(a))
    with capture_logs() as logs:
        results = await bounded(prober.run_once())
    await prober.shutdown()
    assert [r.outcome for r in results] == ["dropped", "dropped"] and all(r.ok for r in results)
    assert value(registry, "driftmon_probe_requests_total", outcome="dropped") == 2
    assert [entry["event"] for entry in logs] == ["probe_sample_dropped"]
    assert outcomes == [("alpha", True, None), ("beta", True, None)]


async def test_broken_callback_and_adapter_bug_never_escape() -> None:
    """An exception in on_outcome is logged; an adapter bug counts as reason `internal`."""

    class Buggy:
        endpoint = "buggy"

        async def generate(self, prompt: str, seed: int, size: tuple[int, int]) -> Generated:
            raise KeyError("bug")

        async def aclose(self) -> None:
            return None

    def callback(name: str, ok: bool, reason: str | None) -> None:
        raise RuntimeError("callback bug")

    registry = CollectorRegistry()
    prober = Prober(PROBES, Buggy(), Intake(), registry=registry, on_outcome=callback)
    with capture_logs() as logs:
        results = await bounded(prober.run_once())
    assert [r.reason for r in results] == ["internal", "internal"]
    assert value(registry, "driftmon_probe_failures_total", reason="internal") == 2
    assert "probe_outcome_callback_failed" in [entry["event"] for entry in logs]


async def test_unknown_generator_reason_is_bounded() -> None:
    """A GeneratorError reason outside the known set is exported as `internal`."""

    class Odd:
        endpoint = "odd"

        async def generate(self, prompt: str, seed: int, size: tuple[int, int]) -> Generated:
            raise GeneratorError("surprise", "odd")

        async def aclose(self) -> None:
            return None

    registry = CollectorRegistry()
    await bounded(Prober(PROBES[:1], Odd(), Intake(), registry=registry).run_once())
    assert value(registry, "driftmon_probe_failures_total", reason="internal") == 1
    assert registry.get_sample_value("driftmon_probe_failures_total", {"reason": "surprise"}) is None


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll `condition` every 10 ms; fail the test after `seconds`."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def test_scheduler_runs_rounds_until_shutdown() -> None:
    """start() runs a round at once and then every interval; shutdown() stops it for good."""
    intake = Intake()
    config = generator_config(url="http://gen.test")
    generator = make_generator(config, transport=httpx.MockTransport(Mode().handler))
    prober = Prober(PROBES, generator, intake, interval=0.05, registry=CollectorRegistry())
    prober.start()
    with pytest.raises(RuntimeError):
        prober.start()
    await wait_for(lambda: len(intake.items) >= 6)
    await bounded(prober.shutdown())
    seen = len(intake.items)
    await asyncio.sleep(0.2)
    assert len(intake.items) == seen


async def test_shutdown_cancels_a_hung_round_after_the_grace() -> None:
    """A round stuck on the generator is cancelled once shutdown_grace has passed; the client closes."""
    started, closed = asyncio.Event(), asyncio.Event()

    class Hanging:
        endpoint = "hanging"

        async def generate(self, prompt: str, seed: int, size: tuple[int, int]) -> Generated:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("not reached")

        async def aclose(self) -> None:
            closed.set()

    prober = Prober(PROBES, Hanging(), Intake(), interval=60, shutdown_grace=0.1)
    prober.start()
    await bounded(started.wait())
    with capture_logs() as logs:
        await bounded(prober.shutdown(), 3.0)
    assert closed.is_set()
    assert [entry["event"] for entry in logs] == ["probe_round_cancelled"]


async def test_from_config_reads_probes_relative_to_base_dir(tmp_path: Path) -> None:
    """from_config loads sources.probe.prompts under base_dir and builds the configured adapter."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "probes.yaml").write_text(
        "probes:\n  - {name: one, prompt: 'say \"HI\"', seed: 3, size: 512x512}\n"
    )
    config = ProbeConfig(
        enabled=True,
        interval=30,
        prompts=Path("rules/probes.yaml"),
        generator=generator_config(kind="a1111"),
    )
    prober = Prober.from_config(
        config, Intake(), base_dir=tmp_path, transport=httpx.MockTransport(Mode().handler)
    )
    assert [p.name for p in prober.probes] == ["one"] and prober.interval == 30
    assert prober.generator.endpoint == "http://127.0.0.1:8000/sdapi/v1/txt2img"
    await prober.shutdown()


def test_shipped_probe_set_is_valid() -> None:
    """rules/probes.yaml loads: 8–12 probes, 512x512, distinct names, some with expected objects."""
    probes = load_probes(REPO / "rules" / "probes.yaml")
    assert 8 <= len(probes) <= 12
    assert all(p.size == (512, 512) for p in probes)
    assert len({p.name for p in probes}) == len(probes)
    assert sum(p.expected_objects is not None for p in probes) >= 2


def write(tmp_path: Path, text: str) -> Path:
    """`text` as a probe file in `tmp_path`."""
    path = tmp_path / "probes.yaml"
    path.write_text(text)
    return path


GOOD = "probes:\n  - name: a\n    prompt: 'x \"Y\"'\n    seed: 1\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "    colour: red\n", r"probes\.yaml:5: probes\.0\.colour: Extra inputs"),
        (GOOD + "    size: 512by512\n", r"probes\.yaml:5: probes\.0\.size: .*512x512"),
        (GOOD + "    size: 32x32\n", r"probes\.yaml:5: probes\.0\.size\.0"),
        (GOOD.replace("seed: 1", "seed: -4"), r"probes\.yaml:4: probes\.0\.seed"),
        (GOOD.replace("    seed: 1\n", ""), r"probes\.yaml:2: probes\.0\.seed: Field required"),
        (GOOD + "    expected_objects: {cat: -1}\n", r"probes\.0\.expected_objects\.cat"),
        (GOOD + "  - name: a\n    prompt: p\n    seed: 2\n", r"two probes are named 'a'"),
        ("probes: []\n", r"probes\.yaml:1: probes: List should have at least 1 item"),
        ("prompts:\n  - a\n", r"probes\.yaml:1: prompts: Extra inputs"),
        (GOOD.replace("name: a", "name: 'bad name!'"), r"probes\.0\.name"),
    ],
)
def test_invalid_probe_files_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    """Each invalid probe file is a ConfigError naming the file, the line and the field."""
    with pytest.raises(ConfigError, match=expected):
        load_probes(write(tmp_path, text))


def test_unreadable_and_invalid_yaml_name_the_file(tmp_path: Path) -> None:
    """A missing file and broken YAML are ConfigErrors that name the file."""
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_probes(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"probes\.yaml: invalid YAML"):
        load_probes(write(tmp_path, "probes: [\n"))


def test_size_accepts_a_list() -> None:
    """A size may also be written as [W, H]."""
    probe = Probe.model_validate({"name": "p", "prompt": "x", "seed": 0, "size": [640, 512]})
    assert probe.size == (640, 512)


def test_burst_tracker_ends_when_every_probe_recovered() -> None:
    """A burst continues while any probe still fails; its summary comes with the last recovery."""
    tracker = BurstTracker(remind_every=600)
    assert tracker.failure(0.0, "a", "timeout") == "first"
    assert tracker.failure(1.0, "b", "timeout") is None
    assert tracker.success(2.0, "a") is None and tracker.active
    summary = tracker.success(5.0, "b")
    assert summary is not None and summary.failures == 2 and summary.duration_seconds == 5.0
    assert not tracker.active and tracker.success(6.0, "a") is None


def test_probe_meta_is_json_friendly() -> None:
    """The meta the prober builds serialises (labels and objects are plain mappings)."""
    meta = Prober.meta_for(PROBES[0], "v1", 0.1, 20)
    encoded = json.dumps({"labels": dict(meta.labels), "objects": dict(meta.expected_objects or {})})
    assert json.loads(encoded) == {"labels": {"probe": "alpha"}, "objects": {"cat": 2}}
