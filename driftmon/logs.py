"""structlog setup: JSON lines when stderr is not a terminal, readable output when it is.

Colours follow https://no-color.org: escape codes only on a terminal, never with `NO_COLOR` set.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog


def _drop_colour_message(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """uvicorn adds an ANSI-coloured copy of each message; JSON logs need only one."""
    event.pop("color_message", None)
    return event


def colour_wanted(stream: TextIO) -> bool:
    """Whether to write ANSI colours to `stream`: a terminal, and `NO_COLOR` unset or empty."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _warning_to_log(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` replacement: a debug record of the log, never a terminal line."""
    logging.getLogger("py.warnings").debug(
        "library warning",
        extra={"category": category.__name__, "detail": str(message), "where": f"{filename}:{lineno}"},
    )


def route_library_warnings() -> None:
    """Send library warnings (torch, EasyOCR, ...) to the structured log at debug level.

    Until `configure_logging` runs, debug records have no handler and are dropped.
    """
    warnings.showwarning = _warning_to_log


#: loggers are finalised on first use (fast); the test suite turns it off so that
#: `structlog.testing.capture_logs` still sees loggers first used after a CLI test configured logging
CACHE_LOGGERS = True


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger once, at start (to `stream`, default stderr)."""
    stream = stream or sys.stderr
    numeric = getattr(logging, level.upper(), logging.INFO)
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=colour_wanted(stream))
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_colour_message,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=CACHE_LOGGERS,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    route_library_warnings()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access", "httpx", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
