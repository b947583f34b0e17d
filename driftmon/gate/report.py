"""The gate's verdict in three forms: report.json, JUnit XML (one test case per rule), the terminal."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftmon.gate.plan import Outcome
from driftmon.gate.rules import FAIL, NA, PASS, RuleResult
from driftmon.gate.sections import Metric

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
#: more failed generations than this share on a side is an infrastructure error, not a verdict
MAX_FAILED_SHARE = 0.10


@dataclass
class GateReport:
    """Everything the gate found; `verdict` is pass, fail or error."""

    verdict: str
    baseline: str
    candidate: str
    metrics: list[Metric]
    results: list[RuleResult]
    outcomes: list[tuple[Outcome | None, Outcome | None]]
    errors: list[str] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_PASS, "fail": EXIT_FAIL}.get(self.verdict, EXIT_ERROR)

    @property
    def failed_rules(self) -> list[RuleResult]:
        return [r for r in self.results if r.status == FAIL]

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "errors": self.errors,
            "failed_rules": [r.rule.text for r in self.failed_rules],
            "rules": [r.as_json() for r in self.results],
            "metrics": [m.as_json() for m in self.metrics],
            "sections": self.sections,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
            "pairs": [
                {"baseline": b.as_json() if b else None, "candidate": c.as_json() if c else None}
                for b, c in self.outcomes
            ],
        }


def verdict_of(results: Sequence[RuleResult], errors: Sequence[str]) -> str:
    """error when the run could not judge, fail when a rule failed, else pass."""
    if errors:
        return "error"
    return "fail" if any(r.status == FAIL for r in results) else "pass"


def write_json(report: GateReport, path: Path) -> None:
    path.write_text(json.dumps(report.as_json(), indent=1), encoding="utf-8")


def junit_xml(report: GateReport) -> str:
    """JUnit XML: a test suite ``driftmon gate``, one test case per rule (n/a = skipped)."""
    suite = ET.Element(
        "testsuite",
        name="driftmon gate",
        tests=str(len(report.results) + (1 if report.errors else 0)),
        failures=str(len(report.failed_rules)),
        errors=str(1 if report.errors else 0),
        skipped=str(sum(1 for r in report.results if r.status == NA)),
        time=f"{report.seconds:.3f}",
    )
    ET.SubElement(
        ET.SubElement(suite, "properties"), "property", name="candidate", value=report.candidate
    ).tail = None
    if report.errors:
        case = ET.SubElement(suite, "testcase", classname="driftmon.gate", name="generation")
        ET.SubElement(case, "error", message="infrastructure").text = "\n".join(report.errors)
    metrics = {m.name: m for m in report.metrics}
    for result in report.results:
        section = metrics[result.rule.metric].section if result.rule.metric in metrics else "gate"
        case = ET.SubElement(suite, "testcase", classname=f"driftmon.gate.{section}", name=result.rule.text)
        if result.status == FAIL:
            ET.SubElement(case, "failure", message=result.message).text = result.message
        elif result.status == NA:
            ET.SubElement(case, "skipped", message=result.message)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def interval(metric: Metric) -> str:
    if metric.lower is None or metric.upper is None:
        return ""
    return f"[{metric.lower:+.3f}, {metric.upper:+.3f}]"


def print_summary(report: GateReport, console: Any) -> None:
    """The verdict, the metrics with intervals, and each rule's status, with rich."""
    from rich.table import Table

    colour = {"pass": "green", "fail": "red"}.get(report.verdict, "yellow")
    console.print(
        f"[bold {colour}]driftmon gate: {report.verdict.upper()}[/]  {report.candidate} vs {report.baseline}"
    )
    for error in report.errors:
        console.print(f"[yellow]error:[/] {error}", markup=True, highlight=False)
    table = Table(title="metrics (candidate − baseline)")
    for column in ("metric", "n", "baseline", "candidate", "diff", "95% interval", "ratio", "p"):
        table.add_column(column)
    for m in report.metrics:
        diff = "—" if m.diff is None else f"{m.diff:+.3f}"
        table.add_row(
            m.name,
            str(m.n),
            fmt(m.baseline),
            fmt(m.candidate),
            diff,
            interval(m),
            fmt(m.ratio, 2),
            fmt(m.p_value),
        )
    console.print(table)
    for result in report.results:
        style = {PASS: "green", FAIL: "red"}.get(result.status, "dim")
        console.print(
            f"[{style}]{result.status:>4}[/]  {result.rule.text}  — {result.message}", highlight=False
        )
    for m in report.metrics:
        if m.note and m.name == "fidelity":
            console.print(f"note: {m.note}", highlight=False)
    for section in report.sections:
        for line in section.get("notes") or ():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
