"""driftmon gate end to end: synthetic generators on loopback, directory sources, re-runs.

One test scores with real OCR through the CLI (v1 vs v2); the others use `DrawnTextReader`
(the real scoring path with an OCR stand-in that reads what the generator drew).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from driftmon.demo.generator import render_scene
from driftmon.gate.generate import GenerationSettings
from driftmon.gate.run import GateOptions, run_gate
from tests.integration.servers import Proc, free_port, http_ok, running, start, wait_until
from tests.unit.gate_support import DrawnTextReader

PROMPTS = [
    'a shop door with a small sign that says "OPEN"',
    'a green highway sign "EXIT 27" above a motorway at noon',
    'a bakery window with a painted sign "FRESH BREAD"',
]


def start_demo(tmp: Path, version: str, *extra: str) -> Proc:
    port = free_port()
    cmd = [sys.executable, "-m", "driftmon.demo.generator", "--port", str(port), "--version", version, *extra]
    proc = start(cmd, tmp / f"generator-{version}-{port}.log", f"http://127.0.0.1:{port}")
    wait_until(http_ok(f"{proc.url}/healthz"), 60, what=f"generator {version}")
    return proc


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n")
    return path


@pytest.mark.slow
def test_v1_vs_v2_fails_on_fidelity_and_latency_with_real_ocr(tmp_path: Path, prompts_file: Path) -> None:
    """The CLI with the daemon's real scorer: exit 1, fidelity and latency_p95 named."""
    # latency × 3 (v1 ≈ 0.26 s, v2 ≈ 0.96 s): the simulated latency, not rendering on a busy CPU
    v1 = start_demo(tmp_path, "v1", "--latency-scale", "3")
    v2 = start_demo(tmp_path, "v2", "--latency-scale", "3")
    out, junit = tmp_path / "report", tmp_path / "junit.xml"
    with running(v1, v2):
        result = subprocess.run(
            [sys.executable, "-m", "driftmon", "gate", "--baseline", v1.url, "--candidate", v2.url,
             "--prompts", str(prompts_file), "--seeds", "2", "--out", str(out), "--junit", str(junit),
             "--cache", str(tmp_path / "cache"), "--concurrency", "2"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert {"fidelity: diff.lower > -0.02", "latency_p95: ratio < 1.5"} <= set(report["failed_rules"])
    assert "FAIL" in result.stdout and "fidelity" in result.stdout and "latency_p95" in result.stdout
    fidelity = next(m for m in report["metrics"] if m["name"] == "fidelity")
    assert fidelity["n"] == 6 and fidelity["diff_upper"] < -0.1
    assert (out / "report.html").is_file() and "<testcase" in junit.read_text()


@pytest.fixture(scope="module")
def noisy_v1_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("noisy")
    first = start_demo(tmp, "v1", "--noise", "--noise-seed", "1")
    second = start_demo(tmp, "v1", "--noise", "--noise-seed", "2")
    with running(first, second):
        yield first.url, second.url


@pytest.mark.parametrize("seed_base", [0, 5, 10, 15, 20])
def test_v1_vs_v1_with_noise_passes(tmp_path: Path, noisy_v1_pair: tuple[str, str], seed_base: int) -> None:
    """The same model on both sides, images varying per call, passes the default rules."""
    baseline, candidate = noisy_v1_pair
    out = tmp_path / "report"
    options = GateOptions(baseline, candidate, out, seeds=5, seed_base=seed_base)
    report = run_gate(options, DrawnTextReader(out))
    assert report.verdict == "pass", [r.message for r in report.failed_rules]
    base_images = {b.image_sha256 for b, _ in report.outcomes}
    cand_images = {c.image_sha256 for _, c in report.outcomes}
    assert not base_images & cand_images  # the noise is real: no two calls drew the same image


def _save(png: bytes, path: Path, parameters: str | None = None) -> None:
    image = Image.open(io.BytesIO(png))
    info = PngInfo()
    for key, value in image.info.items():
        if isinstance(value, str):
            info.add_text(key, value)
    if parameters is not None:
        info.add_text("parameters", parameters)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, pnginfo=info)


def _directories(tmp: Path) -> tuple[Path, Path]:
    """v1 images with a manifest (steps 20) and v2 images with A1111 metadata only (steps 30)."""
    manifest_dir, metadata_dir = tmp / "v1-with-manifest", tmp / "v2-with-metadata"
    lines = []
    for index, prompt in enumerate(PROMPTS):
        for seed in (3, 4):
            name = f"{index}-{seed}.png"
            _save(render_scene(prompt, seed, (512, 512), "v1"), manifest_dir / "imgs" / name)
            entry = {
                "path": f"imgs/{name}",
                "prompt": prompt,
                "seed": seed,
                "steps": 20,
                "latency_seconds": 0.1,
            }
            lines.append(json.dumps(entry))
            parameters = (
                f"{prompt}\nNegative prompt: blurry\nSteps: 30, Sampler: Euler a, Seed: {seed}, Model: v2"
            )
            _save(render_scene(prompt, seed, (512, 512), "v2"), metadata_dir / name, parameters)
    (manifest_dir / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return manifest_dir, metadata_dir


def test_directory_sources_manifest_vs_a1111_metadata(tmp_path: Path) -> None:
    manifest_dir, metadata_dir = _directories(tmp_path)
    out = tmp_path / "report"
    options = GateOptions(str(manifest_dir), str(metadata_dir), out, junit=tmp_path / "junit.xml")
    report = run_gate(options, DrawnTextReader(out))
    assert report.exit_code == 1
    failed = {r.rule.metric for r in report.failed_rules}
    assert {"fidelity", "steps"} <= failed  # 30 steps vs 20: ratio 1.5
    assert len(report.outcomes) == 6 and all(b.ok and c.ok for b, c in report.outcomes)
    latency = next(r for r in report.results if r.rule.metric == "latency_p95")
    assert latency.status == "n/a"  # the metadata side reports no latency: shown, not failed


def test_rerun_reuses_scores_and_keeps_content_addressed_artifacts(tmp_path: Path) -> None:
    manifest_dir, metadata_dir = _directories(tmp_path)
    cache = tmp_path / "cache"
    first_out, second_out = tmp_path / "first", tmp_path / "second"
    first = DrawnTextReader(first_out)
    run_gate(GateOptions(str(manifest_dir), str(metadata_dir), first_out, cache=cache), first)
    second = DrawnTextReader(second_out)
    report = run_gate(GateOptions(str(manifest_dir), str(metadata_dir), second_out, cache=cache), second)
    assert first.images_scored == 12 and second.images_scored == 0
    assert all(b.cached and c.cached for b, c in report.outcomes)
    entries = [json.loads(line) for line in (second_out / "manifest.jsonl").read_text().splitlines()]
    assert len(entries) == 12
    for entry in entries:
        image = second_out / entry["image"]
        assert image.name.startswith(entry["image_sha256"]) and image.is_file()
        assert (second_out / entry["overlay"]).is_file() and entry["scores"]["text_fidelity"] is not None
    assert json.loads((second_out / "report.json").read_text()) == json.loads(
        (second_out / "report.json").read_text()
    )


def test_unreachable_candidate_is_an_infrastructure_error(tmp_path: Path, prompts_file: Path) -> None:
    v1 = start_demo(tmp_path, "v1", "--latency-scale", "0")
    out = tmp_path / "report"
    with running(v1):
        options = GateOptions(
            v1.url,
            f"http://127.0.0.1:{free_port()}",
            out,
            prompts=prompts_file,
            seeds=1,
            generation=GenerationSettings(retries=1, retry_backoff=0.01),
            junit=tmp_path / "junit.xml",
        )
        report = run_gate(options, DrawnTextReader(out))
    assert report.exit_code == 2 and report.verdict == "error"
    assert "candidate: 3/3 generations failed" in report.errors[0]
    assert "connection" in report.errors[0]
    assert '<error message="infrastructure">' in (tmp_path / "junit.xml").read_text()
