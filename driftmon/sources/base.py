"""What every generator adapter shares: the `Generator` protocol, its configuration base, the kind table.

Each adapter (in `driftmon.sources.generators`) defines its configuration model on
`GeneratorConfigBase` and calls `register_generator`; `GENERATOR_KINDS` is the table that
`driftmon.config` builds the ``sources.probe.generator`` union from and `make_generator` builds
with. A generator entry without ``kind`` is of `DEFAULT_GENERATOR_KIND`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import TypeAdapter

from driftmon.config_base import Kind, KindTable, Seconds, Section, discriminated_union

DEFAULT_GENERATOR_KIND = "openai_images"


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated image (encoded bytes, checked to be an image) and what the call measured."""

    image_bytes: bytes
    latency_seconds: float
    model_version: str
    steps: int | None = None


class Generator(Protocol):
    """What the prober needs from a generator adapter."""

    endpoint: str

    async def generate(self, prompt: str, seed: int, size: tuple[int, int]) -> Generated:
        """Generate one image; raise GeneratorError on any failure."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP client."""
        ...


class GeneratorConfigBase(Section):
    """Fields every generator adapter has: where it is, how long to wait, how to find the version."""

    kind: str
    url: str = "http://127.0.0.1:8000"
    #: file holding an API key sent as a bearer token (never logged)
    api_key_file: Path | None = None
    timeout: Seconds = 120.0
    connect_timeout: Seconds = 5.0
    #: dotted path to the model version in the response, if the generator reports it
    model_version_path: str | None = None
    #: response header carrying the model version (e.g. ``X-Model-Version``), if any
    model_version_header: str | None = None
    #: the model version reported when the response names none
    model_version: str = "unknown"


class AdapterClass(Protocol):
    """A generator adapter class: built from its configuration; reads the API key file at once."""

    def __call__(
        self,
        config: Any,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> Generator:
        """The adapter `config` (its kind's configuration model) describes."""
        ...


GENERATOR_KINDS: KindTable[Kind[GeneratorConfigBase, AdapterClass]] = KindTable("generator")
"""Every generator adapter, by the ``kind`` value that selects it in ``sources.probe.generator``."""


def register_generator(kind: str, config: type[GeneratorConfigBase], adapter: AdapterClass) -> None:
    """Add `kind` to `GENERATOR_KINDS`; `config` must declare ``kind: Literal[kind] = kind``."""
    GENERATOR_KINDS.register(kind, Kind(config, adapter))


def generator_union() -> Any:
    """The pydantic type of ``sources.probe.generator``: the registered kinds, by ``kind``."""
    models = {kind: row.config for kind, row in GENERATOR_KINDS.items()}
    return discriminated_union(models, default=DEFAULT_GENERATOR_KIND)


def default_generator_config() -> GeneratorConfigBase:
    """The generator configured when none is: the default kind with its defaults."""
    return GENERATOR_KINDS[DEFAULT_GENERATOR_KIND].config(kind=DEFAULT_GENERATOR_KIND)


def generator_config(**fields: Any) -> GeneratorConfigBase:
    """The configuration model of ``fields["kind"]`` (default openai_images), validated."""
    config: GeneratorConfigBase = TypeAdapter(generator_union()).validate_python(fields)
    return config
