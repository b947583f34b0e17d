"""driftmon's command line: score, run, demo, config check, and the rules/baseline/models apps."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from driftmon import __version__
from driftmon.errors import ConfigError, DriftmonError, ImageRejected
from driftmon.expectations import expected_lines
from driftmon.images import DEFAULT_MAX_PIXELS, load_image_file
from driftmon.logs import colour_wanted, route_library_warnings
from driftmon.rules.cli import baseline_app, rules_app
from driftmon.scoring.engine.cli import app as models_app

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
app.command("tokens")(__import__("driftmon.tokens_cli", fromlist=["tokens"]).tokens)  # driftmon/tokens_cli.py


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


def _json_record(path: Path, result: Any) -> dict[str, Any]:
    from driftmon.scoring.scorer import detections_json
    from driftmon.signals import TEXT_SCORES

    text = result.text
    record: dict[str, Any] = {
        "path": str(path),
        "expected_text": text.expected_text,
        "ocr_text": text.ocr_text,
        **{name: getattr(text, name) for name in TEXT_SCORES},  # exact_match stays a bool
    }
    for name, value in result.scores.items():
        record.setdefault(name, value)
    record["evidence"] = dict(result.evidence)
    record["detections"] = detections_json(result.detections)
    return record


def _table(rows: list[tuple[Path, Any]]) -> Table:
    from driftmon.signals import TABLE_COLUMNS, format_cell

    table = Table(title="driftmon score")
    for column in ("image", "expected", "read", *(s.column.header for s in TABLE_COLUMNS if s.column)):
        table.add_column(column, overflow="fold")
    for path, result in rows:
        text = result.text
        table.add_row(
            path.name,
            text.expected_text or "(none)",
            text.ocr_text or "(nothing)",
            *(format_cell(s, result.scores.get(s.name)) for s in TABLE_COLUMNS),
        )
    return table


def _iter_images(paths: Sequence[Path], max_pixels: int, rejected: list[str]) -> Iterator[tuple[Path, Any]]:
    for path in paths:
        try:
            yield path, load_image_file(path, max_pixels)
        except ImageRejected as exc:
            rejected.append(str(path))
            say(f"driftmon: {path}: rejected: {exc}")


def _write_overlay(directory: Path, path: Path, image: Any, result: Any) -> None:
    from driftmon.scoring.overlay import render_overlay

    directory.mkdir(parents=True, exist_ok=True)
    render_overlay(image, result.detections, result.text).save(directory / f"{path.stem}.overlay.png")


@app.command()
def score(
    images: Annotated[list[Path], typer.Argument(help="Image files to score.")],
    prompt: Annotated[
        str | None, typer.Option(help="The prompt; its quoted spans are the expected text.")
    ] = None,
    expect: Annotated[
        str | None, typer.Option(help="Expected text (overrides --prompt); newlines separate lines.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image on stdout.")] = False,
    overlay: Annotated[
        Path | None, typer.Option(help="Write <name>.overlay.png with OCR boxes here.")
    ] = None,
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
    """Score image files offline: text fidelity and, where configured, composition."""
    from driftmon.logs import configure_logging

    configure_logging("warning", "console")  # stdout carries only the table or the JSON lines
    if prompt is not None and expect is not None:
        raise fail("give --prompt or --expect, not both", 2)
    lines = expected_lines(prompt, expect)
    rejected: list[str] = []
    rows: list[tuple[Path, Any]] = []
    scorer = None
    with Progress(console=stderr, transient=True, disable=len(images) < 2) as progress:
        task = progress.add_task("scoring", total=len(images))
        for path, image in _iter_images(images, max_pixels, rejected):
            scorer = scorer or _make_scorer(device, engine, model_dir, case_sensitive, detector_dir, clip_dir)
            result = scorer.score(image, lines)
            if overlay is not None:
                _write_overlay(overlay, path, image, result)
            if as_json:
                print(json.dumps(_json_record(path, result)), flush=True)
            rows.append((path, result))
            progress.advance(task)
    if rows and not as_json:
        stdout.print(_table(rows))
    if rejected:
        raise typer.Exit(1)


def _make_scorer(
    device: str,
    engine: str,
    model_dir: Path | None,
    case_sensitive: bool,
    detector_dir: Path | None = None,
    clip_dir: Path | None = None,
) -> Any:
    from driftmon.config import CompositionConfig
    from driftmon.scoring.composition import CompositionScorer
    from driftmon.scoring.ocr import make_ocr_engine
    from driftmon.scoring.scorer import Scorer

    try:
        ocr = make_ocr_engine(engine, model_dir=model_dir, device=device)
        composition = CompositionScorer(
            CompositionConfig(detector_dir=detector_dir, clip_dir=clip_dir), device=ocr.device
        )
    except DriftmonError as exc:
        raise fail(str(exc)) from exc
    return Scorer(ocr, case_sensitive=case_sensitive, composition=composition)


def _load_config_or_exit(path: Path | None) -> Any:
    from driftmon.config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        say(str(exc))
        raise typer.Exit(2) from exc


def _preflight_or_exit(settings: Any, code: int) -> None:
    """`driftmon.preflight`'s problems, one line each, then exit `code`; nothing when there are none."""
    from driftmon.preflight import preflight

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
