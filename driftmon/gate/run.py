"""One gate run: plan → generate (both sides) → score → compare → judge → write the reports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftmon.gate.generate import GenerationSettings, generate_side, progress_bar, read_directory
from driftmon.gate.html import render_html
from driftmon.gate.plan import Job, Outcome, by_key, item_jobs, load_prompts, plan_jobs
from driftmon.gate.report import MAX_FAILED_SHARE, GateReport, junit_xml, verdict_of, write_json
from driftmon.gate.rules import GateRule, evaluate, load_rules
from driftmon.gate.scoring import ScoreBackend, ScoreStore, score_outcomes, write_manifest
from driftmon.gate.sections import GateData, Section, default_sections, failure_share
from driftmon.gate.sources import DirectorySource, GeneratorSource, Source, parse_source


@dataclass
class GateOptions:
    """What ``driftmon gate`` was asked to do."""

    baseline: str
    candidate: str
    out: Path
    prompts: Path | None = None
    seeds: int = 4
    seed_base: int = 0
    rules: Path | None = None
    cache: Path | None = None
    junit: Path | None = None
    timeout: float | None = None
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    failing_below: float = 0.85
    max_pixels: int = 40_000_000
    batch_size: int = 16
    bootstrap_seed: int = 0
    #: the token contract's tokenizer directories (n/a without both) and the projection's rate
    tokenizer_baseline: Path | None = None
    tokenizer_candidate: Path | None = None
    qps: float = 1.0


def known_metrics(sections: Sequence[Section]) -> set[str]:
    return {name for section in sections for name in section.provides}


def prepare(options: GateOptions, sections: Sequence[Section]) -> tuple[list[GateRule], Source, Source]:
    """Rules and sources, checked before anything is generated (ConfigError: usage error)."""
    rules = load_rules(options.rules, known_metrics(sections))
    baseline = parse_source(options.baseline, timeout=options.timeout)
    candidate = parse_source(options.candidate, timeout=options.timeout)
    return rules, baseline, candidate


def _jobs(
    options: GateOptions, baseline: Source, candidate: Source
) -> tuple[list[Job], dict[str, dict[str, Any]]]:
    """The job list and, for directory sides, which image answers each job key."""
    found: dict[str, dict[str, Any]] = {}
    directories = [
        (side, s)
        for side, s in (("baseline", baseline), ("candidate", candidate))
        if isinstance(s, DirectorySource)
    ]
    for side, source in directories:
        found[side] = {job.key: (job, item) for job, item in item_jobs(source.items)}
    if directories:
        first = found[directories[0][0]]
        return [job for job, _ in first.values()], found
    seeds = list(range(options.seed_base, options.seed_base + options.seeds))
    return plan_jobs(load_prompts(options.prompts), seeds), found


async def _generate(
    options: GateOptions,
    sources: dict[str, Source],
    jobs: list[Job],
    found: dict[str, dict[str, Any]],
    transport: Any,
) -> dict[str, list[Outcome]]:
    generated = [side for side, s in sources.items() if isinstance(s, GeneratorSource)]
    outcomes: dict[str, list[Outcome]] = {}
    for side, source in sources.items():
        if isinstance(source, DirectorySource):
            mapping = found[side]
            outcomes[side] = read_directory(
                source, [(job, mapping.get(job.key, (None, None))[1]) for job in jobs], side
            )
    with progress_bar(len(jobs) * len(generated), "generating") as progress:
        task = progress.add_task("generating", total=len(jobs) * len(generated))
        results = await asyncio.gather(
            *(
                generate_side(
                    sources[side],  # type: ignore[arg-type]
                    jobs,
                    side,
                    options.generation,
                    lambda: progress.advance(task),
                    seed_fallback=options.seed_base,
                    transport=transport,
                )
                for side in generated
            )
        )
    outcomes.update(dict(zip(generated, results, strict=True)))
    return outcomes


def _infrastructure_errors(outcomes: dict[str, list[Outcome]]) -> list[str]:
    errors = []
    for side, items in outcomes.items():
        share = failure_share(items)
        if share is not None and share > MAX_FAILED_SHARE:
            failed = [o for o in items if not o.ok]
            example = failed[0].error if failed else ""
            errors.append(
                f"{side}: {len(failed)}/{len(items)} generations failed (more than "
                f"{MAX_FAILED_SHARE:.0%}); e.g. {example}"
            )
    return errors


def run_gate(
    options: GateOptions,
    backend: ScoreBackend,
    *,
    sections: Sequence[Section] | None = None,
    transport: Any = None,
) -> GateReport:
    """Run the gate end to end and write every output under `options.out`."""
    started = time.perf_counter()
    if sections is None:
        sections = default_sections((options.tokenizer_baseline, options.tokenizer_candidate), options.qps)
    sections = list(sections)
    rules, baseline, candidate = prepare(options, sections)
    sources: dict[str, Source] = {"baseline": baseline, "candidate": candidate}
    jobs, found = _jobs(options, baseline, candidate)
    outcomes = asyncio.run(_generate(options, sources, jobs, found, transport))
    options.out.mkdir(parents=True, exist_ok=True)
    store = ScoreStore(options.out, options.cache, backend.version)
    everything = outcomes["baseline"] + outcomes["candidate"]
    with progress_bar(len(everything), "scoring") as progress:
        task = progress.add_task("scoring", total=len(everything))
        score_outcomes(
            everything,
            backend,
            store,
            failing_below=options.failing_below,
            max_pixels=options.max_pixels,
            batch_size=options.batch_size,
            advance=lambda n: progress.advance(task, n),
        )
    errors = _infrastructure_errors(outcomes)
    base, cand = by_key(outcomes["baseline"]), by_key(outcomes["candidate"])
    pairs = [(base[job.key], cand[job.key]) for job in jobs]
    data = GateData(pairs, outcomes["baseline"], outcomes["candidate"], options.bootstrap_seed)
    metrics = [metric for section in sections for metric in section.metrics(data)]
    results = evaluate(rules, metrics)
    report = GateReport(
        verdict=verdict_of(results, errors),
        baseline=baseline.label,
        candidate=candidate.label,
        metrics=metrics,
        results=results,
        outcomes=list(pairs),
        errors=errors,
        sections=[
            {"name": s.name, "title": s.title, "metrics": list(s.provides), "notes": s.notes(data, metrics)}
            for s in sections
        ],
        settings=_settings(options, backend.version),
    )
    report.seconds = time.perf_counter() - started
    _write(report, options, everything, [s.html(data, metrics) for s in sections])
    return report


def _settings(options: GateOptions, version: str) -> dict[str, Any]:
    return {
        "seeds": options.seeds,
        "seed_base": options.seed_base,
        "prompts": str(options.prompts) if options.prompts else "probe set",
        "rules": str(options.rules) if options.rules else "defaults (rules/gate.yaml)",
        "scorer_version": version,
        "failing_below": options.failing_below,
        "concurrency": options.generation.concurrency,
        "retries": options.generation.retries,
        "qps": options.qps,
        "tokenizer_baseline": _text(options.tokenizer_baseline),
        "tokenizer_candidate": _text(options.tokenizer_candidate),
    }


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _write(report: GateReport, options: GateOptions, outcomes: list[Outcome], blocks: list[str]) -> None:
    write_manifest(options.out, outcomes)
    write_json(report, options.out / "report.json")
    (options.out / "report.html").write_text(render_html(report, blocks), encoding="utf-8")
    if options.junit is not None:
        options.junit.parent.mkdir(parents=True, exist_ok=True)
        options.junit.write_text(junit_xml(report), encoding="utf-8")
