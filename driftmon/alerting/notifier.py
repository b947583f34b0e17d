"""The notifier: decides what to send after each rule evaluation and delivers it from the outbox.

`submit(alerts, now)` is called with every current alert after each evaluation; it writes the
notifications due (see `policy`) to the outbox with the new notification state, in one
transaction. `deliver_due(now)` sends what is queued, endpoint by endpoint in order, retrying
failures with exponential backoff and jitter. `schedule(scheduler)` makes that the job
`alert-delivery` of the daemon's scheduler: at once when something is queued and at least every
`poll_interval` (`run()` does the same on a scheduler of its own, for standalone use); `close()`
stops it within a bounded grace.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import structlog
from prometheus_client import CollectorRegistry

from driftmon.alerting.backoff import Backoff
from driftmon.alerting.base import (
    Outcome,
    Receiver,
    RenderContext,
    build_receiver,
    classify,
    redact,
    starts_at,
)
from driftmon.alerting.metrics import NotifierMetrics
from driftmon.alerting.policy import Timing, decide, event_of
from driftmon.alerts import Alert
from driftmon.errors import ConfigError, StoreError
from driftmon.http import make_client
from driftmon.scheduler import Scheduler
from driftmon.store import connect
from driftmon.store.outbox import Outbox, OutboxRow, Queued, SentState

if TYPE_CHECKING:  # config imports this package to gather the receiver kinds
    from driftmon.config import AlertingConfig

log = structlog.get_logger("driftmon.alerting")

OverlayURL = Callable[[Mapping[str, str]], str | None]
"""Returns the overlay link of the worst recent sample for an alert's labels, or None."""

_PRUNE_EVERY = 600.0
_MAX_BATCHES_PER_ENDPOINT = 100  # per deliver_due call, so one busy receiver cannot hog it
DELIVERY_JOB = "alert-delivery"


class _Connectable(Protocol):
    def connect(self) -> sqlite3.Connection: ...


def build_receivers(config: AlertingConfig, environ: Mapping[str, str] | None = None) -> list[Receiver]:
    """The receivers configured in `alerting.receivers`, secrets read from files or environment."""
    env = os.environ if environ is None else environ
    return [build_receiver(item, env) for item in config.receivers]


@dataclass(slots=True)
class _Retry:
    attempts: int = 0
    next_at: float = 0.0


