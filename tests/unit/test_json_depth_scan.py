"""check_json_depth visits only structural bytes; it answers as the byte-by-byte scan did."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.errors import Rejected
from driftmon.sources.bounds import check_json_depth


def deepest(data: bytes) -> int:
    """The byte-by-byte reference: the deepest nesting outside strings."""
    depth, top, in_string, escaped = 0, 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            top = max(top, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return top


def refused(data: bytes, max_depth: int) -> bool:
    try:
        check_json_depth(data, max_depth)
    except Rejected:
        return True
    return False


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=80).map(lambda b: b.translate(bytes.maketrans(b"abcdefg", b'[]{}"\\x'))),
    st.integers(0, 6),
)
def test_any_bytes_are_judged_as_the_byte_scan_judges_them(data: bytes, max_depth: int) -> None:
    assert refused(data, max_depth) == (deepest(data) > max_depth)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"a": "[[[[\\"[[["}', 1),
        ('{"a": "\\\\"}', 1),
        ('[{"k": "\\\\\\"{{"}, [[]]]', 3),
        (json.dumps({"image_b64": "A" * 100_000, "labels": {"x": "y"}}), 2),
    ],
)
def test_brackets_in_strings_and_escapes(text: str, depth: int) -> None:
    assert deepest(text.encode()) == depth
    assert not refused(text.encode(), depth) and refused(text.encode(), depth - 1)
