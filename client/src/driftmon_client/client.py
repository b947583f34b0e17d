"""The sync and async clients; both share the request building and the counting."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("driftmon_client")

DEFAULT_URL = "http://127.0.0.1:9844"
#: the fields of ``POST /v1/samples`` besides the image
META_FIELDS = (
    "prompt",
    "expected_text",
    "model_version",
    "request_id",
    "latency_seconds",
    "steps",
    "seed",
    "labels",
    "expected_objects",
)


@dataclass
class Stats:
    """What happened to the pushed samples so far."""

    #: accepted by driftmon (202)
    sent: int = 0
    #: dropped before sending: the queue was full, or the client closed
    dropped: int = 0
    #: refused by driftmon (4xx, 429 queue full, 503)
    refused: int = 0
    #: not delivered: timeout, connection error, an image that could not be encoded
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Item:
    image: Any
    meta: Mapping[str, Any]


def encode_image(image: Any) -> bytes:
    """Encoded bytes as they are; a path is read; PIL images and numpy arrays become PNG."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, str | Path):
        return Path(image).read_bytes()
    from PIL import Image  # only needed for images not yet encoded

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def request_body(item: _Item) -> dict[str, Any]:
    body = {key: value for key, value in item.meta.items() if value is not None}
    body["image_b64"] = base64.b64encode(encode_image(item.image)).decode("ascii")
    return body


def _meta(**fields: Any) -> dict[str, Any]:
    return {key: fields[key] for key in META_FIELDS}


class _Base:
    def __init__(
        self, url: str, token: str | None, max_queue: int, timeout: float, connect_timeout: float
    ) -> None:
        self.endpoint = url.rstrip("/") + "/v1/samples"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.max_queue = max_queue
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._stats = Stats()
        self._lock = threading.Lock()

    def stats(self) -> Stats:
        """A copy of the counters."""
        with self._lock:
            return Stats(**self._stats.as_dict())

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + 1)

    def _outcome(self, status: int) -> None:
        self._count("sent" if 200 <= status < 300 else "refused")


class DriftmonClient(_Base):
    """A background thread sends what `push` queued; `close()` (or ``with``) flushes, bounded."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        max_queue: int = 64,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, max_queue, timeout, connect_timeout)
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._http = httpx.Client(timeout=self.timeout, headers=self.headers, transport=transport)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="driftmon-client", daemon=True)
        self._thread.start()

    def push(
        self,
        image: Any,
        *,
        prompt: str | None = None,
        model_version: str = "unknown",
        expected_text: str | None = None,
        request_id: str | None = None,
        latency_seconds: float | None = None,
        steps: int | None = None,
        seed: int | None = None,
        labels: Mapping[str, str] | None = None,
        expected_objects: Mapping[str, int] | None = None,
    ) -> bool:
        """Queue one image (do not modify it afterwards); False (counted) when it was dropped.

        Never raises and never blocks: no encoding and no I/O happen here.
        """
        try:
            if self._closed:
                self._count("dropped")
                return False
            meta = _meta(**locals())
            self._queue.put_nowait(_Item(image, meta))
            return True
        except Exception:
            self._count("dropped")
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._send(item)
            finally:
                self._queue.task_done()

    def _send(self, item: _Item) -> None:
        try:
            response = self._http.post(self.endpoint, json=request_body(item))
            self._outcome(response.status_code)
        except Exception as exc:
            self._count("failed")
            log.debug("driftmon push failed: %s", type(exc).__name__)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait at most `timeout` seconds for the queue to empty; whether it did."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for at most `timeout` seconds; the rest is dropped (counted)."""
        if self._closed:
            return
        self._closed = True
        self.flush(timeout)
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            if left is not None:
                self._count("dropped")
        self._queue.put(None)
        self._thread.join(timeout=max(0.1, timeout))
        self._http.close()

    def __enter__(self) -> DriftmonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncDriftmonClient(_Base):
    """For asyncio services: `push` is a plain (non-async) call; a task sends; `aclose()` flushes."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        max_queue: int = 64,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, max_queue, timeout, connect_timeout)
        self._transport = transport
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._closed = False

    def push(
        self,
        image: Any,
        *,
        prompt: str | None = None,
        model_version: str = "unknown",
        expected_text: str | None = None,
        request_id: str | None = None,
        latency_seconds: float | None = None,
        steps: int | None = None,
        seed: int | None = None,
        labels: Mapping[str, str] | None = None,
        expected_objects: Mapping[str, int] | None = None,
    ) -> bool:
        """Queue one image from inside the event loop; False (counted) when it was dropped."""
        try:
            if self._closed:
                self._count("dropped")
                return False
            meta = _meta(**locals())
            self._started().put_nowait(_Item(image, meta))
            return True
        except Exception:
            self._count("dropped")
            return False

    def _started(self) -> asyncio.Queue[_Item]:
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self.max_queue)
            self._http = httpx.AsyncClient(
                timeout=self.timeout, headers=self.headers, transport=self._transport
            )
            self._task = asyncio.get_running_loop().create_task(self._run(self._queue))
        return self._queue

    async def _run(self, items: asyncio.Queue[_Item]) -> None:
        assert self._http is not None
        while True:
            item = await items.get()
            try:
                # encoding a large image takes milliseconds: not on the event loop
                body = await asyncio.to_thread(request_body, item)
                response = await self._http.post(self.endpoint, json=body)
                self._outcome(response.status_code)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._count("failed")
                log.debug("driftmon push failed: %s", type(exc).__name__)
            finally:
                items.task_done()

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait at most `timeout` seconds for the queue to empty; whether it did."""
        if self._queue is None:
            return True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
            return True
        except TimeoutError:  # not the builtin before Python 3.11
            return False

    async def aclose(self, timeout: float = 5.0) -> None:
        """Send what is queued for at most `timeout` seconds; the rest is dropped (counted)."""
        if self._closed:
            return
        self._closed = True
        await self.flush(timeout)
        if self._queue is not None:
            self._count_left(self._queue)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    def _count_left(self, items: asyncio.Queue[_Item]) -> None:
        while not items.empty():
            items.get_nowait()
            items.task_done()
            self._count("dropped")

    async def __aenter__(self) -> AsyncDriftmonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
