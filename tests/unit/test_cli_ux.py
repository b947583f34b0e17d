"""The command line as a user meets it: --version, colours (NO_COLOR, --no-color, TTY), quiet
library warnings, flags shown as flags in --help."""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import pty
import select
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from driftmon import DISTRIBUTION, __version__
from driftmon.cli import commands as cli
from driftmon.logs import colour_wanted, configure_logging
from tests.imaging import png_bytes

ESC = "\x1b["
PYTHON = platform.python_version()
runner = CliRunner()


class TerminalStream(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def colour_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment where only NO_COLOR decides: a colour terminal, no forcing variables."""
    for name in ("NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_COLOR_SYSTEM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


def test_version_flag_prints_the_installed_distributions_version() -> None:
    """`driftmon --version` exits 0 and prints the version of the installed distribution."""
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"driftmon {version(DISTRIBUTION)}\n"
    assert __version__ == version(DISTRIBUTION)


def test_version_through_the_console_script_entry_point() -> None:
    """The real entry point (`python -m driftmon`) answers --version with exit status 0."""
    result = subprocess.run(
        [sys.executable, "-m", "driftmon", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"driftmon {__version__}"


def test_healthz_body_and_build_info_carry_the_version() -> None:
    """`/healthz` answers `{"status": "ok", "version": ...}`; `driftmon_build_info` has the same."""
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from driftmon.api.server import healthz
    from driftmon.metrics import Metrics

    with TestClient(Starlette(routes=[Route("/healthz", healthz)])) as client:
        assert client.get("/healthz").json() == {"status": "ok", "version": __version__}
    registry = CollectorRegistry()
    Metrics(registry)
    assert (
        registry.get_sample_value("driftmon_build_info", {"version": __version__, "python": PYTHON}) == 1
    )


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of a (typer-built) click command tree, the root's `()` first."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


@pytest.mark.parametrize("path", _commands(typer.main.get_command(cli.app)), ids=" ".join)
def test_help_shows_flags_as_flags(path: tuple[str, ...], colour_env: pytest.MonkeyPatch) -> None:
    """No `<bool>` value after any flag in any command's --help, and no escape codes."""
    result = runner.invoke(cli.app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output
    assert ESC not in result.output


def test_colour_only_on_a_terminal_and_never_with_no_color(colour_env: pytest.MonkeyPatch) -> None:
    """Colours on a terminal; none on a pipe; none on a terminal once NO_COLOR is non-empty."""
    assert colour_wanted(TerminalStream())
    assert not colour_wanted(io.StringIO())
    colour_env.setenv("NO_COLOR", "")
    assert colour_wanted(TerminalStream())
    colour_env.setenv("NO_COLOR", "1")
    assert not colour_wanted(TerminalStream())


@pytest.mark.parametrize("no_color", [False, True])
def test_console_logs_follow_no_color(no_color: bool, colour_env: pytest.MonkeyPatch) -> None:
    """The console log renderer writes escape codes to a terminal only without NO_COLOR."""
    if no_color:
        colour_env.setenv("NO_COLOR", "1")
    stream = TerminalStream()
    configure_logging("info", "console", stream=stream)
    logging.getLogger("driftmon.test").warning("queue full")
    assert "queue full" in stream.getvalue()
    assert (ESC in stream.getvalue()) is not no_color


@pytest.mark.parametrize("no_color", [False, True])
def test_cli_consoles_follow_no_color_on_both_streams(no_color: bool, colour_env: pytest.MonkeyPatch) -> None:
    """stdout's and stderr's rich consoles write escape codes (styles included) only without it."""
    if no_color:
        colour_env.setenv("NO_COLOR", "1")
    for stream_name in ("stdout", "stderr"):
        stream = TerminalStream()
        colour_env.setattr(sys, stream_name, stream)
        cli._console(stream, to_stderr=stream_name == "stderr").print("[bold red]alert[/]")
        assert "alert" in stream.getvalue()
        assert (ESC in stream.getvalue()) is not no_color, stream_name


def test_no_color_flag_sets_no_color_for_everything_after_it(colour_env: pytest.MonkeyPatch) -> None:
    """`--no-color` before a command acts as NO_COLOR=1 (our consoles, the log, child processes)."""
    colour_env.setenv("NO_COLOR", "")  # so that the fixture restores the environment afterwards
    assert colour_wanted(TerminalStream())
    result = runner.invoke(cli.app, ["--no-color", "config", "check", "/nonexistent.yaml"])
    assert result.exit_code == 1
    assert os.environ.get("NO_COLOR") == "1"
    assert not colour_wanted(TerminalStream())


@pytest.mark.parametrize("level", ["info", "debug"])
def test_library_warnings_go_to_the_log_at_debug_level(
    level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A library's UserWarning is a debug record of the structured log, never a stderr line."""
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging(level, "json", stream=stream)
        warnings.warn("quantized tensors are deprecated", UserWarning, stacklevel=1)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert capsys.readouterr().err == ""
    if level == "info":
        assert records == []
    else:
        (record,) = records
        assert record["level"] == "debug"
        assert record["category"] == "UserWarning"
        assert "quantized tensors" in record["detail"]


def _run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run `driftmon ARGS` with stdout and stderr on one pseudo-terminal; what it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "driftmon", *args], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], timeout)
        if not ready:
            process.kill()
            raise AssertionError("driftmon wrote nothing for too long")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=timeout)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_score_on_a_terminal_honours_no_color_and_hides_library_warnings(tmp_path: Path) -> None:
    """`driftmon score` on a real terminal: a coloured table by default; with NO_COLOR=1 or
    --no-color not one escape code on stdout or stderr; never a Python warning line."""
    image = tmp_path / "blank.png"
    image.write_bytes(png_bytes(np.full((64, 128, 3), 255, np.uint8)))
    env = {**os.environ, "TERM": "xterm-256color", "HF_HUB_OFFLINE": "1"}
    for name in ("NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS"):
        env.pop(name, None)
    coloured = _run_in_terminal(["score", str(image), "--device", "cpu"], env)
    assert "driftmon score" in coloured
    assert ESC in coloured
    for args, extra in ((["score"], {"NO_COLOR": "1"}), (["--no-color", "score"], {})):
        output = _run_in_terminal([*args, str(image), "--device", "cpu"], {**env, **extra})
        assert "driftmon score" in output
        assert ESC not in output, output
        assert "Warning:" not in output, output
