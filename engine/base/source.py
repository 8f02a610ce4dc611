"""Source files and spans: where every construct and every diagnostic points.

A `Span` is 1-based (line, column) to (end_line, end_column), the end exclusive. Spans never take part
in equality of the model, so the same policy text in another file compares equal.

`Span` is a `msgspec.Struct`, not a dataclass (issue 18, target 3): the parser makes one per name and clause
(~350,000 for the large benchmark bundle) and a Struct is built in C, about ten times faster than a frozen
dataclass (whose `__init__` sets each field through `object.__setattr__`). It is frozen, ordered and hashed by
its fields as the dataclass was; `gc=False` because it holds only strings and integers (no cycles possible).
To change a field use `msgspec.structs.replace` (`dataclasses.replace` does not take it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import msgspec

from engine.base.text import picture


class SpanDict(TypedDict):
    """A span as JSON (schemas/decision.schema.json `$defs.span`)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


class Span(msgspec.Struct, frozen=True, order=True, gc=False):
    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def to_dict(self) -> SpanDict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line or self.line,
            "end_column": self.end_column or self.column + 1,
        }


@dataclass(frozen=True)
class SourceFile:
    """One input file as text, with the name it is reported under (relative to the bundle)."""

    name: str
    text: str

    def line_text(self, line: int) -> str:
        # Lines are counted by line feeds only, as the parsers count them (str.splitlines would also break at
        # form feeds, U+001C–U+001E, NEL and U+2028, and shift every line number after one).
        lines = self.text.split("\n")
        if self.text.endswith("\n"):
            lines.pop()
        if 1 <= line <= len(lines):
            return lines[line - 1].removesuffix("\r")
        return ""

    def line_count(self) -> int:
        return self.text.count("\n") + (0 if self.text.endswith("\n") or not self.text else 1)


SNIPPET_WIDTH = 160  # characters of a source line shown under a diagnostic


def caret_snippet(source: SourceFile | None, span: Span) -> str:
    """The source line of `span` with carets under the spanned columns, as rustc and Cedar show it."""
    if source is None or span.line <= 0:
        return ""
    # Control characters are drawn as visible symbols, one for one, so the carets stay under their columns
    # and nothing in a file can move the cursor or clear the screen of whoever reads the diagnostic.
    text = picture(source.line_text(span.line))
    if not text and span.line > source.line_count():
        return ""
    gutter = str(span.line)
    start = max(span.column, 1)
    if span.end_line == span.line and span.end_column > start:
        width = span.end_column - start
    else:
        width = max(len(text.rstrip()) - start + 1, 1)
    width = max(1, min(width, max(len(text) - start + 1, 1)))
    if len(text) > SNIPPET_WIDTH:
        # A huge line (hostile or generated input) is shown as a window around the column, not in full.
        left = max(0, min(start - 1 - SNIPPET_WIDTH // 3, len(text) - SNIPPET_WIDTH))
        right = left + SNIPPET_WIDTH
        text = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
        start = start - left + (1 if left else 0)
        width = max(1, min(width, SNIPPET_WIDTH - (start - 1 - (1 if left else 0))))
    pad = " " * len(gutter)
    # Tabs keep their width in the caret line so the caret sits under the right character.
    lead = "".join("\t" if ch == "\t" else " " for ch in text[: start - 1])
    return f"{pad} |\n{gutter} | {text}\n{pad} | {lead}{'^' * width}"
