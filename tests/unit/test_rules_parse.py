"""Rule files and expressions: what parses, and a precise file:line:col message for what does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftmon.errors import ExprSyntaxError, RuleError
from driftmon.rules.compile import Agg, BaselineAgg, BinOp, Drift, Options, compile_expr
from driftmon.rules.expr import Binary, Call, Selector, parse
from driftmon.rules.model import check_rules, load_rules
from tests.support import write_rules

REPO = Path(__file__).resolve().parents[2]


def rule_file(expr: str, extra: str = "") -> str:
    """A one-rule file whose expr sits on line 5, value starting at column 15."""
    return f"""
groups:
  - name: g
    rules:
      - alert: A
        expr: {expr}
{extra}"""


def problems_of(tmp_path: Path, body: str) -> list[str]:
    """The formatted problems `rules check` would print for `body`."""
    path = write_rules(tmp_path, body)
    _, problems = check_rules([path])
    return [str(p).replace(str(path), "r.yaml") for p in problems]


def test_bare_signal_is_the_mean_over_the_group_window() -> None:
    """`fidelity < 0.85` compiles to avg(text_fidelity) over the default window, compared to 0.85."""
    node = compile_expr("fidelity < 0.85", Options(default_window=600.0, by=("model_version",)))
    assert isinstance(node, BinOp) and node.op == "<"
    assert node.left == Agg("avg", "text_fidelity", (), 600.0, ("model_version",), None, 1, 0)


def test_precedence_and_positions() -> None:
    """`and` binds tighter than `or`, arithmetic tighter than comparison; nodes keep offsets."""
    node = parse("a < 1 or b > 2 and c + 1 * 2 < 3")
    assert isinstance(node, Binary) and node.op == "or" and node.pos == 6
    right = node.right
    assert isinstance(right, Binary) and right.op == "and"
    sum_node = right.right.left  # type: ignore[union-attr]
    assert isinstance(sum_node, Binary) and sum_node.op == "+"
    assert isinstance(sum_node.right, Binary) and sum_node.right.op == "*"


def test_selector_with_matchers_window_and_by() -> None:
    """Matchers, a window and a by clause are all kept."""
    node = parse('p95(latency_seconds{source="probe", probe!="x"}[15m]) by (model_version)')
    assert isinstance(node, Call) and node.by == ("model_version",)
    selector = node.args[0]
    assert isinstance(selector, Selector) and selector.window == 900.0
    assert [(m.label, m.op, m.value) for m in selector.matchers] == [
        ("source", "=", "probe"),
        ("probe", "!=", "x"),
    ]


def test_baseline_and_drift_compile() -> None:
    """ratio/delta wrap an aggregation; drift takes a method keyword."""
    options = Options(by=("model_version",))
    ratio = compile_expr("ratio(p95(latency_seconds[15m]), baseline) > 2", options)
    assert isinstance(ratio, BinOp) and isinstance(ratio.left, BaselineAgg) and ratio.left.kind == "ratio"
    drift = compile_expr('drift(fidelity[1h], baseline, method="psi") > 0.2', options)
    assert isinstance(drift, BinOp) and isinstance(drift.left, Drift) and drift.left.method == "psi"


@pytest.mark.parametrize(
    ("expr", "col", "message"),
    [
        ("fidelity <", 11, "unexpected end of expression"),
        ("fidelity < 0.85 )", 17, "unexpected ')' after a complete expression"),
        ("fidelty < 0.85", 1, "unknown signal 'fidelty'"),
        ("avgg(fidelity[5m]) < 1", 1, "unknown function avgg()"),
        ("avg(fidelity[5q]) < 1", 14, "bad window [5q]"),
        ("avg(fidelity[5m) < 1", 13, "unclosed '['"),
        ("avg(fidelity[5m], 2) < 1", 1, "avg() takes 1 argument(s)"),
        ("share_below(fidelity[5m], x) < 1", 27, "share_below()'s threshold must be a number"),
        ("fidelity", 1, "an alert expression must be a condition"),
        ("1 < 2", 1, "compares only numbers"),
        ("fidelity + (word_f1 < 1) > 0", 10, "'+' needs numbers"),
        ("fidelity and word_f1 < 1", 1, "both sides of 'and' must be conditions"),
        ("ratio(fidelity, 2) > 1", 17, "second argument must be the word baseline"),
        ("ratio(avg(fidelity[5m]), baseline) > 1", 1, "group by model_version"),
        ("fidelity < baseline", 12, "baseline is only allowed inside"),
        ("fidelity{source=probe} < 1", 17, "expected a quoted label value"),
        ("fidelity # 1", 10, "unexpected character '#'"),
        ("avg(fidelity[5m]) by (1) < 1", 23, "expected a label name in by"),
    ],
)
def test_expression_errors_name_the_column(tmp_path: Path, expr: str, col: int, message: str) -> None:
    """Each expression error is reported at line 5 and the column of the offending character."""
    problems = problems_of(tmp_path, rule_file(f"'{expr}'"))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"r.yaml:5:{15 + col}: "), problems[0]
    assert message in problems[0]


def test_drift_method_error_points_at_the_argument(tmp_path: Path) -> None:
    """An unknown drift method is reported at the method's string."""
    expr = 'drift(fidelity[1h], baseline, method="chi") > 1'
    problems = problems_of(tmp_path, rule_file(expr, "        by: [model_version]\n"))
    assert problems == [
        f"r.yaml:5:{14 + expr.index('chi')}: method must be one of 'ks', 'psi', 'wasserstein'"
    ]


