"""What the prompt expects (pure functions): the text it asks to be rendered and the objects
it asks for, counted.

**Expected text** (documented in README, "Expected text"):

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

**Object counts** (docs/composition.md, "Object counts"):

* A count is a quantifier followed by a noun phrase: number words ("one" … "twenty", tens up
  to "ninety"), digits ("2", up to 99), "a pair of" = 2, "a trio of" = 3, "a dozen" = 12,
  "half a dozen" = 6, "N dozen" = 12·N, and — unless ``articles=False`` — "a"/"an"/"a single" = 1.
* The noun phrase is at most four words after the quantifier, ended by punctuation or a
  function word (prepositions, conjunctions, articles, pronouns, verbs such as "is", words
  ending in "-ing" or, after its first word, "-ed"). Its longest prefix that agrees in number
  (below) names the object by its last two words, the head singularised: "three fluffy cats"
  → ``fluffy cat``, "two traffic lights" → ``traffic light``, "a cat sits" → ``cat``.
* Number agreement decides whether a numeral counts: with N ≥ 2 the head noun must be plural,
  with 1 singular. So "a three-story house" is one house (a hyphenated word is never a number)
  and "three cats sleep" is three cats, but "a three story house" is not three "story houses",
  and "one of the cats" or "2 meters tall" (a measure) count nothing.
* Picture words ("a photo of", "an illustration of") and vague amounts ("a few", "a lot of")
  count nothing. Quoted text is ignored ("a sign saying 'THREE CATS'" expects one sign).
* The same object named twice adds up ("a cat and a cat" → 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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


# -- object counts ---------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
NUMBER_WORDS: dict[str, int] = {word: n for n, word in enumerate(_UNITS)} | _TENS

#: "a/an <word> of" phrases that name an amount, with the amount
_GROUPS = {"pair": 2, "trio": 3, "dozen": 12}
#: amounts too vague to count
_VAGUE = _words(
    "few lot lots bunch group number variety couple handful plenty some several many "
    "little bit crowd herd flock pile stack set series collection"
)
#: nouns that frame the picture rather than name something in it
_FRAMES = _words(
    "photo photograph picture image painting drawing illustration render rendering sketch "
    "portrait shot closeup close-up view scene style poster artwork art depiction digital "
    "cartoon 3d watercolor oil photorealistic realistic detailed beautiful high resolution "
    "quality kind type sort lot"
)
#: words that end a noun phrase
_STOP = _words(
    """a an the this that these those some any each every all no of in on at by for with
    without from to into onto over under above below behind beside between near next and or
    but nor while as than then so is are was were be been being has have had do does did
    can could will would should may might must it its they them their he she his her him
    we our you your i my me who whom whose which what where when why how there here not
    also only just one ones other another same such"""
)
#: nouns ending in -ing (other -ing words end a phrase: "a cat sitting")
_ING_NOUNS = _words(
    "ring king wing building ceiling string swing spring thing sibling duckling seedling "
    "earring pudding dumpling wedding stocking"
)
#: measures: "2 meters tall", "5 years old" count nothing
_MEASURES = _words(
    """meter metre centimeter centimetre millimeter kilometer inch foot yard mile cm mm km
    m kg g lb pound ounce gram kilogram liter litre year month week day hour minute second
    time percent degree dollar euro cent story storey floor level"""
)
#: plural nouns that do not end in -s, and their singulars
_IRREGULAR = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "teeth": "tooth",
    "feet": "foot",
    "oxen": "ox",
    "dice": "die",
    "knives": "knife",
    "wolves": "wolf",
    "leaves": "leaf",
    "loaves": "loaf",
    "halves": "half",
    "shelves": "shelf",
    "calves": "calf",
    "scarves": "scarf",
    "wives": "wife",
    "lives": "life",
    "thieves": "thief",
    "elves": "elf",
    "cacti": "cactus",
    "fungi": "fungus",
}
#: nouns whose plural is the singular
_INVARIANT = _words("sheep fish deer moose bison salmon trout series species aircraft")
#: singular nouns ending in -s
_SINGULAR_S = _words(
    "bus gas glass grass class dress cross boss mattress compass cactus octopus platypus "
    "hippopotamus walrus lens iris canvas chess news bonus virus circus campus"
)
#: plurals that drop only the final -s although they end in -ies, -oes or -ses
_S_ONLY = _words(
    """cookies movies zombies brownies selfies rookies smoothies hoodies pixies shoes toes
    canoes oboes hoes horses houses vases roses noses cheeses purses nurses"""
)
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”|«[^»]*»|‘[^’]*’|(?<!\w)\'[^\']*\'(?!\w)')
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")
_MAX_PHRASE = 4
_NAME_WORDS = 2
_MAX_DIGITS = 99


def is_plural(word: str) -> bool:
    """Whether a (lower-case) noun is plural by spelling."""
    if word in _IRREGULAR or word in _INVARIANT:
        return True
    if word in _SINGULAR_S or word.endswith(("ss", "us", "is")):
        return False
    return word.endswith("s") and len(word) > 2


def is_singular(word: str) -> bool:
    """Whether a (lower-case) noun can be singular (invariant nouns are both)."""
    return word in _INVARIANT or not is_plural(word)


def singular(word: str) -> str:
    """The singular of a (lower-case) plural noun; other words unchanged."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if not is_plural(word) or word in _INVARIANT or word in _S_ONLY:
        return word if word not in _S_ONLY else word[:-1]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes", "oes")) or word[:-2] in _SINGULAR_S:
        return word[:-2]
    return word[:-1]


