"""Push generated images to driftmon (``POST /v1/samples``) without ever getting in the way.

    from driftmon_client import DriftmonClient

    monitor = DriftmonClient("http://127.0.0.1:9844")
    monitor.push(png_bytes, prompt=prompt, model_version="sdxl-1.0")   # returns at once
    monitor.close()                                                  # at shutdown (bounded)

`push` only puts a reference on a bounded queue (microseconds, no encoding, no I/O): a
background worker encodes the image (bytes as they are; PIL images and numpy arrays as PNG)
and sends it with timeouts. A full queue drops the sample, every failure is counted in
`stats()`, and nothing is ever raised into the caller. `AsyncDriftmonClient` is the same for
asyncio services (its `push` is a plain function too; the worker is a task).
"""

from driftmon_client.client import AsyncDriftmonClient, DriftmonClient, Stats

__all__ = ["AsyncDriftmonClient", "DriftmonClient", "Stats"]
__version__ = "0.1.0"
