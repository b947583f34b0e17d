"""Where samples come from besides push: canary probes sent through generator API adapters.

The push intake lives with the server; this package holds the outgoing side:
the generator adapters and the probe scheduler.
"""

from driftmon.sources.generators import (
    A1111,
    FAILURE_REASONS,
    Generated,
    Generator,
    HttpTemplate,
    OpenAIImages,
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
    "PROBE_FAILURE_REASONS",
    "PROBE_OUTCOMES",
    "Generated",
    "Generator",
    "HttpTemplate",
    "OpenAIImages",
    "Probe",
    "ProbeMetrics",
    "ProbeResult",
    "Prober",
    "load_probes",
    "make_generator",
]