class Notifier:
    """Alert delivery through a durable outbox; see the module docstring for the life cycle."""

    def __init__(
        self,
        receivers: Sequence[Receiver],
        conn: sqlite3.Connection,
        *,
        timing: Timing | None = None,
        backoff: Backoff | None = None,
        max_age: float = 86400.0,
        public_url: str = "http://127.0.0.1:9844",
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        metrics: NotifierMetrics | None = None,
        overlay_url: OverlayURL | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        names = [r.name for r in receivers]
        if len(set(names)) != len(names):
            raise ConfigError(f"receiver names must be distinct: {names}")
        self.receivers = {r.name: r for r in receivers}
        self.timing = timing or Timing()
        self.backoff = backoff or Backoff()
        self.max_age = max_age
        self.public_url = public_url.rstrip("/")
        self.metrics = metrics or NotifierMetrics(None)
        self.metrics.declare(names)
        self._outbox = Outbox(conn)
        self._states = self._outbox.states()
        self._client = client or make_client(transport=transport)
        self._owns_client = client is None
        self._clock = clock
        self._rng = rng or random.Random()
        self._overlay_url = overlay_url
        self._poll_interval = poll_interval
        self._retry: dict[tuple[str, int], _Retry] = {}
        self._secrets = [s for r in receivers for s in r.secrets()]
        self._last_prune = float("-inf")
        self._closing = False
        self._delivering = False
        self._scheduler: Scheduler | None = None
        self._stopped: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._update_depth()

    @classmethod
    def from_config(
        cls,
        config: AlertingConfig,
        store: _Connectable | Path | str,
        *,
        evaluation_interval: float,
        public_url: str,
        registry: CollectorRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        overlay_url: OverlayURL | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Notifier:
        """A notifier for the `alerting` section over the store's database (a `Store` or a path).

        Raises ConfigError when a secret file or variable is missing.
        """
        conn = connect(store) if isinstance(store, Path | str) else store.connect()
        timing = Timing(config.resend_delay, evaluation_interval, config.resolved_retention)
        # mode prometheus: Prometheus pages for the fleet; this daemon's receivers stay silent
        receivers = [] if config.mode == "prometheus" else build_receivers(config, environ)
        return cls(
            receivers,
            conn,
            timing=timing,
            backoff=Backoff.from_config(config.backoff),
            max_age=config.max_age,
            public_url=public_url,
            transport=transport,
            clock=clock,
            rng=rng,
            metrics=NotifierMetrics(registry),
            overlay_url=overlay_url,
        )

    # -- deciding -----------------------------------------------------------------------------

    def submit(self, alerts: Sequence[Alert], now: float) -> int:
        """Queue the notifications due for `alerts` (all current alerts) at `now`; returns how many.

        Durable before it returns: the outbox rows and notification states are committed
        together. Raises StoreError when the database cannot be written; nothing is then
        recorded as sent, so the next call tries again.
        """
        queued: list[Queued] = []
        states: list[tuple[str, str, SentState]] = []
        for alert in alerts:
            if event_of(alert) is not None:
                self._plan(alert, now, queued, states)
        if states:
            try:
                self._outbox.record(queued, states)
            except sqlite3.Error as exc:
                raise StoreError(f"alert outbox: cannot queue notifications: {exc}") from exc
            self._states.update({(r, fp): s for r, fp, s in states})
        self._maybe_prune(now)
        self._update_depth()
        if queued:
            self._notify_loop()
        return len(queued)

    def _plan(
        self, alert: Alert, now: float, queued: list[Queued], states: list[tuple[str, str, SentState]]
    ) -> None:
        ctx: RenderContext | None = None
        for receiver in self.receivers.values():
            if not receiver.route.accepts(alert.labels):
                continue
            key = (receiver.name, alert.fingerprint)
            event = decide(alert, self._states.get(key), receiver.resends, now, self.timing)
            if event is None:
                continue
            ctx = ctx or self._context(alert, now)
            payload = receiver.render(alert, event, ctx)
            began = starts_at(alert)
            dedup = alert.fingerprint if receiver.resends else f"{event}:{began!r}:{alert.fingerprint}"
            for target in range(receiver.target_count):
                queued.append(
                    Queued(
                        receiver.name, target, dedup, alert.fingerprint, event, payload, now, receiver.resends
                    )
                )
            states.append((receiver.name, alert.fingerprint, SentState(event, began, now)))

    def _context(self, alert: Alert, now: float) -> RenderContext:
        # the exact worst sample of this daemon first; else the rule's link (/v1/samples/worst)
        overlay = None
        if self._overlay_url is not None:
            try:
                overlay = self._overlay_url(alert.labels)
            except Exception as exc:  # a broken link must not stop the page
                log.warning("overlay link failed", alertname=alert.name, error=repr(exc))
        overlay = overlay or alert.annotations.get("overlay_url")
        return RenderContext(
            now=now,
            generator_url=f"{self.public_url}/v1/alerts",
            external_url=self.public_url,
            valid_for=self.timing.valid_for,
            overlay_url=overlay or None,
        )

    def _maybe_prune(self, now: float) -> None:
        # Firing states are kept: forgetting one would page again for the same incident.
        if now - self._last_prune < _PRUNE_EVERY:
            return
        self._last_prune = now
        horizon = self.timing.resolved_retention + 3600.0
        old = [k for k, s in self._states.items() if s.status == "resolved" and now - s.queued_at > horizon]
        if old:
            self._outbox.forget_states(old)
            for key in old:
                del self._states[key]

    # -- delivering ---------------------------------------------------------------------------

    async def deliver_due(self, now: float) -> int:
        """Send everything queued whose endpoint is not backing off; returns how many were sent.

        A call while another is still delivering returns 0 at once: two rounds in parallel
        could send one row twice.
        """
        if self._delivering:
            return 0
        self._delivering = True
        try:
            return await self._deliver_round(now)
        finally:
            self._delivering = False

    async def _deliver_round(self, now: float) -> int:
        jobs = []
        for name, target in self._outbox.endpoints():
            receiver = self.receivers.get(name)
            if receiver is None:
                self._drop_orphans(name, target)
            elif self._retry.get((name, target), _Retry()).next_at <= now:
                jobs.append(self._drain(receiver, target, now))
        sent = sum(await asyncio.gather(*jobs))
        self._update_depth()
        return sent

    async def _drain(self, receiver: Receiver, target: int, now: float) -> int:
        sent = 0
        for _ in range(_MAX_BATCHES_PER_ENDPOINT):
            rows = self._outbox.head(receiver.name, target, receiver.max_batch)
            if not rows:
                break
            live = self._expire(receiver, rows, now)
            if not live:
                continue
            outcome, detail, retry_after = await self._post(receiver, target, live, now)
            if outcome == "retry":
                self._failed(receiver, target, live, now, detail, retry_after)
                break
            self._outbox.remove(live)
            self._retry.pop((receiver.name, target), None)
            if outcome == "sent":
                self.metrics.count(receiver.name, "sent", len(live))
                sent += len(live)
            else:
                self.metrics.count(receiver.name, "dropped", len(live))
                _endpoint_log(receiver, target).error(
                    "notification rejected; dropped", error=detail, notifications=len(live)
                )
        return sent

    def _expire(self, receiver: Receiver, rows: list[OutboxRow], now: float) -> list[OutboxRow]:
        """Drop rows too old to send: past `max_age`, or Alertmanager firing states not renewed."""
        live: list[OutboxRow] = []
        stale: list[OutboxRow] = []
        for row in rows:
            valid_for = row.payload.get("_valid_for")
            too_old = now - row.created_at > self.max_age
            unconfirmed = valid_for is not None and now > row.created_at + float(valid_for)
            (stale if too_old or unconfirmed else live).append(row)
        if stale:
            self._outbox.remove(stale)
            self.metrics.count(receiver.name, "dropped", len(stale))
            _endpoint_log(receiver, stale[0].target).warning(
                "notifications expired undelivered; dropped", notifications=len(stale)
            )
        return live

    async def _post(
        self, receiver: Receiver, target: int, rows: list[OutboxRow], now: float
    ) -> tuple[Outcome, str, float | None]:
        request = receiver.request(target, [row.payload for row in rows], now)
        try:
            response = await self._client.post(
                request.url, json=request.json, headers=dict(request.headers), timeout=receiver.timeout
            )
        except httpx.InvalidURL as exc:
            return "drop", self._redact(f"invalid URL: {exc}"), None
        except (httpx.HTTPError, OSError) as exc:
            return "retry", self._redact(f"{type(exc).__name__}: {exc}"), None
        detail = self._redact(f"HTTP {response.status_code}: {response.text[:200]}")
        return classify(response.status_code), detail, _retry_after(response)

    def _failed(
        self,
        receiver: Receiver,
        target: int,
        rows: list[OutboxRow],
        now: float,
        detail: str,
        retry_after: float | None,
    ) -> None:
        retry = self._retry.setdefault((receiver.name, target), _Retry())
        retry.attempts += 1
        delay = self.backoff.delay(retry.attempts, self._rng)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff.maximum))
        retry.next_at = now + delay
        self._outbox.failed(rows, detail)
        self.metrics.count(receiver.name, "failed", len(rows))
        _endpoint_log(receiver, target).warning(
            "notification failed; will retry", error=detail, attempt=retry.attempts, retry_in=round(delay, 3)
        )

    def _drop_orphans(self, name: str, target: int) -> None:
        rows = self._outbox.head(name, target, 1_000_000)
        self._outbox.remove(rows)
        log.warning(
            "notifications for a receiver no longer configured; dropped",
            receiver=name,
            notifications=len(rows),
        )

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    # -- life cycle ---------------------------------------------------------------------------

    def queue_depth(self) -> dict[str, int]:
        """Queued notifications per receiver."""
        return self._outbox.depth()

    def pending(self) -> list[dict[str, Any]]:
        """Every queued notification (oldest first), for inspection."""
        return self._outbox.rows()

    def next_retry(self, receiver: str, target: int = 0) -> float | None:
        """When endpoint `target` of `receiver` will next be tried, if it is backing off."""
        retry = self._retry.get((receiver, target))
        return None if retry is None else retry.next_at

    def _update_depth(self) -> None:
        self.metrics.set_depth(self.receivers, self._outbox.depth())

    def _notify_loop(self) -> None:
        """Something was queued: deliver now (callable from any thread)."""
        if self._scheduler is not None:
            self._scheduler.run_soon(DELIVERY_JOB)

    def schedule(self, scheduler: Scheduler) -> None:
        """Deliver on `scheduler`: at once when something is queued, else every poll interval."""
        scheduler.every(DELIVERY_JOB, self._poll_interval, self.deliver_job)
        self._scheduler = scheduler

    async def deliver_job(self) -> None:
        """One delivery round, the scheduled job: a failed round (the store unavailable, a bug) is
        logged and never raised."""
        if self._closing:
            return
        try:
            await self.deliver_due(self._clock())
        except Exception:
            log.exception("alert delivery round failed")

    async def run(self) -> None:
        """Deliver until `close()` on a scheduler of its own (standalone use; the daemon calls
        `schedule` with its one scheduler instead)."""
        scheduler = Scheduler()
        self.schedule(scheduler)
        self._stopped = asyncio.Event()
        self._task = asyncio.current_task()
        scheduler.begin()
        try:
            await self._stopped.wait()
        finally:
            await scheduler.stop(grace=0.0)

    async def close(self, grace: float = 5.0) -> None:
        """Stop delivering (waiting at most `grace` for a delivery in flight), then release resources.

        Whatever is still queued stays in the outbox for the next start.
        """
        self._closing = True
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.remove(DELIVERY_JOB)
            await _finish(scheduler.running_task(DELIVERY_JOB), grace)
        if self._stopped is not None:
            self._stopped.set()
            await _finish(self._task, grace)
        if self._owns_client:
            await self._client.aclose()
        self._outbox.close()


async def _finish(task: asyncio.Task[None] | None, grace: float) -> None:
    """Wait at most `grace` seconds for `task`, then cancel it (not the caller's own task)."""
    if task is None or task.done() or task is asyncio.current_task():
        return
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date; the backoff applies


def _endpoint_log(receiver: Receiver, target: int) -> Any:
    """The log for one endpoint's notifications: each line names the receiver and the endpoint."""
    return log.bind(receiver=receiver.name, endpoint=target)
