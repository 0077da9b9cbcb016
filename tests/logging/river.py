"""A small tokenizer and parser for Alloy's configuration syntax (formerly River), for tests.

No Alloy binary runs here, so the rendered ``config.alloy`` is checked with this independent reader:
it tokenizes (strings with Go escapes, raw strings, comments, numbers, identifiers, punctuation), then
parses the structure (blocks with optional string labels, attributes, expressions: literals, lists,
objects, references, function calls, unary and binary operators). Anything malformed (an unbalanced
brace or bracket, an unterminated string, an unknown escape, a stray token, an attribute without a
value) raises ``RiverError`` with the line and column. The result is a tree tests can query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class RiverError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, punct, newline, eof
    value: Any
    line: int
    col: int


_PUNCT = (
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "=",
    ",",
    ".",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<",
    ">",
    "!",
    ":",
)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, line, col = 0, 1, 1
    n = len(text)

    def err(msg: str) -> RiverError:
        return RiverError(f"line {line}, column {col}: {msg}")

    while i < n:
        ch = text[i]
        if ch == "\n":
            tokens.append(Token("newline", "\n", line, col))
            i, line, col = i + 1, line + 1, 1
            continue
        if ch in " \t\r":
            i, col = i + 1, col + 1
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            col += end - i
            i = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise err("unterminated block comment")
            chunk = text[i : end + 2]
            line += chunk.count("\n")
            col = (len(chunk) - chunk.rfind("\n")) if "\n" in chunk else col + len(chunk)
            i = end + 2
            continue
        if ch == '"':
            start_line, start_col = line, col
            j, out = i + 1, []
            while True:
                if j >= n or text[j] == "\n":
                    raise RiverError(f"line {start_line}, column {start_col}: unterminated string")
                c = text[j]
                if c == '"':
                    break
                if c == "\\":
                    if j + 1 >= n:
                        raise RiverError(f"line {start_line}, column {start_col}: unterminated string")
                    e = text[j + 1]
                    if e in _SIMPLE_ESCAPES:
                        out.append(_SIMPLE_ESCAPES[e])
                        j += 2
                    elif e in "xuU":
                        width = {"x": 2, "u": 4, "U": 8}[e]
                        digits = text[j + 2 : j + 2 + width]
                        if not re.fullmatch(rf"[0-9A-Fa-f]{{{width}}}", digits):
                            raise RiverError(f"line {start_line}: invalid \\{e} escape in string")
                        out.append(chr(int(digits, 16)))
                        j += 2 + width
                    elif e in "01234567":
                        digits = text[j + 1 : j + 4]
                        if not re.fullmatch(r"[0-7]{3}", digits):
                            raise RiverError(f"line {start_line}: invalid octal escape in string")
                        out.append(chr(int(digits, 8)))
                        j += 4
                    else:
                        raise RiverError(f"line {start_line}: unknown escape sequence \\{e} in string")
                    continue
                out.append(c)
                j += 1
            tokens.append(Token("string", "".join(out), start_line, start_col))
            col += j + 1 - i
            i = j + 1
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise err("unterminated raw string")
            raw = text[i + 1 : end]
            tokens.append(Token("string", raw, line, col))
            line += raw.count("\n")
            col = (len(raw) - raw.rfind("\n") + 1) if "\n" in raw else col + len(raw) + 2
            i = end + 1
            continue
        m = _IDENT.match(text, i)
        if m:
            tokens.append(Token("ident", m.group(0), line, col))
            col += len(m.group(0))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            tokens.append(
                Token(
                    "number",
                    float(m.group(0)) if "." in m.group(0) or "e" in m.group(0).lower() else int(m.group(0)),
                    line,
                    col,
                )
            )
            col += len(m.group(0))
            i = m.end()
            continue
        for p in _PUNCT:
            if text.startswith(p, i):
                tokens.append(Token("punct", p, line, col))
                i, col = i + len(p), col + len(p)
                break
        else:
            raise err(f"unexpected character {ch!r}")
    tokens.append(Token("eof", None, line, col))
    return tokens


# --------------------------------------------------------------------------------------------------
# Tree
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A reference such as ``discovery.kubernetes.pods.targets``."""

    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Any


@dataclass
class Block:
    name: str
    label: str | None
    attrs: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def find(self, name: str, label: str | None = None) -> list[Block]:
        return [b for b in self.blocks if b.name == name and (label is None or b.label == label)]

    def one(self, name: str, label: str | None = None) -> Block:
        found = self.find(name, label)
        if len(found) != 1:
            raise AssertionError(f"expected one {name} {label or ''} block in {self.name}, found {len(found)}")
        return found[0]


