"""Names a reader could mistake for one another (`confusable-name`), by Unicode's confusables table.

Two organisation names (ids or aliases) are confusable when their *skeletons* are equal: each character
replaced by a representative of its class of look-alikes (UTS #39's confusables, as shipped by the
maintained `confusable_homoglyphs` package: `0`/`O`, `1`/`l`/`I`, Latin `a`/Cyrillic `а`, …), after
zero-width and other invisible format characters are dropped and runs of spaces are closed up (`"ALI "`
and `"ALI"`). A single name is also flagged when it mixes scripts (Latin with Cyrillic or Greek), holds an
invisible character, or begins or ends with a space: even alone, it is not what it looks like.

The table is read from the package at the first use (about a tenth of a second), which is why this is a
lint of `lawful check` rather than a step of every load.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable, Optional

_STRIP = "\u200e\u200f"  # the table writes right-to-left glyphs between direction marks


@lru_cache(maxsize=1)
def _representatives() -> dict[str, str]:
    """Every character that has look-alikes -> one member of its class (the smallest), so that equal
    skeletons mean "looks the same". Classes are the connected parts of the table's look-alike pairs."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for char, glyphs in confusables_data.items():
        if len(char) != 1:
            continue
        for g in glyphs:
            other = g["c"].strip(_STRIP)
            if len(other) == 1:
                a, b = find(char), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)  # the smaller code point represents the class
    return {c: find(c) for c in parent}


def _invisible(ch: str) -> bool:
    # Format characters (zero-width space and joiners, BOM, soft hyphen, …) and variation selectors
    return unicodedata.category(ch) == "Cf" or 0xFE00 <= ord(ch) <= 0xFE0F


def skeleton(name: str) -> str:
    """The look-alike skeleton of `name` (UTS #39's idea: normalise, map each character to its class)."""
    reps = _representatives()
    text = unicodedata.normalize("NFD", name)
    text = "".join(ch for ch in text if not _invisible(ch))
    text = " ".join(text.split())  # leading, trailing and repeated spaces do not show
    return unicodedata.normalize("NFD", "".join(reps.get(ch, ch) for ch in text))


def scripts(name: str) -> set[str]:
    """The scripts a name's letters come from (digits, punctuation and combining marks count for none)."""
    from confusable_homoglyphs.categories import unique_aliases

    return unique_aliases(name) - {"COMMON", "INHERITED", "Unknown"}


def lone_problem(name: str) -> Optional[str]:
    """Why one name on its own is not what it looks like, or None."""
    found = scripts(name)
    if len(found) > 1:
        return f"mixes {' and '.join(sorted(s.title() for s in found))} letters"
    hidden = [ch for ch in name if _invisible(ch)]
    if hidden:
        return f"holds an invisible character (U+{ord(hidden[0]):04X})"
    if name != name.strip() or "  " in name:
        return "begins or ends with a space, or holds two in a row"
    return None


def confusable_groups(names: Iterable[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Groups of (owner key, name) whose names look alike but belong to different owners. Names of one owner
    that look alike (an id and its own alias) are not a problem."""
    by_skeleton: dict[str, list[tuple[str, str]]] = {}
    for owner, name in names:
        by_skeleton.setdefault(skeleton(name), []).append((owner, name))
    out = []
    for group in by_skeleton.values():
        if len({owner for owner, _name in group}) > 1:
            out.append(group)
    return out
