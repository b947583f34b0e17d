"""A small Dockerfile reader for the deploy tests: instructions, ARG defaults, COPY sources.

Enough of the Dockerfile grammar for the file this repo ships (line continuations, comments,
exec-form JSON, `${VAR}` from ARG defaults); not a general parser.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), raw argument text and the stage it is in."""

    keyword: str
    args: str
    stage: int
    line: int


def instructions(text: str) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments and blank lines dropped."""
    result: list[Instruction] = []
    stage = -1
    buffer = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        result.append(Instruction(keyword, args.strip(), stage, start))
        buffer = ""
    return result


def arg_defaults(items: list[Instruction], stage: int) -> dict[str, str]:
    """ARG defaults visible in `stage`: global ARGs redeclared there, plus the stage's own."""
    global_args: dict[str, str] = {}
    local: dict[str, str] = {}
    for item in items:
        if item.keyword != "ARG":
            continue
        name, _, default = item.args.partition("=")
        if item.stage == -1:
            global_args[name] = default
        elif item.stage == stage:
            local[name] = default or global_args.get(name, local.get(name, ""))
    return local


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace `${VAR}` and `$VAR` with their values; unknown variables become empty."""
    return _VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def words(args: str) -> list[str]:
    """Arguments of an instruction: a JSON array (exec form) or shell-split words."""
    if args.startswith("["):
        parsed = json.loads(args)
        assert isinstance(parsed, list)
        return [str(word) for word in parsed]
    return shlex.split(args)


@dataclass(frozen=True)
class Copy:
    """A COPY/ADD from the build context: sources (ARG defaults applied) and destination."""

    sources: tuple[str, ...]
    destination: str
    line: int


def context_copies(items: list[Instruction]) -> list[Copy]:
    """COPY/ADD instructions that read the build context (no `--from`)."""
    copies = []
    for item in items:
        if item.keyword not in ("COPY", "ADD"):
            continue
        parts = words(substitute(item.args, arg_defaults(items, item.stage)))
        if any(part.startswith("--from") for part in parts):
            continue
        paths = [part for part in parts if not part.startswith("--")]
        copies.append(Copy(tuple(paths[:-1]), paths[-1], item.line))
    return copies


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Whether `.dockerignore` `patterns` exclude the context-relative `path`.

    Docker's rules: the last matching pattern wins, `!` re-includes, and a pattern that matches a
    parent directory matches everything below it.
    """
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        if any(_match(body, candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def _match(pattern: str, path: str) -> bool:
    if "**" in pattern:
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        return re.fullmatch(regex, path) is not None
    if pattern.count("/") != path.count("/"):
        return False
    return fnmatch.fnmatchcase(path, pattern)


def read_dockerignore(path: Path) -> list[str]:
    """Patterns of a `.dockerignore`, comments and blank lines dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def stage_names(items: list[Instruction]) -> dict[str, int]:
    """Stage name (`FROM ... AS name`, lower case) -> stage index."""
    names = {}
    for item in items:
        if item.keyword == "FROM":
            parts = item.args.split()
            if len(parts) >= 3 and parts[-2].upper() == "AS":
                names[parts[-1].lower()] = item.stage
    return names


def copy_from_stages(items: list[Instruction], stage: int) -> list[tuple[str, list[str]]]:
    """`COPY --from=STAGE SRC... DEST` of `stage`: (STAGE, [SRC..., DEST]) each."""
    found = []
    for item in items:
        if item.keyword == "COPY" and item.stage == stage:
            parts = words(item.args)
            sources = [part.split("=", 1)[1] for part in parts if part.startswith("--from=")]
            if sources:
                found.append((sources[0], [part for part in parts if not part.startswith("--")]))
    return found


def env_assignments(items: list[Instruction], stage: int) -> dict[str, str]:
    """`ENV KEY=VALUE ...` of `stage`, values as written."""
    env: dict[str, str] = {}
    for item in items:
        if item.keyword == "ENV" and item.stage == stage:
            for word in shlex.split(item.args):
                key, _, value = word.partition("=")
                env[key] = value
    return env
