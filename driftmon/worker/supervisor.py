"""The parent's side of scoring: journal entries to the scorer process, outcomes recorded once.

    supervisor = ScoringSupervisor(journal, child, recorder, metrics, batch_size=16, batch_timeout=300)
    supervisor.start()          a thread: start the child (restarted with backoff), then loop
    supervisor.wake()           a sample was journaled: claim now
    supervisor.stop(seconds)    finish the batch in flight if it ends in time, else kill the child
                                and give its leases back; returns how many entries are left

One loop, in one thread of the HTTP process:
1. entries out of attempts (`journal.poison`) are counted `failed` with the reason and completed;
2. a batch is claimed (`journal.claim`); an entry whose sample already has a row in the store was
   scored before a process died between the store's commit and the journal's: completed unscored;
3. entries claimed before (attempts > 1: they were in a batch that crashed or timed out) are
   scored one at a time, the others together, so one poison sample costs attempts only to itself;
4. each outcome is committed by `Recorder` (row inserted once, keyed by the sample id; metrics and
   listeners only for a new row), then its entry is completed.

Every sample ends in exactly one outcome of `driftmon_samples_total`; intake counts `unsampled`,
`rejected` and `shed`, this loop `scored`, `failed` and `lost`, each once, when the entry is
completed. A store that cannot be written (`StoreError` after the store's own retries, at most
~1.55 s a write) leaves the batch's entries in the journal, uncounted: the loop backs off
(doubling to `backoff[1]`) and scores them again once the store takes writes, so a 202 stays a
promise; meanwhile the journal fills and intake answers 429 (counted `shed`). A row that can never
be written (the store raises anything else) is counted `lost`, never `scored`.
A crash or timeout of the child notes the reason on the entries in flight and ends their leases
(each claim counted an attempt); entries claimed but not sent are released without cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import structlog
from prometheus_client import CollectorRegistry, Counter

from driftmon.errors import JournalUnavailable, StoreError
from driftmon.metrics import Metrics
from driftmon.pipeline import Scored, ScoreListener
from driftmon.store import Store
from driftmon.store.journal import Entry, Journal
from driftmon.worker.child import BatchDone, Outcome, ScorerChild, ScorerLost

log = structlog.get_logger("driftmon.supervisor")

#: restart backoff of the scorer process: first wait, cap
RESTART_BACKOFF = (1.0, 30.0)
#: how long an idle loop waits for `wake`
IDLE_WAIT = 0.2


@dataclass
class ScorerState:
    """What /readyz's body and the metrics say about the scorer process."""

    #: starting | up | restarting | stopped
    state: str = "starting"
    restarts: int = 0
    last_error: str | None = None
    pid: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"state": self.state, "up": self.state == "up", "restarts": self.restarts,
                "last_error": self.last_error, "pid": self.pid}


def listener_error_counter(registry: CollectorRegistry) -> Callable[[str], None]:
    """A `Recorder`'s `listener_errors`: counts `driftmon_listener_errors_total{listener}`."""
    counter = Counter(
        "driftmon_listener_errors",
        "Exceptions raised by listeners of scored samples (the sample stays scored).",
        ["listener"],
        registry=registry,
    )
    return lambda name: counter.labels(name).inc()


class Recorder:
    """Commits one outcome: the row (once), the metrics, the listeners; or the counted failure.

    Counts store write failures (`driftmon_store_write_errors_total`, each retry) and, for a new
    row of a failing sample whose pictures the scorer kept, `driftmon_artifacts_written_total`.
    """

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        listeners: Sequence[ScoreListener],
        listener_errors: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.listeners = tuple(listeners)
        self.listener_errors = listener_errors
        self.clock = clock

    def record(self, entry: Entry, outcome: Outcome) -> None:
        """Raises StoreError when the store cannot be written (the entry stays in the journal)."""
        sample = entry.sample
        if outcome.kind != "scored":
            self.fail(entry, outcome.kind, outcome.reason)
            return
        scored = outcome.scored_sample(sample, self.clock())
        failures_before = self.store.write_failures
        try:
            new = self.store.add_once(scored)
        except StoreError:
            raise
        except Exception as exc:  # this row can never be stored (e.g. a value SQLite cannot bind)
            self.fail(entry, "lost", f"store: {exc!r}")
            return
        finally:
            self.metrics.store_errors.inc(self.store.write_failures - failures_before)
        if not new:
            return
        if outcome.image_path is not None:
            self.metrics.artifacts.inc()
        version = self.metrics.observe_scores(
            sample.source, sample.meta.model_version, outcome.scores, sample.meta.latency_seconds
        )
        self._tell(Scored(scored, version, outcome.embedding))

    def fail(self, entry: Entry, outcome: str, reason: str | None) -> None:
        sample = entry.sample
        log.error("sample_not_scored", id=sample.id, source=sample.source, outcome=outcome, reason=reason,
                  attempts=entry.attempts)
        self.metrics.count(sample.source, sample.meta.model_version, outcome)

    def _tell(self, scored: Scored) -> None:
        for listener in self.listeners:
            try:
                listener.on_scored(scored)
            except Exception as exc:  # a listener must never stop scoring nor the other listeners
                name = type(listener).__name__
                self.listener_errors(name)
                log.error("listener_failed", listener=name, id=scored.sample.id, error=repr(exc))


