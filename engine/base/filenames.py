"""File names a bundle may use.

A file name is user input that ends up in line protocols (`git cat-file --batch`), in diagnostics
(`policies/x.policy:3:1: …`) and on terminals. A name holding a control character — a newline, a carriage
return, an escape sequence, a bidirectional override — can shift a protocol's responses or rewrite what a
reviewer sees, so a bundle file with such a name is refused (`bad-file-name`), never read.
"""

from __future__ import annotations

from typing import Optional

from engine.base.diagnostics import Diagnostic, error
from engine.base.source import Span
from engine.base.text import UNSAFE

# C0 controls, DEL, C1 controls, the Unicode line and paragraph separators, and the bidirectional marks,
# embeddings, overrides and isolates (they reorder what a terminal shows), and lone surrogates (the bytes of a
# name that is not UTF-8, as os.walk hands them over).
_UNSAFE = UNSAFE  # one definition, shared with the rules for text (engine/base/text.py)


def unsafe_chars(name: str) -> list[str]:
    """The unsafe characters of `name`, in order, without repeats."""
    return list(dict.fromkeys(_UNSAFE.findall(name)))


def shown(name: str) -> str:
    """`name` with every unsafe character (and a backslash) written as an escape, safe to print."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       name.replace("\\", "\\\\"))


def file_name_problem(name: str, where: str = "") -> Optional[Diagnostic]:
    """A `bad-file-name` error when `name` (a bundle-relative path) holds an unsafe character, else None.
    `where` says where the name was found (for example "at revision `main`")."""
    bad = unsafe_chars(name)
    if not bad:
        return None
    what = ", ".join(shown(c) for c in bad)
    return error("bad-file-name", f"the file name `{shown(name)}`{' ' + where if where else ''} holds a control "
                 f"character ({what}); it is not read", Span(shown(name), 1, 1),
                 "rename the file: a bundle file's name may not hold control characters or bidirectional marks")
