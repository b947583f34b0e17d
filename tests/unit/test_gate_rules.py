"""Gate rules: the file format, evaluation (n/a is not a failure), the shipped defaults, JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from driftmon.defaults import GATE_FILE
from driftmon.gate.report import GateReport, junit_xml, verdict_of
from driftmon.gate.rules import FAIL, NA, PASS, GateRuleError, evaluate, load_rules, parse_rules
from driftmon.gate.sections import Metric, default_sections
from driftmon.rules.model import load_rules as load_daemon_rules

REPO = Path(__file__).resolve().parents[2]
KNOWN = {name for section in default_sections() for name in section.provides}


def _metric(name: str, **fields: float | None) -> Metric:
    return Metric(name, name, "quality", fields.pop("baseline", 1.0), fields.pop("candidate", 1.0), **fields)  # type: ignore[arg-type]


def test_packaged_gate_rules_are_the_shipped_ones() -> None:
    """driftmon/defaults/gate.yaml is rules/gate.yaml (scripts/sync-defaults.sh)."""
    assert GATE_FILE.read_bytes() == (REPO / "rules" / "gate.yaml").read_bytes()


def test_shipped_rules_parse_one_per_line() -> None:
    rules = load_rules(None, KNOWN)
    assert [r.text for r in rules] == [
        "fidelity: diff.lower > -0.02",
        "failing_share: diff < 0.05",
        "margin_violation: diff < 0.05",
        "latency_p95: ratio < 1.5",
        "steps: ratio <= 1",
        "gpu_hours_per_day: ratio < 1.3",
        "expected_text_newly_cut: candidate <= 0",
    ]
    assert len({r.line for r in rules}) == len(rules)


def test_the_daemon_skips_the_gate_file_in_rules_dir() -> None:
    ruleset = load_daemon_rules([REPO / "rules"])
    assert not any(f.endswith("gate.yaml") for f in ruleset.files)


def test_lists_of_conditions_and_every_field() -> None:
    text = "gate:\n  fidelity: [diff.lower > -0.02, p >= 0.01]\n  latency_p99: candidate <= 2\n"
    rules = parse_rules(text, "g.yaml", KNOWN)
    assert [(r.metric, r.field, r.op, r.threshold, r.line) for r in rules] == [
        ("fidelity", "diff.lower", ">", -0.02, 2),
        ("fidelity", "p", ">=", 0.01, 2),
        ("latency_p99", "candidate", "<=", 2.0, 3),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gate:\n  fidelity: diff ~ 3\n", "g.yaml:2: fidelity: cannot read"),
        ("gate:\n  fidelty: diff < 1\n", "g.yaml:2: unknown metric 'fidelty'"),
        ("rules: []\n", "g.yaml:1: a gate rules file"),
        ("gate:\n  fidelity: {a: 1}\n", "g.yaml:2: fidelity: give a condition"),
        ("gate: [\n", "g.yaml: invalid YAML"),
    ],
)
def test_bad_rules_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(GateRuleError, match="^" + message.replace("(", r"\(")):
        parse_rules(text, "g.yaml", KNOWN)


def test_evaluation_pass_fail_and_na() -> None:
    rules = parse_rules(
        "gate:\n  fidelity: diff.lower > -0.02\n  latency_p95: ratio < 1.5\n  steps: ratio <= 1.0\n",
        "g",
        KNOWN,
    )
    metrics = [
        _metric("fidelity", diff=-0.01, lower=-0.03, upper=0.01),
        _metric("latency_p95", baseline=0.1, candidate=0.12, ratio=1.2),
        Metric("steps", "steps", "cost", None, None, note="a source does not report steps"),
    ]
    results = evaluate(rules, metrics)
    assert [r.status for r in results] == [FAIL, PASS, NA]
    assert results[2].message == "a source does not report steps"
    assert verdict_of(results, []) == "fail"
    assert verdict_of([r for r in results if r.status != FAIL], []) == "pass"
    assert verdict_of(results, ["baseline: 3/10 generations failed"]) == "error"


def test_junit_has_one_testcase_per_rule() -> None:
    rules = parse_rules("gate:\n  fidelity: diff.lower > -0.02\n  steps: ratio <= 1\n", "g", KNOWN)
    metrics = [_metric("fidelity", diff=-0.2, lower=-0.3, upper=-0.1)]
    results = evaluate(rules, metrics)
    report = GateReport(verdict_of(results, []), "b", "c", metrics, results, [])
    suite = ET.fromstring(junit_xml(report))
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["fidelity: diff.lower > -0.02", "steps: ratio <= 1"]
    assert cases[0].find("failure") is not None and cases[1].find("skipped") is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "1")
    assert report.exit_code == 1
