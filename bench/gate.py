"""Images scored per second: `driftmon gate` vs `driftmon score`, on the same images, same run.

    .venv/bin/python bench/gate.py [--images 24] [--device cpu]

Renders `--images` synthetic images per side (v1 with a manifest, v2 with A1111 metadata),
builds the daemon's scorer once, then times (1) what `driftmon score` does — decode each file and
score it — and (2) a whole gate run over the two directories (reading, hashing, scoring in
batches, overlays, statistics, reports), with a fresh score cache. Model loading is excluded from
both. Target: gate ≥ 0.9× score.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driftmon.config import load_config
from driftmon.demo.generator import DEMO_PROMPTS, render_scene
from driftmon.expectations import expected_lines
from driftmon.gate.cli import build_backend
from driftmon.gate.run import GateOptions, run_gate
from driftmon.images.decode import load_image_file


def render(root: Path, count: int) -> tuple[Path, Path, list[tuple[Path, str]]]:
    base, cand = root / "baseline", root / "candidate"
    files: list[tuple[Path, str]] = []
    lines = []
    for side, version in ((base, "v1"), (cand, "v2")):
        side.mkdir(parents=True)
        for index in range(count):
            prompt = DEMO_PROMPTS[index % len(DEMO_PROMPTS)]
            path = side / f"{index:03d}.png"
            path.write_bytes(render_scene(prompt, index, (512, 512), version))
            files.append((path, prompt))
            if version == "v1":
                lines.append(json.dumps({"path": path.name, "prompt": prompt, "seed": index}))
    (base / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (cand / "manifest.jsonl").write_text((base / "manifest.jsonl").read_text())
    return base, cand, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24, help="images per side")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config = load_config(None, environ={"DRIFTMON_SCORING__DEVICE": args.device})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, cand, files = render(root, args.images)
        backend = build_backend(config)
        first, prompt = files[0]
        backend.score_batch([load_image_file(first)], [expected_lines(prompt)], [])  # load, warm up

        started = time.perf_counter()
        for path, prompt in files:  # what `driftmon score` does per file
            backend.score_batch([load_image_file(path)], [expected_lines(prompt)], [])
        score_rate = len(files) / (time.perf_counter() - started)

        started = time.perf_counter()
        options = GateOptions(str(base), str(cand), root / "out", cache=root / "cache")
        options.batch_size = config.scoring.batch_size
        report = run_gate(options, backend)
        gate_rate = 2 * len(report.outcomes) / (time.perf_counter() - started)

    print(f"driftmon score: {score_rate:.2f} images/s")
    pairs = len(report.outcomes)
    print(f"driftmon gate:  {gate_rate:.2f} images/s (verdict {report.verdict}, {pairs} pairs)")
    print(f"ratio gate/score: {gate_rate / score_rate:.2f} (target ≥ 0.9)")


if __name__ == "__main__":
    main()
