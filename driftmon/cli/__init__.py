"""driftmon's command line (the `driftmon` console script and ``python -m driftmon``).

commands.py    the Typer app: score, run, demo, config check; the gate, tokens, rules, baseline
               and models apps registered on it; `main`, the entry point
score.py       ``driftmon score``'s work: images with their truth → the scorer → rows on stdout
preflight.py   what `driftmon run` needs beyond a valid configuration (also `config check`)

Each command imports what it runs when it runs, so ``driftmon --help`` loads no models.
"""

from driftmon.cli.commands import app, main

__all__ = ["app", "main"]
