"""``driftmon gate``: a paired comparison of two image generators with a verdict CI can act on.

sources.py    what a --baseline/--candidate string means (generator URL, YAML, directory)
plan.py       prompts × seeds → jobs, the same on both sides
generate.py   bounded-concurrency generation with retries, timeouts and a progress bar
scoring.py    the daemon's scorer, batched; scores cached by image hash + scorer version
stats.py      paired statistics (pure): bootstrap interval, Wilcoxon, pairs needed, percentiles
sections.py   report sections: each contributes metrics (and HTML); rules read the metrics
rules.py      the gate rules (``fidelity: diff.lower > -0.02``) and their evaluation (pure)
report.py     report.json, JUnit XML, the terminal summary
html.py       the self-contained report.html
run.py        the whole run: generate, score, compare, judge, write
"""
