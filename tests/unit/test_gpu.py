"""driftmon.gpu against a fake NVML built from readings recorded on a real H200."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pynvml
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from driftmon import gpu
from driftmon.gpu import (
    GpuCollector,
    GpuReading,
    ProcessNames,
    PynvmlReader,
    gpu_signals,
    node_name,
    open_nvml,
)
from tests.support import FakeClock
from tests.support.nvml import BUSY_PID, FakeNvml, load_recording, make_proc_tree

OWN_PID = 4242
UUID = "GPU-00000000-1111-2222-3333-444444444444"
#: today's labels (uuid, name: deprecated) and dcgm-exporter 4.x's (UUID, modelName, Hostname)
DEVICE = {
    "gpu": "0", "uuid": UUID, "name": "NVIDIA H200",
    "UUID": UUID, "modelName": "NVIDIA H200", "Hostname": node_name(),
}  # fmt: skip
TOTAL = 150754820096
BUSY_USED_V2 = 5585567744
BUSY_USED_V1 = 6230507520
BUSY_PROCESS_USED = 5576327168


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A fake /proc in the host's PID namespace where PID 483 is `python3` and we are 4242."""
    return make_proc_tree(tmp_path, {BUSY_PID: "python3"}, own_pid=OWN_PID)


def reader_for(nvml: FakeNvml, proc: Path, **kwargs: int) -> PynvmlReader:
    """A reader over `nvml` resolving names in the fake /proc."""
    return PynvmlReader(nvml, ProcessNames(proc), **kwargs)


def collector_for(
    nvml: FakeNvml, proc: Path, clock: FakeClock | None = None, timeout: float = 5.0
) -> tuple[GpuCollector, CollectorRegistry]:
    """A collector over `nvml` on a fresh registry; a generous deadline unless one is tested."""
    registry = CollectorRegistry()
    collector = GpuCollector(
        reader_for(nvml, proc),
        clock=clock or FakeClock(),
        timeout_seconds=timeout,
        registry=registry,
    )
    return collector, registry


def errors(registry: CollectorRegistry, reason: str) -> float | None:
    """driftmon_nvml_read_errors_total for one reason."""
    return registry.get_sample_value("driftmon_nvml_read_errors_total", {"reason": reason})


def used(registry: CollectorRegistry) -> float | None:
    """driftmon_gpu_memory_used_bytes of the recorded board."""
    return registry.get_sample_value("driftmon_gpu_memory_used_bytes", DEVICE)


class WaitRecorder(threading.Event):
    """An Event that records each `wait(timeout)` a scrape makes and what it returned."""

    def __init__(self, waits: list[tuple[float | None, bool]]) -> None:
        super().__init__()
        self.waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        answered = super().wait(timeout)
        self.waits.append((timeout, answered))
        return answered


def record_scrape_waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float | None, bool]]:
    """From now on, each NVML read's `done` event records the waits made on it (the deadline is
    proven by what the scrape asked for, not by timing it)."""
    waits: list[tuple[float | None, bool]] = []

    class RecordedRead(gpu._Read):
        def __init__(self, work: Callable[[], None]) -> None:
            super().__init__(work)
            self.done = WaitRecorder(waits)  # the reads recorded here hang: none is done yet

    monkeypatch.setattr(gpu, "_Read", RecordedRead)
    return waits


