"""`driftmon score`: images from files, directories (recursed) and manifests, truth from the manifest,
the options or the images' own metadata, rows as table/json/csv on stdout only, a summary line on
stderr, the scorer built once per call. The OCR is a fake (the real path: tests/integration)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

from driftmon.cli import commands as cli
from driftmon.cli import score as score_cli
from driftmon.config import ScoringConfig
from driftmon.scoring.factory import DEFAULT_SECOND_READER
from driftmon.scoring.scorer import Scorer
from driftmon.scoring.types import Detection

#: image width → the text the fake reader sees in it
READS = {40: "OPEN 24 HOURS", 41: "EXIT", 42: "SALE", 43: "CAFE", 44: ""}


class FakeOcr:
    """Reads READS[width] as one detection."""

    name = "fake"
    device = "cpu"
    charset = None

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        box = ((1.0, 1.0), (30.0, 1.0), (30.0, 10.0), (1.0, 10.0))
        return [[Detection(box, READS[im.shape[1]], 0.9)] if READS[im.shape[1]] else [] for im in images]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[ScoringConfig]:
    """Every scorer `driftmon score` builds, with the settings it was built from."""
    built: list[ScoringConfig] = []

    def make(scoring: ScoringConfig) -> Scorer:
        built.append(scoring)
        return Scorer(FakeOcr())

    monkeypatch.setattr(cli, "_make_scorer_from", make)
    return built


def write_png(path: Path, width: int, text_chunks: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    for key, value in (text_chunks or {}).items():
        info.add_text(key, value)
    Image.fromarray(np.full((24, width, 3), 200, np.uint8)).save(path, pnginfo=info)
    return path


def comfy_graph(prompt: str) -> str:
    return json.dumps({
        "3": {
            "class_type": "KSampler",
            "inputs": {"seed": 5, "steps": 20, "positive": ["6", 0], "negative": ["7", 0]},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry"}},
    })


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, ["score", *args])


def rows_of(stdout: str) -> dict[str, dict[str, Any]]:
    return {Path(r["path"]).name: r for r in map(json.loads, stdout.splitlines())}


def test_a_manifest_gives_each_image_its_truth(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    """Paths relative to the manifest, prompt or expected_text per line; stdout only JSON rows,
    the summary on stderr."""
    write_png(tmp_path / "imgs" / "a.png", 40)
    write_png(tmp_path / "imgs" / "b.png", 41)
    manifest = tmp_path / "set.jsonl"
    manifest.write_text(
        '{"path": "imgs/a.png", "prompt": "a sign that says \\"OPEN 24 HOURS\\""}\n'
        '{"path": "imgs/b.png", "expected_text": "EXIT 27"}\n'
    )
    result = run("--manifest", str(manifest), "--format", "json")
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert rows["a.png"]["expected_text"] == "OPEN 24 HOURS" and rows["a.png"]["text_fidelity"] == 1.0
    assert rows["b.png"]["expected_text"] == "EXIT 27" and rows["b.png"]["text_fidelity"] < 0.85
    assert {r["truth"] for r in rows.values()} == {"manifest"}
    assert result.stderr.strip().splitlines()[-1] == (
        "scored 2 images: mean fidelity 0.786 over 2 with expected text, failing 1/2 (50%) below 0.85"
    )


def test_directories_recurse_and_prompts_come_from_metadata(
    tmp_path: Path, builds: list[ScoringConfig]
) -> None:
    """A1111's parameters (text before Negative prompt:), ComfyUI's sampler → text encoder, and
    an image without metadata (nothing expected)."""
    a1111 = 'a storefront, neon sign "SALE"\nNegative prompt: "WRONG"\nSteps: 20, Seed: 3, Model: sd15'
    write_png(tmp_path / "set" / "a1111.png", 42, {"parameters": a1111})
    write_png(tmp_path / "set" / "deep" / "comfy.png", 43, {"prompt": comfy_graph('a cafe sign "CAFE"')})
    write_png(tmp_path / "set" / "deep" / "plain.png", 44)
    result = run(str(tmp_path / "set"), "--json")
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert (rows["a1111.png"]["expected_text"], rows["a1111.png"]["truth"]) == ("SALE", "a1111")
    assert (rows["comfy.png"]["expected_text"], rows["comfy.png"]["truth"]) == ("CAFE", "comfyui")
    assert rows["plain.png"]["expected_text"] == "" and rows["plain.png"]["text_fidelity"] is None
    assert "mean fidelity 1.000 over 2 with expected text, failing 0/2 (0%)" in result.stderr


def test_prompt_option_overrides_metadata_not_a_manifest(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    """--expect gives the truth of files and directories (over their metadata); manifest lines keep theirs."""
    write_png(tmp_path / "meta.png", 41, {"parameters": 'sign "SALE"\nSteps: 20'})
    write_png(tmp_path / "m" / "listed.png", 40)
    manifest = tmp_path / "m" / "list.jsonl"
    manifest.write_text('{"path": "listed.png", "expected_text": "OPEN 24 HOURS"}\n')
    result = run(str(tmp_path / "meta.png"), "--manifest", str(manifest), "--expect", "EXIT", "--json")
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    assert (rows["meta.png"]["expected_text"], rows["meta.png"]["truth"]) == ("EXIT", "argument")
    assert (rows["listed.png"]["expected_text"], rows["listed.png"]["truth"]) == ("OPEN 24 HOURS", "manifest")


def test_csv_has_a_header_and_a_row_per_image(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    """--format csv: the header names every score; empty cells for None; fidelity as a number."""
    write_png(tmp_path / "a.png", 40)
    write_png(tmp_path / "b.png", 44)
    result = run(str(tmp_path), "--expect", "OPEN 24 HOURS", "--format", "csv")
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(table[0]) == score_cli.csv_columns()
    by_name = {Path(row["path"]).name: row for row in table}
    assert float(by_name["a.png"]["text_fidelity"]) == 1.0 and by_name["a.png"]["reader"] == "easyocr"
    assert float(by_name["b.png"]["text_fidelity"]) == 0.0 and by_name["b.png"]["ocr_text"] == ""
    assert by_name["a.png"]["truth"] == "argument"


def test_table_is_the_default_and_stdout_holds_only_it(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    """Without --format: the table on stdout; the summary only on stderr."""
    write_png(tmp_path / "a.png", 40)
    result = run(str(tmp_path / "a.png"), "--expect", "OPEN 24 HOURS")
    assert result.exit_code == 0, result.output
    assert "driftmon score" in result.stdout and "a.png" in result.stdout and "1.000" in result.stdout
    assert "scored 1 images" not in result.stdout and "scored 1 images" in result.stderr


def test_the_scorer_is_built_once_per_call_with_the_reader_mode(
    tmp_path: Path, builds: list[ScoringConfig]
) -> None:
    """Twenty images (three batches): one scorer, built with --second-reader (default: the config's)."""
    for index in range(20):
        write_png(tmp_path / f"i{index:02d}.png", 40)
    result = run(str(tmp_path), "--expect", "OPEN 24 HOURS", "--json")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 20
    assert len(builds) == 1
    assert builds[0].second_reader == DEFAULT_SECOND_READER == ScoringConfig().second_reader
    assert run(str(tmp_path / "i00.png"), "--second-reader", "off").exit_code == 0
    assert builds[-1].second_reader == "off"


def test_bad_choices_exit_2_naming_the_option(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    """--format, --json with csv, --second-reader, and no images at all: usage errors, nothing built."""
    image = str(write_png(tmp_path / "a.png", 40))
    for args, words in (
        ([image, "--format", "xml"], "--format must be one of table, json, csv"),
        ([image, "--json", "--format", "csv"], "--json means --format json"),
        ([image, "--second-reader", "sometimes"], "--second-reader"),
        ([], "give image files, directories or --manifest"),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.stderr, (args, result.stderr)
    assert builds == []


def test_a_bad_manifest_line_exits_2_naming_it(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "nowhere.png", "prompt": "x"}\n')
    result = run("--manifest", str(manifest))
    assert result.exit_code == 2 and f"{manifest}:1: no such image file" in result.stderr


def test_unreadable_files_are_named_and_the_rest_scored(tmp_path: Path, builds: list[ScoringConfig]) -> None:
    """One error line per unreadable file (exit 1), rows and the summary for the others."""
    write_png(tmp_path / "good.png", 40)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    result = run(str(tmp_path), "--expect", "OPEN 24 HOURS", "--json")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("driftmon:")] == [
        f"driftmon: {tmp_path / 'broken.png'}: rejected: not an image (unknown format)"
    ]
    assert set(rows_of(result.stdout)) == {"good.png"}
    assert "scored 1 images" in result.stderr


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_only_on_a_terminal() -> None:
    assert score_cli.progress_wanted(_Stream(True)) and not score_cli.progress_wanted(_Stream(False))


def test_summary_without_expected_text() -> None:
    assert score_cli.Summary(0.85).line() == "scored 0 images: no expected text, no fidelity"
