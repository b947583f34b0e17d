"""The rule expression language: tokens, syntax tree and a Pratt parser that keeps positions.

    expr      := expr ("or") expr | expr ("and" | "unless") expr
               | expr ("==" | "!=" | "<" | "<=" | ">" | ">=") expr
               | expr ("+" | "-") expr | expr ("*" | "/") expr | "-" expr | primary
    primary   := NUMBER | STRING | "(" expr ")" | call | selector
    call      := IDENT "(" [arg ("," arg)*] ")" ["by" "(" [IDENT ("," IDENT)*] ")"]
    arg       := expr | IDENT "=" expr
    selector  := IDENT ["{" matcher ("," matcher)* "}"] ["[" DURATION "]"]
    matcher   := IDENT ("=" | "!=") STRING

Every node carries `pos`, the 0-based offset of its first character in the expression text, so
that errors can name the exact column. This module only parses; `driftmon.rules.compile` gives
the tree its meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from driftmon.durations import parse_duration
from driftmon.errors import ExprSyntaxError


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: `kind` is NUM, STR, IDENT, DUR, OP or EOF."""

    kind: str
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|[<>+\-*/(){},=\[\]])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; the text inside ``[...]`` is one DUR token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "[":
            end = text.find("]", pos)
            if end < 0:
                raise ExprSyntaxError(pos, "unclosed '[': expected a duration such as [10m]")
            tokens.append(Token("DUR", text[pos + 1 : end], pos + 1))
            pos = end + 1
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExprSyntaxError(pos, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind.upper(), match.group(), pos))
        pos = match.end()
    tokens.append(Token("EOF", "", len(text)))
    return tokens


# ---------------------------------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Number:
    """A number literal."""

    value: float
    pos: int


@dataclass(frozen=True, slots=True)
class String:
    """A string literal (only used for keyword arguments such as ``method="ks"``)."""

    value: str
    pos: int


@dataclass(frozen=True, slots=True)
class Matcher:
    """A label matcher inside ``{...}``: `op` is ``=`` or ``!=``."""

    label: str
    op: str
    value: str
    pos: int


@dataclass(frozen=True, slots=True)
class Selector:
    """A signal, optionally with label matchers and a window (``fidelity{source="probe"}[10m]``)."""

    signal: str
    pos: int
    matchers: tuple[Matcher, ...] = ()
    window: float | None = None
    window_text: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """A function call with positional and keyword arguments and an optional ``by (...)``."""

    func: str
    pos: int
    args: tuple[Node, ...] = ()
    kwargs: tuple[tuple[str, Node], ...] = ()
    by: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operation; `pos` is the operator's position."""

    op: str
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Neg:
    """Unary minus."""

    operand: Node
    pos: int


Node = Number | String | Selector | Call | Binary | Neg

#: binary operators and their binding power (higher binds tighter)
BINARY_POWER = {
    "or": 10,
    "and": 20,
    "unless": 20,
    "==": 30,
    "!=": 30,
    "<": 30,
    "<=": 30,
    ">": 30,
    ">=": 30,
    "+": 40,
    "-": 40,
    "*": 50,
    "/": 50,
}
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
LOGICAL = frozenset({"and", "or", "unless"})
_NEG_POWER = 60


