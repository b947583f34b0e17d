"""Building blocks of configuration models, importable by plug-ins without importing `config`.

Receivers and generator adapters define their own configuration models on `Section`;
`driftmon.config` gathers them into discriminated unions (`discriminated_union`). Validation
errors become one ``place: dotted.field: message`` line each (`format_validation_errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, ValidationError

from driftmon.durations import parse_duration

ENV_PREFIX = "DRIFTMON_"
#: the error type of a ``kind`` that no registered model has (or of no ``kind`` at all)
UNKNOWN_KIND = "unknown_kind"

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""A duration: a number of seconds or a Prometheus-style string such as ``30s`` or ``7d``."""


class Section(BaseModel):
    """Base of every configuration section: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=BaseModel)
PluginT = TypeVar("PluginT")


@dataclass(frozen=True, slots=True)
class Kind(Generic[ConfigT, PluginT]):
    """One row of a `KindTable`: the kind's configuration model and the runtime class it builds."""

    config: type[ConfigT]
    plugin: PluginT


RowT = TypeVar("RowT", bound=Kind[Any, Any])


class KindTable(dict[str, RowT]):
    """A plug-in table: one row per ``kind`` value, each kind registered once."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, kind: str, row: RowT) -> None:
        """Add `row` under `kind`; its config model must declare ``kind: Literal[kind]``."""
        if kind in self:
            raise ValueError(f"{self.what} kind {kind!r} is registered twice")
        self[kind] = row


def discriminated_union(kinds: Mapping[str, type[BaseModel]], default: str | None = None) -> Any:
    """A pydantic type choosing among `kinds` by the ``kind`` key; `default` when it is absent."""
    members = tuple(Annotated[model, Tag(kind)] for kind, model in kinds.items())
    choices = ", ".join(repr(kind) for kind in kinds)
    return Annotated[
        Union[members],  # noqa: UP007 - a runtime tuple of members needs the subscript form
        Discriminator(
            _kind_reader(default),
            custom_error_type=UNKNOWN_KIND,
            custom_error_message=f"kind must be one of {choices}",
        ),
    ]


def _kind_reader(default: str | None) -> Callable[[Any], str | None]:
    def kind_of(value: Any) -> str | None:
        kind = value.get("kind", default) if isinstance(value, Mapping) else getattr(value, "kind", default)
        return kind if isinstance(kind, str) else None

    return kind_of


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in a YAML document to its 1-based line."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, str(index))] = item.start_mark.line + 1
                walk(item, (*path, str(index)))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def _follow(loc: tuple[str, ...], present: Callable[[tuple[str, ...]], bool]) -> tuple[tuple[str, ...], bool]:
    """The longest prefix of `loc` that is `present`, and whether all of `loc` was.

    A part absent where the next one is present is skipped: that is a union's tag (the receiver's
    or generator's kind), which pydantic puts into `loc` but which no file or variable spells.
    """
    path: tuple[str, ...] = ()
    for index, part in enumerate(loc):
        if present((*path, part)):
            path = (*path, part)
        elif not (index + 1 < len(loc) and present((*path, loc[index + 1]))):
            return path, False
    return path, True


def _in_tree(tree: Mapping[str, Any]) -> Callable[[tuple[str, ...]], bool]:
    def present(path: tuple[str, ...]) -> bool:
        node: Any = tree
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return True

    return present


def _where(
    loc: tuple[str, ...], source: str, lines: Mapping[tuple[str, ...], int], env: Mapping[str, Any]
) -> str:
    path, complete = _follow(loc, _in_tree(env))
    if complete and path:
        return ENV_PREFIX + "__".join(p.upper() for p in path)
    path, _ = _follow(loc, lines.__contains__)
    return f"{source}:{lines[path]}" if path else source


def format_validation_errors(exc: ValidationError, source: str, text: str, env: Mapping[str, Any]) -> str:
    """One `place: dotted.field: message` line per error; place is `file:line` of the YAML
    `text` read from `source`, or the environment variable an override came from."""
    lines = _yaml_lines(text) if text else {}
    messages = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        if error["type"] == UNKNOWN_KIND:
            loc = (*loc, "kind")
        field = ".".join(loc) or "(top level)"
        messages.append(f"{_where(loc, source, lines, env)}: {field}: {error['msg']}")
    return "\n".join(messages)
