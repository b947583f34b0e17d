"""Images with their truth: manifests, directories, and prompts read from the images' own metadata.

Shared by ``driftmon gate`` (directory sources) and ``driftmon score --manifest``.

Manifest (JSONL, one object per line, the field names of ``POST /v1/samples``)::

    {"path": "a.png", "prompt": "a sign that says \\"OPEN\\"", "seed": 3, "model_version": "v1"}
    {"path": "/abs/b.png", "expected_text": "EXIT 27", "steps": 20, "latency_seconds": 0.31}

`path` is relative to the manifest's directory (or absolute); `prompt` and/or `expected_text`
give the truth; `model_version`, `seed`, `steps`, `latency_seconds` are optional. Blank lines and
lines starting with ``#`` are skipped. A bad line raises ManifestError naming ``file:line``.

Metadata (PNG text chunks), when no manifest gives the text:

* AUTOMATIC1111 / Forge ``parameters``: the prompt is the text before ``Negative prompt:`` (or
  before the ``Steps:`` line); ``Steps``, ``Sampler``, ``Seed``, ``Model``, ``Model hash`` are
  parsed from the settings line.
* ComfyUI ``prompt`` (the API-format graph): the sampler's ``positive`` input is followed to its
  text encoder (``CLIPTextEncode`` and friends), whose ``text`` is the prompt; the sampler's
  ``seed``/``noise_seed`` and ``steps`` are read too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from driftmon.errors import ConfigError
from driftmon.expectations import expected_lines

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
MANIFEST_NAMES = ("manifest.jsonl",)
_MANIFEST_FIELDS = frozenset(
    {"path", "prompt", "expected_text", "model_version", "seed", "steps", "latency_seconds", "labels"}
)
_SETTING = re.compile(r"\s*([A-Za-z][\w ]*?):\s*(\"(?:[^\"\\]|\\.)*\"|[^,]*)(?:,|$)")


class ManifestError(ConfigError):
    """A manifest line that cannot be used; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class ImageItem:
    """One image file and what is known about it."""

    path: Path
    prompt: str | None = None
    expected_text: str | None = None
    model_version: str | None = None
    seed: int | None = None
    steps: int | None = None
    latency_seconds: float | None = None
    sampler: str | None = None
    model_hash: str | None = None
    #: where the truth came from: ``manifest``, ``a1111``, ``comfyui`` or ``none``
    origin: str = "none"

    @property
    def expected_lines(self) -> tuple[str, ...]:
        """The lines the image should show (expected_text over the prompt's quoted spans)."""
        return expected_lines(self.prompt, self.expected_text)

    @property
    def has_truth(self) -> bool:
        """Whether a prompt or an expected text is known."""
        return self.prompt is not None or self.expected_text is not None


# ----------------------------------------------------------------------------------- manifest