def _tokens(prompt: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(_QUOTED.sub(" , ", prompt))]


def _number(word: str) -> int | None:
    """A number word ("three", "twenty-one") or digits up to 99 as an int; else None."""
    if word.isdigit():
        return int(word) if int(word) <= _MAX_DIGITS else None
    tens, _, unit = word.partition("-")
    if unit and tens in _TENS and NUMBER_WORDS.get(unit, 0) in range(1, 10):
        return _TENS[tens] + NUMBER_WORDS[unit]
    return NUMBER_WORDS.get(word)


def _quantifier(tokens: list[str], i: int, articles: bool) -> tuple[int, int] | None:
    """(amount, index of the first phrase token) if a quantifier starts at `i`."""
    word = tokens[i]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    after = tokens[i + 2] if i + 2 < len(tokens) else ""
    if word == "half" and nxt == "a" and after == "dozen":
        return 6, i + 3
    if word in ("a", "an"):
        if nxt in _GROUPS and nxt not in _VAGUE:
            return _GROUPS[nxt], i + 3 if after == "of" else i + 2
        if nxt == "single" and articles:
            return 1, i + 2
        return (1, i + 1) if articles else None
    amount = _number(word)
    if not amount:
        return None
    if nxt == "dozen":
        return amount * 12, i + 2
    return amount, i + 1


def _ends_phrase(token: str, position: int) -> bool:
    if not token[0].isalnum() or token in _STOP or _number(token) is not None:
        return True
    if token.endswith("ing") and token not in _ING_NOUNS:
        return True
    # "a bearded man" keeps its participle, "a red car parked outside" does not
    return position > 0 and token.endswith("ed") and len(token) >= 5 and "-" not in token


def _phrase(tokens: list[str], start: int) -> list[str]:
    """The words after a quantifier, up to a function word, punctuation or four words."""
    words: list[str] = []
    for token in tokens[start : start + _MAX_PHRASE]:
        if _ends_phrase(token, len(words)):
            break
        words.append(token)
    return words


def _name(words: list[str], amount: int) -> str | None:
    """The object `words` name, or None when agreement or the word lists rule it out."""
    head = words[-1]
    if words[0] in _VAGUE or words[0] in _FRAMES or head in _FRAMES:
        return None
    if not head.replace("-", "").isalpha() or singular(head) in _MEASURES:
        return None
    agrees = is_plural(head) if amount >= 2 else is_singular(head)
    if not agrees:
        return None
    return " ".join([*words[-_NAME_WORDS:-1], singular(head)])


def _object(words: list[str], amount: int) -> tuple[str, int] | None:
    """(object name, words used) for the longest prefix of `words` that names one."""
    for length in range(len(words), 0, -1):
        name = _name(words[:length], amount)
        if name is not None:
            return name, length
    return None


def parse_counts(prompt: str | None, articles: bool = True) -> dict[str, int]:
    """Objects and how many of each `prompt` asks for; empty when it names no count."""
    if not prompt:
        return {}
    tokens = _tokens(prompt)
    counts: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        found = _quantifier(tokens, i, articles)
        if found is None:
            i += 1
            continue
        amount, start = found
        found_object = _object(_phrase(tokens, start), amount)
        if found_object is None:
            i += 1
            continue
        name, used = found_object
        counts[name] = counts.get(name, 0) + amount
        i = start + used
    return counts


def expected_counts(
    prompt: str | None,
    expected_objects: Mapping[str, int] | None = None,
    articles: bool = True,
) -> dict[str, int]:
    """`expected_objects` (names lower-cased) when given, else the counts parsed from `prompt`."""
    if expected_objects is not None:
        return {name.strip().lower(): int(n) for name, n in expected_objects.items()}
    return parse_counts(prompt, articles)
