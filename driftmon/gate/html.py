"""report.html: one self-contained page (inline CSS and JS, no network); images beside it.

Verdict first, then the metrics with their intervals and the rules, then every prompt and seed
with the two overlays side by side, sortable by regression and filterable to failing pairs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from driftmon.gate.plan import Outcome
from driftmon.gate.report import GateReport, fmt, interval
from driftmon.gate.rules import FAIL, PASS
from driftmon.signals import TEXT_FIDELITY

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}
header{padding:14px 20px;color:#fff}
header.pass{background:#15803d}header.fail{background:#b91c1c}header.error{background:#b45309}
header h1{margin:0;font-size:26px}header p{margin:4px 0 0}
main{padding:12px 20px}
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#15803d}.fail{color:#b91c1c}.na{color:#6b7280}
header .pass,header .fail{color:#fff}
#controls{margin:8px 0;display:flex;gap:12px;align-items:center}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px;background:#fff;border:1px solid #e5e7eb;
 margin:0 0 12px;padding:8px}
.pair h3{grid-column:1/3;margin:0;font-size:15px}
.pair.failing{border-color:#fca5a5}
figure{margin:0}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#374151}
code{font-size:12px}
"""

_JS = """
(function(){
  var list=document.getElementById('pairs');
  function rows(){return Array.prototype.slice.call(list.querySelectorAll('.pair'));}
  function sortBy(key){
    var items=rows();
    items.sort(function(a,b){
      if(key==='regression'){return parseFloat(a.dataset.regression)-parseFloat(b.dataset.regression);}
      return parseInt(a.dataset.order,10)-parseInt(b.dataset.order,10);
    });
    items.forEach(function(el){list.appendChild(el);});
  }
  document.getElementById('sort').addEventListener('change',function(e){sortBy(e.target.value);});
  document.getElementById('failing-only').addEventListener('change',function(e){
    rows().forEach(function(el){el.hidden=e.target.checked&&el.dataset.failing!=='1';});
  });
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _metrics_table(report: GateReport) -> str:
    head = "<tr><th>metric</th><th>n</th><th>baseline</th><th>candidate</th><th>diff</th>"
    head += "<th>95% interval</th><th>ratio</th><th>p</th><th>note</th></tr>"
    rows = []
    for m in report.metrics:
        diff = "—" if m.diff is None else f"{m.diff:+.3f}"
        cells = [fmt(m.baseline), fmt(m.candidate), diff, interval(m), fmt(m.ratio, 2), fmt(m.p_value)]
        numbers = "".join(f'<td class="num">{_e(c)}</td>' for c in cells)
        rows.append(
            f'<tr id="metric-{_e(m.name)}"><td>{_e(m.title)} <code>{_e(m.name)}</code></td>'
            f'<td class="num">{m.n}</td>{numbers}<td>{_e(m.note or "")}</td></tr>'
        )
    return f'<table id="metrics">{head}{"".join(rows)}</table>'


def _rules_table(report: GateReport) -> str:
    rows = []
    for r in report.results:
        css = {PASS: "pass", FAIL: "fail"}.get(r.status, "na")
        rows.append(
            f'<tr class="rule {css}"><td>{_e(r.status)}</td><td><code>{_e(r.rule.text)}</code></td>'
            f"<td>{_e(r.message)}</td></tr>"
        )
    return f'<table id="rules"><tr><th>status</th><th>rule</th><th>value</th></tr>{"".join(rows)}</table>'


def _figure(side: str, outcome: Outcome | None) -> str:
    if outcome is None or not outcome.ok or outcome.image_path is None:
        why = "no image" if outcome is None else (outcome.error or "not scored")
        return f"<figure><figcaption>{_e(side)}: {_e(why)}</figcaption></figure>"
    picture = outcome.overlay_path or outcome.image_path
    fidelity = outcome.scores.get(TEXT_FIDELITY)
    caption = f"{side} · fidelity {fmt(fidelity, 2)}"
    if outcome.latency_seconds is not None:
        caption += f" · {outcome.latency_seconds * 1000:.0f} ms"
    if outcome.failing:
        caption += " · failing"
    return (
        f'<figure><a href="{_e(outcome.image_path)}"><img src="{_e(picture)}" alt="{_e(side)} image"></a>'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _regression(b: Outcome | None, c: Outcome | None) -> float:
    if b is None or c is None:
        return 0.0
    fb, fc = b.scores.get(TEXT_FIDELITY), c.scores.get(TEXT_FIDELITY)
    return 0.0 if fb is None or fc is None else fc - fb


def _pairs(pairs: Sequence[tuple[Outcome | None, Outcome | None]]) -> str:
    blocks = []
    for order, (b, c) in enumerate(pairs):
        job = (b or c).job if (b or c) is not None else None  # type: ignore[union-attr]
        failing = any(o is None or not o.ok or o.failing for o in (b, c))
        title = f"{job.key} — {job.prompt.text}" if job is not None else "?"
        blocks.append(
            f'<section class="pair{" failing" if failing else ""}" data-order="{order}" '
            f'data-regression="{_regression(b, c):.6f}" data-failing="{1 if failing else 0}">'
            f"<h3>{_e(title)}</h3>{_figure('baseline', b)}{_figure('candidate', c)}</section>"
        )
    return "".join(blocks)


def render_html(report: GateReport, extra_blocks: Sequence[str] = ()) -> str:
    """The whole page as a string (images are referenced relatively, never embedded)."""
    failed = ", ".join(r.rule.text for r in report.failed_rules) or "none"
    errors = "".join(f"<p>{_e(e)}</p>" for e in report.errors)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>driftmon gate: {_e(report.verdict)}</title><style>{_CSS}</style></head>
<body>
<header id="verdict" class="{_e(report.verdict)}"><h1>driftmon gate: {_e(report.verdict.upper())}</h1>
<p>candidate <b>{_e(report.candidate)}</b> vs baseline <b>{_e(report.baseline)}</b> ·
failed rules: {_e(failed)} · {len(report.outcomes)} pairs · {report.seconds:.1f} s</p>{errors}</header>
<main>
<h2>Rules</h2>{_rules_table(report)}
<h2>Metrics</h2>{_metrics_table(report)}
{"".join(extra_blocks)}
<h2>Prompt by prompt</h2>
<div id="controls"><label>sort <select id="sort"><option value="order">prompt order</option>
<option value="regression">most regressed first</option></select></label>
<label><input type="checkbox" id="failing-only"> failing only</label></div>
<div id="pairs">{_pairs(report.outcomes)}</div>
</main><script>{_JS}</script></body></html>
"""
