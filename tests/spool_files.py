"""The SIGTERM spool of releases before the intake journal, written as they wrote it, so the
journal's takeover (`driftmon.store.take_over_spool`) can be tested against that format:
`<id>.img` (the encoded image) and `<id>.json` ``{"id", "source", "received_at", "meta"}``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from driftmon.samples import Sample


def write_spool_pair(directory: Path, sample: Sample) -> None:
    """What the old `Spool.save(sample)` wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "id": sample.id,
        "source": sample.source,
        "received_at": sample.received_at,
        "meta": asdict(sample.meta),
    }
    (directory / f"{sample.id}.img").write_bytes(sample.encoded)
    (directory / f"{sample.id}.json").write_text(json.dumps(record))
