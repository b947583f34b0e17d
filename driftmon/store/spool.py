"""The SIGTERM spool: samples still queued at shutdown, kept on disk and scored after the next start.

Its directory is `<store dir>/spool`; a spool left there by an earlier release is taken over as is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import structlog

from driftmon.samples import Sample, SampleMeta

log = structlog.get_logger("driftmon.pipeline")  # the logger name its lines always had


class Spool:
    """Queued samples persisted across a restart: `<id>.img` (original bytes) + `<id>.json`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def save(self, sample: Sample) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = asdict(sample.meta)
        record = {"id": sample.id, "source": sample.source, "received_at": sample.received_at, "meta": meta}
        (self.directory / f"{sample.id}.img").write_bytes(sample.encoded)
        (self.directory / f"{sample.id}.json").write_text(json.dumps(record))

    def drain(self) -> Iterator[Sample]:
        """Yield spooled samples (oldest first, still encoded) and delete them; unreadable entries
        are logged and dropped."""
        for record_path in sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
            image_path = record_path.with_suffix(".img")
            try:
                record = json.loads(record_path.read_text())
                meta = record["meta"]
                meta["size"] = tuple(meta["size"]) if meta.get("size") else None
                encoded = image_path.read_bytes()
                yield Sample(
                    id=record["id"],
                    source=record["source"],
                    received_at=record["received_at"],
                    meta=SampleMeta(**meta),
                    image=None,
                    encoded=encoded,
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("spool_entry_dropped", path=str(record_path), error=str(exc))
            finally:
                record_path.unlink(missing_ok=True)
                image_path.unlink(missing_ok=True)
