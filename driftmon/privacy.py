"""What of a prompt is stored: `store.prompts` (full | expected_only | hash), applied once, as a
pure function, where a scored sample is written to the samples table (`Store`).

Scoring always sees the whole prompt (CLIPScore compares it to the image, the expected text and
objects are read from it); the policy decides only what is kept afterwards:

    full            the prompt as received (the default: a failing sample can be read in full)
    expected_only   no prompt; only what the scores need: the expected text (the quoted lines,
                    or the explicit ``expected_text``) and the evidence (expected objects, words)
    hash            only ``sha256(prompt)`` in hex (equal prompts stay comparable); no expected
                    text, and the evidence that quotes the prompt (expected words, object names,
                    the token cut) is dropped; scores and what the OCR read in the image stay
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, Literal, get_args

from driftmon.samples import ScoredSample

PromptPolicy = Literal["full", "expected_only", "hash"]
PROMPT_POLICIES: tuple[str, ...] = get_args(PromptPolicy)

#: the evidence kept under ``hash``: what cannot quote the prompt (a whitelist, so a new check's
#: evidence is dropped until it is known to be prompt-free)
_HASH_EVIDENCE = frozenset({"scorer_version", "accents_folded", "reading"})
_HASH_COMPOSITION_EVIDENCE = frozenset({"sanity"})


def prompt_hash(prompt: str) -> str:
    """The SHA-256 of the prompt's UTF-8 bytes, hex (pure)."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def prompt_free_evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """`evidence` without anything that quotes the prompt (pure)."""
    kept = {key: value for key, value in evidence.items() if key in _HASH_EVIDENCE}
    composition = evidence.get("composition")
    if isinstance(composition, Mapping):
        kept["composition"] = {
            key: value for key, value in composition.items() if key in _HASH_COMPOSITION_EVIDENCE
        }
    return kept


def stored_form(sample: ScoredSample, policy: PromptPolicy) -> ScoredSample:
    """The scored sample as `policy` lets it be stored (pure; `full` returns it unchanged)."""
    if policy == "full":
        return sample
    prompt = sample.meta.prompt
    if policy == "expected_only":
        meta = dataclasses.replace(sample.meta, prompt=None, expected_text=sample.expected_text or None)
        return dataclasses.replace(sample, meta=meta)
    meta = dataclasses.replace(
        sample.meta,
        prompt=None if prompt is None else prompt_hash(prompt),
        expected_text=None,
        expected_objects=None,
    )
    return dataclasses.replace(
        sample, meta=meta, expected_text="", evidence=prompt_free_evidence(sample.evidence)
    )
