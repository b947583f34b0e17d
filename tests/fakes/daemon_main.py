"""`python -m tests.fakes.daemon_main CONFIG PORT`: the daemon as `driftmon run` builds it, with the
light fake scorer (tests/fakes/scorer.py) in its scorer process and no NVML.

After serving starts it writes `<store dir>/modules.txt`, one module name a line: what the HTTP
process has imported (the test that it never imports torch reads it after one request).

The daemon's modules are imported in `main`, not at the top: the scorer process is spawned, and a
spawned child imports its parent's main module again (as `driftmon run`'s `driftmon/__main__.py`
it does not), which would cost each child start the HTTP side's imports."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path


def write_modules_when_asked(flag: Path, out: Path) -> None:
    """Once `flag` exists (the test served a request), list the imported modules in `out`."""
    while not flag.exists():
        time.sleep(0.1)
    out.write_text("\n".join(sorted(sys.modules)))


def main(config_path: str, port: str) -> None:
    from driftmon.config import load_config
    from driftmon.daemon import Daemon
    from driftmon.logs import configure_logging
    from tests.fakes.scorer import FakeScorer

    config = load_config(config_path)
    configure_logging(config.logging.level, config.logging.format)
    data = config.store.path.parent
    data.mkdir(parents=True, exist_ok=True)
    threading.Thread(
        target=write_modules_when_asked, args=(data / "list-modules", data / "modules.txt"), daemon=True
    ).start()
    asyncio.run(Daemon(config, port=int(port), nvml=False, scorer_factory=FakeScorer).serve())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
