"""driftmon: a drift-monitoring sidecar for image-generation services."""

from importlib.metadata import PackageNotFoundError, version

#: The name on the package index; the command and the import are `driftmon`.
DISTRIBUTION = "driftmon-sidecar"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["DISTRIBUTION", "__version__"]