class ScoringSupervisor:
    """See the module docstring."""

    def __init__(
        self,
        journal: Journal,
        child: ScorerChild,
        recorder: Recorder,
        metrics: Metrics,
        *,
        batch_size: int = 16,
        batch_timeout: float = 300.0,
        backoff: tuple[float, float] = RESTART_BACKOFF,
    ) -> None:
        self.journal = journal
        self.child = child
        self.recorder = recorder
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.backoff = backoff
        self.status = ScorerState()
        #: the OCR engine's CUDA out-of-memory retries, as the child last reported them
        self.ocr_stats = SimpleNamespace(oom_retries=0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="driftmon-supervisor", daemon=True)
        metrics.scorer_up.set(0)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, grace: float) -> int:
        """Stop within `grace` seconds; returns the entries left in the journal (-1: unknown)."""
        self._deadline = time.monotonic() + grace
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(max(grace, 0.0) + 2.0)
        self.child.kill()
        try:
            return self.journal.depth()
        except JournalUnavailable:
            return -1

    # -- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        self._expire_leases()
        delay = self.backoff[0]
        while not self._stop.is_set():
            if not self.child.alive and not self._start_child():
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            try:
                worked = self._round()
            except JournalUnavailable as exc:
                log.error("journal_unavailable", error=str(exc))
                self._stop.wait(1.0)
                continue
            except StoreError as exc:  # the entries stay journaled: retried, never counted yet
                log.error("store_unavailable", error=str(exc), retry_in=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            except ScorerLost as exc:
                self._lost(str(exc))
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0] if worked else delay
            if not worked:
                self._wake.wait(IDLE_WAIT)
                self._wake.clear()
        self.status.state = "stopped"
        self.metrics.scorer_up.set(0)

    def _start_child(self) -> bool:
        try:
            info = self.child.start(self._stop)
        except ScorerLost as exc:
            self._lost(str(exc))
            return False
        if info:
            self.metrics.describe_build(**info)
        self.status.state, self.status.pid = "up", self.child.pid
        self.metrics.scorer_up.set(1)
        log.info("scorer_up", pid=self.child.pid, restarts=self.status.restarts)
        return True

    def _lost(self, reason: str) -> None:
        if self._stop.is_set():
            return
        self.status.state, self.status.last_error, self.status.pid = "restarting", reason, None
        self.status.restarts += 1
        self.metrics.scorer_up.set(0)
        self.metrics.scorer_restarts.inc()
        log.error("scorer_lost", reason=reason, restarts=self.status.restarts)

    def _expire_leases(self) -> None:
        try:
            self.journal.expire_leases()
        except JournalUnavailable as exc:
            log.error("journal_unavailable", error=str(exc))

    def _round(self) -> bool:
        """One claim: poison first, then a batch. True when there was anything to do."""
        lease = self.batch_timeout * (self.batch_size + 1)
        poison = self.journal.poison(lease)
        for entry in poison:
            self.recorder.fail(entry, "failed", entry.last_error or "crashed or timed out the scorer")
        self.journal.complete(entry.id for entry in poison)
        entries = self.journal.claim(self.batch_size, lease)
        self.metrics.queue_depth.set(self.journal.depth())
        if not entries:
            return bool(poison)
        self.metrics.batch_size.observe(len(entries))
        fresh = [entry for entry in entries if entry.attempts <= 1]
        suspects = [entry for entry in entries if entry.attempts > 1]
        groups = ([fresh] if fresh else []) + [[entry] for entry in suspects]
        for index, group in enumerate(groups):
            if self._past_deadline():
                self.journal.release(e.id for g in groups[index:] for e in g)
                return True
            self._score(group, [e for g in groups[index + 1:] for e in g])
        return True

    def _past_deadline(self) -> bool:
        return self._stop.is_set() and time.monotonic() >= self._deadline

    def _score(self, group: list[Entry], unsent: list[Entry]) -> None:
        done_already = [entry for entry in group if self.recorder.store.has(entry.sample.id)]
        if done_already:  # scored before a death between the store's commit and the journal's
            self.journal.complete(entry.id for entry in done_already)
            group = [entry for entry in group if entry not in done_already]
            if not group:
                return
        timeout = self.batch_timeout
        if self._stop.is_set():
            timeout = max(0.0, min(timeout, self._deadline - time.monotonic()))
        try:
            done = self.child.score(group, timeout)
        except ScorerLost as exc:
            ids = [entry.id for entry in group]
            self.journal.release(entry.id for entry in unsent)
            if self._stop.is_set():  # shutdown cut the batch short: no attempt is charged
                self.journal.release(ids)
            else:
                self.journal.note_error(ids, str(exc))
                self.journal.expire_leases()
            raise
        try:
            self._commit(group, done)
        except StoreError:  # the groups not sent yet would otherwise stay leased for `lease`
            self.journal.release(entry.id for entry in unsent)
            raise

    def _commit(self, group: list[Entry], done: BatchDone) -> None:
        for stage, seconds in done.stages:
            self.metrics.stage_duration.labels(stage).observe(seconds)
        self.ocr_stats.oom_retries = done.oom_retries
        by_id = {outcome.entry_id: outcome for outcome in done.outcomes}
        recorded: list[int] = []
        try:
            for index, entry in enumerate(group):
                try:
                    self.recorder.record(entry, by_id[entry.id])
                except StoreError:  # not committed: the rest stays in the journal, unharmed
                    self.journal.release(e.id for e in group[index:])
                    raise
                recorded.append(entry.id)
        finally:
            # one journal transaction (one fsync) for the batch, after its rows are committed; a
            # death before it leaves rows whose entries `_score` completes unscored on replay
            if recorded:
                self.journal.complete(recorded)
