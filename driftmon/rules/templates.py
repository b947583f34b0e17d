"""Annotation templates: the part of Prometheus's Go templates that alert annotations use.

    {{ $labels.model_version }}           a label of the alert's element ("" when missing)
    {{ $value }}                          the element's value, formatted as Go's %v does
    {{ $value | printf "%.2f" }}          a pipeline: the left value is the last argument
    {{ printf "%.1f%%" $value }}          the same, written as a call
    {{ $value | humanizePercentage }}     0.63 → "63%"; also humanize, humanizeDuration,
                                          toUpper, toLower, title

Templates are parsed when the rule file is loaded, so `rules check` reports a bad one with its
column; rendering never raises. Because the syntax is Go's, exported rules keep them verbatim.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from driftmon.errors import TemplateError

_ACTION = re.compile(r"\{\{-?(.*?)-?\}\}", re.DOTALL)
_ARG = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[$A-Za-z_][\w.]*)|(?P<bad>\S))'
)


@dataclass(frozen=True, slots=True)
class _Arg:
    kind: str  # str, num, label, value, labels, func
    text: str


Command = tuple[_Arg, ...]


def _humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.4g}"
    prefixes = ["", "k", "M", "G", "T", "P", "E"] if abs(value) >= 1 else ["", "m", "u", "n", "p", "f", "a"]
    step, index = (1000.0, 0)
    scaled = value
    if abs(value) >= 1:
        while abs(scaled) >= step and index < len(prefixes) - 1:
            scaled, index = scaled / step, index + 1
    else:
        while abs(scaled) < 1 and index < len(prefixes) - 1:
            scaled, index = scaled * step, index + 1
    return f"{scaled:.4g}{prefixes[index]}"


def _humanize_duration(value: float) -> str:
    if abs(value) < 1:
        return _humanize(value) + "s"
    seconds = int(value)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    parts.append(f"{secs}s")
    return " ".join(parts)


def go_value(value: object) -> str:
    """Format like Go's %v: floats in shortest form, whole numbers without a decimal point."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def _printf(fmt: str, *args: object) -> str:
    python = re.sub(r"%v", "%s", fmt)
    converted = tuple(go_value(a) if isinstance(a, float) and "%s" in python else a for a in args)
    try:
        return python % converted
    except (TypeError, ValueError):
        return f"%!({fmt})"


FUNCTIONS: dict[str, Callable[..., str]] = {
    "printf": _printf,
    "humanize": lambda v: _humanize(float(v)),
    "humanizePercentage": lambda v: f"{float(v) * 100:.4g}%",
    "humanizeDuration": lambda v: _humanize_duration(float(v)),
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
}


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and pipelines, alternating."""

    parts: tuple[str | tuple[Command, ...], ...]
    source: str

    def render(self, labels: Mapping[str, str], value: float | None) -> str:
        """The text for one alert element; a failing pipeline renders as ``<error: ...>``."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                out.append(go_value(_run(part, labels, value)))
            except (TypeError, ValueError) as exc:
                out.append(f"<error: {exc}>")
        return "".join(out)


def _resolve(arg: _Arg, labels: Mapping[str, str], value: float | None) -> object:
    if arg.kind == "str":
        return arg.text
    if arg.kind == "num":
        return float(arg.text)
    if arg.kind == "label":
        return labels.get(arg.text, "")
    if arg.kind == "labels":
        return dict(labels)
    return value if value is not None else math.nan


def _run(pipeline: tuple[Command, ...], labels: Mapping[str, str], value: float | None) -> object:
    result: object = None
    for index, command in enumerate(pipeline):
        head, rest = command[0], command[1:]
        args = [_resolve(a, labels, value) for a in rest]
        if index:
            args.append(result)
        is_call = head.kind == "func"
        result = FUNCTIONS[head.text](*args) if is_call else _resolve(head, labels, value)
    return result


def _parse_arg(match: re.Match[str], offset: int) -> _Arg:
    if match.group("bad"):
        raise TemplateError(offset + match.start("bad"), f"unexpected {match.group('bad')!r} in template")
    if match.group("str"):
        raw = match.group("str")
        return _Arg("str", raw[1:-1] if raw[0] == "`" else re.sub(r"\\(.)", r"\1", raw[1:-1]))
    if match.group("num"):
        return _Arg("num", match.group("num"))
    word = match.group("word")
    if word == "$value":
        return _Arg("value", word)
    if word == "$labels":
        return _Arg("labels", word)
    if word.startswith("$labels."):
        return _Arg("label", word[len("$labels.") :])
    if word.startswith("$"):
        raise TemplateError(offset + match.start("word"), f"unknown variable {word}; use $labels or $value")
    if word not in FUNCTIONS:
        raise TemplateError(
            offset + match.start("word"), f"unknown function {word}; known: {', '.join(sorted(FUNCTIONS))}"
        )
    return _Arg("func", word)


def _parse_command(text: str, offset: int) -> Command:
    args: list[_Arg] = []
    pos = 0
    while text[pos:].strip():
        match = _ARG.match(text, pos)
        assert match is not None
        args.append(_parse_arg(match, offset))
        pos = match.end()
    if not args:
        raise TemplateError(offset, "empty command in template")
    if any(a.kind == "func" for a in args[1:]):
        raise TemplateError(offset, "a function must come first in a command (use | to chain)")
    return tuple(args)


def parse_template(text: str) -> Template:
    """Parse `text`; raises TemplateError with the offset of the problem."""
    parts: list[str | tuple[Command, ...]] = []
    pos = 0
    for match in _ACTION.finditer(text):
        parts.append(text[pos : match.start()])
        inner, offset = match.group(1), match.start(1)
        pipeline: list[Command] = []
        start = 0
        for piece in inner.split("|"):
            pipeline.append(_parse_command(piece, offset + start))
            start += len(piece) + 1
        parts.append(tuple(pipeline))
        pos = match.end()
    rest = text[pos:]
    if "{{" in rest:
        raise TemplateError(pos + rest.index("{{"), "unclosed '{{' in template")
    parts.append(rest)
    return Template(tuple(p for p in parts if p != ""), text)
