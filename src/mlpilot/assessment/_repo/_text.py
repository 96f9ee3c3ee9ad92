"""Matching inside one file's text: where a match may start, string literals, imports, lines."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = ["SNIPPET_CHARS", "At", "Rx", "Text", "line_at", "rx"]

SNIPPET_CHARS = 80

At = Literal["any", "word", "line"]

_PY_STRING = re.compile(
    r"'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""
)
_IMPORT = re.compile(
    r"^[ \t]*\"?[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]*(\([^)]*\)|[^\n]*)"
    r"|import[ \t]+([^\n]*))",
    re.M,
)
_DOTTED = re.compile(r"[A-Za-z_][\w.]*")
_NAME = re.compile(r"[A-Za-z_]\w*")
_LINE_PREFIX = re.compile(r"[ \t]*\"?[ \t]*(?:async[ \t]+)?")


@dataclass(frozen=True)
class Rx:
    """A regex, and where a match must start to count: anywhere (``any``), not right after a
    word character (``word``), or first on its line after blanks (``line``; a
    notebook's opening quote and ``async`` may come before). Regexes start with a literal where
    they can (Python's ``re`` scans for a literal prefix fast) and say ``word``/``line`` here."""

    regex: re.Pattern[str]
    at: At = "any"


def rx(spec: str | tuple[str, At], flags: int = 0) -> Rx:
    """An :class:`Rx` (``^``/``$`` match at lines) from a regex, or a regex and its ``at``."""
    if isinstance(spec, str):
        return Rx(re.compile(spec, re.M | flags))
    return Rx(re.compile(spec[0], re.M | flags), spec[1])


def _triple_quoted(text: str) -> tuple[list[int], list[int]]:
    """Where the triple-quoted strings of a Python module start and end."""
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    next_of = {'"""': text.find('"""'), "'''": text.find("'''")}
    while True:
        opened = [(at, quote) for quote, at in next_of.items() if at != -1]
        if not opened:
            break
        at, quote = min(opened)
        close = text.find(quote, at + 3)
        end = len(text) if close == -1 else close + 3
        starts.append(at)
        ends.append(end)
        pos = end
        for other, seen in next_of.items():
            if seen != -1 and seen < pos:
                next_of[other] = text.find(other, pos)
    return starts, ends


class Text:
    """A file's prepared text, with (for Python, computed when first asked) where its string
    literals are (docstrings, fixtures: a match starting there is text about code, not code)
    and what it imports."""

    def __init__(self, text: str, *, python: bool) -> None:
        self.text = text
        self.lowered = text.lower()
        self.python = python
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._strings: Iterator[re.Match[str]] | None = None
        self._known_to = 0 if python else len(text) + 1  # string spans known up to here
        self._imports: dict[str, int] | None = None
        self._blocks: tuple[list[int], list[int]] | None = None

    def in_block(self, index: int) -> bool:
        """Whether ``index`` is inside a triple-quoted string (docstrings, fixtures): enough
        for a match at the start of a line, and much cheaper than every string literal."""
        if not self.python:
            return False
        if self._blocks is None:
            self._blocks = _triple_quoted(self.text)
        starts, ends = self._blocks
        at = bisect.bisect_right(starts, index) - 1
        return at >= 0 and index < ends[at]

    def in_string(self, index: int) -> bool:
        """Whether ``index`` is inside a string literal (spans found lazily, front to back)."""
        if index >= self._known_to:
            if self._strings is None:
                self._strings = _PY_STRING.finditer(self.text)
            for match in self._strings:
                self._starts.append(match.start())
                self._ends.append(match.end())
                self._known_to = match.end()
                if self._known_to > index:
                    break
            else:
                self._known_to = len(self.text) + 1
        at = bisect.bisect_right(self._starts, index) - 1
        return at >= 0 and index < self._ends[at]

    def search(self, rx: Rx) -> re.Match[str] | None:
        """The first match of ``rx`` that starts where it must and not in a string literal."""
        text = self.text
        for match in rx.regex.finditer(text):
            start = match.start()
            if rx.at == "word":
                if start and (text[start - 1].isalnum() or text[start - 1] == "_"):
                    continue
            elif rx.at == "line":
                if self.line_start(start) and not self.in_block(start):
                    return match
                continue
            if not self.in_string(start):
                return match
        return None

    def line_start(self, index: int) -> bool:
        """Whether only blanks (or a notebook's quote, or ``async``) precede ``index``."""
        begin = self.text.rfind("\n", 0, index) + 1
        return begin == index or _LINE_PREFIX.fullmatch(self.text, begin, index) is not None

    def imports(self) -> dict[str, int]:
        """Each imported dotted name (with its prefixes, and ``module.name`` for ``from module
        import name``) -> where its first import starts."""
        if self._imports is None:
            self._imports = {}
            text = self.text
            at = text.find("import")
            while at != -1:
                line = text.rfind("\n", 0, at) + 1
                match = _IMPORT.match(text, line)
                if match is not None and not self.in_block(line):
                    self._add_import(match)
                end = text.find("\n", at)
                at = -1 if end == -1 else text.find("import", max(end, match.end() if match else 0))
        return self._imports

    def _add_import(self, match: re.Match[str]) -> None:
        assert self._imports is not None
        start = match.start()
        module, names, plain = match.group(1), match.group(2), match.group(3)
        dotted: list[str] = []
        if module is not None and not module.startswith("."):
            dotted.append(module)
            listed = names.split("#", 1)[0] if not names.startswith("(") else names
            dotted.extend(f"{module}.{name}" for name in _NAME.findall(listed))
        elif plain is not None:
            for part in plain.split("#", 1)[0].split(","):
                head = _DOTTED.match(part.strip())
                if head is not None:
                    dotted.append(head.group(0))
        for name in dotted:
            pieces = name.split(".")
            for end in range(1, len(pieces) + 1):
                self._imports.setdefault(".".join(pieces[:end]), start)

    def imported(self, modules: tuple[str, ...]) -> int | None:
        """Where the first import of one of ``modules`` starts; None when none is imported."""
        imports = self.imports()
        starts = [imports[m] for m in modules if m in imports]
        return min(starts) if starts else None


def line_at(text: str, index: int) -> tuple[int, str]:
    """The 1-based line number at ``index`` and that line, trimmed for a detail."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    line = text[start : end if end != -1 else len(text)].strip()
    if line.startswith('"') and line.endswith(('\\n",', '\\n"', '",', '"')):  # notebook source
        line = line[1:].removesuffix(",").removesuffix('"').removesuffix("\\n")
    if len(line) > SNIPPET_CHARS:
        line = line[: SNIPPET_CHARS - 1] + "…"
    return text.count("\n", 0, start) + 1, line
