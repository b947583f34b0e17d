"""`python -m tests.deploy.daemon_main CONFIG`: the daemon as `driftmon run` builds it, with NVML
answered by the recorded H200 (tests/support) so the GPU families have series on a GPU-less host."""

from __future__ import annotations

import asyncio
import sys

from driftmon.config import load_config
from driftmon.daemon import Daemon
from driftmon.logs import configure_logging
from tests.support.nvml import FakeNvml


def main(config_path: str) -> None:
    config = load_config(config_path)
    configure_logging(config.logging.level, config.logging.format)
    asyncio.run(Daemon(config, nvml=FakeNvml("busy")).serve())


if __name__ == "__main__":
    main(sys.argv[1])