_BINARY = ("||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    # helpers
    def peek(self, skip_newlines: bool = True) -> Token:
        j = self.i
        while skip_newlines and self.toks[j].kind == "newline":
            j += 1
        return self.toks[j]

    def next(self, skip_newlines: bool = True) -> Token:
        while skip_newlines and self.toks[self.i].kind == "newline":
            self.i += 1
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, kind: str, value: Any = None) -> Token:
        tok = self.next()
        if tok.kind != kind or (value is not None and tok.value != value):
            want = value if value is not None else kind
            raise RiverError(f"line {tok.line}, column {tok.col}: expected {want!r}, found {tok.value!r}")
        return tok

    # grammar
    def body(self, block: Block, closing: str | None) -> None:
        while True:
            tok = self.peek()
            if closing is None and tok.kind == "eof":
                return
            if closing is not None and tok.kind == "punct" and tok.value == closing:
                self.next()
                return
            if tok.kind == "eof":
                raise RiverError(f"line {tok.line}: end of file inside block {block.name!r} (missing '}}')")
            if tok.kind != "ident":
                raise RiverError(
                    f"line {tok.line}, column {tok.col}: expected an attribute or block name, found {tok.value!r}"
                )
            name = self.next().value
            while self.peek(skip_newlines=False).kind == "punct" and self.peek(False).value == ".":
                self.next(False)
                name += "." + self.expect("ident").value
            after = self.peek(skip_newlines=False)
            if after.kind == "punct" and after.value == "=":
                if "." in name:
                    raise RiverError(f"line {after.line}: attribute names cannot contain '.': {name!r}")
                self.next(False)
                if self.peek(False).kind in ("newline", "eof"):
                    raise RiverError(f"line {after.line}: attribute {name!r} has no value")
                if name in block.attrs:
                    raise RiverError(f"line {after.line}: attribute {name!r} set twice in {block.name!r}")
                block.attrs[name] = self.expr()
                end = self.peek(skip_newlines=False)
                if end.kind not in ("newline", "eof") and not (end.kind == "punct" and end.value == "}"):
                    raise RiverError(
                        f"line {end.line}, column {end.col}: unexpected {end.value!r} after attribute {name!r}"
                    )
                continue
            label = None
            if after.kind == "string":
                label = self.next(False).value
            self.expect("punct", "{")
            child = Block(name, label)
            self.body(child, "}")
            block.blocks.append(child)

    def expr(self) -> Any:
        left = self.unary()
        while True:
            tok = self.peek(skip_newlines=False)
            if tok.kind == "punct" and tok.value in _BINARY:
                self.next(False)
                left = BinOp(tok.value, left, self.unary())
            else:
                return left

    def unary(self) -> Any:
        tok = self.peek(skip_newlines=False)
        if tok.kind == "punct" and tok.value in ("!", "-"):
            self.next(False)
            return Unary(tok.value, self.unary())
        return self.primary()

    def primary(self) -> Any:
        tok = self.next()
        if tok.kind in ("string", "number"):
            return tok.value
        if tok.kind == "ident":
            if tok.value in ("true", "false"):
                return tok.value == "true"
            if tok.value == "null":
                return None
            path = tok.value
            while self.peek(False).kind == "punct" and self.peek(False).value == ".":
                self.next(False)
                path += "." + self.expect("ident").value
            if self.peek(False).kind == "punct" and self.peek(False).value == "(":
                self.next(False)
                return Call(path, tuple(self.sequence(")")))
            return Ref(path)
        if tok.kind == "punct" and tok.value == "[":
            return self.sequence("]")
        if tok.kind == "punct" and tok.value == "(":
            inner = self.expr()
            self.expect("punct", ")")
            return inner
        if tok.kind == "punct" and tok.value == "{":
            return self.object()
        raise RiverError(f"line {tok.line}, column {tok.col}: expected a value, found {tok.value!r}")

    def sequence(self, closing: str) -> list[Any]:
        items: list[Any] = []
        while True:
            tok = self.peek()
            if tok.kind == "punct" and tok.value == closing:
                self.next()
                return items
            if tok.kind == "eof":
                raise RiverError(f"line {tok.line}: missing {closing!r}")
            items.append(self.expr())
            sep = self.peek()
            if sep.kind == "punct" and sep.value == ",":
                self.next()
            elif not (sep.kind == "punct" and sep.value == closing):
                raise RiverError(f"line {sep.line}, column {sep.col}: expected ',' or {closing!r}, found {sep.value!r}")

    def object(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            tok = self.next()
            if tok.kind == "punct" and tok.value == "}":
                return out
            if tok.kind not in ("ident", "string"):
                raise RiverError(f"line {tok.line}, column {tok.col}: expected an object key, found {tok.value!r}")
            self.expect("punct", "=")
            out[tok.value] = self.expr()
            sep = self.peek()
            if sep.kind == "punct" and sep.value == ",":
                self.next()
            elif not (sep.kind == "punct" and sep.value == "}"):
                raise RiverError(f"line {sep.line}, column {sep.col}: expected ',' or '}}', found {sep.value!r}")


def parse(text: str) -> Block:
    """The configuration as a root ``Block`` (name ``<root>``); raises RiverError when malformed."""
    root = Block("<root>", None)
    parser = _Parser(tokenize(text))
    parser.body(root, None)
    return root
