"""``driftmon gate``: the command (registered on driftmon's CLI app), thin over `run_gate`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from driftmon.errors import ConfigError, DriftmonError
from driftmon.gate.report import EXIT_ERROR

DEFAULT_ROOT = Path("driftmon-gate")


def default_out(now: datetime | None = None) -> Path:
    """``./driftmon-gate/<UTC timestamp>/``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return DEFAULT_ROOT / stamp


def build_backend(config: Any) -> Any:
    """The daemon's scorer (same engine, reader mode, device and batch size), built on first use."""
    from functools import partial

    from driftmon.gate.scoring import LazyScorer, scorer_version
    from driftmon.scoring.factory import build_scorer

    return LazyScorer(partial(build_scorer, config.scoring), scorer_version(config.scoring))


def gate(
    baseline: Annotated[
        str, typer.Option(help="Baseline: generator URL, a1111+URL, http+URL, YAML or directory.")
    ],
    candidate: Annotated[str, typer.Option(help="Candidate: the same kinds of source.")],
    prompts: Annotated[
        Path | None,
        typer.Option(help="Prompt file (probe YAML or one prompt a line); default: the probe set."),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per prompt: seed-base … seed-base + N − 1.")] = 4,
    seed_base: Annotated[int, typer.Option(min=0, help="The first seed.")] = 0,
    rules: Annotated[Path | None, typer.Option(help="Gate rules YAML; default: rules/gate.yaml.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report directory; default ./driftmon-gate/<UTC time>/.")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="Also write JUnit XML here (one test case per rule).")
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Score cache (image hash + scorer version); default ./driftmon-gate/cache."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="driftmon configuration (its scoring section).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Generations in flight per side.")] = 4,
    retries: Annotated[int, typer.Option(min=0, help="Retries of a timed-out or 5xx generation.")] = 2,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds per generation (default: the adapter's).")
    ] = None,
    tokenizer_baseline: Annotated[
        Path | None, typer.Option(help="The baseline's tokenizer directory (the token contract).")
    ] = None,
    tokenizer_candidate: Annotated[
        Path | None, typer.Option(help="The candidate's tokenizer directory (the token contract).")
    ] = None,
    qps: Annotated[
        float, typer.Option(min=0.0, help="Images per second the GPU-hours projection assumes.")
    ] = 1.0,
) -> None:
    """Compare a candidate generator with a baseline, paired by prompt and seed.

    Exit 0 pass, 1 fail, 2 usage or infrastructure error (over 10% failed generations on a side).
    """
    from rich.console import Console

    from driftmon.config import load_config
    from driftmon.gate.generate import GenerationSettings
    from driftmon.gate.report import print_summary
    from driftmon.gate.run import GateOptions, run_gate
    from driftmon.logs import configure_logging

    configure_logging("warning", "console")
    try:
        settings = load_config(config)
        options = GateOptions(
            baseline=baseline,
            candidate=candidate,
            out=out or default_out(),
            prompts=prompts,
            seeds=seeds,
            seed_base=seed_base,
            rules=rules,
            cache=cache or DEFAULT_ROOT / "cache",
            junit=junit,
            timeout=timeout,
            generation=GenerationSettings(concurrency=concurrency, retries=retries),
            failing_below=settings.scoring.failing_below,
            max_pixels=settings.scoring.max_pixels,
            batch_size=settings.scoring.batch_size,
            tokenizer_baseline=tokenizer_baseline,
            tokenizer_candidate=tokenizer_candidate,
            qps=qps,
        )
        report = run_gate(options, build_backend(settings))
    except (ConfigError, DriftmonError) as exc:
        print(f"driftmon gate: {exc}", file=sys.stderr, flush=True)
        raise typer.Exit(EXIT_ERROR) from exc
    print_summary(report, Console())
    print(f"report: {options.out / 'report.html'}", flush=True)
    raise typer.Exit(report.exit_code)