@dataclass
class _Parser:
    text: str
    tokens: list[Token]
    index: int = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str, what: str) -> Token:
        token = self.peek()
        if token.text != text or token.kind not in ("OP", "IDENT"):
            raise ExprSyntaxError(token.pos, f"expected {what}, found {_describe(token)}")
        return self.next()

    def expression(self, min_power: int = 0) -> Node:
        left = self.prefix()
        while True:
            token = self.peek()
            power = BINARY_POWER.get(token.text) if token.kind in ("OP", "IDENT") else None
            if power is None or power <= min_power:
                return left
            self.next()
            right = self.expression(power)
            left = Binary(token.text, left, right, token.pos)

    def prefix(self) -> Node:
        token = self.next()
        if token.kind == "NUM":
            return Number(float(token.text), token.pos)
        if token.kind == "STR":
            return String(_unquote(token.text), token.pos)
        if token.text == "-" and token.kind == "OP":
            return Neg(self.expression(_NEG_POWER), token.pos)
        if token.text == "(" and token.kind == "OP":
            inner = self.expression()
            self.expect(")", "')' to close the '(' at column " + str(token.pos + 1))
            return inner
        if token.kind == "IDENT" and token.text not in LOGICAL and token.text != "by":
            if self.peek().text == "(" and self.peek().kind == "OP":
                return self.call(token)
            return self.selector(token)
        if token.kind == "EOF":
            raise ExprSyntaxError(token.pos, "unexpected end of expression")
        raise ExprSyntaxError(token.pos, f"unexpected {_describe(token)}")

    def call(self, name: Token) -> Call:
        self.next()  # "("
        args: list[Node] = []
        kwargs: list[tuple[str, Node]] = []
        if self.peek().text != ")":
            while True:
                token = self.peek()
                after = self.tokens[self.index + 1]
                if token.kind == "IDENT" and after.text == "=" and after.kind == "OP":
                    self.index += 2
                    kwargs.append((token.text, self.expression()))
                else:
                    if kwargs:
                        raise ExprSyntaxError(token.pos, "positional argument after a keyword argument")
                    args.append(self.expression())
                if self.peek().text != ",":
                    break
                self.next()
        self.expect(")", f"',' or ')' in the call to {name.text}()")
        by = self.by_clause()
        return Call(name.text, name.pos, tuple(args), tuple(kwargs), by)

    def by_clause(self) -> tuple[str, ...] | None:
        if not (self.peek().kind == "IDENT" and self.peek().text == "by"):
            return None
        self.next()
        self.expect("(", "'(' after 'by'")
        labels: list[str] = []
        while self.peek().text != ")":
            token = self.next()
            if token.kind != "IDENT":
                raise ExprSyntaxError(
                    token.pos, f"expected a label name in by (...), found {_describe(token)}"
                )
            labels.append(token.text)
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != ")":
                raise ExprSyntaxError(
                    self.peek().pos, f"expected ',' or ')' in by (...), found {_describe(self.peek())}"
                )
        self.next()
        return tuple(labels)

    def selector(self, name: Token) -> Selector:
        matchers: tuple[Matcher, ...] = ()
        if self.peek().text == "{" and self.peek().kind == "OP":
            matchers = self.matchers()
        window: float | None = None
        window_text: str | None = None
        if self.peek().kind == "DUR":
            token = self.next()
            window_text = token.text.strip()
            try:
                window = parse_duration(window_text)
            except ValueError:
                raise ExprSyntaxError(
                    token.pos, f"bad window [{token.text}]: use e.g. [30s], [10m], [1h]"
                ) from None
            if window <= 0:
                raise ExprSyntaxError(token.pos, "a window must be longer than zero")
        return Selector(name.text, name.pos, matchers, window, window_text)

    def matchers(self) -> tuple[Matcher, ...]:
        self.next()  # "{"
        found: list[Matcher] = []
        while self.peek().text != "}":
            label = self.next()
            if label.kind != "IDENT":
                raise ExprSyntaxError(label.pos, f"expected a label name, found {_describe(label)}")
            op = self.next()
            if op.text not in ("=", "!="):
                raise ExprSyntaxError(
                    op.pos, f"expected '=' or '!=' after {label.text}, found {_describe(op)}"
                )
            value = self.next()
            if value.kind != "STR":
                raise ExprSyntaxError(value.pos, f"expected a quoted label value, found {_describe(value)}")
            found.append(Matcher(label.text, op.text, _unquote(value.text), label.pos))
            if self.peek().text == ",":
                self.next()
            elif self.peek().text != "}":
                raise ExprSyntaxError(
                    self.peek().pos, f"expected ',' or '}}', found {_describe(self.peek())}"
                )
        self.next()
        return tuple(found)


def _describe(token: Token) -> str:
    if token.kind == "EOF":
        return "end of expression"
    if token.kind == "DUR":
        return f"window [{token.text}]"
    return repr(token.text)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(text: str) -> Node:
    """Parse an expression; raises ExprSyntaxError with the offset of the problem."""
    if not text.strip():
        raise ExprSyntaxError(0, "empty expression")
    parser = _Parser(text, tokenize(text))
    node = parser.expression()
    token = parser.peek()
    if token.kind != "EOF":
        raise ExprSyntaxError(token.pos, f"unexpected {_describe(token)} after a complete expression")
    return node
