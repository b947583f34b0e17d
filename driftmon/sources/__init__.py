"""Where samples come from besides push: canary probes sent through generator API adapters.

The push intake lives with the server; this package holds the outgoing side:
the generator adapters (each registered with its configuration model in
`sources.base.GENERATOR_KINDS`) and the probe scheduler.
"""

from driftmon.sources.base import (
    GENERATOR_KINDS,
    Generated,
    Generator,
    GeneratorConfigBase,
    generator_config,
    register_generator,
)
from driftmon.sources.generators import (
    A1111,
    FAILURE_REASONS,
    A1111Config,
    HttpTemplate,
    HttpTemplateConfig,
    OpenAIImages,
    OpenAIImagesConfig,
    make_generator,
)
from driftmon.sources.probe import (
    PROBE_FAILURE_REASONS,
    PROBE_OUTCOMES,
    Probe,
    ProbeMetrics,
    Prober,
    ProbeResult,
    load_probes,
)

__all__ = [
    "A1111",
    "FAILURE_REASONS",
    "GENERATOR_KINDS",
    "PROBE_FAILURE_REASONS",
    "PROBE_OUTCOMES",
    "A1111Config",
    "Generated",
    "Generator",
    "GeneratorConfigBase",
    "HttpTemplate",
    "HttpTemplateConfig",
    "OpenAIImages",
    "OpenAIImagesConfig",
    "Probe",
    "ProbeMetrics",
    "ProbeResult",
    "Prober",
    "generator_config",
    "load_probes",
    "make_generator",
    "register_generator",
]
