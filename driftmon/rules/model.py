"""Rule files → checked, compiled rule groups; every problem as ``file:line:col: message``.

The format is Prometheus's (``groups: - name, interval, rules: - alert, expr, for,
keep_firing_for, labels, annotations``) plus driftmon's keys: ``window`` (a group's default
window for bare signals, default ``rules.default_window``), ``min_samples`` and ``by`` (on a group
as defaults, or on a rule). Recording rules (``record:``) are not supported. Unknown keys are
errors. Problems are collected, not raised one at a time, so `rules check` reports them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from driftmon.config import Config
from driftmon.durations import parse_duration
from driftmon.errors import ExprSyntaxError, RuleError, TemplateError
from driftmon.rules.compile import KNOWN_SIGNALS, Compiled, Options, compile_expr, max_window
from driftmon.rules.templates import Template, parse_template

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
GROUP_KEYS = frozenset({"name", "interval", "rules", "window", "min_samples", "by", "limit"})
RULE_KEYS = frozenset(
    {"alert", "expr", "for", "keep_firing_for", "labels", "annotations", "min_samples", "by"}
)
#: top-level keys of YAML files in a rules directory that are not rule files (skipped there)
OTHER_DOCUMENTS = frozenset({"probes", "tests", "rule_files", "gate"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One error in a rule file, at a 1-based line and column."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@dataclass(frozen=True, slots=True)
class Defaults:
    """What rules inherit from the configuration (`rules:` section)."""

    evaluation_interval: float = 30.0
    default_window: float = 600.0
    min_samples: int = 1
    known_signals: frozenset[str] = KNOWN_SIGNALS


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled alerting rule."""

    name: str
    expr_text: str
    expr: Compiled
    for_: float
    keep_firing_for: float
    labels: Mapping[str, str]
    annotations: Mapping[str, Template]
    min_samples: int
    by: tuple[str, ...]
    window: float
    path: str
    line: int
    group: str
    #: how many earlier rules of the group have the same name (rules are keyed by group/name/ordinal)
    ordinal: int = 0