def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> bool:
    """Polls `predicate` until true or `limit` seconds pass; returns its last value."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- the reader over the recorded scenarios ---------------------------------------------------


def test_idle_reading_matches_the_recording(proc: Path) -> None:
    """Idle H200: v2 used memory 0, utilisation 0, temperature, power in watts, no processes."""
    reading = reader_for(FakeNvml("idle"), proc).read()
    (device,) = reading.devices
    assert (device.index, device.name, device.uuid) == (0, "NVIDIA H200", UUID)
    assert (device.memory_used_bytes, device.memory_total_bytes) == (0, TOTAL)
    assert device.utilization_ratio == 0.0
    assert device.temperature_celsius == 37.0
    assert device.power_watts == pytest.approx(78.163)
    assert device.processes == ()
    assert reading.errors == 0


def test_busy_reading_uses_v2_memory_and_names_the_process(proc: Path) -> None:
    """Busy H200: used memory leaves out the 645 MB reserved; the CUDA process is named."""
    (device,) = reader_for(FakeNvml("busy"), proc).read().devices
    assert device.memory_used_bytes == BUSY_USED_V2
    assert device.utilization_ratio == 1.0
    assert device.power_watts == pytest.approx(665.241)
    (process,) = device.processes
    assert (process.pid, process.name, process.used_bytes) == (
        BUSY_PID,
        "python3",
        BUSY_PROCESS_USED,
    )


def test_after_reading_has_no_process_and_lagging_utilisation(proc: Path) -> None:
    """After the process exited: memory back to 0, utilisation still 0.59 from the last period."""
    (device,) = reader_for(FakeNvml("after"), proc).read().devices
    assert device.memory_used_bytes == 0
    assert device.utilization_ratio == pytest.approx(0.59)
    assert device.temperature_celsius == 60.0
    assert device.processes == ()


def test_v1_fallback_counts_reserved_memory_and_is_decided_once(proc: Path) -> None:
    """Without the v2 query, v1's used (reserved included) is read; v2 is not retried."""
    nvml = FakeNvml("busy", memory_v2=False)
    reader = reader_for(nvml, proc)
    with capture_logs() as logs:
        first, second = reader.read(), reader.read()
    assert first.devices[0].memory_used_bytes == BUSY_USED_V1
    assert second.devices[0].memory_used_bytes == BUSY_USED_V1
    assert (first.errors, second.errors) == (0, 0)
    assert nvml.calls.count("nvmlDeviceGetMemoryInfo") == 3  # v2 once, then v1 twice
    assert [e["event"] for e in logs] == ["nvml_memory_v1_fallback"]


def test_not_supported_values_are_skipped_without_failing_the_rest(proc: Path) -> None:
    """NotSupported on temperature and power leaves them None, counts no error, keeps memory."""
    unsupported = pynvml.NVMLError_NotSupported()
    nvml = FakeNvml(
        "busy",
        failures={"nvmlDeviceGetTemperature": unsupported, "nvmlDeviceGetPowerUsage": unsupported},
    )
    reading = reader_for(nvml, proc).read()
    (device,) = reading.devices
    assert (device.temperature_celsius, device.power_watts) == (None, None)
    assert device.memory_used_bytes == BUSY_USED_V2
    assert reading.errors == 0


def test_a_failing_call_is_counted_and_the_rest_is_read(proc: Path) -> None:
    """An NVML error other than NotSupported on one call counts one error; the rest is read."""
    nvml = FakeNvml("busy", failures={"nvmlDeviceGetTemperature": pynvml.NVMLError_Unknown()})
    reading = reader_for(nvml, proc).read()
    assert reading.errors == 1
    assert reading.devices[0].temperature_celsius is None
    assert reading.devices[0].utilization_ratio == 1.0


def test_a_failing_memory_query_leaves_memory_unknown(proc: Path) -> None:
    """A memory query failing with a real error counts it, keeps v2 and leaves the ratio None."""
    nvml = FakeNvml("busy", failures={"nvmlDeviceGetMemoryInfo": pynvml.NVMLError_Unknown()})
    reader = reader_for(nvml, proc)
    reading = reader.read()
    (device,) = reading.devices
    assert (device.memory_used_bytes, device.memory_used_ratio, reading.errors) == (None, None, 1)
    del nvml.failures["nvmlDeviceGetMemoryInfo"]
    assert reader.read().devices[0].memory_used_bytes == BUSY_USED_V2  # still v2


def test_mig_mode_skips_utilisation_and_hidden_process_memory(proc: Path) -> None:
    """Under MIG utilisation raises NotSupported: None, no error; memory is still read."""
    reading = reader_for(FakeNvml("busy", mig=True), proc).read()
    (device,) = reading.devices
    assert device.utilization_ratio is None
    assert device.memory_used_bytes == BUSY_USED_V2
    assert [(p.pid, p.used_bytes) for p in device.processes] == [(BUSY_PID, None)]
    assert reading.errors == 0


def test_no_permission_is_skipped_like_not_supported(proc: Path) -> None:
    """NoPermission (an unprivileged caller on a MIG parent) leaves no processes and no error."""
    denied = pynvml.NVMLError_NoPermission()
    nvml = FakeNvml("busy", failures={"nvmlDeviceGetComputeRunningProcesses": denied})
    reading = reader_for(nvml, proc).read()
    assert (reading.devices[0].processes, reading.errors) == ((), 0)


