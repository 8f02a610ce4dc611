"""The words of the language as the language server offers them: declaration keywords, the clauses each kind
of block takes (for completion and for hover over a keyword), and every keyword of the grammar (for the
TextMate grammar's test).

CLAUSE-TABLE SWITCH: `_from_clause_table` reads `engine/syntax/clauses.py` (the one table of clauses) when it
exists; until it does, `_from_grammar` derives the same lists from `grammar.lark` and the parser's
`ALLOWED_CLAUSES`. Once the clause table is on main, `_from_grammar` and its fallback can be deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MARKERS = ("personal", "special-category", "criminal-offence", "anonymised")
VERDICTS = ("allow", "deny")
DECLARATIONS = ("organisation", "data", "purpose", "gateway", "restriction", "agreement", "test")


@dataclass(frozen=True)
class ClauseWord:
    """One clause as completion offers it: the words that open it, what it says, and how it is written."""

    label: str  # the opening words: `from`, `requires agreement`, `part-of`
    doc: str = ""
    sample: str = ""
    once: bool = True  # may stand only once in a block


@lru_cache(maxsize=1)
def grammar_keywords() -> frozenset[str]:
    """Every word the grammar spells out: quoted literals (`"allows"`) and the alternatives of the named
    word terminals (`MARKER`, `VERDICT`). Punctuation (`->`, `{`) is not a keyword."""
    from engine.syntax.parser import grammar_text

    text = re.sub(r"//[^\n]*", "", grammar_text())
    # Regular-expression terminals (`/data(?=…"…)/`) may hold quotes of their own: drop them first, or the
    # quoted literals after one would pair up wrongly.
    text = re.sub(r"(?<![\w\"])/(?:\\.|[^/\\\n])+/[imslux]*", "", text)
    return frozenset(w for w in re.findall(r'"([^"\\]+)"', text) if re.fullmatch(r"[a-z][a-z0-9-]*", w))


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[ClauseWord, ...]]:
    try:
        return _from_clause_table()
    except ImportError:
        return _from_grammar()


def _from_clause_table() -> dict[str, tuple[ClauseWord, ...]]:
    import importlib

    ct = importlib.import_module("engine.syntax.clauses")  # the clause table; ImportError until it is merged

    out: dict[str, tuple[ClauseWord, ...]] = {}
    for block in ct.BLOCKS:
        words: list[ClauseWord] = []
        for c in ct.ORDER[block.kind]:
            openings = [" ".join(c.words)] if c.words else list(c.choices)
            openings += list(getattr(c, "opens", ()))
            for i, label in enumerate(openings):
                sample = c.samples[min(i, len(c.samples) - 1)] if c.samples else label
                words.append(ClauseWord(label, c.doc, sample, c.once))
        out[block.kind] = tuple(words)
    return out


def _from_grammar() -> dict[str, tuple[ClauseWord, ...]]:
    import importlib

    parser = importlib.import_module("engine.syntax.parser")  # COMPAT: its tables went into the clause table
    ALLOWED_CLAUSES, REPEATABLE = parser.ALLOWED_CLAUSES, parser.REPEATABLE

    def block(kind: str) -> tuple[ClauseWord, ...]:
        labels = []
        for c in sorted(ALLOWED_CLAUSES[kind]):
            labels += ["from", "between"] if c == "from" else [c]
        return tuple(ClauseWord(w, once=w not in REPEATABLE) for w in labels)

    out = {kind: block(kind) for kind in ALLOWED_CLAUSES}
    out["organisation"] = (ClauseWord("part-of"), ClauseWord("aka"), ClauseWord("succeeds"))
    out["data"] = (ClauseWord("under"),) + tuple(ClauseWord(w) for w in MARKERS)
    out["purpose"] = (ClauseWord("under"),)
    out["test"] = (ClauseWord("expect", once=False),)
    return out


def clauses_of(kind: str) -> tuple[ClauseWord, ...]:
    """The clauses (or, for organisation, data and purpose, the options) a declaration of this kind takes."""
    return _table().get(kind, ())


def keyword_doc(word: str) -> str:
    """What a clause keyword says, for hover (empty when the table has no words for it)."""
    for kind in DECLARATIONS:
        for c in clauses_of(kind):
            if c.label.split()[0] == word and c.doc:
                return f"`{c.label}`: {c.doc}" + (f"\n\n    {c.sample}" if c.sample else "")
    return ""
