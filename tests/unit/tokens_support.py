"""Tiny tokenizers for the token contract's tests: word-level, trained on a few sentences, with
CLIP-like start and end tokens, saved as transformers tokenizers (loaded offline, as in use)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SENTENCES = (
    'a shop door with a small sign that says "OPEN"',
    'a bakery window with a painted sign "FRESH BREAD"',
    'a red "STOP" sign',
    "a quiet lake at dawn with mountains behind it and no text at all anywhere",
)


def build_tokenizer(
    path: Path, max_length: int, sentences: Sequence[str] = SENTENCES, split_caps: bool = False
) -> Path:
    """A word-level tokenizer with ``<s> … </s>`` around each prompt and `max_length` tokens kept;
    `split_caps` also splits words into characters when they are upper case (a different
    tokenization of the quoted text)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    steps = [pre_tokenizers.Whitespace()]
    if split_caps:
        steps.append(pre_tokenizers.Split(Regex("[A-Z]"), behavior="isolated"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(steps)
    trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]", "<s>", "</s>"])
    tokenizer.train_from_iterator(list(sentences), trainer)
    start, end = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", start), ("</s>", end)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_length, unk_token="[UNK]", bos_token="<s>",
        eos_token="</s>",
    )  # fmt: skip
    fast.save_pretrained(str(path))
    return path