def test_device_count_failure_fails_the_whole_read(proc: Path) -> None:
    """When even the device count fails (GPU lost), read() raises the NVML error."""
    nvml = FakeNvml("idle", failures={"nvmlDeviceGetCount": pynvml.NVMLError_GpuIsLost()})
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        reader_for(nvml, proc).read()


def test_each_board_is_read(proc: Path) -> None:
    """Two boards give two readings with their own index and UUID."""
    reading = reader_for(FakeNvml("idle", copies=2), proc).read()
    assert [d.index for d in reading.devices] == [0, 1]
    assert len({d.uuid for d in reading.devices}) == 2


def test_process_series_are_capped_and_the_rest_summed(proc: Path) -> None:
    """Beyond max_processes, the smallest processes are summed into one "other" entry."""
    extra = {1000 + i: (i + 1) * 2**20 for i in range(5)}
    nvml = FakeNvml("busy", extra_processes=extra)
    (device,) = reader_for(nvml, proc, max_processes=3).read().devices
    assert [p.pid for p in device.processes] == [BUSY_PID, 1004, None]
    assert device.processes[-1].name == "other"
    assert device.processes[-1].used_bytes == sum(extra.values()) - extra[1004]


def test_a_pid_listed_twice_is_one_series(proc: Path) -> None:
    """A PID NVML lists twice (once per MIG instance) is summed into one process entry."""
    nvml = FakeNvml("busy", extra_processes={BUSY_PID: 2**20})
    (device,) = reader_for(nvml, proc).read().devices
    assert [(p.pid, p.used_bytes) for p in device.processes] == [(BUSY_PID, BUSY_PROCESS_USED + 2**20)]


@settings(max_examples=50, deadline=None)
@given(
    used=st.dictionaries(st.integers(500, 99_999), st.integers(0, 2**40), max_size=20),
    limit=st.integers(1, 8),
)
def test_capping_keeps_the_total_and_the_bound(used: dict[int, int], limit: int) -> None:
    """For any set of processes, at most `limit` entries remain and their memory sum is kept."""
    nvml = FakeNvml("idle", extra_processes=used)
    names = ProcessNames("/nonexistent", host_pids=False)
    reader = PynvmlReader(nvml, names, max_processes=limit)
    (device,) = reader.read().devices
    assert len(device.processes) <= limit
    assert sum(p.used_bytes or 0 for p in device.processes) == sum(used.values())


def test_reader_close_shuts_nvml_down(proc: Path) -> None:
    """close() calls nvmlShutdown and swallows its error."""
    nvml = FakeNvml("idle", failures={"nvmlShutdown": pynvml.NVMLError_Uninitialized()})
    reader_for(nvml, proc).close()
    assert nvml.calls == ["nvmlShutdown"]


# --- process names ----------------------------------------------------------------------------


def test_names_in_the_host_pid_namespace(proc: Path) -> None:
    """With host PIDs visible: comm names, "driftmon" for our PID, "unknown" for a gone PID."""
    names = ProcessNames(proc)
    assert (names.host_pids, names.own_pid) == (True, OWN_PID)
    assert names.name(BUSY_PID) == "python3"
    assert names.name(OWN_PID) == "driftmon"
    assert names.name(999) == "unknown"


def test_names_in_a_container_without_host_pid(tmp_path: Path) -> None:
    """In a nested PID namespace a host PID may be an unrelated local process: all "unknown"."""
    proc = make_proc_tree(tmp_path, {BUSY_PID: "sleep"}, own_pid=7, host_namespace=False)
    names = ProcessNames(proc)
    assert (names.host_pids, names.own_pid) == (False, None)
    assert names.name(BUSY_PID) == "unknown"
    assert names.name(7) == "unknown"


def test_names_through_a_mounted_host_proc(tmp_path: Path) -> None:
    """A host /proc mounted in a container (two NSpid entries) resolves names and our host PID."""
    proc = make_proc_tree(
        tmp_path,
        {BUSY_PID: "python3"},
        own_pid=OWN_PID,
        host_namespace=False,
        nspid=(OWN_PID, 7),
    )
    names = ProcessNames(proc)
    assert (names.host_pids, names.own_pid) == (True, OWN_PID)
    assert names.name(BUSY_PID) == "python3"
    assert names.name(OWN_PID) == "driftmon"


def test_names_without_proc(tmp_path: Path) -> None:
    """Where there is no /proc at all, every process is "unknown"."""
    names = ProcessNames(tmp_path / "absent")
    assert names.host_pids is False
    assert names.name(BUSY_PID) == "unknown"


