"""The token contract: counts, truncation at model_max_length, expected text past the cut, the
token diff, and `driftmon tokens` — with tiny tokenizers built and saved here."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftmon.cli import app
from driftmon.errors import ConfigError
from driftmon.tokens.contract import Encoding, HFTokenizer, check_encoding, compare, locate_lines, token_diff
from tests.unit.tokens_support import build_tokenizer

OPEN = 'a shop door with a small sign that says "OPEN"'  # 12 words + 2 specials = 14 tokens
STOP = 'a red "STOP" sign'


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        "short": build_tokenizer(root / "short", 8),
        "long": build_tokenizer(root / "long", 16),
        "caps": build_tokenizer(root / "caps", 16, split_caps=True),
    }


def test_locate_lines_is_whitespace_flexible_and_skips_text_not_in_the_prompt() -> None:
    prompt = 'a sign "FRESH   BREAD" and a banner "OPEN"'
    spans = locate_lines(prompt, ["FRESH BREAD", "OPEN", "ELSEWHERE"])
    assert [(s.text, prompt[s.start : s.end]) for s in spans] == [
        ("FRESH BREAD", "FRESH   BREAD"),
        ("OPEN", "OPEN"),
    ]


def test_cut_is_where_the_kept_content_tokens_end() -> None:
    offsets = ((0, 0), (0, 1), (2, 5), (6, 7), (7, 11), (11, 12), (13, 17), (0, 0))
    tokens = ("<s>", "a", "red", '"', "STOP", '"', "sign", "</s>")
    assert Encoding(tokens, offsets, None, 2).cut_at() is None
    assert Encoding(tokens, offsets, 8, 2).cut_at() is None
    # 5 kept: 3 content tokens, so the text ends after '"' (char 7) and STOP is lost
    checked = check_encoding(STOP, Encoding(tokens, offsets, 5, 2))
    assert checked.truncated and checked.cut_at == 7 and checked.cut_lines == ("STOP",)
    # a cut after the quoted text loses no expected text
    after = check_encoding(STOP, Encoding(tokens, offsets, 7, 2))
    assert after.truncated and after.cut_lines == ()
    assert after.as_json() == {
        "tokens": 8, "limit": 7, "truncated": True, "cut_at_char": 12, "expected_text_cut": False,
        "cut_lines": [],
    }  # fmt: skip


def test_quoted_span_past_the_cut_for_one_tokenizer_only(tokenizers: dict[str, Path]) -> None:
    short, long = HFTokenizer(tokenizers["short"]), HFTokenizer(tokenizers["long"])
    assert (short.limit, long.limit, short.specials) == (8, 16, 2)
    result = compare("open", OPEN, long, short)
    assert result.baseline.count == result.candidate.count == 14
    assert not result.baseline.truncated and result.baseline.cut_lines == ()
    assert result.candidate.truncated and result.candidate.cut_lines == ("OPEN",)
    assert result.newly_cut
    # the other way round, nothing new is cut
    assert not compare("open", OPEN, short, long).newly_cut
    # a short prompt fits both
    assert not compare("stop", STOP, long, short).candidate.truncated


def test_diff_shows_the_cut_and_a_different_tokenization(tokenizers: dict[str, Path]) -> None:
    long, short, caps = (HFTokenizer(tokenizers[k]) for k in ("long", "short", "caps"))
    cut = compare("open", OPEN, long, short).diff.splitlines()
    assert cut[:2] == ["--- baseline long", "+++ candidate short"]
    assert "-OPEN" in cut and "+[cut: 6 more tokens past the limit of 8]" in cut
    split = compare("stop", STOP, long, caps).diff.splitlines()
    assert {"+S", "+T", "+O", "+P"} <= set(split) and " sign" in split
    assert compare("same", STOP, long, long).diff == ""
    assert token_diff(["a"], ["a"], ("x", "y")) == ""


def test_explicit_expected_text_overrides_the_quotes(tokenizers: dict[str, Path]) -> None:
    short = HFTokenizer(tokenizers["short"])
    assert compare("open", OPEN, short, short, expected_text="").candidate.cut_lines == ()
    assert compare("open", OPEN, short, short, expected_text="says").candidate.cut_lines == ("says",)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no tokenizer directory"):
        HFTokenizer(tmp_path / "absent")


def test_tokens_command_exit_codes_and_diff(tokenizers: dict[str, Path], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"{OPEN}\n{STOP}\n")
    runner = CliRunner()
    alone = runner.invoke(app, ["tokens", str(prompts), "--tokenizer", str(tokenizers["long"])])
    assert alone.exit_code == 0, alone.output
    assert "0 of 2 prompts lose expected text" in alone.output
    short, long = str(tokenizers["short"]), str(tokenizers["long"])
    paired = runner.invoke(app, ["tokens", str(prompts), "--tokenizer", short, "--against", long])
    assert paired.exit_code == 1, paired.output
    assert 'CUT p001-a-shop-door-with-a-small' in paired.output
    assert 'expected text cut: "OPEN"' in paired.output and "-OPEN" in paired.output
    assert "1 of 2 prompts lose expected text under" in paired.output
    missing = runner.invoke(app, ["tokens", str(prompts), "--tokenizer", str(tmp_path / "nope")])
    assert missing.exit_code == 2
