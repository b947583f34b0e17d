"""Bounds at the door: what a sample's meta may hold, checked before anything else (pure).

    check_meta(meta)             raises Rejected naming the field, else returns
    check_json_depth(text)       raises Rejected when JSON nests deeper than MAX_DEPTH (a scan of
                                 the bytes, before json.loads can recurse)

Everything that passes can be stored in SQLite (integers within int64) and served back as JSON
(finite floats, strings that are valid UTF-8), and costs a bounded amount to keep.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from typing import Any

from driftmon.errors import Rejected
from driftmon.samples import SampleMeta

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32
MAX_META_BYTES = 64 * 1024
MAX_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 1024


#: escapes that cannot change nesting: an escaped backslash, a backslash before a plain byte
_PLAIN_ESCAPE = re.compile(rb'\\\\|\\[^"\[\]{}]')
#: every byte but brackets, quotes and backslashes
_NOT_STRUCTURAL = bytes(byte for byte in range(256) if byte not in b'"[]{}\\')


def check_json_depth(text: bytes | str, max_depth: int = MAX_DEPTH) -> None:
    """Rejected when arrays/objects nest deeper than `max_depth` (brackets in strings ignored).

    The scan runs over the body's skeleton (plain escapes and plain bytes removed in C), so a body
    that is one long base64 string costs about what json.loads does, not a Python loop per byte."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if b"\\" in data:
        data = _PLAIN_ESCAPE.sub(b"", data)
    depth, in_string, escaped = 0, False, False
    for byte in data.translate(None, _NOT_STRUCTURAL):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                raise Rejected(f"JSON nests deeper than {max_depth} levels", "too_deep")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def _values(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", key
            yield from _values(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _values(item, f"{path}[{index}]")
    else:
        yield path, value


def _check_value(path: str, value: Any) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise Rejected(f"meta.{path}: integer out of the 64-bit range", "out_of_range")
    if isinstance(value, float) and not math.isfinite(value):
        raise Rejected(f"meta.{path}: must be a finite number", "not_finite")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Rejected(f"meta.{path}: not valid UTF-8 text ({exc.reason})", "not_utf8") from None


def _check_labels(labels: Mapping[str, str]) -> None:
    if len(labels) > MAX_LABELS:
        raise Rejected(f"meta.labels: at most {MAX_LABELS} labels ({len(labels)} given)", "meta_too_large")
    for key, value in labels.items():
        if len(key) > MAX_LABEL_KEY:
            raise Rejected(f"meta.labels: key {key[:32]!r}… longer than {MAX_LABEL_KEY}", "meta_too_large")
        if len(str(value).encode("utf-8", "surrogatepass")) > MAX_LABEL_VALUE:
            raise Rejected(f"meta.labels.{key}: value longer than {MAX_LABEL_VALUE} bytes", "meta_too_large")


def check_meta(meta: SampleMeta) -> None:
    """Rejected (naming the field) unless every value is storable and servable, labels are
    bounded, and the whole meta is at most MAX_META_BYTES as JSON."""
    fields = asdict(meta)
    for path, value in _values(fields, ""):
        _check_value(path.lstrip("."), value)
    _check_labels(meta.labels)
    size = len(json.dumps(fields, ensure_ascii=False, default=str).encode("utf-8"))
    if size > MAX_META_BYTES:
        raise Rejected(f"meta: {size:,} bytes exceeds the limit of {MAX_META_BYTES:,}", "meta_too_large")