def test_our_own_gpu_process_is_labelled_driftmon(proc: Path) -> None:
    """driftmon's own scoring process on the GPU is told apart from the generator."""
    nvml = FakeNvml("busy", extra_processes={OWN_PID: 2**30})
    (device,) = reader_for(nvml, proc).read().devices
    assert {p.pid: p.name for p in device.processes} == {BUSY_PID: "python3", OWN_PID: "driftmon"}


# --- open_nvml --------------------------------------------------------------------------------


def test_open_nvml_returns_none_and_logs_once_without_the_library() -> None:
    """A missing NVML library gives None and a single log line, not an exception."""
    nvml = FakeNvml(failures={"nvmlInit": pynvml.NVMLError_LibraryNotFound()})
    with capture_logs() as logs:
        assert open_nvml(nvml) is None
    assert [(e["event"], e["error"]) for e in logs] == [("nvml_unavailable", "NVMLError_LibraryNotFound")]


def test_open_nvml_initialises_once_and_reads(proc: Path) -> None:
    """With NVML present, open_nvml calls nvmlInit once and returns a working reader."""
    nvml = FakeNvml("busy")
    reader = open_nvml(nvml, proc_root=proc)
    assert reader is not None
    assert reader.read().devices[0].processes[0].name == "python3"
    assert nvml.calls.count("nvmlInit") == 1


def test_open_nvml_with_the_real_pynvml_never_raises() -> None:
    """The real pynvml gives a reader on a GPU host and None (logged) on a host without NVML."""
    with capture_logs() as logs:
        reader = open_nvml()
    if reader is None:
        assert [e["event"] for e in logs] == ["nvml_unavailable"]
    else:
        assert isinstance(reader.read(), GpuReading)
        reader.close()


@pytest.mark.gpu
def test_real_nvml_reads_every_board() -> None:
    """On a CUDA host the real NVML reads at least one board with its memory and name."""
    reader = open_nvml()
    assert reader is not None
    try:
        reading = reader.read()
    finally:
        reader.close()
    assert reading.devices
    assert all(d.memory_total_bytes and d.name for d in reading.devices)


# --- the collector ----------------------------------------------------------------------------


def test_busy_scrape_exports_the_contract_metrics(proc: Path) -> None:
    """A scrape of the busy H200 exports every contract metric with its labels."""
    _, registry = collector_for(FakeNvml("busy"), proc)
    value = registry.get_sample_value
    assert value("driftmon_nvml_up") == 1
    assert value("driftmon_gpu_memory_used_bytes", DEVICE) == BUSY_USED_V2
    assert value("driftmon_gpu_memory_total_bytes", DEVICE) == TOTAL
    assert value("driftmon_gpu_utilization_ratio", DEVICE) == 1.0
    assert value("driftmon_gpu_temperature_celsius", DEVICE) == 59
    assert value("driftmon_gpu_power_watts", DEVICE) == pytest.approx(665.241)
    process = {"gpu": "0", "pid": str(BUSY_PID), "process": "python3"}
    assert value("driftmon_gpu_process_memory_used_bytes", process) == BUSY_PROCESS_USED
    assert [errors(registry, r) for r in ("call", "read", "timeout")] == [0, 0, 0]


def test_scrapes_follow_the_scenarios_through_the_cache(proc: Path) -> None:
    """idle → busy → after: a reading is reused within cache_seconds, then read again."""
    nvml, clock = FakeNvml("idle"), FakeClock()
    _, registry = collector_for(nvml, proc, clock)
    process = {"gpu": "0", "pid": str(BUSY_PID), "process": "python3"}
    assert used(registry) == 0
    nvml.scenario = "busy"
    clock.advance(1.0)
    assert used(registry) == 0  # still the cached idle reading
    clock.advance(1.5)
    assert used(registry) == BUSY_USED_V2
    assert registry.get_sample_value("driftmon_gpu_process_memory_used_bytes", process)
    nvml.scenario = "after"
    clock.advance(2.5)
    assert used(registry) == 0
    assert registry.get_sample_value("driftmon_gpu_process_memory_used_bytes", process) is None
    assert nvml.calls.count("nvmlDeviceGetCount") == 3


