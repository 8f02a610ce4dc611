"""The VS Code extension's TextMate grammar (editors/vscode/syntaxes/lawful.tmLanguage.json) highlights every
keyword of the language: each word of grammar.lark (and of the clause table, where there is one) is given a
keyword-like scope where it is written, and not inside a name, a string or a comment.

The grammar is run by a small TextMate tokenizer below (one line at a time: the earliest match wins, the first
pattern on a tie; `match` with `captures`, `begin`/`end` regions, `include` from the repository). Its regular
expressions are Oniguruma's; the grammar keeps to the part Python's `re` reads the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.ops.lsp import vocabulary

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = json.loads((ROOT / "editors" / "vscode" / "syntaxes" / "lawful.tmLanguage.json").read_text(encoding="utf-8"))
KEYWORD_SCOPES = ("keyword.", "storage.type.", "constant.language.")


def _patterns(patterns: list[dict]) -> list[dict]:
    out = []
    for p in patterns:
        if "include" in p:
            out += _patterns([GRAMMAR["repository"][p["include"].lstrip("#")]])
        elif "patterns" in p and "match" not in p and "begin" not in p:
            out += _patterns(p["patterns"])
        else:
            out.append(p)
    return out


def tokenize(line: str) -> list[tuple[int, int, str]]:
    """(start, end, scope) of every scoped piece of one line."""
    pats = [(p, re.compile(p.get("match") or p["begin"])) for p in _patterns(GRAMMAR["patterns"])]
    out: list[tuple[int, int, str]] = []
    pos = 0
    while pos < len(line):
        best = None
        for p, rx in pats:
            mt = rx.search(line, pos)
            if mt and (best is None or mt.start() < best[1].start()):
                best = (p, mt)
        if best is None:
            break
        p, mt = best
        if "match" in p:
            if "captures" in p:
                for group, cap in p["captures"].items():
                    if mt.group(int(group)) is not None:
                        out.append((mt.start(int(group)), mt.end(int(group)), cap["name"]))
            elif "name" in p:
                out.append((mt.start(), mt.end(), p["name"]))
            end = mt.end()
        else:
            close = re.compile(p["end"]).search(line, mt.end())
            end = close.end() if close else len(line)
            out.append((mt.start(), end, p["name"]))
        pos = max(end, pos + 1)
    return out


def scope_at(line: str, column: int) -> str:
    for start, end, scope in tokenize(line):
        if start <= column < end:
            return scope
    return ""


def keywords() -> list[str]:
    words = set(vocabulary.grammar_keywords())
    for kind in vocabulary.DECLARATIONS:  # the clause table's words (or the grammar's, until there is one)
        for c in vocabulary.clauses_of(kind):
            words.update(c.label.split())
    return sorted(words)


def test_the_keywords_are_the_grammars():
    words = set(keywords())
    assert {
        "organisation",
        "allows",
        "one-way",
        "requires",
        "article-9",
        "as-discloser",
        "special-category",
        "allow",
        "deny",
        "because",
        "assuming",
    } <= words
    assert "->" not in words and "{" not in words


@pytest.mark.parametrize("word", keywords())
def test_every_keyword_is_highlighted(word):
    for line, column in ((f"  {word} X", 2), (f"{word} X", 0), (f"  allows A -> B {word}", 16)):
        scope = scope_at(line, column)
        assert scope.startswith(KEYWORD_SCOPES), (word, line, scope)
        assert scope_at(line, column + len(word) - 1) == scope, (word, line)


@pytest.mark.parametrize("word", ["data", "for", "to", "personal", "allow", "under", "test"])
def test_a_keyword_inside_a_name_a_string_or_a_comment_is_not(word):
    assert not scope_at(f"  data provider-{word}", 16).startswith(KEYWORD_SCOPES)
    assert not scope_at(f"  data {word}-records", 7).startswith(KEYWORD_SCOPES)
    assert scope_at(f'organisation X "{word}"', 16).startswith("string.")
    assert scope_at(f"  # {word}", 4).startswith("comment.")


def test_declarations_dates_arrows_and_names():
    line = 'gateway LSC-INSPECTION "LSC supplies information" {'
    assert scope_at(line, 0) == "storage.type.declaration.lawful"
    assert scope_at(line, 8) == "entity.name.type.lawful"
    line = "  valid 2005-06-22 to 2008-06-21"
    assert scope_at(line, 8).startswith("constant.numeric.date")
    line = "  allows InlandRevenue, HMRC -> DWP"
    assert scope_at(line, 29) == "keyword.operator.arrow.lawful"
    assert scope_at(line, 9) == "variable.other.name.lawful"
    assert scope_at("  lawful-basis public-task", 15).startswith("support.constant")
