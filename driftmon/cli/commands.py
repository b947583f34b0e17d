"""driftmon's command line: score, run, demo, config check, and the rules/baseline/models apps."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from driftmon import __version__
from driftmon.errors import ConfigError, DriftmonError
from driftmon.images.decode import DEFAULT_MAX_PIXELS
from driftmon.logs import colour_wanted, route_library_warnings
from driftmon.rules.cli import baseline_app, rules_app
from driftmon.scoring.engine.cli import app as models_app
from driftmon.scoring.factory import DEFAULT_SECOND_READER

# Plain click help (rich_markup_mode=None, inherited by the sub-apps): flags read as flags, with no
# `<bool>` value column, and help and usage errors carry no escape codes.
app = typer.Typer(
    help="Drift monitoring for image-generation services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(rules_app, name="rules")
app.add_typer(baseline_app, name="baseline")
app.add_typer(models_app, name="models")
app.command("gate")(__import__("driftmon.gate.cli", fromlist=["gate"]).gate)  # driftmon/gate/cli.py
app.command("tokens")(__import__("driftmon.tokens.cli", fromlist=["tokens"]).tokens)  # driftmon/tokens/cli.py


def _console(stream: Any, *, to_stderr: bool = False) -> Console:
    """A console that writes escape codes only where `colour_wanted` allows, styles included."""
    return Console(stderr=to_stderr, color_system="auto" if colour_wanted(stream) else None)


stdout = _console(sys.stdout)
stderr = _console(sys.stderr, to_stderr=True)


def _print_version(requested: bool) -> None:
    if requested:
        print(f"driftmon {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours on stdout or stderr (as NO_COLOR=1 does).")
    ] = False,
) -> None:
    """Drift monitoring for image-generation services."""
    global stdout, stderr
    route_library_warnings()
    if no_color:
        os.environ["NO_COLOR"] = "1"  # honoured by our consoles, the log, rich and child processes
    stdout, stderr = _console(sys.stdout), _console(sys.stderr, to_stderr=True)


def say(message: str) -> None:
    """One unwrapped line on stderr (rich would wrap long paths)."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `driftmon: message` on stderr and return the Exit to raise."""
    say(f"driftmon: {message}")
    return typer.Exit(code)


@app.command()
def score(
    images: Annotated[
        list[Path] | None,
        typer.Argument(help="Image files or directories (recursed; a directory's manifest.jsonl is used)."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(help="JSONL: path (relative to the file), prompt and/or expected_text per image."),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(help="The prompt; its quoted spans are the expected text (default: image metadata)."),
    ] = None,
    expect: Annotated[
        str | None, typer.Option(help="Expected text (overrides --prompt); newlines separate lines.")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="Rows on stdout: table, json (one object a line) or csv.")
    ] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    overlay: Annotated[
        Path | None, typer.Option(help="Write <name>.overlay.png with OCR boxes here.")
    ] = None,
    second_reader: Annotated[
        str, typer.Option(help="RapidOCR as a second reader: on_fail, always or off.")
    ] = DEFAULT_SECOND_READER,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    engine: Annotated[str, typer.Option(help="OCR engine: auto, batched or readtext.")] = "auto",
    model_dir: Annotated[Path | None, typer.Option(help="EasyOCR weights directory.")] = None,
    case_sensitive: Annotated[bool, typer.Option(help="Compare text without case folding.")] = False,
    detector_dir: Annotated[
        Path | None, typer.Option(help="Local OWLv2/OWL-ViT checkpoint: enables object counts.")
    ] = None,
    clip_dir: Annotated[Path | None, typer.Option(help="Local CLIP checkpoint: enables clip_score.")] = None,
    max_pixels: Annotated[
        int, typer.Option(help="Refuse images with more pixels than this.")
    ] = DEFAULT_MAX_PIXELS,
) -> None:
    """Score image files offline: text fidelity and, where configured, composition.

    stdout carries only the rows; stderr the rejected files, a progress bar on a terminal and a
    summary line (images, mean fidelity, share failing).
    """
    from driftmon.logs import configure_logging

    configure_logging("warning", "console")  # stdout carries only the rows
    fmt = _score_format(output_format, as_json)
    if prompt is not None and expect is not None:
        raise fail("give --prompt or --expect, not both", 2)
    if not images and manifest is None:
        raise fail("give image files, directories or --manifest", 2)
    scoring = _scoring_settings(
        device, engine, model_dir, case_sensitive, detector_dir, clip_dir, second_reader, max_pixels
    )
    rejected = _score_images(list(images or []), manifest, prompt, expect, fmt, overlay, scoring)
    if rejected:
        raise typer.Exit(1)


def _score_format(output_format: str, as_json: bool) -> Any:
    from driftmon.cli.score import FORMATS

    if output_format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {output_format!r}", 2)
    if as_json and output_format not in ("table", "json"):
        raise fail(f"--json means --format json; it cannot go with --format {output_format}", 2)
    return "json" if as_json else output_format


