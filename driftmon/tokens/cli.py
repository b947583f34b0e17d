"""``driftmon tokens PROMPTS --tokenizer DIR [--against DIR]``: the token contract, offline.

Exit 0 when no prompt's expected text falls past the cut of ``--tokenizer`` (with ``--against``:
none that the other tokenizer keeps whole), 1 when one does, 2 on a usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from driftmon.errors import ConfigError
from driftmon.tokens.contract import Comparison, HFTokenizer, PromptTokens, Tokenizer, check_prompt, compare


def describe(checked: PromptTokens) -> str:
    """One prompt's line: tokens, limit, where it is cut, which expected lines are lost (pure)."""
    limit = "no limit" if checked.limit is None else f"limit {checked.limit}"
    text = f"{checked.count} tokens ({limit})"
    if checked.cut_at is not None:
        text += f", cut after character {checked.cut_at}"
    if checked.cut_lines:
        text += ", expected text cut: " + ", ".join(f'"{line}"' for line in checked.cut_lines)
    return text


def single_report(
    prompts: Sequence[tuple[str, str, str | None]], tokenizer: Tokenizer
) -> tuple[list[str], int]:
    """Lines for each prompt under one tokenizer, and how many lose expected text."""
    lines, lost = [], 0
    for prompt_id, text, expected in prompts:
        checked = check_prompt(tokenizer, text, expected)
        lost += checked.expected_text_cut
        mark = "CUT " if checked.expected_text_cut else "ok  "
        lines.append(f"{mark}{prompt_id}: {describe(checked)}")
    return lines, lost


def paired_report(comparisons: Sequence[Comparison]) -> tuple[list[str], int]:
    """Lines for each prompt under both tokenizers, the token diffs, and how many are newly cut."""
    lines = []
    for c in comparisons:
        mark = "CUT " if c.newly_cut else "ok  "
        lines.append(f"{mark}{c.prompt_id}")
        lines.append(f"      baseline:  {describe(c.baseline)}")
        lines.append(f"      candidate: {describe(c.candidate)}")
        if c.diff:
            lines.extend("      " + line for line in c.diff.splitlines())
    return lines, sum(c.newly_cut for c in comparisons)


def tokens(
    prompts: Annotated[Path, typer.Argument(help="A probe YAML, or a text file with one prompt a line.")],
    tokenizer: Annotated[Path, typer.Option(help="Tokenizer directory (transformers, loaded offline).")],
    against: Annotated[
        Path | None, typer.Option(help="Baseline tokenizer directory: compare and diff the tokens.")
    ] = None,
) -> None:
    """Token counts, truncation and expected text past the cut, per prompt (exit 1 when cut)."""
    from driftmon.gate.plan import load_prompts

    try:
        items = [(p.id, p.text, p.expected_text) for p in load_prompts(prompts)]
        candidate = HFTokenizer(tokenizer)
        baseline = HFTokenizer(against) if against is not None else None
    except ConfigError as exc:
        print(f"driftmon tokens: {exc}", file=sys.stderr, flush=True)
        raise typer.Exit(2) from exc
    if baseline is None:
        lines, lost = single_report(items, candidate)
        summary = f"{lost} of {len(items)} prompts lose expected text under {tokenizer}"
    else:
        lines, lost = paired_report([compare(i, t, baseline, candidate, e) for i, t, e in items])
        summary = f"{lost} of {len(items)} prompts lose expected text under {tokenizer}, not under {against}"
    print("\n".join([*lines, summary]), flush=True)
    raise typer.Exit(1 if lost else 0)
