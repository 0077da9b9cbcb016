"""Just enough Markdown for link checks: headings and their GitHub anchors, relative links, tables.

Fenced code blocks are skipped (a ``# comment`` in a shell block is not a heading, a ``[x](y)`` in code
is not a link). Anchors follow GitHub: the heading's text without inline markup, lower-cased, every
character that is not a letter, digit, space, ``-`` or ``_`` removed, spaces turned into ``-``, and
``-1``, ``-2``... appended to repeated anchors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(\S+)")
_CODE_SPAN = re.compile(r"`[^`]*`")


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source.name}:{self.line}: {self.target}"


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            marker = m.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        if fence is None:
            yield number, line


def anchor(heading: str) -> str:
    text = _INLINE_LINK.sub(lambda m: m.group(1), heading)
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in prose_lines(text):
        m = _HEADING.match(line)
        if not m:
            continue
        base = anchor(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[Link]:
    out: list[Link] = []
    for number, line in prose_lines(path.read_text()):
        bare = _CODE_SPAN.sub("", line)
        out += [Link(path, number, m.group(2)) for m in _INLINE_LINK.finditer(bare)]
        ref = _REF_DEF.match(bare)
        if ref:
            out.append(Link(path, number, ref.group(1)))
    return out


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE))


def tables(text: str) -> list[list[list[str]]]:
    """Every pipe table as rows of cells (header row first, the --- row dropped)."""
    result: list[list[list[str]]] = []
    current: list[list[str]] = []
    for _, line in [*prose_lines(text), (0, "")]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped[1:-1])]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                current.append(cells)
        elif current:
            result.append(current)
            current = []
    return result
