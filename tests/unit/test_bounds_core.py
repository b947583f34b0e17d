"""driftmon.sources.bounds at its edges (pure; no server): each bound accepted exactly at the
limit and refused one past it, with the reason and the field named. Written to kill the mutants
bench/mutation.sh found surviving the HTTP-level tests (test_door_bounds)."""

from __future__ import annotations

import json

import pytest

from driftmon.errors import Rejected
from driftmon.samples import SampleMeta
from driftmon.sources.bounds import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_LABEL_KEY,
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_META_BYTES,
    check_json_depth,
    check_meta,
)


def refused(meta: SampleMeta) -> Rejected:
    with pytest.raises(Rejected) as caught:
        check_meta(meta)
    return caught.value


def test_the_bounds_are_the_documented_ones() -> None:
    assert (INT64_MIN, INT64_MAX) == (-(2**63), 2**63 - 1)
    bounds = (MAX_DEPTH, MAX_META_BYTES, MAX_LABELS, MAX_LABEL_KEY, MAX_LABEL_VALUE)
    assert bounds == (32, 65536, 16, 64, 1024)


@pytest.mark.parametrize("value", [INT64_MIN, INT64_MAX, 0, True, False, None])
def test_integers_within_int64_pass(value: int | None) -> None:
    check_meta(SampleMeta(seed=value, steps=value))


@pytest.mark.parametrize("value", [INT64_MIN - 1, INT64_MAX + 1])
def test_integers_one_past_int64_are_refused_naming_the_field(value: int) -> None:
    error = refused(SampleMeta(seed=value))
    assert error.reason == "out_of_range" and str(error) == "meta.seed: integer out of the 64-bit range"


def test_integers_nested_in_mappings_and_tuples_are_checked_with_their_path() -> None:
    assert str(refused(SampleMeta(expected_objects={"cat": 2**63}))).startswith("meta.expected_objects.cat:")
    assert str(refused(SampleMeta(size=(1, 2**63)))).startswith("meta.size[1]:")
    check_meta(SampleMeta(expected_objects={"cat": INT64_MAX}, size=(INT64_MAX, INT64_MIN)))


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_floats_that_are_not_finite_are_refused(value: float) -> None:
    error = refused(SampleMeta(latency_seconds=value))
    assert error.reason == "not_finite" and str(error) == "meta.latency_seconds: must be a finite number"


def test_finite_floats_pass() -> None:
    check_meta(SampleMeta(latency_seconds=1.7976931348623157e308))


def test_a_lone_surrogate_is_refused_and_other_text_passes() -> None:
    error = refused(SampleMeta(prompt="a \ud800 b"))
    assert error.reason == "not_utf8" and str(error).startswith("meta.prompt: not valid UTF-8 text (")
    check_meta(SampleMeta(prompt="naïve ☕ 𝄞"))


def test_a_label_key_with_a_surrogate_is_refused() -> None:
    assert refused(SampleMeta(labels={"k\udc80": "v"})).reason == "not_utf8"


def test_label_count_bound() -> None:
    check_meta(SampleMeta(labels={f"k{i}": "v" for i in range(MAX_LABELS)}))
    error = refused(SampleMeta(labels={f"k{i}": "v" for i in range(MAX_LABELS + 1)}))
    assert error.reason == "meta_too_large" and str(error) == "meta.labels: at most 16 labels (17 given)"


def test_label_key_length_bound() -> None:
    check_meta(SampleMeta(labels={"k" * MAX_LABEL_KEY: "v"}))
    error = refused(SampleMeta(labels={"k" * (MAX_LABEL_KEY + 1): "v"}))
    assert error.reason == "meta_too_large" and f"longer than {MAX_LABEL_KEY}" in str(error)
    assert str(error).startswith("meta.labels: key " + repr("k" * 32))