def _scoring_settings(
    device: str,
    engine: str,
    model_dir: Path | None,
    case_sensitive: bool,
    detector_dir: Path | None,
    clip_dir: Path | None,
    second_reader: str,
    max_pixels: int,
) -> Any:
    """The `scoring` section `driftmon score`'s options make (a bad choice: exit 2 naming it)."""
    from pydantic import ValidationError

    from driftmon.config import CompositionConfig, ScoringConfig

    try:
        return ScoringConfig(
            device=device,
            engine=engine,
            model_dir=model_dir,
            case_sensitive=case_sensitive,
            second_reader=second_reader,
            max_pixels=max_pixels,
            composition=CompositionConfig(detector_dir=detector_dir, clip_dir=clip_dir),
        )
    except ValidationError as exc:
        problems = "; ".join(f"--{_option(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise fail(problems, 2) from exc


def _option(location: Any) -> str:
    """A pydantic error location as the option that set it (composition's are --…-dir)."""
    return str(location[-1]).replace("_", "-")


def _score_images(
    paths: list[Path],
    manifest: Path | None,
    prompt: str | None,
    expect: str | None,
    fmt: Any,
    overlay: Path | None,
    scoring: Any,
) -> list[str]:
    """Score every image, rows to stdout as they come; returns the rejected paths."""
    from rich.progress import Progress

    from driftmon.cli import score as score_cli

    try:
        items = score_cli.gather(paths, manifest, prompt, expect)
    except ConfigError as exc:  # a bad manifest line, named file:line
        raise fail(str(exc), 2) from exc
    rejected: list[str] = []

    def on_rejected(item: Any, exc: Exception) -> None:
        rejected.append(str(item.path))
        say(f"driftmon: {item.path}: rejected: {exc}")

    writer = score_cli.RowWriter(fmt, sys.stdout, stdout.print)
    summary = score_cli.Summary(scoring.failing_below)
    show = score_cli.progress_wanted(sys.stderr) and len(items) > 1
    with Progress(console=stderr, transient=True, disable=not show) as progress:
        task = progress.add_task("scoring", total=len(items))

        def on_scored(row: Any, image: Any) -> None:
            if overlay is not None:
                score_cli.write_overlay(overlay, row.item.path, image, row.result)
            writer.write(row)
            summary.add(row)
            progress.update(task, completed=summary.count + len(rejected))

        pairs = score_cli.loaded(items, scoring.max_pixels, on_rejected)
        score_cli.score_rows(pairs, lambda: _make_scorer_from(scoring), on_scored)
    writer.close()
    say(summary.line())
    return rejected


def _make_scorer_from(scoring: Any) -> Any:
    """The daemon's scorer for `scoring` (driftmon.scoring.factory), models loaded once."""
    from driftmon.scoring.factory import build_scorer

    try:
        return build_scorer(scoring)
    except DriftmonError as exc:
        raise fail(str(exc)) from exc


def _load_config_or_exit(path: Path | None) -> Any:
    from driftmon.config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        say(str(exc))
        raise typer.Exit(2) from exc


def _preflight_or_exit(settings: Any, code: int) -> None:
    """`driftmon.cli.preflight`'s problems, one line each, then exit `code`; nothing when there are none."""
    from driftmon.cli.preflight import preflight

    problems = preflight(settings)
    for problem in problems:
        say(problem)
    if problems:
        raise typer.Exit(code)


@app.command()
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML configuration file.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (overrides server.port).")] = None,
) -> None:
    """Run the daemon; without --config it runs on embedded defaults."""
    import asyncio

    from driftmon.daemon import Daemon
    from driftmon.logs import configure_logging

    settings = _load_config_or_exit(config)
    configure_logging(settings.logging.level, settings.logging.format)
    _preflight_or_exit(settings, 2)
    try:  # what preflight cannot foresee (a port in use, a model missing) stops the start too
        asyncio.run(Daemon(settings, port=port).serve())
    except DriftmonError as exc:
        raise fail(str(exc), 2) from exc


@app.command()
def demo(
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 240.0,
    swap_at: Annotated[float, typer.Option(help="Seconds until the generator swaps v1 → v2.")] = 70.0,
    swap_back_at: Annotated[float, typer.Option(help="Seconds until it swaps back to v1.")] = 170.0,
    port: Annotated[int, typer.Option(help="The daemon's port.")] = 9844,
    generator_port: Annotated[int, typer.Option(help="The synthetic generator's port.")] = 9845,
    tap_port: Annotated[int, typer.Option(help="The daemon's tap, in front of the generator.")] = 9850,
    data_dir: Annotated[
        Path | None, typer.Option(help="Store and pictures here (default: a temp dir).")
    ] = None,
) -> None:
    """Synthetic generator + daemon + a model swap, live in the terminal."""
    import asyncio
    import tempfile

    from driftmon.demo.run import DemoPlan, run_demo
    from driftmon.logs import configure_logging

    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="driftmon-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "driftmon.log").open("a", encoding="utf-8") as log_file:
        configure_logging("info", "json", stream=log_file)
        plan = DemoPlan(
            port=port,
            generator_port=generator_port,
            tap_port=tap_port,
            duration=duration,
            swap_at=swap_at,
            swap_back_at=swap_back_at,
            data_dir=data_dir,
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(plan))
    stdout.print(f"store, pictures of failing samples and the daemon's log: {data_dir}", highlight=False)


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="YAML configuration file.")]) -> None:
    """Validate a configuration file (and DRIFTMON_* variables) as `driftmon run` does: rule,
    probe, token and key files, writable directories; exit 1 naming each error."""
    from driftmon.config import load_config

    try:
        settings = load_config(path)
    except ConfigError as exc:
        say(str(exc))
        raise typer.Exit(1) from exc
    _preflight_or_exit(settings, 1)
    stdout.print(f"{path}: ok", markup=False, highlight=False)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
