"""What a generator reports about each image's cost: steps, sampler, GPU-seconds.

The adapters read the image (and A1111's steps); the rest is read here, from the same HTTP
response, by a transport the gate wraps around the adapter's client. Which fields and header to
read is configurable per source (a ``cost:`` mapping in a generator YAML, docs/contracts.md).
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import httpx

from driftmon.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CostFields:
    """Where a response reports cost: dotted JSON paths and a header (None: not read)."""

    steps_path: str | None = "steps"
    sampler_path: str | None = "sampler"
    gpu_seconds_path: str | None = "gpu_seconds"
    gpu_seconds_header: str | None = "X-GPU-Seconds"

    @classmethod
    def of(cls, data: Any, where: str) -> CostFields:
        """From a YAML mapping; ConfigError names `where` and the unknown key."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: cost: a mapping of {', '.join(f.name for f in fields(cls))}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: cost: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**{k: None if v is None else str(v) for k, v in data.items()})


@dataclass
class Reported:
    """What one response reported (None: not reported)."""

    steps: int | None = None
    sampler: str | None = None
    gpu_seconds: float | None = None


def _lookup(payload: Any, dotted: str | None) -> Any:
    node = payload
    for part in (dotted or "").split(".") if dotted else []:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if dotted else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _a1111_info(payload: Any) -> Mapping[str, Any]:
    """AUTOMATIC1111's ``info`` (a JSON string) as a mapping ({} when absent)."""
    info = payload.get("info") if isinstance(payload, Mapping) else None
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            return {}
    return info if isinstance(info, Mapping) else {}


def read_reported(cost: CostFields, headers: Mapping[str, str], payload: Any) -> Reported:
    """Steps, sampler and GPU-seconds from a response's headers and JSON body (pure)."""
    info = _a1111_info(payload)
    steps = _number(_lookup(payload, cost.steps_path))
    steps = steps if steps is not None else _number(info.get("steps"))
    sampler = _lookup(payload, cost.sampler_path) or info.get("sampler_name")
    gpu = _number(_lookup(payload, cost.gpu_seconds_path))
    if gpu is None and cost.gpu_seconds_header:
        gpu = _number(headers.get(cost.gpu_seconds_header))
    return Reported(
        None if steps is None else int(steps),
        sampler if isinstance(sampler, str) and sampler else None,
        gpu,
    )


#: the Reported of the generation running in this task (set by the gate around each call)
CURRENT: contextvars.ContextVar[Reported | None] = contextvars.ContextVar("gate_reported", default=None)


class ReportingTransport(httpx.AsyncBaseTransport):
    """Passes every request to `inner`; for a successful JSON answer, fills the task's `CURRENT`
    with what it reports (`cost`). The body is read once and handed on unchanged."""

    def __init__(self, cost: CostFields, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.cost = cost
        self.inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        holder = CURRENT.get()
        if holder is None or not 200 <= response.status_code < 300:
            return response
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        parsed = httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw))
        try:
            payload = json.loads(parsed.read())
        except ValueError:
            payload = None
        found = read_reported(self.cost, response.headers, payload)
        holder.steps, holder.sampler, holder.gpu_seconds = found.steps, found.sampler, found.gpu_seconds
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