def test_mig_scrape_omits_utilisation_and_hidden_process_memory(proc: Path) -> None:
    """Under MIG no utilisation sample and no process sample without memory; the rest is there."""
    _, registry = collector_for(FakeNvml("busy", mig=True), proc)
    assert registry.get_sample_value("driftmon_gpu_utilization_ratio", DEVICE) is None
    assert registry.get_sample_value("driftmon_gpu_memory_used_bytes", DEVICE) == BUSY_USED_V2
    text = generate_latest(registry).decode()
    assert "driftmon_gpu_process_memory_used_bytes{" not in text
    assert errors(registry, "call") == 0


def test_without_nvml_only_nvml_up_zero_is_exported() -> None:
    """NVML missing (reader None): driftmon_nvml_up 0, no GPU samples, no errors."""
    registry = CollectorRegistry()
    GpuCollector(None, registry=registry)
    text = generate_latest(registry).decode()
    assert registry.get_sample_value("driftmon_nvml_up") == 0
    assert "driftmon_gpu_memory_used_bytes{" not in text
    assert errors(registry, "read") == 0


def test_failed_reads_set_nvml_down_log_once_and_recover(proc: Path) -> None:
    """A whole-read failure gives nvml_up 0 and a read error, logged once; then it recovers."""
    nvml, clock = FakeNvml("busy"), FakeClock()
    nvml.failures["nvmlDeviceGetCount"] = pynvml.NVMLError_GpuIsLost()
    _, registry = collector_for(nvml, proc, clock)
    with capture_logs() as logs:
        assert registry.get_sample_value("driftmon_nvml_up") == 0
        clock.advance(3)
        assert registry.get_sample_value("driftmon_gpu_memory_used_bytes", DEVICE) is None
    assert errors(registry, "read") == 2
    assert [e["event"] for e in logs] == ["nvml_read_failed"]
    del nvml.failures["nvmlDeviceGetCount"]
    clock.advance(3)
    assert registry.get_sample_value("driftmon_nvml_up") == 1


def test_call_errors_are_counted_once_per_read(proc: Path) -> None:
    """A failing call is counted when its read completes, not again for each cached scrape."""
    nvml = FakeNvml("busy", failures={"nvmlDeviceGetPowerUsage": pynvml.NVMLError_Unknown()})
    _, registry = collector_for(nvml, proc)
    assert errors(registry, "call") == 1
    assert errors(registry, "call") == 1
    assert registry.get_sample_value("driftmon_gpu_power_watts", DEVICE) is None


