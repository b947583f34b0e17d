"""The gate's contracts: the token section (tiny tokenizers), what generators report about cost,
and the GPU-hours projection — v1 (85 ms) vs v2 (320 ms) of the synthetic generator in process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from driftmon.demo.generator import make_generator_app
from driftmon.errors import ConfigError
from driftmon.gate.contracts import ProjectionSection, TokenSection, project
from driftmon.gate.costs import CostFields, read_reported
from driftmon.gate.plan import Job, Outcome, Prompt
from driftmon.gate.report import print_summary
from driftmon.gate.rules import FAIL, NA, PASS, evaluate, load_rules
from driftmon.gate.run import GateOptions, run_gate
from driftmon.gate.sections import GateData, default_sections
from driftmon.gate.sources import parse_source
from tests.unit.gate_support import DrawnTextReader
from tests.unit.tokens_support import build_tokenizer

PROMPTS = [
    'a shop door with a small sign that says "OPEN"',
    'a red "STOP" sign',
    'a bakery window with a painted sign "FRESH BREAD"',
]


def outcome(side: str, prompt: str, latency: float, gpu: float | None = None, key: str = "") -> Outcome:
    job = Job(key or prompt[:12], Prompt(key or prompt[:12], prompt), 0)
    return Outcome(side, job, image_bytes=b"png", latency_seconds=latency, gpu_seconds=gpu, steps=20)


def data_of(pairs: list[tuple[Outcome, Outcome]]) -> GateData:
    return GateData(pairs, [b for b, _ in pairs], [c for _, c in pairs])


def by_name(metrics: list) -> dict:
    return {m.name: m for m in metrics}


# ------------------------------------------------------------------------------------ tokens


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tok")
    return build_tokenizer(root / "long", 16), build_tokenizer(root / "short", 8)


def test_token_section_fails_a_prompt_cut_only_by_the_candidate(tokenizer_dirs: tuple[Path, Path]) -> None:
    long, short = tokenizer_dirs
    pairs = [(outcome("baseline", p, 0.1, key=f"p{i}"), outcome("candidate", p, 0.1, key=f"p{i}")) for i, p in
             enumerate(PROMPTS)]  # fmt: skip
    section = TokenSection(long, short)
    metrics = by_name(section.metrics(data_of(pairs)))
    newly = metrics["expected_text_newly_cut"]
    assert (newly.baseline, newly.candidate, newly.n) == (0.0, 2.0, 3)  # OPEN and FRESH BREAD
    assert (metrics["prompts_truncated"].baseline, metrics["prompts_truncated"].candidate) == (0.0, 2.0)
    results = {r.rule.metric: r for r in evaluate(load_rules(None), list(metrics.values()))}
    assert results["expected_text_newly_cut"].status == FAIL
    notes = section.notes(data_of(pairs), list(metrics.values()))
    assert any('CUT p0: "OPEN" past the candidate\'s limit (14 tokens, limit 8)' in n for n in notes)
    page = section.html(data_of(pairs), list(metrics.values()))
    assert 'id="tokens"' in page and "-OPEN" in page
    # swapped, the candidate cuts nothing the baseline keeps
    swapped = by_name(TokenSection(short, long).metrics(data_of(pairs)))["expected_text_newly_cut"]
    assert swapped.candidate == 0.0 and swapped.baseline == 2.0


def test_token_rule_is_na_without_tokenizers_and_one_tokenizer_is_a_usage_error(
    tokenizer_dirs: tuple[Path, Path],
) -> None:
    pairs = [(outcome("baseline", PROMPTS[0], 0.1), outcome("candidate", PROMPTS[0], 0.1))]
    metrics = TokenSection().metrics(data_of(pairs))
    results = {r.rule.metric: r for r in evaluate(load_rules(None), metrics)}
    assert results["expected_text_newly_cut"].status == NA
    assert "--tokenizer-baseline" in results["expected_text_newly_cut"].message
    with pytest.raises(ConfigError, match="needs both"):
        TokenSection(tokenizer_dirs[0], None)


# -------------------------------------------------------------------------------------- cost


def test_reported_cost_fields_from_body_header_and_a1111_info() -> None:
    fields = CostFields()
    found = read_reported(fields, {"X-GPU-Seconds": "0.320"}, {"steps": 30, "sampler": "DPM++ 2M"})
    assert (found.steps, found.sampler, found.gpu_seconds) == (30, "DPM++ 2M", 0.32)
    a1111 = read_reported(fields, {}, {"info": json.dumps({"steps": 25, "sampler_name": "Euler a"})})
    assert (a1111.steps, a1111.sampler, a1111.gpu_seconds) == (25, "Euler a", None)
    custom = CostFields(gpu_seconds_path="usage.gpu_seconds", gpu_seconds_header=None)
    assert read_reported(custom, {"X-GPU-Seconds": "9"}, {"usage": {"gpu_seconds": 1.5}}).gpu_seconds == 1.5
    assert read_reported(custom, {"X-GPU-Seconds": "9"}, {}).gpu_seconds is None


def test_generator_yaml_configures_where_cost_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "gen.yaml"
    path.write_text("generator: {kind: openai_images, url: 'http://x'}\ncost: {gpu_seconds_path: usage.gpu}")
    source = parse_source(str(path))
    assert source.cost.gpu_seconds_path == "usage.gpu"  # type: ignore[union-attr]
    path.write_text("kind: openai_images\nurl: http://x\ncost: {gpu_secs: a}\n")
    with pytest.raises(ConfigError, match="unknown key 'gpu_secs'"):
        parse_source(str(path))


def test_projection_uses_reported_seconds_else_latency_as_an_upper_bound() -> None:
    reported = [(outcome("baseline", "a", 0.2, 0.085), outcome("candidate", "a", 0.5, 0.32))]
    p = project([b for b, _ in reported], [c for _, c in reported], qps=2.0)
    assert p.basis == "reported" and p.baseline_hours == pytest.approx(0.085 * 2 * 24)
    assert p.candidate_hours == pytest.approx(0.32 * 2 * 24)
    # one side reports nothing: both sides fall back to latency, the same basis
    mixed = [(outcome("baseline", "a", 0.2, 0.085), outcome("candidate", "a", 0.5))]
    q = project([b for b, _ in mixed], [c for _, c in mixed], qps=1.0)
    assert q.basis == "latency" and q.baseline_seconds == 0.2 and q.candidate_seconds == 0.5
    notes = ProjectionSection(1.0).notes(data_of(mixed), [])
    assert "measured latency, an upper-bound proxy" in notes[1]


class ByHost(httpx.AsyncBaseTransport):
    """Routes each request to the in-process app its host names."""

    def __init__(self, apps: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.apps = apps

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.apps[request.url.host].handle_async_request(request)


def test_v1_vs_v2_cost_contract(tmp_path: Path) -> None:
    """v2 fails latency_p95 and projects ~3.8× the GPU-hours of v1 (320 / 85 ms, as reported)."""
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS[:2]) + "\n")
    transport = ByHost({
        f"{v}.gate.test": httpx.ASGITransport(app=make_generator_app(version=v, latency_scale=3.0))
        for v in ("v1", "v2")
    })  # fmt: skip
    out = tmp_path / "report"
    options = GateOptions(
        baseline="http://v1.gate.test", candidate="http://v2.gate.test", out=out, prompts=prompts, seeds=2,
        cache=tmp_path / "cache",
    )  # fmt: skip
    report = run_gate(options, DrawnTextReader(out), transport=transport)
    status = {r.rule.metric: r.status for r in report.results}
    assert status["latency_p95"] == FAIL and status["gpu_hours_per_day"] == FAIL
    assert status["steps"] == PASS and status["expected_text_newly_cut"] == NA
    metrics = by_name(report.metrics)
    gpu = metrics["gpu_hours_per_day"]
    assert 3.3 < gpu.ratio < 4.3 and gpu.note == "reported GPU-seconds"
    assert gpu.baseline == pytest.approx(0.085 * 3 * 24, rel=0.16)
    console = Console(file=io.StringIO(), width=140, color_system=None)
    print_summary(report, console)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    print(printed)
    assert "Cost contract at 1 images/s" in printed and "reported" in printed
    assert "steps 20 · sampler Euler a · image 512×512" in printed
    saved = json.loads((out / "report.json").read_text())
    projection = next(s for s in saved["sections"] if s["name"] == "projection")
    assert any("difference +" in line for line in projection["notes"])
    first = saved["pairs"][0]["candidate"]
    assert first["gpu_seconds"] > 0.8 and first["sampler"] == "Euler a" and first["image_size"] == [512, 512]
    assert 'id="projection"' in (out / "report.html").read_text()


def test_default_sections_know_every_metric_of_the_default_rules() -> None:
    known = {name for s in default_sections() for name in s.provides}
    assert {r.metric for r in load_rules(None)} <= known
