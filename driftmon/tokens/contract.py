"""The token contract: does a prompt's expected text survive the text encoder's truncation?

Text encoders keep a fixed number of tokens (CLIP: 77, specials included) and silently drop the
rest; text in quotes past the cut cannot be rendered, however good the model. Per prompt:

* the token count under a tokenizer (special tokens included) and its limit (`model_max_length`),
* whether the prompt is truncated, and the character offset where the kept text ends,
* the expected lines (driftmon.expectations.expected_lines) that end past that offset, and
* between two tokenizers, a unified diff of the token strings, one per line.

The core is pure: it works on `Encoding` (token strings and character offsets), which
`HFTokenizer` makes from a local transformers tokenizer (loaded offline, never downloaded).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from driftmon.errors import ConfigError
from driftmon.expectations import expected_lines

#: transformers' "no limit" sentinel is 1e30; anything this large is no limit
NO_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class Encoding:
    """A prompt's tokens: strings and (start, end) character offsets, specials with (0, 0)."""

    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    #: the tokens the encoder keeps, specials included (None: no limit)
    limit: int | None
    #: special tokens the encoder adds around every prompt (CLIP: start and end of text)
    specials: int = 0

    def cut_at(self) -> int | None:
        """The character offset where the kept text ends; None when nothing is cut."""
        if self.limit is None:
            return None
        content = [(s, e) for s, e in self.offsets if e > s]
        kept = max(self.limit - self.specials, 0)
        if len(content) <= kept:
            return None
        return content[kept - 1][1] if kept else 0


class Tokenizer(Protocol):
    """What the contract needs of a tokenizer."""

    name: str

    def encode(self, text: str) -> Encoding: ...


@dataclass(frozen=True, slots=True)
class Span:
    """One expected line and where it stands in the prompt (start, end: character offsets)."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PromptTokens:
    """One prompt under one tokenizer."""

    count: int
    limit: int | None
    cut_at: int | None
    #: expected lines that end past the cut (in prompt order)
    cut_lines: tuple[str, ...] = ()
    tokens: tuple[str, ...] = field(default=(), repr=False)

    @property
    def truncated(self) -> bool:
        return self.cut_at is not None

    @property
    def expected_text_cut(self) -> bool:
        return bool(self.cut_lines)

    def as_json(self) -> dict[str, Any]:
        """The evidence a sample or a report keeps (no token list)."""
        return {
            "tokens": self.count,
            "limit": self.limit,
            "truncated": self.truncated,
            "cut_at_char": self.cut_at,
            "expected_text_cut": self.expected_text_cut,
            "cut_lines": list(self.cut_lines),
        }


def locate_lines(prompt: str, lines: Sequence[str]) -> list[Span]:
    """Where each expected line stands in `prompt`, in order (whitespace-flexible); lines that the
    prompt does not contain (an explicit expected text) are left out (pure)."""
    spans, position = [], 0
    for line in lines:
        words = line.split()
        if not words:
            continue
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words))
        found = pattern.search(prompt, position) or pattern.search(prompt)
        if found is None:
            continue
        spans.append(Span(line, found.start(), found.end()))
        position = found.end()
    return spans


def check_encoding(
    prompt: str, encoding: Encoding, expected_text: str | None = None
) -> PromptTokens:
    """Truncation of one prompt and the expected lines past the cut (pure)."""
    cut = encoding.cut_at()
    lines = expected_lines(prompt, expected_text)
    cut_lines = () if cut is None else tuple(s.text for s in locate_lines(prompt, lines) if s.end > cut)
    return PromptTokens(len(encoding.tokens), encoding.limit, cut, cut_lines, encoding.tokens)


def check_prompt(tokenizer: Tokenizer, prompt: str, expected_text: str | None = None) -> PromptTokens:
    """`check_encoding` of `prompt` under `tokenizer`."""
    return check_encoding(prompt, tokenizer.encode(prompt), expected_text)


def seen_tokens(checked: PromptTokens) -> list[str]:
    """The token strings the encoder keeps, then one line saying how many it drops (pure)."""
    if checked.limit is None or checked.count <= checked.limit:
        return list(checked.tokens)
    dropped = checked.count - checked.limit
    marker = f"[cut: {dropped} more tokens past the limit of {checked.limit}]"
    return [*checked.tokens[: checked.limit], marker]


def token_diff(baseline: Sequence[str], candidate: Sequence[str], names: tuple[str, str]) -> str:
    """A unified diff of two tokenizations, one token string per line ("" when equal; pure)."""
    lines = difflib.unified_diff(
        list(baseline), list(candidate), fromfile=names[0], tofile=names[1], lineterm=""
    )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One prompt under the baseline and the candidate tokenizer."""

    prompt_id: str
    prompt: str
    baseline: PromptTokens
    candidate: PromptTokens
    diff: str

    @property
    def newly_cut(self) -> bool:
        """Expected text cut by the candidate but not by the baseline: the contract's failure."""
        return self.candidate.expected_text_cut and not self.baseline.expected_text_cut

    def as_json(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "prompt": self.prompt,
            "baseline": self.baseline.as_json(),
            "candidate": self.candidate.as_json(),
            "newly_cut": self.newly_cut,
            "diff": self.diff,
        }


