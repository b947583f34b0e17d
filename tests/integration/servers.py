"""Real processes for integration tests: the daemon, the synthetic generator, Prometheus.

Every start waits for readiness with a bounded deadline; every process is stopped by the fixture
that started it, whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

PROMETHEUS = "/usr/bin/prometheus"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], timeout: float, interval: float = 0.25, what: str = "condition"
) -> None:
    """Poll `check` until true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2.0).status_code == 200


@dataclass
class Proc:
    """A started process with its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str
    handle: Any = None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.handle is not None:
            self.handle.close()
        return int(self.process.returncode)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(
    cmd: list[str], log: Path, url: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Proc:
    handle = log.open("wb")
    process = subprocess.Popen(
        cmd, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd
    )
    return Proc(process, log, url, handle)


def start_daemon(
    tmp: Path, config: dict[str, Any], port: int, ready_timeout: float = 240.0, wait_ready: bool = True
) -> Proc:
    """`driftmon run --config` in a subprocess; waits for /readyz (models loaded)."""
    config_path = tmp / "driftmon.yaml"
    config_path.write_text(yaml.safe_dump(config))
    proc = start(
        [sys.executable, "-m", "driftmon", "run", "--config", str(config_path), "--port", str(port)],
        tmp / "daemon.log",
        f"http://127.0.0.1:{port}",
        cwd=tmp,
    )
    check = http_ok(f"{proc.url}/readyz") if wait_ready else http_ok(f"{proc.url}/healthz")
    try:
        wait_until(lambda: proc.process.poll() is None and check(), ready_timeout, what="driftmon readiness")
    except AssertionError:
        proc.stop(signal.SIGKILL)
        raise AssertionError(f"driftmon did not become ready:\n{proc.output()[-4000:]}") from None
    return proc


def start_generator(tmp: Path, port: int, push_to: str | None = None, latency_scale: float = 0.2) -> Proc:
    """The synthetic generator (driftmon.demo.generator) in a subprocess."""
    code = textwrap.dedent(f"""
        import uvicorn
        from driftmon.demo.generator import make_generator_app
        app = make_generator_app(latency_scale={latency_scale}, push_to={push_to!r}, push_ratio=1.0)
        uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
    """)
    proc = start([sys.executable, "-c", code], tmp / "generator.log", f"http://127.0.0.1:{port}")
    wait_until(http_ok(f"{proc.url}/healthz"), 60, what="generator")
    return proc


def start_prometheus(tmp: Path, targets: list[str], port: int, scrape_interval: str = "1s") -> Proc:
    """Debian's Prometheus scraping `targets` (host:port) every `scrape_interval`."""
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [{"job_name": "driftmon", "static_configs": [{"targets": targets}]}],
    }
    config_path = tmp / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    data = tmp / "prometheus-data"
    proc = start(
        [
            PROMETHEUS,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp / "prometheus.log",
        f"http://127.0.0.1:{port}",
    )
    wait_until(http_ok(f"{proc.url}/-/ready"), 60, what="prometheus")
    return proc


def prom_query(prometheus: Proc, query: str) -> list[dict[str, Any]]:
    """Instant query against Prometheus's HTTP API; the result vector."""
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=10.0)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    """Stop every process on exit, printing its log tail if the block failed."""
    try:
        yield
    except BaseException:
        for proc in procs:
            print(f"--- {proc.log.name} ---\n{proc.output()[-3000:]}")
        raise
    finally:
        for proc in procs:
            proc.stop()
