"""Outgoing HTTP clients for the sources (probes, the demo's pushes).

A thin layer over the one client factory, `driftmon.http.make_client` (explicit timeouts and
limits, no redirects, httpx's URL logging quietened), adding default headers. Tests hand in
`httpx.MockTransport(handler)` as `transport` instead of patching.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from driftmon import __version__
from driftmon import http as _http

USER_AGENT = f"driftmon/{__version__}"


def make_client(
    timeout: float,
    connect_timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with explicit timeouts and connection limits.

    `timeout` bounds reading, writing and waiting for a pooled connection; `connect_timeout`
    bounds opening one. `transport` replaces the network; `headers` are sent with every request
    (they may replace the default ``User-Agent: driftmon/<version>``).
    """
    client = _http.make_client(
        timeout=timeout, connect_timeout=connect_timeout, transport=transport, user_agent=USER_AGENT
    )
    client.headers.update(dict(headers or {}))
    return client
