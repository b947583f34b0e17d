"""The text a prompt asks to be rendered (pure functions).

Convention (documented in README, "Expected text"):

* Double-quoted spans are expected text: straight ``"..."``, curly ``“...”`` and guillemets
  ``«...»``.
* Single-quoted spans too, straight ``'...'`` or curly ``‘...’``, but only where the quote
  marks act as quotes: an opening mark must not follow a letter or digit and a closing mark must
  not be followed by one, so apostrophes (``a baker's sign``, ``JOE'S``, ``the '90s``) never open
  or close a span.
* Double-quoted spans are found first; single quotes inside them belong to their text.
* Each span is one expected line, in prompt order, with inner whitespace collapsed; empty spans
  are ignored. No span means no text is expected.
* An explicit ``expected_text`` overrides the prompt entirely; its lines are split on newlines,
  and an explicit empty string means "no text expected".
"""

from __future__ import annotations

import re

_DOUBLE_SPANS = re.compile(r'"([^"]+)"|“([^”]+)”|«([^»]+)»')


def _single_quote_pattern(open_mark: str, close_mark: str) -> re.Pattern[str]:
    opener = rf"(?<![\w]){open_mark}(?=\S)"
    closer = rf"(?<=\S){close_mark}(?![\w])"
    # the span may not contain another opening mark, so `the '90s ... 'ROCK'` finds ROCK only
    body = rf"((?:(?!{opener}).)+?)"
    return re.compile(opener + body + closer)


_SINGLE_SPANS = (_single_quote_pattern("'", "'"), _single_quote_pattern("‘", "’"))


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _double_spans(prompt: str) -> list[tuple[int, str]]:
    return [(m.start(), next(g for g in m.groups() if g is not None)) for m in _DOUBLE_SPANS.finditer(prompt)]


def _blank_out(prompt: str, spans: list[re.Match[str]]) -> str:
    chars = list(prompt)
    for match in spans:
        chars[match.start() : match.end()] = " " * (match.end() - match.start())
    return "".join(chars)


def quoted_spans(prompt: str) -> tuple[str, ...]:
    """Return the quoted spans of `prompt` in order, whitespace collapsed, empties dropped."""
    found = _double_spans(prompt)
    remainder = _blank_out(prompt, list(_DOUBLE_SPANS.finditer(prompt)))
    for pattern in _SINGLE_SPANS:
        found.extend((m.start(), m.group(1)) for m in pattern.finditer(remainder))
    lines = (_collapse(text) for _, text in sorted(found))
    return tuple(line for line in lines if line)


def expected_lines(prompt: str | None, expected_text: str | None = None) -> tuple[str, ...]:
    """Return the lines of text the image should show.

    `expected_text`, when given (even empty), overrides the quotes in `prompt`.
    """
    if expected_text is not None:
        lines = (_collapse(line) for line in expected_text.splitlines())
        return tuple(line for line in lines if line)
    if not prompt:
        return ()
    return quoted_spans(prompt)
