"""Images with their truth: manifests, directories, A1111 and ComfyUI metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from driftmon.images.sets import (
    ManifestError,
    image_files,
    load_image_set,
    parse_a1111_parameters,
    parse_comfyui_prompt,
    read_image_metadata,
    read_manifest,
    with_truth,
)

A1111 = (
    'a shop door with a small sign that says "OPEN", golden hour\n'
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 512x512, "
    'Model hash: 6ce0161689, Model: sd_xl_base_1.0, Lora hashes: "a: 1, b: 2", Version: v1.9.4'
)

COMFY = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 77,
            "steps": 30,
            "sampler_name": "euler",
            "positive": ["6", 0],
            "negative": ["7", 0],
        },
    },
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": 'a neon sign "EAT HERE"', "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark, text artifacts", "clip": ["4", 1]}},
}


def _png(path: Path, **text: str) -> Path:
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (200, 200, 200)).save(path, pnginfo=info)
    return path


def test_a1111_prompt_is_the_text_before_negative_prompt_with_settings() -> None:
    found = parse_a1111_parameters(A1111)
    assert found["prompt"] == 'a shop door with a small sign that says "OPEN", golden hour'
    assert found["negative_prompt"] == "blurry, lowres"
    assert (found["steps"], found["seed"], found["sampler"]) == (28, 1234, "DPM++ 2M Karras")
    assert (found["model"], found["model_hash"]) == ("sd_xl_base_1.0", "6ce0161689")


def test_a1111_without_negative_prompt_ends_the_prompt_at_steps() -> None:
    found = parse_a1111_parameters('a sign "EXIT 27"\nSteps: 20, Sampler: Euler a, Seed: 5')
    assert (found["prompt"], found["steps"], found["seed"]) == ('a sign "EXIT 27"', 20, 5)
    assert found["negative_prompt"] is None


def test_comfyui_follows_the_samplers_positive_input_to_its_text_encoder() -> None:
    found = parse_comfyui_prompt(COMFY)
    assert found == {"prompt": 'a neon sign "EAT HERE"', "seed": 77, "steps": 30, "sampler": "euler"}


def test_png_metadata_of_both_tools_is_read(tmp_path: Path) -> None:
    a1111 = read_image_metadata(_png(tmp_path / "a.png", parameters=A1111))
    comfy = read_image_metadata(_png(tmp_path / "c.png", prompt=json.dumps(COMFY)))
    assert (a1111["origin"], a1111["seed"]) == ("a1111", 1234)
    assert (comfy["origin"], comfy["prompt"]) == ("comfyui", 'a neon sign "EAT HERE"')
    assert read_image_metadata(_png(tmp_path / "none.png")) == {}


def test_directory_recurses_sorted_and_reads_truth_from_metadata(tmp_path: Path) -> None:
    _png(tmp_path / "b" / "2.png", parameters='a sign "TWO"\nSteps: 10, Seed: 2')
    _png(tmp_path / "a.png", parameters='a sign "ONE"\nSteps: 10, Seed: 1')
    _png(tmp_path / ".hidden" / "x.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.relative_to(tmp_path).as_posix() for p in image_files(tmp_path)] == ["a.png", "b/2.png"]
    items = load_image_set([tmp_path])
    assert [(i.expected_lines, i.seed, i.steps, i.origin) for i in items] == [
        (("ONE",), 1, 10, "a1111"),
        (("TWO",), 2, 10, "a1111"),
    ]


def test_manifest_paths_relative_or_absolute_with_sample_fields(tmp_path: Path) -> None:
    first, second = _png(tmp_path / "img" / "1.png"), _png(tmp_path / "elsewhere.png")
    lines = [
        json.dumps({"path": "img/1.png", "prompt": 'a sign "OPEN"', "seed": 3, "model_version": "v1"}),
        "",
        "# a comment",
        json.dumps({"path": str(second), "expected_text": "EXIT 27", "steps": 20, "latency_seconds": 0.3}),
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines))
    items = load_image_set([tmp_path])  # the directory's own manifest wins over metadata
    assert [i.path for i in items] == [first, second]
    assert (items[0].seed, items[0].model_version, items[0].expected_lines) == (3, "v1", ("OPEN",))
    assert (items[1].steps, items[1].latency_seconds, items[1].expected_lines) == (20, 0.3, ("EXIT 27",))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"prompt": "x"}', "'path' is required"),
        ('{"path": "a.png"}', "'prompt' and/or 'expected_text'"),
        ('{"path": "a.png", "prompt": "x", "seed": "7"}', "'seed' must be int"),
        ('{"path": "a.png", "prompt": "x", "colour": 1}', "unknown field(s) colour"),
        ('{"path": "missing.png", "prompt": "x"}', "no such image file"),
    ],
)
def test_bad_manifest_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    _png(tmp_path / "a.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.png", "prompt": "ok"}) + "\n" + line + "\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest)
    assert str(caught.value).startswith(f"{manifest}:2: ")
    assert message in str(caught.value)


def test_explicit_truth_fills_only_images_without_their_own(tmp_path: Path) -> None:
    items = load_image_set(
        [_png(tmp_path / "a.png", parameters='a sign "A"\nSteps: 5'), _png(tmp_path / "b.png")]
    )
    filled = with_truth(items, None, "GIVEN")
    assert [i.expected_lines for i in filled] == [("A",), ("GIVEN",)]
