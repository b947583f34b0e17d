"""The one factory for outbound HTTP clients (alert receivers, probes).

Every client has explicit timeouts and connection limits, and takes a `transport=` so tests
pass `httpx.MockTransport(handler)` instead of patching.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from driftmon import __version__

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0
USER_AGENT = f"driftmon/{__version__}"


def make_client(
    *,
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    max_connections: int = 20,
    max_keepalive: int = 10,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with explicit timeouts and limits; redirects are not followed.

    httpx logs every request URL at INFO; receiver URLs (Slack, webhooks) are secrets, so its
    logger is raised to WARNING here, where every outbound client is made. `headers` are sent
    with every request and may replace the default ``User-Agent: driftmon/<version>``.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive),
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
    )