def compare(
    prompt_id: str,
    prompt: str,
    baseline: Tokenizer,
    candidate: Tokenizer,
    expected_text: str | None = None,
) -> Comparison:
    """One prompt under both tokenizers, with the diff of their token strings."""
    b = check_prompt(baseline, prompt, expected_text)
    c = check_prompt(candidate, prompt, expected_text)
    names = (f"baseline {baseline.name}", f"candidate {candidate.name}")
    return Comparison(prompt_id, prompt, b, c, token_diff(seen_tokens(b), seen_tokens(c), names))


class HFTokenizer:
    """A local transformers tokenizer (``AutoTokenizer.from_pretrained(dir, local_files_only=True)``).

    Offsets come from the fast tokenizer's offset mapping; a slow tokenizer is measured by
    tokenizing prefixes of the prompt.
    """

    def __init__(self, path: Path | str, tokenizer: Any = None) -> None:
        self.path = Path(path)
        self.name = self.path.name or str(self.path)
        self.tokenizer = tokenizer if tokenizer is not None else load_hf_tokenizer(self.path)
        limit = int(getattr(self.tokenizer, "model_max_length", NO_LIMIT) or NO_LIMIT)
        self.limit = None if limit >= NO_LIMIT else limit
        self.specials = int(self.tokenizer.num_special_tokens_to_add(pair=False))

    def encode(self, text: str) -> Encoding:
        tok = self.tokenizer
        if getattr(tok, "is_fast", False):
            found = tok(
                text, add_special_tokens=True, truncation=False, return_offsets_mapping=True, verbose=False
            )
            offsets = tuple((int(s), int(e)) for s, e in found["offset_mapping"])
        else:
            found = tok(text, add_special_tokens=True, truncation=False, verbose=False)
            offsets = self._prefix_offsets(text, len(found["input_ids"]))
        tokens = tuple(tok.convert_ids_to_tokens(found["input_ids"]))
        return Encoding(tokens, offsets, self.limit, self.specials)

    def _prefix_offsets(self, text: str, count: int) -> tuple[tuple[int, int], ...]:
        """Offsets of a slow tokenizer: the k-th content token ends where a prefix first needs k."""
        content = count - self.specials
        ends: list[int] = []
        for end in range(1, len(text) + 1):
            needed = len(self.tokenizer(text[:end], add_special_tokens=False, verbose=False)["input_ids"])
            while len(ends) < min(needed, content):
                ends.append(end)
        starts = [0, *ends[:-1]]
        pairs = [(s, e) for s, e in zip(starts, ends, strict=True)]
        return ((0, 0),) * (count - len(pairs)) + tuple(pairs) if pairs else ((0, 0),) * count


def load_hf_tokenizer(path: Path) -> Any:
    """A tokenizer saved in `path` (never downloaded); ConfigError says why not."""
    if not path.is_dir():
        raise ConfigError(f"{path}: no tokenizer directory here")
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: cannot load a tokenizer offline: {exc}") from exc
