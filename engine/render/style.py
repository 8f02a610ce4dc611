"""How a text renderer colours its words: a `Style` maps (text, role) to styled text. The CLI passes one that
uses terminal colours; everything else gets `plain`. Roles: allow | deny | dim | bold."""

from __future__ import annotations

from typing import Callable

Style = Callable[[str, str], str]


def plain(text: str, _role: str) -> str:
    return text
