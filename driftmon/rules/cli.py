"""`driftmon rules check|test|export` and `driftmon baseline pin|list|unpin` (typer sub-apps).

Register in driftmon/cli/commands.py with::

    app.add_typer(rules_app, name="rules")
    app.add_typer(baseline_app, name="baseline")
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from driftmon.config import Config, load_config
from driftmon.durations import format_duration, parse_duration
from driftmon.errors import ConfigError, DriftmonError, RuleError
from driftmon.rules.model import check_rules, defaults_from, describe

rules_app = typer.Typer(help="Check, test and export alerting rules.", no_args_is_help=True)
baseline_app = typer.Typer(
    help="Pin the baseline that rules compare model versions with.", no_args_is_help=True
)

ConfigOption = Annotated[Path | None, typer.Option("--config", help="driftmon configuration file.")]


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@rules_app.command("check")
def check(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or directories.")],
    config: ConfigOption = None,
) -> None:
    """Validate rule files: every problem as file:line:col: message; exit 1 if any."""
    ruleset, problems = check_rules(paths, defaults_from(_config(config)))
    if problems:
        typer.echo(describe(problems), err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(ruleset.rules)} rules in {len(ruleset.groups)} groups, {len(ruleset.files)} files")


@rules_app.command("test")
def test(
    files: Annotated[list[Path], typer.Argument(help="Rule test files (see docs/rules.md).")],
    config: ConfigOption = None,
) -> None:
    """Run rule unit tests: input series over time → expected firing alerts at given times."""
    from driftmon.rules.ruletest import run_file

    defaults = defaults_from(_config(config))
    failed = 0
    for path in files:
        try:
            results = run_file(path, defaults)
        except (RuleError, KeyError, ValueError, TypeError) as exc:
            typer.echo(f"{path}: {exc}", err=True)
            failed += 1
            continue
        for result in results:
            status = "FAIL" if result.failures else "ok"
            typer.echo(f"{status}  {path}: {result.name}")
            for failure in result.failures:
                typer.echo(f"      {failure}", err=True)
            failed += bool(result.failures)
    if failed:
        raise typer.Exit(1)


@rules_app.command("export")
def export(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or directories.")],
    format: Annotated[
        str, typer.Option("--format", help="prometheus (rule file) or prometheusrule (CRD).")
    ] = ("prometheus"),
    name: Annotated[str, typer.Option(help="metadata.name of the PrometheusRule.")] = "driftmon",
    config: ConfigOption = None,
    public_url: Annotated[
        str | None, typer.Option(help="driftmon's URL for the alerts' links (a Service or Ingress).")
    ] = None,
    dashboard_url: Annotated[str | None, typer.Option(help="The Grafana dashboard's URL.")] = None,
) -> None:
    """Print the rules as Prometheus recording and alerting rules over driftmon's metrics.

    What PromQL cannot express is named on stderr (exit 0: the rest is still exported). Links in
    annotations keep ${DRIFTMON_URL} and ${DASHBOARD_URL} unless --public-url and
    --dashboard-url resolve them (the chart resolves them from its values).
    """
    from driftmon.rules.export import export_rules, to_yaml

    if format not in ("prometheus", "prometheusrule"):
        typer.echo("--format must be prometheus or prometheusrule", err=True)
        raise typer.Exit(2)
    ruleset, problems = check_rules(paths, defaults_from(_config(config)))
    if problems:
        typer.echo(describe(problems), err=True)
        raise typer.Exit(1)
    result = export_rules(ruleset, {"DRIFTMON_URL": public_url, "DASHBOARD_URL": dashboard_url})
    for skipped in result.skipped:
        typer.echo(f"not exported: {skipped}", err=True)
    sys.stdout.write(to_yaml(result, format, name))


@baseline_app.command("pin")
def pin(
    model_version: Annotated[
        str, typer.Option("--model-version", help="The model version to compare others with.")
    ],
    window: Annotated[str, typer.Option(help="How far back to take its stored samples.")] = "24h",
    config: ConfigOption = None,
) -> None:
    """Pin MODEL_VERSION's recent stored samples as the baseline of every rule."""
    from driftmon.rules.baselines import pin_from_store
    from driftmon.store import Store

    settings = _config(config)
    try:
        seconds = parse_duration(window)
        store = Store(settings.store.path)
        count = pin_from_store(store, model_version, seconds, time.time())
    except (ValueError, DriftmonError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"pinned {model_version}: {count} samples of the last {format_duration(seconds)}")


@baseline_app.command("unpin")
def unpin(config: ConfigOption = None) -> None:
    """Remove the pinned baseline (rules go back to the previous model version)."""
    from driftmon.rules.baselines import PinStore
    from driftmon.store import Store

    conn = Store(_config(config).store.path).connect()
    try:
        removed = PinStore(conn).unpin()
    finally:
        conn.close()
    typer.echo("unpinned" if removed else "no baseline was pinned")


@baseline_app.command("list")
def list_baselines(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the pinned baseline and the model versions in the store (automatic candidates)."""
    from driftmon.rules.baselines import PinStore, version_summary
    from driftmon.scoring.factory import configured_version
    from driftmon.store import Store

    settings = _config(config)
    conn = Store(settings.store.path).connect()
    try:
        pinned = PinStore(conn).load()
        scorer = configured_version(settings.scoring)
        versions = version_summary(conn, settings.rules.baseline_min_samples, scorer)
    finally:
        conn.close()
    data = {"pinned": pinned.summary() if pinned else None, "versions": versions}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if pinned:
        typer.echo(f"pinned: {pinned.model_version} ({pinned.readings} samples)")
    else:
        typer.echo("pinned: none (each version is compared with the previous one)")
    for item in versions:
        typer.echo(
            f"  {item['model_version']}: {item['samples']} samples, baseline: {item['baseline'] or '-'}"
        )
