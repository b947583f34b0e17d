"""driftmon: a drift-monitoring sidecar for image-generation services."""

__version__ = "0.1.0"