def _optional(entry: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ManifestError(f"{where}: {key!r} must be {names}, not {type(value).__name__}")
    return value


def parse_manifest_line(text: str, base: Path, where: str) -> ImageItem:
    """One manifest line → ImageItem; ManifestError prefixed with `where` (``file:line``)."""
    try:
        entry = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: each line must be a JSON object")
    unknown = sorted(set(entry) - _MANIFEST_FIELDS)
    if unknown:
        raise ManifestError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {sorted(_MANIFEST_FIELDS)}"
        )
    raw_path = _optional(entry, "path", str, where)
    if not raw_path:
        raise ManifestError(f"{where}: 'path' is required")
    prompt = _optional(entry, "prompt", str, where)
    expected = _optional(entry, "expected_text", str, where)
    if prompt is None and expected is None:
        raise ManifestError(f"{where}: give 'prompt' and/or 'expected_text'")
    path = Path(raw_path)
    return ImageItem(
        path=path if path.is_absolute() else base / path,
        prompt=prompt,
        expected_text=expected,
        model_version=_optional(entry, "model_version", str, where),
        seed=_optional(entry, "seed", int, where),
        steps=_optional(entry, "steps", int, where),
        latency_seconds=_float(_optional(entry, "latency_seconds", (int, float), where)),
        origin="manifest",
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def read_manifest(path: Path | str, *, check_files: bool = True) -> list[ImageItem]:
    """Every entry of a JSONL manifest, in file order; ManifestError names ``file:line``."""
    manifest = Path(path)
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ManifestError(f"{manifest}: cannot read: {exc.strerror}") from exc
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{manifest}:{number}"
        item = parse_manifest_line(line, manifest.parent, where)
        if check_files and not item.path.is_file():
            raise ManifestError(f"{where}: no such image file: {item.path}")
        items.append(item)
    return items


# ----------------------------------------------------------------------------------- metadata


def parse_a1111_parameters(text: str) -> dict[str, Any]:
    """AUTOMATIC1111/Forge ``parameters`` text → prompt, negative prompt and settings (pure)."""
    lines = text.strip().splitlines()
    settings_at = next(
        (i for i in range(len(lines) - 1, -1, -1) if lines[i].lstrip().startswith("Steps:")), None
    )
    head = lines if settings_at is None else lines[:settings_at]
    body = "\n".join(head)
    prompt, _, negative = body.partition("Negative prompt:")
    found: dict[str, Any] = {"prompt": prompt.strip(), "negative_prompt": negative.strip() or None}
    settings = {} if settings_at is None else _settings(" ".join(lines[settings_at:]))
    found["steps"] = _int(settings.get("Steps"))
    found["seed"] = _int(settings.get("Seed"))
    found["sampler"] = settings.get("Sampler")
    found["model"] = settings.get("Model")
    found["model_hash"] = settings.get("Model hash")
    return found


def _settings(line: str) -> dict[str, str]:
    return {m.group(1).strip(): m.group(2).strip().strip('"') for m in _SETTING.finditer(line) if m.group(1)}


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


_SAMPLER_TYPES = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")


def parse_comfyui_prompt(graph: Mapping[str, Any]) -> dict[str, Any]:
    """ComfyUI API-format graph → the positive prompt, seed and steps of its (first) sampler."""
    samplers = [
        node
        for _, node in sorted(graph.items(), key=lambda kv: str(kv[0]))
        if isinstance(node, Mapping) and node.get("class_type") in _SAMPLER_TYPES
    ]
    for sampler in samplers:
        inputs = sampler.get("inputs") or {}
        text = _follow_text(graph, inputs.get("positive"), depth=0)
        if text is not None:
            return {
                "prompt": text,
                "seed": _int(inputs.get("seed", inputs.get("noise_seed"))),
                "steps": _int(inputs.get("steps")),
                "sampler": inputs.get("sampler_name")
                if isinstance(inputs.get("sampler_name"), str)
                else None,
            }
    return {}


def _follow_text(graph: Mapping[str, Any], link: Any, depth: int) -> str | None:
    """Follow a ``[node_id, output]`` link to a node with a string ``text`` (or ``text_g``)."""
    if depth > 8 or not isinstance(link, list) or not link:
        return None
    node = graph.get(str(link[0]))
    if not isinstance(node, Mapping):
        return None
    inputs = node.get("inputs") or {}
    for key in ("text", "text_g", "prompt"):
        if isinstance(inputs.get(key), str):
            return str(inputs[key])
    for key in ("conditioning", "conditioning_1", "positive"):
        found = _follow_text(graph, inputs.get(key), depth + 1)
        if found is not None:
            return found
    return None


def read_image_metadata(path: Path | str) -> dict[str, Any]:
    """Prompt and settings from an image's text chunks (A1111 first, then ComfyUI); {} if none."""
    try:
        with Image.open(path) as image:
            info = dict(image.info)
            text = dict(getattr(image, "text", {}) or {})
    except (OSError, SyntaxError, ValueError):
        return {}
    chunks = {**{k: v for k, v in info.items() if isinstance(v, str)}, **text}
    if isinstance(chunks.get("parameters"), str) and chunks["parameters"].strip():
        return {**parse_a1111_parameters(chunks["parameters"]), "origin": "a1111"}
    if isinstance(chunks.get("prompt"), str):
        try:
            graph = json.loads(chunks["prompt"])
        except ValueError:
            graph = None
        if isinstance(graph, dict):
            found = parse_comfyui_prompt(graph)
            if found:
                return {**found, "origin": "comfyui"}
    return {}


def item_from_metadata(path: Path) -> ImageItem:
    """An ImageItem whose truth comes from the image's metadata (origin ``none`` if it has none)."""
    meta = read_image_metadata(path)
    if not meta.get("prompt"):
        return ImageItem(path=path)
    return ImageItem(
        path=path,
        prompt=meta["prompt"],
        model_version=meta.get("model"),
        seed=meta.get("seed"),
        steps=meta.get("steps"),
        sampler=meta.get("sampler"),
        model_hash=meta.get("model_hash"),
        origin=str(meta["origin"]),
    )


# --------------------------------------------------------------------------------- directories


def image_files(root: Path | str) -> list[Path]:
    """Image files under `root` (recursively), sorted by path; hidden entries skipped."""
    base = Path(root)
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(base).parts)
    )


def find_manifest(directory: Path) -> Path | None:
    """The directory's ``manifest.jsonl``, if it has one."""
    for name in MANIFEST_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def load_image_set(paths: Iterable[Path | str], manifest: Path | str | None = None) -> list[ImageItem]:
    """Images with their truth: the manifest's entries, or the files of `paths` (directories
    recursed; a directory's own ``manifest.jsonl`` used when present) with truth from metadata."""
    if manifest is not None:
        return read_manifest(manifest)
    items: list[ImageItem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = find_manifest(path)
            items.extend(read_manifest(found) if found else map(item_from_metadata, image_files(path)))
        else:
            items.append(item_from_metadata(path))
    return items


def with_truth(items: Sequence[ImageItem], prompt: str | None, expected_text: str | None) -> list[ImageItem]:
    """Items whose missing truth is filled by an explicit prompt/expected text (given ones win)."""
    if prompt is None and expected_text is None:
        return list(items)
    return [
        item
        if item.has_truth
        else replace(item, prompt=prompt, expected_text=expected_text, origin="argument")
        for item in items
    ]
