"""The token contract: does a prompt's expected text survive the text encoder's truncation?

contract.py   the pure core: token counts, the cut, the expected lines lost past it, the diff of
              two tokenizers; `HFTokenizer` over a local transformers tokenizer (never downloaded)
cli.py        ``driftmon tokens PROMPTS --tokenizer DIR [--against DIR]``, offline
live.py       the same contract in the daemon: the `prompt_truncated` scorer check and the
              steps observer (`driftmon_generation_steps`)
"""

__all__: list[str] = []
