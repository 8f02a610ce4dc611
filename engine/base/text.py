"""Characters that can rewrite what a reader sees, and how the engine shows text it did not write.

A title holding `ESC [1A ESC [2K` moves a terminal's cursor up and clears the line, so a DENY can be drawn
over with "ALLOWED"; a carriage return does the same even through a pipe; a bidirectional override makes
`ALI` read as `ILA`. Such characters are refused in everything a bundle holds (`control-character`), and
anything that comes from outside the bundle — a question, a transfer log, a path — is escaped before it is
printed as text.

The set: C0 controls (tab, line feed and a carriage return that ends a line are the only ones a text file
may hold), DEL, C1 controls, the Unicode line and paragraph separators, the bidirectional marks (U+061C,
U+200E, U+200F), embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069), and lone
surrogates (how Python hands over the bytes of a file name that is not UTF-8).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator

# Everything but C0 and the surrogates, written once; the C0 part differs by context.
_OTHERS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
UNSAFE = re.compile(f"[\x00-\x1f{_OTHERS}]")
# In a text file: the same less tab and line feed, and a carriage return only where it does not end a line.
_UNSAFE_IN_TEXT = re.compile(f"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f{_OTHERS}]")
# For a block of output: like the text rule, but any carriage return is shown (a report has no CRLF).
_UNSAFE_IN_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")

_NAMES = {"\x1b": "ESCAPE", "\r": "CARRIAGE RETURN", "\x00": "NULL", "\x7f": "DELETE",
          "\x9b": "CONTROL SEQUENCE INTRODUCER", "\x08": "BACKSPACE", "\x07": "BELL", "\x0c": "FORM FEED",
          "\x0b": "LINE TABULATION", "\x85": "NEXT LINE"}


def unsafe_chars(text: str) -> list[str]:
    """The unsafe characters of `text`, in order of first appearance, without repeats."""
    return list(dict.fromkeys(UNSAFE.findall(text)))


def unsafe_in_text(text: str) -> list[str]:
    """Like `unsafe_chars`, for multi-line text: tab and line feed are fine, and a carriage return before a
    line feed."""
    return list(dict.fromkeys(m.group() for m in _UNSAFE_IN_TEXT.finditer(text)))


def code_point(ch: str) -> str:
    """`U+001B (ESCAPE)`: how a diagnostic names a character."""
    name = _NAMES.get(ch) or unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(ch: str) -> str:
    n = ord(ch)
    return _SHORT.get(ch) or (f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}")


def escape(text: str) -> str:
    """`text` with every unsafe character written as a visible escape (`\\x1b`, `\\u202e`): safe to print on
    one line. Line feeds and tabs are escaped too, so the result is always a single line."""
    return UNSAFE.sub(lambda m: _escape_one(m.group()), text)


def escape_block(text: str) -> str:
    """Like `escape`, but keeps line feeds and tabs: for multi-line text (rendered reports, snippets)."""
    return _UNSAFE_IN_BLOCK.sub(lambda m: _escape_one(m.group()), text)


def picture(text: str) -> str:
    """Each unsafe character replaced by ONE visible character, so the columns of a source line (and the
    carets drawn under it) stay where they were: the control pictures (␛ for ESC, ␍ for CR, ␡ for DEL) for C0
    and DEL, U+FFFD for the rest. Tabs are kept."""
    def one(m: re.Match) -> str:
        n = ord(m.group())
        if n < 0x20:
            return chr(0x2400 + n)
        if n == 0x7F:
            return "\u2421"
        return "\ufffd"

    return _UNSAFE_IN_BLOCK.sub(one, text)


def find_in_text(text: str) -> Iterator[tuple[int, int, str]]:
    """(line, column, character) of every unsafe character of a text file, 1-based; lines are counted by
    line feeds only, as the parsers count them."""
    if _UNSAFE_IN_BLOCK.search(text) is None:  # the usual case, found ~8x faster: a bare character class
        return  # (it matches every character the text rule does: a lone CR is one of them)
    line, line_start = 1, 0
    pos = 0
    for m in _UNSAFE_IN_TEXT.finditer(text):
        # advance the line count to the match
        nl = text.count("\n", pos, m.start())
        if nl:
            line += nl
            line_start = text.rfind("\n", 0, m.start()) + 1
        pos = m.start()
        yield line, m.start() - line_start + 1, m.group()
