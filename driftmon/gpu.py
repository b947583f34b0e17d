"""NVML readings and their Prometheus collector.

    NvmlReader (protocol)      read() -> GpuReading; close()
    └── PynvmlReader           over pynvml (or any object with its functions: the tests' fake)
          uses ProcessNames    host PID -> process label, from an injectable /proc root
    GpuCollector               prometheus-client collector: reads at scrape time through a short
                               cache, in a worker thread with a deadline, so a scrape never waits
                               on NVML for more than `timeout_seconds`
    gpu_signals(collector)     the same reading as rule signals (labels {gpu}, ratios)
    open_nvml()                the reader, or None (logged once) where NVML cannot be loaded

Metric names are a contract (docs/gpu.md; README, "Metrics"): they change only with a CHANGELOG entry.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

log = structlog.get_logger(__name__)

#: the root PID namespace's fixed inode (PROC_PID_INIT_INO in the kernel): seen from it, the
#: PIDs NVML reports (the host's) are the PIDs in /proc
ROOT_PID_NAMESPACE = "pid:[4026531836]"
OWN_PROCESS = "driftmon"
UNKNOWN_PROCESS = "unknown"
OTHER_PROCESSES = "other"
#: label values of driftmon_nvml_read_errors_total
ERROR_REASONS = ("call", "read", "timeout")

Signal = tuple[dict[str, str], dict[str, float | None]]


@dataclass(frozen=True, slots=True)
class ProcessReading:
    """One compute process on a GPU: host PID (None: the sum of the rest), label, used memory.

    `used_bytes` is None where NVML hides it (under MIG without privileges, on Windows WDDM).
    """

    pid: int | None
    name: str
    used_bytes: int | None


@dataclass(frozen=True, slots=True)
class DeviceReading:
    """One GPU at one read; None where NVML does not support the value (MIG, older boards)."""

    index: int
    name: str
    uuid: str
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    utilization_ratio: float | None = None
    temperature_celsius: float | None = None
    power_watts: float | None = None
    processes: tuple[ProcessReading, ...] = ()

    @property
    def memory_used_ratio(self) -> float | None:
        """Used over total memory, None where either is unknown."""
        if self.memory_used_bytes is None or not self.memory_total_bytes:
            return None
        return self.memory_used_bytes / self.memory_total_bytes


@dataclass(frozen=True, slots=True)
class GpuReading:
    """Every GPU at one read; `errors` counts calls that failed with more than NotSupported."""

    devices: tuple[DeviceReading, ...]
    errors: int = 0


class NvmlReader(Protocol):
    """Reads every GPU once per call; raises when NVML cannot be read at all."""

    def read(self) -> GpuReading: ...

    def close(self) -> None: ...


# --- process names ----------------------------------------------------------------------------


class ProcessNames:
    """Maps the host PIDs NVML reports to bounded process labels.

    Names come from `<proc_root>/<pid>/comm`, but only where that /proc numbers processes as the
    host does: driftmon in the host's PID namespace (`hostPID: true`), or `proc_root` pointing at
    the host's /proc mounted into the container. Elsewhere a host PID could name an unrelated
    process of ours, so every process is "unknown", driftmon included (its host PID is unknown).
    Our own PID, as `proc_root` numbers it, is labelled "driftmon". `host_pids` and `own_pid`
    override the detection.
    """

    def __init__(
        self,
        proc_root: str | os.PathLike[str] = "/proc",
        *,
        host_pids: bool | None = None,
        own_pid: int | None = None,
    ) -> None:
        self._root = Path(proc_root)
        self.host_pids = _sees_host_pids(self._root) if host_pids is None else host_pids
        self.own_pid = own_pid
        if own_pid is None and self.host_pids:
            self.own_pid = _own_pid(self._root)

    def name(self, pid: int) -> str:
        """The label for `pid`: "driftmon", its comm name, or "unknown"."""
        if pid == self.own_pid:
            return OWN_PROCESS
        if not self.host_pids:
            return UNKNOWN_PROCESS
        try:
            comm = (self._root / str(pid) / "comm").read_bytes()
        except OSError:
            return UNKNOWN_PROCESS
        return comm.decode("utf-8", "replace").strip() or UNKNOWN_PROCESS


def _sees_host_pids(root: Path) -> bool:
    """Whether PIDs under `root` are host PIDs (see ProcessNames)."""
    try:
        namespace = os.readlink(root / "self" / "ns" / "pid")
    except OSError:
        return False
    # more than one NSpid entry: this procfs was mounted outside our namespace (host /proc)
    return namespace == ROOT_PID_NAMESPACE or len(_nspid(root)) > 1


def _nspid(root: Path) -> list[str]:
    """Our PID in each namespace, from the one `root` was mounted in inwards ([]: unreadable)."""
    try:
        status = (root / "self" / "status").read_text()
    except OSError:
        return []
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return line.split()[1:]
    return []


def _own_pid(root: Path) -> int:
    """Our PID as `root` numbers it (the host PID in a mounted host /proc)."""
    try:
        return int(os.readlink(root / "self"))
    except (OSError, ValueError):
        return os.getpid()


# --- the reader -------------------------------------------------------------------------------


def _unsupported(nvml: Any) -> tuple[type[BaseException], ...]:
    """The exceptions meaning "no such value here": skipped, not counted as errors.

    NoPermission is among them: it is how NVML answers an unprivileged caller (per-process memory
    on a MIG parent device), a lasting property of the setup rather than a failure.
    """
    names = (
        "NVMLError_NotSupported",
        "NVMLError_FunctionNotFound",
        "NVMLError_NoPermission",
        "NVMLLibraryMismatchError",
    )
    return tuple(getattr(nvml, name) for name in names if hasattr(nvml, name))


def _v1_only(nvml: Any) -> tuple[type[BaseException], ...]:
    """The exceptions meaning "no v2 memory query on this driver": fall back to v1."""
    names = ("NVMLError_ArgumentVersionMismatch", "NVMLError_FunctionNotFound", "NVMLError_NotSupported")
    return tuple(getattr(nvml, name) for name in names if hasattr(nvml, name))


class _Calls:
    """Calls NVML functions, turning unsupported into None and counting other failures."""

    def __init__(self, nvml: Any) -> None:
        self._error = nvml.NVMLError
        self._unsupported = _unsupported(nvml)
        self.errors = 0

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except self._unsupported:
            return None
        except self._error as exc:
            self.failed(fn, exc)
            return None

    def failed(self, fn: Callable[..., Any], exc: BaseException) -> None:
        """Counts one failed call."""
        self.errors += 1
        log.debug("nvml_call_failed", call=getattr(fn, "__name__", "?"), error=type(exc).__name__)


class PynvmlReader:
    """NvmlReader over pynvml (already initialised; see open_nvml).

    `nvml` is the pynvml module or anything with the same functions and exception classes.
    Memory comes from nvmlDeviceGetMemoryInfo v2, whose `used` leaves out the driver's reserved
    memory (v1 counts it: 645 MB on an idle H200); v1 is the fallback on drivers without v2.
    Per device at most `max_processes` processes, largest first; the rest are summed as "other".
    """

    def __init__(self, nvml: Any, names: ProcessNames | None = None, *, max_processes: int = 8) -> None:
        self._nvml = nvml
        self._names = names or ProcessNames()
        self._max_processes = max_processes
        self._memory_v2 = True

    def read(self) -> GpuReading:
        """Every device now; raises NVMLError only if the device count cannot be read."""
        calls = _Calls(self._nvml)
        count = self._nvml.nvmlDeviceGetCount()
        devices = [self._device(index, calls) for index in range(count)]
        return GpuReading(tuple(d for d in devices if d is not None), calls.errors)

    def close(self) -> None:
        """Shuts NVML down; errors are ignored (we are leaving anyway)."""
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()

    def _device(self, index: int, calls: _Calls) -> DeviceReading | None:
        nvml = self._nvml
        handle = calls(nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return None
        used, total = self._memory(handle, calls)
        utilization = calls(nvml.nvmlDeviceGetUtilizationRates, handle)
        temperature = calls(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        power_mw = calls(nvml.nvmlDeviceGetPowerUsage, handle)
        return DeviceReading(
            index=index,
            name=calls(nvml.nvmlDeviceGetName, handle) or "unknown",
            uuid=calls(nvml.nvmlDeviceGetUUID, handle) or "unknown",
            memory_used_bytes=used,
            memory_total_bytes=total,
            utilization_ratio=None if utilization is None else utilization.gpu / 100,
            temperature_celsius=None if temperature is None else float(temperature),
            power_watts=None if power_mw is None else power_mw / 1000,
            processes=self._processes(handle, calls),
        )

    def _memory(self, handle: Any, calls: _Calls) -> tuple[int | None, int | None]:
        info = self._memory_info(handle, calls)
        return (None, None) if info is None else (info.used, info.total)

    def _memory_info(self, handle: Any, calls: _Calls) -> Any:
        nvml = self._nvml
        if self._memory_v2:
            try:
                return nvml.nvmlDeviceGetMemoryInfo(handle, nvml.nvmlMemory_v2)
            except _v1_only(nvml) as exc:
                # a driver without the v2 query: decide once, say so once
                self._memory_v2 = False
                log.info("nvml_memory_v1_fallback", error=type(exc).__name__)
            except nvml.NVMLError as exc:
                calls.failed(nvml.nvmlDeviceGetMemoryInfo, exc)
                return None
        return calls(nvml.nvmlDeviceGetMemoryInfo, handle)

    def _processes(self, handle: Any, calls: _Calls) -> tuple[ProcessReading, ...]:
        found = calls(self._nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []
        used = _used_by_pid(found)
        readings = [ProcessReading(pid, self._names.name(pid), b) for pid, b in used.items()]
        return _bounded(readings, self._max_processes)


def _used_by_pid(found: Iterable[Any]) -> dict[int, int | None]:
    """Used memory per PID; a PID listed twice (once per MIG instance) is summed, not repeated."""
    used: dict[int, int | None] = {}
    for process in found:
        known = [b for b in (used.get(process.pid), process.usedGpuMemory) if b is not None]
        used[process.pid] = sum(known) if known else None
    return used


def _bounded(readings: list[ProcessReading], limit: int) -> tuple[ProcessReading, ...]:
    """The `limit` largest processes, the rest summed into one "other" entry."""
    readings.sort(key=lambda p: (p.used_bytes or 0, -(p.pid or 0)), reverse=True)
    if len(readings) <= limit:
        return tuple(readings)
    rest = readings[limit - 1 :]
    other = ProcessReading(None, OTHER_PROCESSES, sum(p.used_bytes or 0 for p in rest))
    return (*readings[: limit - 1], other)


def open_nvml(
    nvml: Any = None,
    *,
    proc_root: str | os.PathLike[str] = "/proc",
    max_processes: int = 8,
) -> PynvmlReader | None:
    """Initialises NVML once and returns its reader, or None (one log line) where it can't.

    `nvml` defaults to the pynvml module. Call it once at start; close the reader at exit.
    """
    try:
        if nvml is None:
            import pynvml

            nvml = pynvml
        nvml.nvmlInit()
    except Exception as exc:  # ImportError, LibraryNotFound, DriverNotLoaded, NoPermission...
        log.info("nvml_unavailable", error=type(exc).__name__, detail=str(exc))
        return None
    names = ProcessNames(proc_root)
    log.info("nvml_opened", host_pids=names.host_pids, own_pid=names.own_pid)
    return PynvmlReader(nvml, names, max_processes=max_processes)


# --- the collector ----------------------------------------------------------------------------


class _Read:
    """One NVML read running in a daemon thread (a hung driver call never blocks exit)."""

    def __init__(self, work: Callable[[], None]) -> None:
        self.done = threading.Event()
        self._work = work
        threading.Thread(target=self._run, name="driftmon-nvml", daemon=True).start()

    def _run(self) -> None:
        try:
            self._work()
        finally:
            self.done.set()


class GpuCollector:
    """Prometheus collector for the GPU metrics, read at scrape time.

    A reading is reused for `cache_seconds`; a new one runs in a worker thread and a scrape
    waits for it at most `timeout_seconds`, else it serves the last reading and counts a
    timeout. Only one read runs at a time. A reading older than `max_stale_seconds` is not served
    (a hung NVML reads as `driftmon_nvml_up 0`, not as frozen values). `reader=None` (no NVML)
    exports `driftmon_nvml_up 0`. `clock` drives the cache; the deadline is real time.
    """

    def __init__(
        self,
        reader: NvmlReader | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = 2.0,
        timeout_seconds: float = 0.1,
        max_stale_seconds: float = 60.0,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._timeout = timeout_seconds
        self._max_stale = max_stale_seconds
        self._lock = threading.Lock()
        self._reading: GpuReading | None = None
        self._read_at: float | None = None
        self._up = False
        self._inflight: _Read | None = None
        self._errors = dict.fromkeys(ERROR_REASONS, 0)
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so registering never touches NVML."""
        return _families(None, False, dict.fromkeys(ERROR_REASONS, 0))

    def collect(self) -> Iterable[Metric]:
        """The families for one scrape, from a reading at most `cache_seconds` old if possible."""
        reading, up = self.current()
        with self._lock:
            errors = dict(self._errors)
        return _families(reading, up, errors)

    def current(self) -> tuple[GpuReading | None, bool]:
        """The reading to serve now and whether NVML answered the last completed read."""
        with self._lock:
            if self._reader is None or self._fresh():
                return self._reading, self._up
            job = self._inflight or self._start()
        if job.done.wait(self._timeout):
            with self._lock:
                return self._reading, self._up
        with self._lock:
            self._errors["timeout"] += 1
            if self._read_at is None or self._clock() - self._read_at > self._max_stale:
                return None, False
            return self._reading, self._up

    def close(self) -> None:
        """Closes the reader unless a read is still running (then the process exit does)."""
        with self._lock:
            busy = self._inflight is not None
        if self._reader is not None and not busy:
            self._reader.close()

    def _fresh(self) -> bool:
        return self._read_at is not None and self._clock() - self._read_at < self._cache_seconds

    def _start(self) -> _Read:
        self._inflight = _Read(self._read)
        return self._inflight

    def _read(self) -> None:
        assert self._reader is not None
        try:
            reading: GpuReading | None = self._reader.read()
        except Exception as exc:  # NVMLError (GPU lost, driver gone) or a reader bug
            reading, failure = None, exc
        with self._lock:
            first_failure = reading is None and (self._up or self._read_at is None)
            self._store(reading)
        if first_failure:  # log the first failure of a run, not every one
            log.warning("nvml_read_failed", error=type(failure).__name__, detail=str(failure))

    def _store(self, reading: GpuReading | None) -> None:
        """Keeps a finished read (a failed one too, so a broken NVML is not asked every scrape)."""
        self._reading, self._up = reading, reading is not None
        self._read_at, self._inflight = self._clock(), None
        if reading is None:
            self._errors["read"] += 1
        else:
            self._errors["call"] += reading.errors


