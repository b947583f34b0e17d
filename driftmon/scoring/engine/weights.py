"""EasyOCR's weights as plain state dicts: fp32 originals (MD5-checked) or fp16 copies (SHA-256).

A weights directory holds either EasyOCR's own files, checked against the MD5 sums EasyOCR
publishes in `easyocr.config`, or half-size copies written by `export_fp16`:

    craft_mlt_25k.fp16.pth   english_g2.fp16.pth   SHA256SUMS   (`sha256sum -c` format)

The fp32 originals win when both are present. Loaded tensors are always fp32 with EasyOCR's
`module.` prefix (from DataParallel) stripped, ready for `load_state_dict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from driftmon.errors import ModelUnavailable

DETECTOR = "craft_mlt_25k"
RECOGNIZER = "english_g2"
MANIFEST = "SHA256SUMS"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class WeightFiles:
    """Where the detector and recogniser weights are, and whether they are fp16 copies."""

    detector: Path
    recognizer: Path
    fp16: bool


def published_md5() -> dict[str, str]:
    """The MD5 sums EasyOCR publishes for its fp32 files, by file name."""
    from easyocr import config

    return {
        config.detection_models["craft"]["filename"]: config.detection_models["craft"]["md5sum"],
        config.recognition_models["gen2"][RECOGNIZER]["filename"]: config.recognition_models[
            "gen2"
        ][RECOGNIZER]["md5sum"],
    }


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """`SHA256SUMS` lines `<hex>  <name>` as {name: hex}; ModelUnavailable names a bad line."""
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ModelUnavailable(f"{path}:{number}: expected '<sha256>  <file>', got {line!r}")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def write_manifest(directory: Path, names: Iterable[str]) -> Path:
    """Write `SHA256SUMS` for `names` in `directory` (sorted, `sha256sum -c` compatible)."""
    lines = [f"{file_digest(directory / name, 'sha256')}  {name}\n" for name in sorted(names)]
    path = directory / MANIFEST
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _check(path: Path, algorithm: str, expected: str | None) -> None:
    if expected is None:
        raise ModelUnavailable(f"{path}: no published {algorithm} sum to check it against")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise ModelUnavailable(f"{path}: {algorithm} {actual} does not match {expected}")


def locate_weights(
    directory: Path, verify: bool = True, md5: Mapping[str, str] | None = None
) -> WeightFiles:
    """The weight files in `directory`, checked; ModelUnavailable says what is missing or wrong.

    fp32 files are checked against `md5` (default: the sums EasyOCR publishes), fp16 copies
    against the directory's SHA256SUMS.
    """
    fp32 = [directory / f"{name}.pth" for name in (DETECTOR, RECOGNIZER)]
    fp16 = [directory / f"{name}.fp16.pth" for name in (DETECTOR, RECOGNIZER)]
    if all(path.is_file() for path in fp32):
        if verify:
            sums = dict(md5) if md5 is not None else published_md5()
            for path in fp32:
                _check(path, "md5", sums.get(path.name))
        return WeightFiles(fp32[0], fp32[1], fp16=False)
    if all(path.is_file() for path in fp16):
        if verify:
            manifest = directory / MANIFEST
            if not manifest.is_file():
                raise ModelUnavailable(f"{directory}: fp16 weights without a {MANIFEST} manifest")
            sums = read_manifest(manifest)
            for path in fp16:
                _check(path, "sha256", sums.get(path.name))
        return WeightFiles(fp16[0], fp16[1], fp16=True)
    raise ModelUnavailable(
        f"{directory}: needs {DETECTOR}.pth and {RECOGNIZER}.pth, or their .fp16.pth copies"
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from `path`, floats widened to fp32, DataParallel's `module.` prefix removed."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises many kinds
        raise ModelUnavailable(f"{path}: not a loadable state dict: {exc}") from exc
    state = {}
    for key, value in raw.items():
        name = key.removeprefix("module.")
        state[name] = value.float() if value.is_floating_point() else value
    return state


def export_fp16(
    source: Path, destination: Path, md5: Mapping[str, str] | None = None
) -> list[Path]:
    """Write fp16 copies of the weights in `source` to `destination`, plus their manifest.

    The source is verified first (`md5` as for `locate_weights`), so a copy is never made of
    a corrupt file.
    """
    files = locate_weights(source, md5=md5)
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for name, path in ((DETECTOR, files.detector), (RECOGNIZER, files.recognizer)):
        state = load_state_dict(path)
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        target = destination / f"{name}.fp16.pth"
        torch.save(half, target)
        written.append(target)
    written.append(write_manifest(destination, [path.name for path in written]))
    return written