def test_error_inside_a_block_scalar_names_its_own_line(tmp_path: Path) -> None:
    """In a multi-line `expr: >-`, the error's line and column are those in the file."""
    body = """
groups:
  - name: g
    rules:
      - alert: A
        expr: >-
          avg(fidelity[10m]) < 0.85
          or avg(word_f1[10m]) <> 0.5
"""
    problems = problems_of(tmp_path, body)
    assert problems == ["r.yaml:7:33: unexpected '>'"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: [1\n",
            "r.yaml:6:1: invalid YAML",
        ),
        ("group: []\n", "r.yaml:1:1: unknown top-level key 'group'"),
        ("groups:\n  - rules: []\n", "r.yaml:2:5: group: missing 'name'"),
        ("groups:\n  - name: g\n    rules:\n      - alert: A\n", "r.yaml:4:9: rule: missing 'expr'"),
        (
            "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: fidelity < 1\n",
            "r.yaml:4:9: unknown key 'record' in a rule (recording rules are not supported)",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity < 1\n"
            "        for: 5 min\n",
            "r.yaml:6:14: for: not a duration: '5 min'",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity < 1\n"
            "        min_samples: -3\n",
            "r.yaml:6:22: min_samples must be a whole number ≥ 0",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity < 1\n"
            "        labels: {alertname: x}\n",
            "r.yaml:6:18: labels: 'alertname' is not a label name a rule may set",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A b\n        expr: fidelity < 1\n",
            "r.yaml:4:16: alert name 'A b' must match",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity < 1\n"
            "        annotations:\n          summary: 'x {{ $valeu }}'\n",
            "r.yaml:7:26: annotation summary: unknown variable $valeu",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity < 1\n"
            "        by: model_version\n",
            "r.yaml:6:13: by must be a list of label names",
        ),
    ],
)
def test_file_errors_name_line_and_column(tmp_path: Path, body: str, expected: str) -> None:
    """Structural problems name the key or value at fault."""
    problems = problems_of(tmp_path, body)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    """Two broken rules give two problems; the good rule still compiles."""
    body = """
groups:
  - name: g
    rules:
      - alert: A
        expr: fidelity <
      - alert: B
        expr: fidelity < 0.85
      - alert: C
        expr: nope > 1
"""
    path = write_rules(tmp_path, body)
    ruleset, problems = check_rules([path])
    assert [(p.line, p.col) for p in problems] == [(5, 25), (9, 15)]
    assert [r.name for r in ruleset.rules] == ["B"]


def test_duplicate_group_across_files(tmp_path: Path) -> None:
    """A group name defined twice is an error naming the first file."""
    first = write_rules(tmp_path, rule_file("fidelity < 1"), "a.yaml")
    write_rules(tmp_path, rule_file("fidelity < 1"), "b.yaml")
    _, problems = check_rules([tmp_path])
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'b.yaml'}:2:5: group 'g' is already defined in {first}"
    ]


def test_directory_skips_tests_and_probe_sets(tmp_path: Path) -> None:
    """In a directory, *.test.yaml and documents of other kinds (probes:) are not rule files."""
    write_rules(tmp_path, rule_file("fidelity < 1"), "a.yaml")
    write_rules(tmp_path, "rule_files: [a.yaml]\ntests: []\n", "a.test.yaml")
    write_rules(tmp_path, "probes: []\n", "probes.yaml")
    ruleset = load_rules([tmp_path])
    assert ruleset.files == (str(tmp_path / "a.yaml"),)


def test_load_rules_raises_with_every_problem(tmp_path: Path) -> None:
    """load_rules (daemon start) raises RuleError listing the problems one per line."""
    path = write_rules(tmp_path, rule_file("fidelity <"))
    with pytest.raises(RuleError, match=r"r\.yaml:5:25: unexpected end of expression"):
        load_rules([path])


def test_extra_signals_are_accepted_when_declared() -> None:
    """A signal outside the known set compiles once declared (rules.extra_signals)."""
    with pytest.raises(ExprSyntaxError):
        compile_expr("margin_score < 0.5")
    options = Options(known_signals=frozenset({"margin_score"}))
    assert compile_expr("margin_score < 0.5", options).labels == ()


def test_shipped_rules_check_clean() -> None:
    """The default rules in rules/ have no problem and include every documented alert."""
    ruleset = load_rules([REPO / "rules"])
    names = {rule.name for rule in ruleset.rules}
    assert {
        "TextFidelityLow", "ModelSwapRegression", "LatencyHigh", "HallucinatedText",
        "GPUMemoryNearFull", "ProbeFailing", "ScoringBacklog", "ScorerDown",
    } <= names  # fmt: skip
    for rule in ruleset.rules:
        assert rule.labels["severity"] in ("critical", "warning", "info")
        assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(rule.annotations)
        if "model_version" in rule.expr.labels:  # score alerts carry the picture and the comparison
            assert {"overlay_url", "compare_url"} <= set(rule.annotations)
        anchor = rule.annotations["runbook_url"].source.rsplit("#", 1)[1]
        assert anchor == rule.name.lower()


def test_known_signals_include_every_score() -> None:
    """Every text and composition score name the scorer emits is a known signal."""
    from driftmon.rules.compile import KNOWN_SIGNALS
    from driftmon.samples import TEXT_SCORES
    from driftmon.scoring.composition import COMPOSITION_SCORES

    assert set(TEXT_SCORES) | set(COMPOSITION_SCORES) <= KNOWN_SIGNALS
