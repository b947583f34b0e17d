"""Read the chart's Grafana dashboard: its queries, their variables, and the metrics they use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "helm" / "driftmon" / "dashboards" / "driftmon.json"
#: Grafana's built-in variables a query may use without declaring them
BUILTINS = frozenset({"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"})
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_METRIC = re.compile(r"\bdriftmon_[a-z0-9_]+\b")
_SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info")


@dataclass(frozen=True)
class Query:
    """One panel target: where it is and its PromQL with Grafana variables still in it."""

    panel: str
    ref: str
    expr: str


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    dashboard = json.loads(path.read_text("utf-8"))
    assert isinstance(dashboard, dict)
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included, rows themselves excluded."""
    found = []
    for item in dashboard["panels"]:
        if item["type"] == "row":
            found.extend(item.get("panels", []))
        else:
            found.append(item)
    return found


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """The PromQL of every panel target."""
    return [
        Query(item["title"], target["refId"], target["expr"])
        for item in panels(dashboard)
        for target in item.get("targets", [])
    ]


def variables_used(expr: str) -> set[str]:
    """Names of the Grafana variables in `expr` (`$x`, `${x}`, `${x:format}`)."""
    return {m.group(1) or m.group(2) for m in _VARIABLE.finditer(expr)}


def substitute(expr: str, values: dict[str, list[str] | str], rate_interval: str) -> str:
    """`expr` as Grafana sends it: `$__rate_interval` and the dashboard variables replaced.

    A multi-value variable inside a regex matcher becomes its values regex-escaped and joined
    with `|` (Grafana's default for Prometheus); the "All" value is its allValue, `.*`.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "__rate_interval":
            return rate_interval
        if name not in values:
            raise KeyError(f"no value for ${name}")
        value = values[name]
        if isinstance(value, str):
            return value
        escaped = [re.sub(r"([\\.^$*+?()\[\]{}|])", r"\\\\\1", v) for v in value]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    return _VARIABLE.sub(replace, expr)


def metric_names(expr: str) -> set[str]:
    """The driftmon_* series names an expression reads."""
    return set(_METRIC.findall(expr))


def family(series_name: str, declared: set[str]) -> str | None:
    """The declared family a series name belongs to (histogram/counter/info suffixes dropped)."""
    if series_name in declared:
        return series_name
    for suffix in _SUFFIXES:
        if series_name.endswith(suffix) and series_name.removesuffix(suffix) in declared:
            return series_name.removesuffix(suffix)
    return None