def test_label_value_bound_counts_utf8_bytes() -> None:
    check_meta(SampleMeta(labels={"k": "v" * MAX_LABEL_VALUE}))
    check_meta(SampleMeta(labels={"k": "é" * (MAX_LABEL_VALUE // 2)}))
    for value in ("v" * (MAX_LABEL_VALUE + 1), "é" * (MAX_LABEL_VALUE // 2) + "v"):
        error = refused(SampleMeta(labels={"k": value}))
        assert error.reason == "meta_too_large"
        assert str(error) == "meta.labels.k: value longer than 1024 bytes"


def meta_of_size(size: int) -> SampleMeta:
    """A meta whose JSON (as check_meta measures it) is exactly `size` bytes."""
    from dataclasses import asdict

    empty = len(json.dumps(asdict(SampleMeta(prompt="")), ensure_ascii=False).encode())
    return SampleMeta(prompt="p" * (size - empty))


def test_meta_size_bound_is_inclusive() -> None:
    check_meta(meta_of_size(MAX_META_BYTES))
    error = refused(meta_of_size(MAX_META_BYTES + 1))
    assert error.reason == "meta_too_large"
    assert str(error) == "meta: 65,537 bytes exceeds the limit of 65,536"


def test_meta_size_counts_utf8_bytes_not_characters() -> None:
    from dataclasses import asdict

    empty = len(json.dumps(asdict(SampleMeta(prompt="")), ensure_ascii=False).encode())
    check_meta(SampleMeta(prompt="é" * ((MAX_META_BYTES - empty) // 2)))
    assert refused(SampleMeta(prompt="é" * ((MAX_META_BYTES - empty) // 2 + 1))).reason == "meta_too_large"


@pytest.mark.parametrize("opening", ["[", "{\"a\":"])
def test_json_depth_exactly_the_bound_passes_one_more_is_refused(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    check_json_depth(opening * MAX_DEPTH + "1" + closing * MAX_DEPTH)
    with pytest.raises(Rejected) as caught:
        check_json_depth(opening * (MAX_DEPTH + 1) + "1" + closing * (MAX_DEPTH + 1))
    assert caught.value.reason == "too_deep" and str(caught.value) == "JSON nests deeper than 32 levels"


def test_json_depth_counts_closing_brackets() -> None:
    check_json_depth(("[" * 20 + "]" * 20 + ",") * 10)
    check_json_depth(b"[" + b"{}" * 100 + b"]")
    check_json_depth("[" * 3 + "]" * 3, max_depth=3)
    with pytest.raises(Rejected):
        check_json_depth("[" * 4, max_depth=3)


@pytest.mark.parametrize(
    "text",
    [
        '["' + "[" * 40 + '"]',
        '["\\"' + "[" * 40 + '"]',
        '["\\\\", ' + '"' + "{" * 40 + '"]',
        '["\\u005b' + "[" * 40 + '"]',
        '{"k\\n": "' + "[" * 40 + '"}',
    ],
)
def test_json_depth_ignores_brackets_inside_strings_with_escapes(text: str) -> None:
    json.loads(text)
    check_json_depth(text)
    check_json_depth(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        '["\\\\"' + ", " + "[" * 40 + "1" + "]" * 40 + "]",  # an escaped backslash ends, the string closes
        '["a\\"b", ' + "[" * 40 + "1" + "]" * 40 + "]",
    ],
)
def test_json_depth_sees_brackets_after_a_string_with_escapes_closes(text: str) -> None:
    json.loads(text)
    with pytest.raises(Rejected):
        check_json_depth(text)


def test_json_depth_counts_from_zero_again_after_arrays_close() -> None:
    """Two closed levels give both back: 32 more levels after `[[]]` are still within the bound."""
    check_json_depth("[[]] " + "[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(Rejected):
        check_json_depth("[[]] " + "[" * (MAX_DEPTH + 1))


def test_json_depth_scans_text_with_a_lone_surrogate() -> None:
    """str input is encoded with surrogatepass: a lone surrogate is scanned, not an error."""
    check_json_depth('["\ud800"]')
    with pytest.raises(Rejected):
        check_json_depth('["\ud800", ' + "[" * (MAX_DEPTH + 1))


def test_a_label_key_with_a_surrogate_is_named_in_the_message() -> None:
    error = refused(SampleMeta(labels={"k\udc80": "v"}))
    assert str(error).startswith("meta.labels.k\udc80: not valid UTF-8 text (")
