"""schemathesis (a real peer tool) against a live daemon's /openapi.json: every operation,
EXAMPLES generated cases each, checks not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance and response_headers_conformance; a
finding fails the test. The daemon is `driftmon run`'s process pair on loopback with the light
fake scorer in its scorer process (tests/fakes/daemon_main.py), a few samples already scored so
the listing, a sample, its overlay and the comparison answer 200 as well as 4xx."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.servers import Proc, free_port, http_ok, start, wait_until
from tests.integration.test_durability import IMAGE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: generated cases per operation at most (the issue's bound; hypothesis stops sooner where an
#: operation has fewer distinct inputs): ~20 s on the shared 2-core VM, daemon start included
EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def start_daemon(tmp: Path) -> Proc:
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "shutdown_grace": 5},
        "store": {"path": str(tmp / "data" / "driftmon.db")},
        "artifacts": {"enabled": False},
        "scoring": {"batch_size": 4, "queue_size": 1000},
        "logging": {"format": "json", "level": "warning"},
    }
    (tmp / "driftmon.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = start(
        [sys.executable, "-m", "tests.fakes.daemon_main", str(tmp / "driftmon.yaml"), str(port)],
        tmp / "daemon.log",
        f"http://127.0.0.1:{port}",
        env={"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    wait_until(http_ok(f"{proc.url}/healthz"), 120, what="driftmon /healthz")
    return proc


def seed(proc: Proc, count: int = 3) -> None:
    """`count` samples scored (two model versions), so reads find rows."""
    with httpx.Client(timeout=10) as client:
        for index in range(count):
            meta = {"expected_text": "OPEN", "model_version": f"v{index % 2}"}
            assert client.post(f"{proc.url}/v1/samples", json={"image_b64": IMAGE, **meta}).status_code == 202

        def scored() -> bool:
            return len(client.get(f"{proc.url}/v1/samples/recent").json()) == count

        wait_until(scored, 120, interval=0.3, what="the seeded samples scored")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    proc = start_daemon(tmp_path_factory.mktemp("openapi"))
    try:
        seed(proc)
        yield proc
    finally:
        proc.stop()


def conforms(operation: Any) -> str | None:
    """None when EXAMPLES generated cases of `operation` pass every check, else the finding."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def each(case: Any) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    try:
        each()
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis's failures, reported in full
        return f"{operation.label}: {exc}"
    return None


def test_live_daemon_conforms_to_its_openapi_document(daemon: Proc) -> None:
    api = schemathesis.openapi.from_url(f"{daemon.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    findings = [finding for operation in operations if (finding := conforms(operation))]
    print(f"schemathesis: {len(operations)} operations x {EXAMPLES} examples, {len(findings)} findings")
    assert len(operations) >= 10
    assert findings == []
