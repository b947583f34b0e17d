"""The synthetic generator that stands in for a diffusion server in tests and ``driftmon demo``.

Names are loaded lazily from `driftmon.demo.generator`, so ``python -m driftmon.demo.generator``
runs the module once, cleanly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftmon.demo.generator import (
        DEMO_PROMPTS,
        MODELS,
        DemoGenerator,
        ModelSpec,
        Rendered,
        drawn_lines,
        garble,
        make_generator_app,
        push_body,
        render_scene,
    )

__all__ = [
    "DEMO_PROMPTS",
    "MODELS",
    "DemoGenerator",
    "ModelSpec",
    "Rendered",
    "drawn_lines",
    "garble",
    "make_generator_app",
    "push_body",
    "render_scene",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("driftmon.demo.generator"), name)
    raise AttributeError(f"module 'driftmon.demo' has no attribute {name!r}")
