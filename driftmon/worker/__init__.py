"""The scorer process pair: the child that owns the models and the GPU, and its supervisor.

child.py        the scorer's own process (multiprocessing "spawn"): decodes, scores, keeps the
                pictures of failing samples, sends back one small outcome per journal entry
supervisor.py   the HTTP process's side, a thread: claims journal batches, sends them to the
                child (restarted with backoff), commits each outcome once (`Recorder`)

Nothing is imported here and neither module imports torch at import time: the HTTP process
imports this package, only the child loads the models.
"""

__all__: list[str] = []