def test_a_hung_nvml_never_blocks_a_scrape_past_the_deadline(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow read: scrapes wait on it only up to the 100 ms deadline, then serve the cached
    reading and count timeouts."""
    nvml, clock = FakeNvml("busy"), FakeClock()
    _, registry = collector_for(nvml, proc, clock, timeout=0.1)
    assert wait_until(lambda: used(registry) == BUSY_USED_V2)  # primed, however loaded the machine
    nvml.gate, nvml.scenario = threading.Event(), "after"
    clock.advance(3)
    waits = record_scrape_waits(monkeypatch)
    for _ in range(2):
        assert used(registry) == BUSY_USED_V2
    assert waits == [(0.1, False), (0.1, False)]  # each scrape: the deadline, then it gave up
    timeouts = errors(registry, "timeout")  # the two scrapes above and this one, at least
    assert timeouts is not None and timeouts >= 3
    assert nvml.calls.count("nvmlDeviceGetCount") == 2  # one read in flight, not one per scrape
    nvml.gate.set()
    assert wait_until(lambda: used(registry) == 0)


def test_concurrent_scrapes_share_one_read(proc: Path) -> None:
    """Eight scrapes at once against a slow NVML start one read between them."""
    nvml = FakeNvml("busy")
    nvml.gate = threading.Event()
    collector, _ = collector_for(nvml, proc, timeout=0.2)
    scrapers = [threading.Thread(target=collector.current) for _ in range(8)]
    for scraper in scrapers:
        scraper.start()
    for scraper in scrapers:
        scraper.join(timeout=5)
    assert nvml.calls.count("nvmlDeviceGetCount") == 1
    nvml.gate.set()


def test_a_reading_too_old_is_not_served(proc: Path) -> None:
    """NVML hung past max_stale_seconds: nvml_up 0 and no device samples, not frozen values."""
    nvml, clock = FakeNvml("busy"), FakeClock()
    _, registry = collector_for(nvml, proc, clock, timeout=0.05)
    assert wait_until(lambda: used(registry) == BUSY_USED_V2)
    nvml.gate = threading.Event()
    clock.advance(61)
    assert registry.get_sample_value("driftmon_nvml_up") == 0
    assert used(registry) is None
    nvml.gate.set()
    assert wait_until(lambda: registry.get_sample_value("driftmon_nvml_up") == 1)


def test_first_scrape_against_a_hung_nvml_reports_it_down(
    proc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no reading yet and NVML hung, the scrape waits only the deadline: nvml_up 0."""
    nvml = FakeNvml("busy")
    nvml.gate = threading.Event()
    waits = record_scrape_waits(monkeypatch)
    _, registry = collector_for(nvml, proc, timeout=0.1)
    assert registry.get_sample_value("driftmon_nvml_up") == 0
    assert waits == [(0.1, False)]
    nvml.gate.set()
    assert wait_until(lambda: registry.get_sample_value("driftmon_nvml_up") == 1)


def test_registering_does_not_touch_nvml(proc: Path) -> None:
    """describe() lets even an auto-describing registry register without an NVML read."""
    nvml = FakeNvml("busy")
    GpuCollector(reader_for(nvml, proc), registry=CollectorRegistry(auto_describe=True))
    assert nvml.calls == []


def test_collector_close_closes_the_reader(proc: Path) -> None:
    """close() shuts NVML down when no read is running."""
    nvml = FakeNvml("idle")
    collector, _ = collector_for(nvml, proc)
    collector.close()
    assert nvml.calls[-1] == "nvmlShutdown"


# --- rule signals -----------------------------------------------------------------------------


def test_gpu_signals_are_ratios_per_board(proc: Path) -> None:
    """Busy H200: one signal set labelled by gpu with memory and utilisation ratios."""
    collector, _ = collector_for(FakeNvml("busy"), proc)
    assert gpu_signals(collector) == [
        (
            {"gpu": "0"},
            {"gpu_memory_used_ratio": BUSY_USED_V2 / TOTAL, "gpu_utilization_ratio": 1.0},
        )
    ]


def test_gpu_signals_under_mig_and_without_nvml(proc: Path) -> None:
    """MIG leaves utilisation None; without NVML there are no signals."""
    collector, _ = collector_for(FakeNvml("busy", mig=True), proc)
    ((labels, values),) = gpu_signals(collector)
    assert labels == {"gpu": "0"}
    assert values["gpu_utilization_ratio"] is None
    assert gpu_signals(GpuCollector(None)) == []


# --- exposition -------------------------------------------------------------------------------


def test_fake_answers_the_recording_verbatim() -> None:
    """The fake's source is the recorded H200 file, with its three scenarios."""
    recording = load_recording()
    assert {"idle", "busy", "after"} <= recording.keys()
    assert recording["busy"]["devices"][0]["compute_processes"][0]["pid"] == BUSY_PID


@pytest.mark.integration
@pytest.mark.parametrize(
    "nvml",
    [FakeNvml("busy"), FakeNvml("busy", mig=True), FakeNvml("idle", copies=2), None],
    ids=["busy", "mig", "two-boards", "no-nvml"],
)
def test_promtool_check_metrics_is_clean(nvml: FakeNvml | None, proc: Path) -> None:
    """`promtool check metrics` reports nothing on the collector's output but the camelCase of
    dcgm-exporter's label names (UUID, modelName, Hostname), one line per GPU family exposed: the
    price of joining DCGM's series without label_replace."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    registry = CollectorRegistry()
    GpuCollector(None if nvml is None else reader_for(nvml, proc), registry=registry)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=generate_latest(registry),
        capture_output=True,
        timeout=30,
        check=False,
    )
    exposed = {s.name for f in registry.collect() for s in f.samples if "UUID" in s.labels}
    camel = {f"{name} label names should be written in 'snake_case' not 'camelCase'" for name in exposed}
    lines = set((result.stdout + result.stderr).decode().splitlines())
    assert (result.returncode, lines) == ((3, camel) if exposed else (0, set()))


def test_hostname_is_the_node_from_the_downward_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """dcgm-exporter labels its series with the node's name; so does driftmon, where the chart
    passes NODE_NAME (else the host name)."""
    monkeypatch.setenv("NODE_NAME", "gpu-node-7")
    assert node_name() == "gpu-node-7"
    monkeypatch.delenv("NODE_NAME")
    assert node_name()
