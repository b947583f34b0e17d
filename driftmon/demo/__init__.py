"""The synthetic generator that stands in for a diffusion server in tests and ``driftmon demo``."""

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
