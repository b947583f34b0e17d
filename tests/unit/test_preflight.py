"""`driftmon config check` runs `driftmon run`'s validation (driftmon.cli.preflight): same messages,
non-zero exit, for rule files, token files and directories, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftmon import cli
from driftmon.cli.preflight import preflight

runner = CliRunner()

BROKEN_RULES = """groups:
  - name: g
    rules:
      - alert: A
        expr: fidelity <<< 0.8
"""


def config_file(tmp_path: Path, extra: str = "") -> Path:
    """A configuration with its store and artifacts under `tmp_path`, probes off, plus `extra`."""
    path = tmp_path / "driftmon.yaml"
    path.write_text(
        f"store:\n  path: {tmp_path / 'data' / 'driftmon.db'}\n"
        f"artifacts:\n  dir: {tmp_path / 'data' / 'artifacts'}\n"
        "sources:\n  probe:\n    enabled: false\n" + extra,
        "utf-8",
    )
    return path


def check(path: Path) -> tuple[int, str]:
    result = runner.invoke(cli.app, ["--no-color", "config", "check", str(path)])
    return result.exit_code, result.output


def run(path: Path) -> tuple[int, str]:
    result = runner.invoke(cli.app, ["--no-color", "run", "--config", str(path)])
    return result.exit_code, result.output


def test_a_good_configuration_is_ok(tmp_path: Path) -> None:
    """No problem: `config check` says ok and exits 0."""
    code, output = check(config_file(tmp_path))
    assert (code, output.strip()) == (0, f"{tmp_path / 'driftmon.yaml'}: ok")


def test_a_broken_rule_file_fails_check_and_run_with_the_same_file_line(tmp_path: Path) -> None:
    """W6: a broken rule file is not "ok": both commands name FILE:LINE and exit non-zero."""
    rules = tmp_path / "bad.yaml"
    rules.write_text(BROKEN_RULES, "utf-8")
    path = config_file(tmp_path, f"rules:\n  paths: [{rules}]\n")
    check_code, check_output = check(path)
    run_code, run_output = run(path)
    assert (check_code, run_code) == (1, 2)
    assert f"{rules}:5" in check_output
    assert check_output == run_output


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe not utf-8", "is not UTF-8 text"), (b"  \n", "is empty")],
)
def test_a_bad_token_file_fails_check(tmp_path: Path, content: bytes, message: str) -> None:
    """D7/W6: a token file that is not UTF-8 (or empty) is a clean message, never a traceback."""
    token = tmp_path / "token"
    token.write_bytes(content)
    code, output = check(config_file(tmp_path, f"server:\n  auth_token_file: {token}\n"))
    assert code == 1
    assert f"server.auth_token_file: secret file {token} {message}" in output
    assert "Traceback" not in output


def test_d7_run_with_a_token_file_that_is_not_utf8_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """D7: `driftmon run` stops on the same message as `config check` (was a traceback, exit 1)."""
    token = tmp_path / "token"
    token.write_bytes(b"\xff\xfe not utf-8")
    code, output = run(config_file(tmp_path, f"server:\n  auth_token_file: {token}\n"))
    assert code == 2
    assert f"server.auth_token_file: secret file {token} is not UTF-8 text" in output
    assert "Traceback" not in output


def test_a_directory_that_cannot_be_made_fails_check(tmp_path: Path) -> None:
    """A file where the store's directory should be: named, exit 1."""
    (tmp_path / "data").write_text("not a directory", "utf-8")
    code, output = check(config_file(tmp_path))
    assert code == 1
    assert f"store.path: directory {tmp_path / 'data'} is not writable" in output
    assert "artifacts.dir" in output


def test_preflight_lists_every_problem_at_once(tmp_path: Path) -> None:
    """Each problem is its own message: a broken rule file and a missing token file together."""
    from driftmon.config import load_config

    rules = tmp_path / "bad.yaml"
    rules.write_text(BROKEN_RULES, "utf-8")
    extra = f"rules:\n  paths: [{rules}]\nserver:\n  auth_token_file: {tmp_path / 'missing'}\n"
    problems = preflight(load_config(config_file(tmp_path, extra)))
    assert len(problems) == 2
    assert str(rules) in problems[0] and "auth_token_file" in problems[1]
