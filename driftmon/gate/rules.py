"""Gate rules: ``metric: field op number``, one per line under ``gate:`` (rules/gate.yaml).

    gate:
      fidelity: diff.lower > -0.02       # the 95% interval of the paired difference
      latency_p95: ratio < 1.5           # candidate / baseline

Fields: ``diff``, ``diff.lower``, ``diff.upper`` (candidate − baseline and its interval),
``ratio`` (candidate / baseline), ``baseline``, ``candidate``, ``p`` (the paired test's p-value).
Operators: ``<  <=  >  >=``. A metric may carry a list of conditions. A rule whose value is
missing (a source that reports no steps) is "n/a": shown, not failed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from driftmon.errors import ConfigError
from driftmon.gate.sections import RULE_FIELDS, Metric

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(
    r"^\s*(?P<field>" + "|".join(re.escape(f) for f in RULE_FIELDS) + r")\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)

PASS, FAIL, NA = "pass", "fail", "n/a"


class GateRuleError(ConfigError):
    """A gate rules file that cannot be used; the message names file:line."""


@dataclass(frozen=True, slots=True)
class GateRule:
    metric: str
    field: str
    op: str
    threshold: float
    line: int = 0

    @property
    def text(self) -> str:
        return f"{self.metric}: {self.field} {self.op} {self.threshold:g}"


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: GateRule
    status: str
    value: float | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.text,
            "metric": self.rule.metric,
            "status": self.status,
            "value": self.value,
            "message": self.message,
        }


def parse_condition(metric: str, text: str, where: str, line: int = 0) -> GateRule:
    """``diff.lower > -0.02`` for `metric` → GateRule; GateRuleError naming `where`."""
    match = _CONDITION.match(str(text))
    if match is None:
        raise GateRuleError(
            f"{where}: {metric}: cannot read {text!r}; write FIELD OP NUMBER with FIELD one of "
            f"{', '.join(RULE_FIELDS)} and OP one of < <= > >="
        )
    return GateRule(metric, match["field"], match["op"], float(match["value"]), line)


def parse_rules(text: str, source: str, known: Iterable[str] | None = None) -> list[GateRule]:
    """Rules from YAML text (a ``gate:`` mapping of metric → condition or list of conditions)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise GateRuleError(f"{source}: invalid YAML: {exc}") from exc
    if root is None:
        return []
    gate = _gate_node(root, source)
    known_set = set(known) if known is not None else None
    rules = []
    for key, value in gate.value:
        where = f"{source}:{key.start_mark.line + 1}"
        metric = str(key.value)
        if known_set is not None and metric not in known_set:
            raise GateRuleError(f"{where}: unknown metric {metric!r}; known: {', '.join(sorted(known_set))}")
        conditions = [value] if isinstance(value, yaml.ScalarNode) else getattr(value, "value", [])
        if not isinstance(value, yaml.ScalarNode | yaml.SequenceNode) or not conditions:
            raise GateRuleError(f"{where}: {metric}: give a condition or a list of conditions")
        for node in conditions:
            line = node.start_mark.line + 1
            rules.append(parse_condition(metric, str(node.value), f"{source}:{line}", line))
    return rules


def _gate_node(root: yaml.Node, source: str) -> yaml.MappingNode:
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "gate" and isinstance(value, yaml.MappingNode):
                return value
            if (
                key.value == "gate"
                and isinstance(value, yaml.ScalarNode)
                and value.value in ("", "null", "~")
            ):
                return yaml.MappingNode("tag:yaml.org,2002:map", [])
    raise GateRuleError(
        f"{source}:1: a gate rules file is a mapping with a 'gate:' mapping of metric: condition"
    )


def load_rules(path: Path | None, known: Iterable[str] | None = None) -> list[GateRule]:
    """The rules of `path`, or the packaged defaults (rules/gate.yaml)."""
    from driftmon.defaults import GATE_FILE

    source = path or GATE_FILE
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise GateRuleError(f"{source}: cannot read: {exc.strerror}") from exc
    return parse_rules(text, str(source), known)


def evaluate(rules: Sequence[GateRule], metrics: Sequence[Metric]) -> list[RuleResult]:
    """Each rule against the metrics (pure): pass, fail, or n/a when the value is missing."""
    by_name = {m.name: m for m in metrics}
    results = []
    for rule in rules:
        metric = by_name.get(rule.metric)
        value = None if metric is None else metric.field(rule.field)
        if value is None:
            why = metric.note if metric is not None and metric.note else "no data for this metric"
            results.append(RuleResult(rule, NA, None, why))
            continue
        ok = _OPS[rule.op](value, rule.threshold)
        message = f"{rule.field} = {value:.4g} ({'meets' if ok else 'breaks'} {rule.op} {rule.threshold:g})"
        results.append(RuleResult(rule, PASS if ok else FAIL, value, message))
    return results
