"""Helpers for the real-Alertmanager tests: the binary on loopback, a webhook sink, bounded waits.

Alertmanager keeps real time; the notifier's clock is simulated. `SimClock` runs behind real
time so that a firing alert's endsAt (now + 4 min) is in Alertmanager's future while a
resolution (endsAt = resolve time) is in its past, even after two simulated minutes of outage.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ALERTMANAGER = os.environ.get("DRIFTMON_TEST_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")


def alertmanager_binary() -> str | None:
    """The Alertmanager binary, or None where it is not installed."""
    return shutil.which(ALERTMANAGER)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimClock:
    """Real time plus an offset the test moves forward; starts `behind` seconds behind."""

    def __init__(self, behind: float = 180.0) -> None:
        self.offset = -behind

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the simulated time forward; returns the new now."""
        self.offset += seconds
        return self()


class WebhookSink:
    """A webhook receiver on loopback (in a thread) that keeps every JSON message posted to it."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink._lock:
                    sink.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to post."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def received(self, status: str | None = None) -> list[dict[str, Any]]:
        """Messages received so far (with `status`, if given)."""
        with self._lock:
            return [m for m in self.messages if status in (None, m["status"])]

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Alertmanager:
    """`prometheus-alertmanager` on a loopback port, clustering off, routing to `webhook_url`."""

    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname]\n"
            "  group_wait: 300ms\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: {webhook_url}\n"
            "        send_resolved: true\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL, as a notifier's Alertmanager receiver takes it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start and wait (bounded) until it answers /-/ready."""
        binary = alertmanager_binary()
        assert binary is not None
        log = (self.workdir / "alertmanager.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"Alertmanager not ready in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (it then saves its notification log), SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts it holds now (GET /api/v2/alerts)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
            return list(json.loads(response.read()))

    def log(self) -> str:
        """Its log so far, for failure messages."""
        path = self.workdir / "alertmanager.log"
        return path.read_text(errors="replace") if path.exists() else ""


class RecordingTransport(httpx.AsyncBaseTransport):
    """A real transport that also keeps the JSON bodies the notifier sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[Any] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record the body, then send it for real."""
        self.sent.append(json.loads(request.content))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the real transport."""
        await self.inner.aclose()


async def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


class DaemonProcess:
    """`driftmon run --config FILE` as a child process, with its log kept in `workdir`."""

    def __init__(self, workdir: Path, config: Path, port: int) -> None:
        self.workdir = workdir
        self.config = config
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait (bounded) until /healthz answers."""
        log = (self.workdir / "driftmon.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "driftmon", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"driftmon not healthy in {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def alerts(self) -> list[dict[str, Any]]:
        """GET /v1/alerts."""
        with urllib.request.urlopen(f"{self.url}/v1/alerts", timeout=5) as response:
            return list(json.loads(response.read()))

    def log(self) -> str:
        """Its log so far, for failure messages."""
        path = self.workdir / "driftmon.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""


def instant(text: str) -> datetime:
    """An RFC 3339 time as a datetime, so ``.420Z`` (ours) equals ``.42Z`` (Go's formatting)."""
    return datetime.fromisoformat(text)
