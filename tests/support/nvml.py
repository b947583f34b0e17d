"""A fake pynvml that answers from NVML readings recorded on a real NVIDIA H200.

`h200-recorded.json` (copied from the shared recording) holds every answer in three scenarios:
"idle", "busy" (a CUDA process, host PID 483, holding 5.6 GB) and "after" (it exited). The fake
has only the pynvml functions driftmon.gpu calls, and raises pynvml's own exception classes, so
the code under test catches exactly what it would catch on a GPU host.

Not recorded, synthesised from the recording (the H200 ran without MIG):
  - `mig=True`: utilisation raises NotSupported, processes carry GPU/compute instance ids and no
    used memory (what an unprivileged caller gets on a MIG parent device);
  - `memory_v2=False`: a driver without nvmlDeviceGetMemoryInfo_v2 (FunctionNotFound);
  - `copies=N`: N boards, copies of the recorded one with distinct UUIDs;
  - `extra_processes`: more compute processes (host PID -> used bytes) beside the recorded ones;
  - `failures`: a pynvml function name -> the exception it raises;
  - `gate`: an Event every read waits for (at most 10 s), to make NVML slow.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

RECORDING = Path(__file__).with_name("h200-recorded.json")
SCENARIOS = ("idle", "busy", "after")
#: the PID of the CUDA process in the "busy" scenario (a host PID)
BUSY_PID = 483
#: the MIG instance id NVML reports when MIG is off (0xFFFFFFFF)
NO_INSTANCE = 0xFFFFFFFF
GATE_LIMIT_SECONDS = 10.0


@cache
def _recording() -> dict[str, Any]:
    recording: dict[str, Any] = json.loads(RECORDING.read_text())
    return recording


def load_recording() -> dict[str, Any]:
    """A fresh copy of the recorded H200 answers, keyed by scenario."""
    return copy.deepcopy(_recording())


class FakeNvml:
    """pynvml's functions used by driftmon.gpu, answering from one recorded scenario."""

    NVMLError = pynvml.NVMLError
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLError_FunctionNotFound = pynvml.NVMLError_FunctionNotFound
    NVMLError_ArgumentVersionMismatch = pynvml.NVMLError_ArgumentVersionMismatch
    NVMLError_NoPermission = pynvml.NVMLError_NoPermission
    # newer nvidia-ml-py only (raised by its unversioned wrappers on a mismatched driver)
    NVMLLibraryMismatchError = getattr(pynvml, "NVMLLibraryMismatchError", pynvml.NVMLError_FunctionNotFound)
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def __init__(
        self,
        scenario: str = "idle",
        *,
        mig: bool = False,
        memory_v2: bool = True,
        copies: int = 1,
        extra_processes: Mapping[int, int] | None = None,
        failures: Mapping[str, BaseException] | None = None,
    ) -> None:
        self.scenario = scenario
        self.mig = mig
        self.memory_v2 = memory_v2
        self.copies = copies
        self.extra_processes = dict(extra_processes or {})
        self.failures: dict[str, BaseException] = dict(failures or {})
        self.gate: threading.Event | None = None
        self.calls: list[str] = []
        self.initialised = False

    # --- library ---

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        if self.gate is not None:
            self.gate.wait(GATE_LIMIT_SECONDS)
        return int(self._recorded()["count"]) * self.copies

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < self._recorded()["count"] * self.copies:
            raise pynvml.NVMLError_InvalidArgument()
        return index

    # --- per device ---

    def nvmlDeviceGetName(self, handle: int) -> str:
        self._enter("nvmlDeviceGetName")
        return str(self._value(handle, "name"))

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        self._enter("nvmlDeviceGetUUID")
        uuid = str(self._value(handle, "uuid"))
        return uuid if handle == 0 else f"{uuid[:-2]}{handle:02d}"

    def nvmlDeviceGetMemoryInfo(self, handle: int, version: int | None = None) -> SimpleNamespace:
        self._enter("nvmlDeviceGetMemoryInfo")
        if version is None:
            return SimpleNamespace(**self._value(handle, "memory"))
        if not self.memory_v2:
            raise pynvml.NVMLError_FunctionNotFound()
        return SimpleNamespace(**self._value(handle, "memory_v2"))

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        self._enter("nvmlDeviceGetUtilizationRates")
        if self.mig:
            raise pynvml.NVMLError_NotSupported()
        return SimpleNamespace(**self._value(handle, "utilization"))

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature")
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return int(self._value(handle, "temperature_gpu"))

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._enter("nvmlDeviceGetPowerUsage")
        return int(self._value(handle, "power_usage_mw"))

    def nvmlDeviceGetMigMode(self, handle: int) -> list[int]:
        self._enter("nvmlDeviceGetMigMode")
        return [1, 1] if self.mig else list(self._value(handle, "mig_mode"))

    def nvmlDeviceGetFanSpeed(self, handle: int) -> int:
        self._enter("nvmlDeviceGetFanSpeed")
        return int(self._value(handle, "fan_speed"))

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        self._enter("nvmlDeviceGetComputeRunningProcesses")
        recorded = self._value(handle, "compute_processes")
        extra = [
            {
                "pid": pid,
                "usedGpuMemory": used,
                "gpuInstanceId": NO_INSTANCE,
                "computeInstanceId": NO_INSTANCE,
            }
            for pid, used in self.extra_processes.items()
        ]
        return [self._process(p) for p in [*recorded, *extra]]

    # --- helpers ---

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if name in self.failures:
            raise self.failures[name]

    def _recorded(self) -> dict[str, Any]:
        scenario: dict[str, Any] = _recording()[self.scenario]
        return scenario

    def _value(self, handle: int, key: str) -> Any:
        """The recorded answer; a recorded error entry is raised as the recorded exception."""
        value = self._recorded()["devices"][handle % self._recorded()["count"]][key]
        if isinstance(value, dict) and "error" in value:
            raise getattr(pynvml, value["error"])()
        return value

    def _process(self, recorded: Mapping[str, Any]) -> SimpleNamespace:
        process = SimpleNamespace(
            pid=recorded["pid"],
            usedGpuMemory=recorded["usedGpuMemory"],
            gpuInstanceId=recorded["gpuInstanceId"],
            computeInstanceId=recorded["computeInstanceId"],
        )
        if self.mig:
            process.usedGpuMemory, process.gpuInstanceId, process.computeInstanceId = None, 1, 0
        return process


def make_proc_tree(
    root: Path,
    names: Mapping[int, str],
    *,
    own_pid: int,
    host_namespace: bool = True,
    nspid: tuple[int, ...] | None = None,
) -> Path:
    """A fake /proc under `root`: `<pid>/comm` per name, `self` -> own_pid with ns/pid, status.

    `host_namespace` False gives our PID namespace a container's inode instead of the host's.
    """
    proc = root / "proc"
    for pid, name in {**names, own_pid: names.get(own_pid, "python3")}.items():
        (proc / str(pid)).mkdir(parents=True, exist_ok=True)
        (proc / str(pid) / "comm").write_text(f"{name}\n")
    own = proc / str(own_pid)
    (own / "ns").mkdir(exist_ok=True)
    inode = 4026531836 if host_namespace else 4026532571
    os.symlink(f"pid:[{inode}]", own / "ns" / "pid")
    pids = "\t".join(str(p) for p in (nspid or (own_pid,)))
    (own / "status").write_text(f"Name:\tpython3\nPid:\t{own_pid}\nNSpid:\t{pids}\n")
    os.symlink(str(own_pid), proc / "self")
    return proc
