"""Nothing acknowledged is lost, nothing is scored twice: `driftmon run`'s process pair (the HTTP
parent, the scorer child with the light fake scorer) killed with SIGKILL while samples wait in the
journal and a batch is being scored, then restarted (and that restart killed too). Every sample
answered 202 {"sampled": true} ends with exactly one row in the store. The HTTP process never
imports torch.

A spawn is slow on 2 cores: the scorer-child test and the torch test share one process pair (a
module fixture); each asserts against every sample acknowledged by that pair."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from tests.imaging import png_bytes
from tests.integration.servers import Proc, free_port, http_ok, start, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: how long the fake scorer takes per batch while a test kills a process mid-batch
BATCH_SECONDS = 0.75
IMAGE = base64.b64encode(png_bytes(np.full((48, 48, 3), 230, np.uint8))).decode()


def start_pair(tmp: Path, port: int, batch_seconds: float) -> Proc:
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "shutdown_grace": 5},
        "store": {"path": str(tmp / "data" / "driftmon.db")},
        "artifacts": {"enabled": False},
        "scoring": {"batch_size": 4, "queue_size": 1000},
        "logging": {"format": "json"},
    }
    config_path = tmp / "driftmon.yaml"
    config_path.write_text(yaml.safe_dump(config))
    proc = start(
        [sys.executable, "-m", "tests.fakes.daemon_main", str(config_path), str(port)],
        tmp / f"daemon-{time.monotonic_ns()}.log",
        f"http://127.0.0.1:{port}",
        env={"DRIFTMON_FAKE_SCORER_SECONDS": str(batch_seconds), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        wait_until(http_ok(f"{proc.url}/healthz"), 120, what="driftmon /healthz")
    except AssertionError:
        proc.stop(signal.SIGKILL)
        raise
    return proc


def scorer(proc: Proc) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{proc.url}/readyz", timeout=5).json()["scorer"]
    return body


def push(proc: Proc, count: int) -> list[str]:
    """Post `count` samples; the ids of those acknowledged as sampled (on disk)."""
    acknowledged = []
    with httpx.Client(timeout=10) as client:
        for _ in range(count):
            meta = {"expected_text": "OPEN", "model_version": "v1", "request_id": uuid.uuid4().hex}
            answer = client.post(f"{proc.url}/v1/samples", json={"image_b64": IMAGE, **meta})
            if answer.status_code == 202 and answer.json()["sampled"]:
                acknowledged.append(answer.json()["id"])
    return acknowledged


def rows_per_id(tmp: Path) -> dict[str, int]:
    with sqlite3.connect(tmp / "data" / "driftmon.db") as conn:
        return dict(conn.execute("SELECT id, COUNT(*) FROM samples GROUP BY id").fetchall())


def batches_claimed(proc: Proc) -> float:
    """`driftmon_scoring_batch_size_count`: batches claimed from the journal and sent to the scorer."""
    for line in httpx.get(f"{proc.url}/metrics", timeout=5).text.splitlines():
        if line.startswith("driftmon_scoring_batch_size_count"):
            return float(line.split()[-1])
    return 0.0


def scoring_in_flight(proc: Proc, batches_before: float = 0.0) -> None:
    """Wait until the scorer process has been sent a batch after `batches_before` (it takes
    BATCH_SECONDS to score it; the journal still holds the rest)."""
    wait_until(
        lambda: batches_claimed(proc) > batches_before, 120, interval=0.05, what="a batch sent to the scorer"
    )


def drain(proc: Proc) -> None:
    wait_until(lambda: scorer(proc).get("journal_depth") == 0, 180, interval=0.5, what="an empty journal")


def test_sigkill_of_the_parent_then_of_its_restart_loses_nothing_and_scores_once(tmp_path: Path) -> None:
    port = free_port()
    first = start_pair(tmp_path, port, batch_seconds=BATCH_SECONDS)
    acknowledged = push(first, 24)
    scoring_in_flight(first)
    first.stop(signal.SIGKILL)
    second = start_pair(tmp_path, port, batch_seconds=BATCH_SECONDS)
    scoring_in_flight(second)
    second.stop(signal.SIGKILL)
    third = start_pair(tmp_path, port, batch_seconds=0.0)
    try:
        drain(third)
        rows = rows_per_id(tmp_path)
    finally:
        third.stop()
    print(f"parent SIGKILL twice: acknowledged {len(acknowledged)}, scored {len(rows)}")
    assert len(acknowledged) == 24
    assert set(rows) == set(acknowledged)
    assert set(rows.values()) == {1}


@dataclass
class Pair:
    """A running process pair and every sample it acknowledged."""

    proc: Proc
    tmp: Path
    acknowledged: list[str] = field(default_factory=list)

    def push(self, count: int) -> list[str]:
        acknowledged = push(self.proc, count)
        self.acknowledged += acknowledged
        return acknowledged


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("pair")
    proc = start_pair(tmp, free_port(), batch_seconds=BATCH_SECONDS)
    yield Pair(proc, tmp)
    proc.stop()


def test_sigkill_of_the_scorer_child_loses_nothing_and_scores_once(pair: Pair) -> None:
    proc = pair.proc
    restarts_before, batches_before = scorer(proc)["restarts"], batches_claimed(proc)
    acknowledged = pair.push(16)
    scoring_in_flight(proc, batches_before)
    os.kill(int(scorer(proc)["pid"]), signal.SIGKILL)
    drain(proc)
    rows = rows_per_id(pair.tmp)
    restarts = scorer(proc)["restarts"] - restarts_before
    metrics = httpx.get(f"{proc.url}/metrics", timeout=5).text
    scored = len(set(rows) & set(acknowledged))
    print(f"scorer SIGKILL: acknowledged {len(acknowledged)}, scored {scored}, restarts {restarts}")
    assert set(rows) == set(pair.acknowledged) and len(acknowledged) == 16
    assert set(rows.values()) == {1}
    assert restarts == 1 and f"driftmon_scorer_restarts_total {restarts_before + 1:.1f}" in metrics


def test_the_http_process_never_imports_torch(pair: Pair) -> None:
    proc = pair.proc
    assert pair.push(1)
    drain(proc)
    (pair.tmp / "data" / "list-modules").touch()
    modules = pair.tmp / "data" / "modules.txt"
    wait_until(modules.exists, 30, what="the module list")
    names = modules.read_text().split()
    assert "driftmon.daemon" in names and "driftmon.worker.supervisor" in names
    assert "torch" not in names
