"""Opaque page cursors of the sample listing (pure).

    token = encode_cursor(received_at, sample_id)    the position after a page's last sample
    decode_cursor(token) -> (received_at, sample_id) raises ValueError when it is not one of ours

A cursor is the last sample's (received_at, id) as JSON, base64url without padding: keyset
paging, so a page never repeats or skips a sample when new ones arrive meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
import math


def encode_cursor(received_at: float, sample_id: str) -> str:
    raw = json.dumps([received_at, sample_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str) -> tuple[float, str]:
    """The position `encode_cursor` wrote; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("cursor: not a cursor this API gave") from exc
    if (
        not isinstance(value, list)
        or len(value) != 2
        or isinstance(value[0], bool)
        or not isinstance(value[0], int | float)
        or not math.isfinite(value[0])
        or not isinstance(value[1], str)
    ):
        raise ValueError("cursor: not a cursor this API gave")
    return float(value[0]), value[1]
