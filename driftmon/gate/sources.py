"""What a ``--baseline``/``--candidate`` string means.

https://host/…             the OpenAI Images API (the seed is sent: ``send_seed: true``)
a1111+https://host         AUTOMATIC1111 / Forge
http+https://host/path     any JSON API through the ``http`` adapter's default body template
generator.yaml             a generator configuration (the ``sources.probe.generator`` keys)
DIR                        a directory of images: its ``manifest.jsonl``, or prompts in metadata
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from driftmon.errors import ConfigError
from driftmon.gate.costs import CostFields
from driftmon.images.sets import ImageItem, load_image_set

_PREFIXES = {"a1111+": "a1111", "http+": "http", "openai+": "openai_images"}


@dataclass(frozen=True, slots=True)
class GeneratorSource:
    """Images generated on demand by a generator adapter."""

    spec: str
    config: Any  # the adapter's configuration model (driftmon.sources.base.GENERATOR_KINDS)
    #: where its responses report steps, sampler and GPU-seconds (a YAML's ``cost:`` mapping)
    cost: CostFields = field(default_factory=CostFields)

    @property
    def label(self) -> str:
        from driftmon.sources.generators import redact_url

        return f"{self.config.kind} {redact_url(self.config.url)}"


@dataclass(frozen=True, slots=True)
class DirectorySource:
    """Images already on disk, with their truth from a manifest or their metadata."""

    spec: str
    items: tuple[ImageItem, ...]

    @property
    def label(self) -> str:
        return f"directory {self.spec}"


Source = GeneratorSource | DirectorySource


def generator_config(data: dict[str, Any], where: str) -> Any:
    """A validated generator configuration from plain data (ConfigError naming `where`)."""
    from driftmon.sources.base import generator_config as validate

    try:
        return validate(**data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from exc


def _from_yaml(path: Path) -> GeneratorSource:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the generator configuration: {exc}") from exc
    cost = data.pop("cost", None) if isinstance(data, dict) else None
    if isinstance(data, dict) and isinstance(data.get("generator"), dict):
        data = data["generator"]
        cost = data.pop("cost", cost)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a generator configuration is a mapping (kind, url, ...)")
    return GeneratorSource(str(path), generator_config(data, str(path)), CostFields.of(cost, str(path)))


def parse_source(spec: str, *, timeout: float | None = None) -> Source:
    """The source a command-line string names; ConfigError says why not."""
    extra = {} if timeout is None else {"timeout": timeout}
    for prefix, kind in _PREFIXES.items():
        if spec.startswith(prefix):
            url = spec[len(prefix) :]
            data = {"kind": kind, "url": url, "send_seed": True, **extra}
            if kind != "openai_images":
                data.pop("send_seed")
            return GeneratorSource(spec, generator_config(data, spec))
    if spec.startswith(("http://", "https://")):
        return GeneratorSource(
            spec, generator_config({"kind": "openai_images", "url": spec, "send_seed": True, **extra}, spec)
        )
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        return _from_yaml(path)
    if path.is_dir():
        items = tuple(load_image_set([path]))
        if not items:
            raise ConfigError(f"{spec}: no images in this directory")
        return DirectorySource(spec, items)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return DirectorySource(spec, tuple(load_image_set([], manifest=path)))
    raise ConfigError(
        f"{spec}: not a generator URL (http(s)://…, a1111+URL, http+URL), a generator YAML, "
        "a manifest (.jsonl) or a directory of images"
    )
