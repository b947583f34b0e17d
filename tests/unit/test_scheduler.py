"""The daemon's one scheduler: cadence read with a fake clock, wake-ups, failures, bounded stop."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from driftmon.scheduler import Scheduler

pytestmark = pytest.mark.anyio

LATER = datetime(2031, 1, 1, tzinfo=UTC)  # a fake "now", years after the jobs were added


async def bounded(awaitable, seconds: float = 5.0):
    """Await with a bound so a broken scheduler fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


async def nothing() -> None:
    return None


async def test_cadence_from_the_trigger_with_a_fake_clock() -> None:
    """Each job fires every `seconds` on its grid, whatever the time: read from the trigger."""
    scheduler = Scheduler()
    scheduler.every("fast", 1.0, nothing)
    scheduler.every("slow", 600.0, nothing, first_in=600.0)
    assert scheduler.jobs() == {"fast": 1.0, "slow": 600.0}
    for job_id, seconds in scheduler.jobs().items():
        first = scheduler.next_run_at(job_id, LATER)
        assert first is not None and LATER <= first <= LATER + timedelta(seconds=seconds)
        second = scheduler.next_run_at(job_id, first + timedelta(microseconds=1))
        assert second == first + timedelta(seconds=seconds)
    scheduler.remove("slow")
    assert scheduler.jobs() == {"fast": 1.0} and scheduler.next_run_at("slow", LATER) is None
    with pytest.raises(ValueError):
        scheduler.every("never", 0.0, nothing)


async def test_job_runs_at_start_and_a_failure_keeps_the_schedule() -> None:
    """A job due now runs once the scheduler starts; one that raises is logged, not unscheduled."""
    ran = asyncio.Event()

    async def broken() -> None:
        ran.set()
        raise RuntimeError("boom")

    scheduler = Scheduler()
    scheduler.every("broken", 60.0, broken)
    with capture_logs() as logs:
        async with AsyncExitStack() as stack:
            await scheduler.start(stack)
            assert scheduler.running
            await bounded(ran.wait())
            await bounded(_until(lambda: scheduler.running_task("broken") is None))
            assert scheduler.jobs() == {"broken": 60.0}
        assert not scheduler.running
    assert [(e["event"], e["job"]) for e in logs if e["event"] == "job_failed"] == [("job_failed", "broken")]


async def test_run_soon_while_running_runs_once_more_after() -> None:
    """A wake-up during a run is not lost: the job runs once more right after, not twice."""
    release = asyncio.Event()
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            await release.wait()

    scheduler = Scheduler()
    scheduler.every("job", 3600.0, job)
    async with AsyncExitStack() as stack:
        await scheduler.start(stack)
        await bounded(_until(lambda: runs == [0]))
        scheduler.run_soon("job")
        scheduler.run_soon("job")
        await asyncio.sleep(0)  # one loop turn: the wake-ups (call_soon_threadsafe) are handled
        release.set()
        await bounded(_until(lambda: scheduler.running_task("job") is None))
        assert runs == [0, 1]
        scheduler.run_soon("job")  # idle: moves the next run to now
        await bounded(_until(lambda: runs == [0, 1, 2]))


async def test_stop_gives_runs_in_flight_a_bounded_grace() -> None:
    """stop() takes no new runs, lets a quick run finish and cancels one that outlives the grace."""
    finished, hung = asyncio.Event(), asyncio.Event()
    started = {"quick": asyncio.Event(), "hung": asyncio.Event()}

    async def quick() -> None:
        started["quick"].set()
        await asyncio.sleep(0)
        finished.set()

    async def hanging() -> None:
        started["hung"].set()
        await hung.wait()  # never set

    scheduler = Scheduler(grace=0.05)
    scheduler.every("quick", 3600.0, quick)
    scheduler.every("hung", 3600.0, hanging)
    scheduler.begin()
    await bounded(started["quick"].wait())
    await bounded(started["hung"].wait())
    task = scheduler.running_task("hung")
    with capture_logs() as logs:
        await bounded(scheduler.stop())
    assert finished.is_set() and task is not None and task.done()
    assert not scheduler.running
    assert [e["event"] for e in logs] == ["job_cancelled"]
    scheduler.run_soon("quick")  # after stop: ignored, no error


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0)