def gpu_signals(collector: GpuCollector) -> list[Signal]:
    """The current readings as rule signals: ({"gpu": index}, memory and utilisation ratios).

    Goes through the collector's cache and deadline, so recording never adds NVML load or waits.
    Empty where NVML is missing or failed; None values where NVML does not support them.
    """
    reading, _ = collector.current()
    if reading is None:
        return []
    return [
        (
            {"gpu": str(d.index)},
            {"gpu_memory_used_ratio": d.memory_used_ratio, "gpu_utilization_ratio": d.utilization_ratio},
        )
        for d in reading.devices
    ]


# --- metric families --------------------------------------------------------------------------

#: (metric, help, DeviceReading attribute)
_DEVICE_GAUGES = (
    (
        "driftmon_gpu_memory_used_bytes",
        "GPU memory in use, without the driver's reserved memory where NVML v2 is available.",
        "memory_used_bytes",
    ),
    ("driftmon_gpu_memory_total_bytes", "GPU memory in total.", "memory_total_bytes"),
    (
        "driftmon_gpu_utilization_ratio",
        "Share of the last sample period in which a kernel ran on the GPU (absent under MIG).",
        "utilization_ratio",
    ),
    ("driftmon_gpu_temperature_celsius", "GPU core temperature.", "temperature_celsius"),
    ("driftmon_gpu_power_watts", "GPU board power draw.", "power_watts"),
)
#: gpu, uuid, name (deprecated: kept for one release) and dcgm-exporter 4.x's UUID, modelName and
#: Hostname, so driftmon's GPU series join DCGM's without label_replace (docs/gpu.md)
_DEVICE_LABELS = ("gpu", "uuid", "name", "UUID", "modelName", "Hostname")