@dataclass(frozen=True, slots=True)
class Group:
    """A named list of rules evaluated together every `interval` seconds."""

    name: str
    interval: float
    rules: tuple[Rule, ...]
    path: str
    window: float


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every group from a set of files."""

    groups: tuple[Group, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def rules(self) -> list[Rule]:
        """Every rule of every group, in file order."""
        return [rule for group in self.groups for rule in group.rules]

    def max_window(self) -> float:
        """The longest window any rule reads."""
        return max((max_window(rule.expr) for rule in self.rules), default=0.0)


def defaults_from(config: Config) -> Defaults:
    """Rule defaults from the `rules:` section of the configuration."""
    rules = config.rules
    return Defaults(
        evaluation_interval=rules.evaluation_interval,
        default_window=rules.default_window,
        min_samples=rules.min_samples,
        known_signals=KNOWN_SIGNALS | frozenset(rules.extra_signals),
    )


def rule_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files named by `paths`: directories give their ``*.yaml``/``*.yml`` (not ``*.test.yaml``)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                for p in sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
                if not p.name.endswith((".test.yaml", ".test.yml"))
            )
        else:
            found.append(path)
    return found


def check_rules(
    paths: Iterable[Path | str], defaults: Defaults = Defaults()
) -> tuple[RuleSet, list[Problem]]:
    """Load every rule file; returns what compiled and every problem found."""
    paths = list(paths)
    groups: list[Group] = []
    problems: list[Problem] = []
    files: list[str] = []
    seen: dict[str, str] = {}
    for path in rule_files(paths):
        explicit = path in [Path(p) for p in paths]
        loaded = _load_file(path, defaults, problems, skip_other=not explicit)
        if loaded is None:
            continue
        files.append(str(path))
        for group, line, col in loaded:
            if group.name in seen:
                message = f"group {group.name!r} is already defined in {seen[group.name]}"
                problems.append(Problem(str(path), line, col, message))
                continue
            seen[group.name] = str(path)
            groups.append(group)
    return RuleSet(tuple(groups), tuple(files)), problems


def load_rules(paths: Iterable[Path | str], defaults: Defaults = Defaults()) -> RuleSet:
    """Load and compile rule files; RuleError lists every problem, one per line."""
    paths = list(paths)
    ruleset, problems = check_rules(paths, defaults)
    if problems:
        raise RuleError("\n".join(str(p) for p in problems))
    return ruleset


# ------------------------------------------------------------------------------ file → groups


@dataclass
class _File:
    path: str
    text: str
    loader: yaml.SafeLoader
    problems: list[Problem] = field(default_factory=list)

    def at(self, node: yaml.Node, message: str, offset: int = 0) -> None:
        self.problems.append(
            Problem(self.path, node.start_mark.line + 1, node.start_mark.column + 1 + offset, message)
        )

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)


def _load_file(
    path: Path, defaults: Defaults, problems: list[Problem], skip_other: bool
) -> list[tuple[Group, int, int]] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read: {exc.strerror}"))
        return None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problems.append(
            Problem(str(path), line, col, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
        )
        return None
    finally:
        loader.dispose()
    file = _File(str(path), text, loader)
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        file.at(root, "a rule file must be a mapping with a 'groups' list")
        problems.extend(file.problems)
        return None
    keys = {k.value: (k, v) for k, v in root.value}
    if skip_other and "groups" not in keys and OTHER_DOCUMENTS & set(keys):
        return None
    groups = _groups(file, root, keys, defaults)
    problems.extend(file.problems)
    return groups


def _groups(
    file: _File, root: yaml.MappingNode, keys: Mapping[str, Any], defaults: Defaults
) -> list[tuple[Group, int, int]]:
    for name, (key, _) in keys.items():
        if name != "groups":
            file.at(key, f"unknown top-level key {name!r}; a rule file has only 'groups'")
    if "groups" not in keys:
        file.at(root, "missing 'groups'")
        return []
    node = keys["groups"][1]
    if not isinstance(node, yaml.SequenceNode):
        file.at(node, "'groups' must be a list")
        return []
    out = []
    for item in node.value:
        group = _group(file, item, defaults)
        if group is not None:
            out.append((group, item.start_mark.line + 1, item.start_mark.column + 1))
    return out


def _mapping(
    file: _File, node: yaml.Node, what: str, allowed: frozenset[str]
) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
    if not isinstance(node, yaml.MappingNode):
        file.at(node, f"{what} must be a mapping")
        return None
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        name = str(key.value)
        if name not in allowed:
            hint = " (recording rules are not supported)" if name == "record" else ""
            file.at(key, f"unknown key {name!r} in {what}{hint}; allowed: {', '.join(sorted(allowed))}")
        elif name in fields:
            file.at(key, f"duplicate key {name!r} in {what}")
        else:
            fields[name] = (key, value)
    return fields


def _duration(
    file: _File, fields: Mapping[str, tuple[yaml.Node, yaml.Node]], name: str, default: float
) -> float:
    if name not in fields:
        return default
    node = fields[name][1]
    try:
        return parse_duration(file.value(node))
    except (ValueError, TypeError):
        file.at(node, f"{name}: not a duration: {node.value!r} (use e.g. 30s, 5m, 1h)")
        return default


def _int(file: _File, fields: Mapping[str, tuple[yaml.Node, yaml.Node]], name: str, default: int) -> int:
    if name not in fields:
        return default
    node = fields[name][1]
    value = file.value(node)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        file.at(node, f"{name} must be a whole number ≥ 0, got {node.value!r}")
        return default
    return value


def _labels_list(
    file: _File, fields: Mapping[str, tuple[yaml.Node, yaml.Node]], default: tuple[str, ...]
) -> tuple[str, ...]:
    if "by" not in fields:
        return default
    node = fields["by"][1]
    if not isinstance(node, yaml.SequenceNode) or not all(isinstance(i, yaml.ScalarNode) for i in node.value):
        file.at(node, "by must be a list of label names, e.g. [model_version]")
        return default
    for item in node.value:
        if not LABEL_NAME.match(str(item.value)):
            file.at(item, f"by: {item.value!r} is not a label name")
    return tuple(str(i.value) for i in node.value)


def _string(
    file: _File, fields: Mapping[str, tuple[yaml.Node, yaml.Node]], name: str, what: str
) -> str | None:
    if name not in fields:
        return None
    node = fields[name][1]
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        file.at(node, f"{what}: {name} must be a non-empty string")
        return None
    return str(node.value)


def _group(file: _File, node: yaml.Node, defaults: Defaults) -> Group | None:
    fields = _mapping(file, node, "a group", GROUP_KEYS)
    if fields is None:
        return None
    name = _string(file, fields, "name", "group")
    if name is None:
        if "name" not in fields:
            file.at(node, "group: missing 'name'")
        return None
    interval = _duration(file, fields, "interval", defaults.evaluation_interval)
    if interval <= 0:
        file.at(fields["interval"][1], "interval must be longer than zero")
        interval = defaults.evaluation_interval
    window = _duration(file, fields, "window", defaults.default_window)
    min_samples = _int(file, fields, "min_samples", defaults.min_samples)
    by = _labels_list(file, fields, ())
    if "rules" not in fields or not isinstance(fields["rules"][1], yaml.SequenceNode):
        file.at(fields["rules"][1] if "rules" in fields else node, f"group {name!r}: 'rules' must be a list")
        return None
    rules: list[Rule] = []
    for item in fields["rules"][1].value:
        rule = _rule(file, item, name, window, min_samples, by, defaults)
        if rule is not None:
            rules.append(replace(rule, ordinal=sum(r.name == rule.name for r in rules)))
    return Group(name, interval, tuple(rules), file.path, window)


def _rule(
    file: _File,
    node: yaml.Node,
    group: str,
    window: float,
    min_samples: int,
    by: tuple[str, ...],
    defaults: Defaults,
) -> Rule | None:
    fields = _mapping(file, node, "a rule", RULE_KEYS)
    if fields is None:
        return None
    name = _string(file, fields, "alert", "rule")
    if name is not None and not LABEL_NAME.match(name):
        file.at(fields["alert"][1], f"alert name {name!r} must match [a-zA-Z_][a-zA-Z0-9_]*")
    for required in ("alert", "expr"):
        if required not in fields:
            file.at(node, f"rule: missing '{required}'")
    rule_by = _labels_list(file, fields, by)
    rule_min = _int(file, fields, "min_samples", min_samples)
    options = Options(window, rule_by, rule_min, defaults.known_signals)
    expr_text = _string(file, fields, "expr", f"rule {name}")
    expr = _compile(file, fields["expr"][1], expr_text, options) if expr_text is not None else None
    for_ = _duration(file, fields, "for", 0.0)
    keep = _duration(file, fields, "keep_firing_for", 0.0)
    labels = _string_map(file, fields, "labels", check_names=True)
    annotations = {k: t for k, t in _templates(file, fields).items()}
    if name is None or expr is None or expr_text is None or not LABEL_NAME.match(name):
        return None
    return Rule(
        name,
        expr_text,
        expr,
        for_,
        keep,
        labels,
        annotations,
        rule_min,
        rule_by,
        window,
        file.path,
        node.start_mark.line + 1,
        group,
    )


def _compile(file: _File, node: yaml.Node, text: str, options: Options) -> Compiled | None:
    try:
        return compile_expr(text, options)
    except ExprSyntaxError as exc:
        line, col = scalar_position(node, file.text, exc.pos)
        file.problems.append(Problem(file.path, line, col, exc.message))
        return None


def _string_map(
    file: _File, fields: Mapping[str, tuple[yaml.Node, yaml.Node]], name: str, check_names: bool = False
) -> dict[str, str]:
    if name not in fields:
        return {}
    node = fields[name][1]
    if not isinstance(node, yaml.MappingNode):
        file.at(node, f"{name} must be a mapping of names to strings")
        return {}
    out = {}
    for key, value in node.value:
        if not isinstance(value, yaml.ScalarNode):
            file.at(value, f"{name}.{key.value} must be a string")
            continue
        if check_names and (not LABEL_NAME.match(str(key.value)) or key.value == "alertname"):
            file.at(key, f"{name}: {key.value!r} is not a label name a rule may set")
            continue
        out[str(key.value)] = str(value.value)
    return out


def _templates(file: _File, fields: Mapping[str, tuple[yaml.Node, yaml.Node]]) -> dict[str, Template]:
    raw = _string_map(file, fields, "annotations")
    if not raw:
        return {}
    nodes = {str(k.value): v for k, v in fields["annotations"][1].value}
    out = {}
    for key, text in raw.items():
        try:
            out[key] = parse_template(text)
        except TemplateError as exc:
            line, col = scalar_position(nodes[key], file.text, exc.pos)
            file.problems.append(Problem(file.path, line, col, f"annotation {key}: {exc.message}"))
    return out


def scalar_position(node: yaml.Node, text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column in the file of character `offset` of a scalar's value.

    Exact for plain, quoted (without escapes), literal (``|``) and folded (``>``) scalars whose
    lines are joined by one character.
    """
    lines = text.splitlines()
    start = node.start_mark
    style = getattr(node, "style", None)
    segments: list[tuple[int, int, str]] = []
    if style in ("|", ">"):
        for number in range(start.line + 1, min(node.end_mark.line + 1, len(lines))):
            line = lines[number]
            if not line.strip():
                segments.append((number, 0, ""))
                continue
            indent = len(line) - len(line.lstrip(" "))
            segments.append((number, indent, line[indent:]))
    else:
        quoted = 1 if style in ("'", '"') else 0
        first = lines[start.line] if start.line < len(lines) else ""
        segments.append((start.line, start.column + quoted, first[start.column + quoted :]))
        for number in range(start.line + 1, min(node.end_mark.line + 1, len(lines))):
            line = lines[number]
            indent = len(line) - len(line.lstrip(" "))
            segments.append((number, indent, line[indent:]))
    remaining = offset
    for number, col, content in segments:
        if remaining <= len(content):
            return number + 1, col + remaining + 1
        remaining -= len(content) + 1
    return start.line + 1, start.column + 1


def describe(problems: Sequence[Problem]) -> str:
    """Problems one per line, in file order."""
    return "\n".join(str(p) for p in sorted(problems, key=lambda p: (p.path, p.line, p.col)))
