"""What `driftmon run` needs beyond a valid configuration, checked before anything starts.

    problems = preflight(config)     # [] when the daemon can start; else one message per problem

`driftmon run` stops on the first list that is not empty (exit 2) and `driftmon config check`
prints the same list (exit 1), so a check that says "ok" means the daemon starts. Checked: the
rule files (messages name FILE:LINE), the probe file and the generator's API key file, the bearer
token file and the receivers' secrets (strict UTF-8, not empty), and that the store's directory
(which also holds the intake journal) and the artifacts' exist or can be made, and take a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from driftmon.config import Config
from driftmon.errors import DriftmonError
from driftmon.secrets import read_secret_file

Check = Callable[[Config, Mapping[str, str]], None]


def _rules(config: Config, environ: Mapping[str, str]) -> None:
    from driftmon.rules.model import defaults_from, load_rules

    load_rules(config.rules.paths, defaults_from(config))


def _probes(config: Config, environ: Mapping[str, str]) -> None:
    probe = config.sources.probe
    if not probe.enabled:
        return
    from driftmon.sources.generators import read_api_key
    from driftmon.sources.probe import load_probes

    load_probes(probe.prompts)
    read_api_key(probe.generator)


def _token(config: Config, environ: Mapping[str, str]) -> None:
    if config.server.auth_token_file is not None:
        read_secret_file(config.server.auth_token_file, "server.auth_token_file")


def _receivers(config: Config, environ: Mapping[str, str]) -> None:
    from driftmon.alerting.notifier import build_receivers

    build_receivers(config.alerting, environ)


def writable_directory(directory: Path, key: str) -> str | None:
    """None when `directory` exists (or can be made) and takes a new file; else why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory, prefix=".driftmon-preflight-"):
            pass
    except OSError as exc:
        return f"{key}: directory {directory} is not writable ({exc.strerror or exc})"
    return None


def _directories(config: Config) -> list[str]:
    store_dir = config.store.path.parent
    wanted = [(store_dir, "store.path")]
    if config.artifacts.enabled:
        wanted.append((config.artifacts.dir, "artifacts.dir"))
    found = (writable_directory(directory, key) for directory, key in wanted)
    return [problem for problem in found if problem is not None]


CHECKS: tuple[Check, ...] = (_rules, _probes, _token, _receivers)


def preflight(config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem that would stop `driftmon run` with `config`, one message each."""
    env = os.environ if environ is None else environ
    problems = []
    for check in CHECKS:
        try:
            check(config, env)
        except DriftmonError as exc:
            problems.append(str(exc))
    return problems + _directories(config)
