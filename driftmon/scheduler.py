"""The daemon's one scheduler: every periodic job runs on one APScheduler 3 AsyncIOScheduler.

    scheduler = Scheduler()                       nothing started: no loop, no thread
    scheduler.every("rules", 1.0, job)            `job` is an async function without arguments
    await scheduler.start(stack)                  runs the jobs; `stack` unwinds it (see `stop`)
    scheduler.run_soon("rules")                   from any thread: run it now (again once, if running)

A job never overlaps itself and a late run is coalesced into one (a stalled loop does not replay
missed ticks). A job that raises is logged as `job_failed` and keeps its schedule. `stop(grace)`
takes no new runs, lets the runs in flight finish for at most `grace` seconds, then cancels them.
Tests call the job functions themselves and read the cadence with `interval` and `next_run_at`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

log = structlog.get_logger("driftmon.scheduler")

Job = Callable[[], Awaitable[None]]


class Scheduler:
    """Periodic async jobs on the event loop; see the module docstring."""

    def __init__(self, grace: float = 5.0) -> None:
        self.grace = grace
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._intervals: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- jobs -------------------------------------------------------------------------------

    def every(self, job_id: str, seconds: float, job: Job, *, first_in: float = 0.0) -> None:
        """Run `job` every `seconds`, the first time `first_in` seconds from now."""
        if seconds <= 0:
            raise ValueError(f"{job_id}: the interval must be positive")
        self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            args=(job_id, job),
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC) + timedelta(seconds=first_in),
        )
        self._intervals[job_id] = seconds

    def remove(self, job_id: str) -> None:
        """Take the job off the schedule (a run in flight goes on); unknown ids are ignored."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(job_id)
        self._intervals.pop(job_id, None)

    def interval(self, job_id: str) -> float:
        """The job's period in seconds (KeyError when there is no such job)."""
        return self._intervals[job_id]

    def jobs(self) -> dict[str, float]:
        """Every scheduled job and its period in seconds."""
        return dict(self._intervals)

    def next_run_at(self, job_id: str, now: datetime) -> datetime | None:
        """When the job would run next after `now` (a fake clock's time), from its trigger."""
        job = self._scheduler.get_job(job_id)
        return None if job is None else job.trigger.get_next_fire_time(None, now)

    def running_task(self, job_id: str) -> asyncio.Task[None] | None:
        """The task running the job now, if any."""
        return self._running.get(job_id)

    def run_soon(self, job_id: str) -> None:
        """Run the job as soon as possible; when it is running, once more after it. Thread-safe."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(self._run_soon, job_id)

    def _run_soon(self, job_id: str) -> None:
        if not self.running:
            return
        if job_id in self._running:
            self._again.add(job_id)
            return
        with contextlib.suppress(JobLookupError):
            self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    async def _run(self, job_id: str, job: Job) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running[job_id] = task
        try:
            while True:
                self._again.discard(job_id)
                try:
                    await job()
                except Exception:  # a broken job must keep its schedule and not stop the others
                    log.exception("job_failed", job=job_id)
                if job_id not in self._again or not self.running:
                    break
        except asyncio.CancelledError:
            # only stop() cancels; letting it through would make APScheduler log a job error
            log.info("job_cancelled", job=job_id)
        finally:
            self._running.pop(job_id, None)
            self._again.discard(job_id)

    # -- life cycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._scheduler.state == STATE_RUNNING)

    def begin(self) -> None:
        """Start running the jobs on the current event loop (`start` registers the teardown too)."""
        self._loop = asyncio.get_running_loop()
        # APScheduler logs every run at INFO; a tick every second is not news (misfires still are)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self._scheduler.start()

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Run the jobs; unwinding `stack` stops them (`stop`)."""
        self.begin()
        stack.push_async_callback(self.stop)

    async def stop(self, grace: float | None = None) -> None:
        """No new runs; runs in flight get `grace` seconds (default: the constructor's), then are
        cancelled."""
        if not self.running:
            return
        self._scheduler.pause()
        running = set(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=self.grace if grace is None else grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a loop callback
        self._loop = None