def node_name() -> str:
    """dcgm-exporter's Hostname: the node (NODE_NAME, from the downward API), else this host."""
    return os.environ.get("NODE_NAME") or socket.gethostname()


def _families(reading: GpuReading | None, up: bool, errors: dict[str, int]) -> Iterator[Metric]:
    devices: Sequence[DeviceReading] = reading.devices if reading else ()
    yield GaugeMetricFamily("driftmon_nvml_up", "1 if the last NVML read succeeded, else 0.", value=int(up))
    yield _error_family(errors)
    for name, help_text, attribute in _DEVICE_GAUGES:
        yield _device_family(name, help_text, attribute, devices)
    yield _process_family(devices)


def _error_family(errors: dict[str, int]) -> Metric:
    family = CounterMetricFamily(
        "driftmon_nvml_read_errors",
        "NVML failures: a call that failed (call), a whole read (read), a scrape served stale (timeout).",
        labels=["reason"],
    )
    for reason in ERROR_REASONS:
        family.add_metric([reason], errors[reason])
    return family


def _device_family(name: str, help_text: str, attribute: str, devices: Sequence[DeviceReading]) -> Metric:
    family = GaugeMetricFamily(name, help_text, labels=_DEVICE_LABELS)
    host = node_name()
    for device in devices:
        value = getattr(device, attribute)
        if value is not None:
            labels = [str(device.index), device.uuid, device.name, device.uuid, device.name, host]
            family.add_metric(labels, value)
    return family


def _process_family(devices: Sequence[DeviceReading]) -> Metric:
    family = GaugeMetricFamily(
        "driftmon_gpu_process_memory_used_bytes",
        "GPU memory used by one process (host PID; process is driftmon, its name, unknown or other).",
        labels=["gpu", "pid", "process"],
    )
    for device in devices:
        for process in device.processes:
            if process.used_bytes is not None:
                pid = OTHER_PROCESSES if process.pid is None else str(process.pid)
                family.add_metric([str(device.index), pid, process.name], process.used_bytes)
    return family
