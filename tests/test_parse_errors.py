"""Syntax errors read like advice: file:line:col, the line with a caret, what was expected in words —
never Lark's terminal names (`__ANON_1`, `RBRACE`, `NAME`, `$END`, …)."""

from __future__ import annotations

import re

import pytest

from engine.render.diagnostics import render
from engine.syntax.parser import parse_source, parser
from engine.base.source import SourceFile

# (broken text, substring the message must contain)
CASES = [
    ('gateway G "g" {\n  data\n}', "expected a data category after `data`"),
    ("organisation", "expected an identifier for the organisation after `organisation`"),
    ("organisation X", "expected a quoted title"),
    ('organisation X "x" part-of', "expected an organisation after `part-of`"),
    ('organisation X "x" aka', "expected a quoted alias"),
    ('organisation X "x" succeeds Y', "expected `on` after `Y`"),
    ('organisation X "x" succeeds Y on', "expected a date (YYYY-MM-DD) after `on`"),
    ('organisation X "x" part-of *', "expected an organisation after `part-of`, found `*`"),
    ('organisation X "x"\n  bogus', "found `bogus`"),
    ('organisation X "x" @', "unexpected character `@`"),
    ('organisation X "unterminated', "unexpected character `\"`"),
    ('organisation 123 "x"', "unexpected character `1`"),
    ("data d", "expected a quoted title"),
    ('data d "D" under', "expected the data category it is part of after `under`"),
    ("data", "expected an identifier for the data category after `data`"),
    ('data d "D" personal, special', "found `,`"),
    ('purpose p "P" under', "expected the purpose it is part of after `under`"),
    ('gateway G "g" {', "expected a clause (such as `data`, `for`, `statute`) or `}`"),
    ('gateway G "g" { allows A }', "expected `->` after `A`, found `}`"),
    ('gateway G "g" { allows A -> }', "expected an organisation or `*` (anyone) after `->`"),
    ('gateway G "g" { allows -> B }', "expected an organisation or `*` (anyone) after `allows`"),
    ('gateway G "g" { allows A - B }', "unexpected character `-`"),
    ('gateway G "g" { allows A, -> B }', "expected an organisation after `,`"),
    ('gateway G "g" { statute }', "expected a statute id from gateways.yaml after `statute`"),
    ('gateway G "g" { for }', "expected a purpose after `for`"),
    ('gateway G "g" { data a, }', "expected a data category after `,`"),
    ('gateway G "g" { data a b }', "found `b`"),
    ('gateway G "g" { valid 2005-01-01 }', "expected `to` after `2005-01-01`"),
    ('gateway G "g" { valid 2005-01-01 to }', "expected a date (YYYY-MM-DD) after `to`"),
    ('gateway G "g" { valid from }', "expected a date (YYYY-MM-DD) after `from`"),
    ('gateway G "g" { valid until }', "expected a date (YYYY-MM-DD) after `until`"),
    ('gateway G "g" { onward }',
     "expected `as-discloser`, `as`, `for`, `lawful`, `none`, `only-for` or `to` after `onward`"),
    ('gateway G "g" { onward to }', "expected an organisation after `to`"),
    ('gateway G "g" { onward only-for }', "expected a purpose after `only-for`"),
    ('gateway G "g" { requires }',
     "expected `agreement`, a condition (declared with `condition`) or a quoted condition"),
    ('gateway G "g" { lawful-basis }', "expected a lawful basis such as `public-task`"),
    ('gateway G "g" { article-9 }', "article-9 condition as quoted text"),
    ('gateway G "g" { article-10 }', "article-10 condition as quoted text"),
    ('gateway G "g" { overrides }', "expected a restriction id after `overrides`"),
    ('gateway G "g" { note }', "expected a quoted note"),
    ('gateway G "g" { bogus }', "found `bogus`"),
    ('gateway G "g" { -> }', "found `->`"),
    ('gateway G { }', "expected a quoted title"),
    ('gateway "g" { }', "expected an identifier for the gateway after `gateway`"),
    ('restriction R "r" { except }', "expected `anonymised`, `for`, `to` or `when` after `except`"),
    ('restriction R "r" { except to }', "expected an organisation after `to`"),
    ('restriction R "r" { except anonymised to }', "found `to`"),
    ('restriction R "r" { forbids A -> }', "expected an organisation or `*` (anyone)"),
    ('restriction R "r" { one-way }', "expected an organisation after `one-way`"),
    ('restriction R "r" { one-way * }', "found `*`"),
    ('agreement A "a" { from X }', "expected `to` after `X`"),
    ('agreement A "a" { between X }', "expected `and` after `X`"),
    ('agreement A "a" { between X and }', "expected an organisation after `and`"),
    ('agreement A "a" { review }', "expected a date (YYYY-MM-DD) after `review`"),
    ('agreement A "a" { review 2005-13 }', "after `review`"),
    ('agreement A "a" { owner }', "the owner as quoted text"),
    ('agreement A "a" { under }', "expected the gateway the agreement relies on after `under`"),
    ('test "t" { expect }', "expected `allow` or `deny` after `expect`"),
    ('test "t" { expect maybe A -> B d }', "found `maybe`"),
    ('test "t" { expect allow A B d }', "expected `->` after `A`"),
    ('test "t" { expect allow }', "expected the sending organisation after `allow`"),
    ('test "t" { expect allow A -> }', "expected the receiving organisation after `->`"),
    ('test "t" { expect allow A -> B }', "expected a data category after `B`"),
    ('test "t" { expect allow A -> B d for }', "expected a purpose after `for`"),
    ('test "t" { expect allow A -> B d on }', "expected a date (YYYY-MM-DD) after `on`"),
    ('test "t" { expect allow A -> B d because }', "expected a gateway, agreement or restriction id"),
    ('test "t" { expect allow A -> B d assuming }',
     "expected a statute id, or a provision of one (`ESA-2008/section-15`) after `assuming`"),
    ('test "t"', "expected `{` after `\"t\"`"),
    ("test", "expected a quoted test name"),
    ("}", "expected a declaration"),
    ("{", "expected a declaration"),
    ("\x00", "unexpected character `\\x00`"),
    ('organisation X "x" aka "a",', "expected a quoted alias"),
    ('gateway G "g" { allows * -> * }\n}', "found `}`"),
    ('gateway G "g" {\n  data d\n\norganisation X "x"', "found `organisation`"),
    ('organisation X "x" aka "A" "B"', 'found `"B"`'),
    ('data d "D" under p q', "found `q`"),
    ('purpose p "P" personal', "found `personal`"),
    ("organisation X ‘x’", "unexpected character `‘`"),
    ('gateway G "g" { allows A -> B\n  data d\n  for p\n  requires agreement agreement }', "found `agreement`"),
]

# Every terminal name the grammar defines, plus Lark's own: none may reach a user.
TERMINAL_NAMES = {t.name for t in parser().terminals} | {"$END", "__ANON"}
_SHOUTING = re.compile(r"\b(?:__ANON_\d+|[A-Z][A-Z0-9_]{2,})\b|\$END")


def _only_diagnostic(text: str):
    result, diags = parse_source(SourceFile("policies/x.policy", text))
    assert result is None, f"{text!r} should not parse"
    assert len(diags) == 1, [d.headline() for d in diags]
    return diags[0]


@pytest.mark.parametrize("text,expected", CASES, ids=[repr(t)[:40] for t, _ in CASES])
def test_syntax_error_is_helpful(text: str, expected: str):
    d = _only_diagnostic(text)
    assert d.code == "parse-error"
    assert expected in d.message, d.message
    assert d.message[0].islower() or d.message.startswith("`"), d.message
    assert "expected" in d.message or "unexpected" in d.message
    # file:line:col, and the line exists in the text (or is just past its end at EOF)
    assert d.span is not None and d.span.file == "policies/x.policy"
    assert 1 <= d.span.line <= max(text.count("\n") + 1, 1)
    assert d.span.column >= 1
    assert d.headline().startswith(f"policies/x.policy:{d.span.line}:{d.span.column}: error[parse-error]: ")
    # no grammar-internal names anywhere the user looks
    shown = render([d], {"policies/x.policy": SourceFile("policies/x.policy", text)})
    leaked = [w for w in _SHOUTING.findall(shown) if w in TERMINAL_NAMES or w.startswith("__ANON")]
    assert not leaked, shown
    for name in ("__ANON", "RBRACE", "LBRACE", "$END", "NAME", "STRING", "COMMA", "VERDICT", "MARKER"):
        assert name not in shown, shown


@pytest.mark.parametrize("text,expected", CASES, ids=[repr(t)[:40] for t, _ in CASES])
def test_syntax_error_shows_the_line_and_a_caret(text: str, expected: str):
    d = _only_diagnostic(text)
    shown = render([d], {"policies/x.policy": SourceFile("policies/x.policy", text)})
    lines = shown.splitlines()
    assert lines[0] == d.headline()
    caret_lines = [ln for ln in lines if ln.strip().startswith("|") and "^" in ln]
    source_lines = [ln for ln in lines if re.match(rf"\s*{d.span.line} \| ", ln)]
    assert caret_lines and source_lines, shown
    # the caret sits under the reported column
    gutter = source_lines[0].index("| ") + 2
    assert caret_lines[0].index("^") - gutter == d.span.column - 1, shown


def test_unclosed_block_gets_the_closing_hint():
    d = _only_diagnostic('gateway G "g" {\n  data d\n')
    assert "end of file" in d.message
    assert d.help and "`}`" in d.help


def test_unterminated_string_gets_a_hint():
    d = _only_diagnostic('organisation X "x\n')
    assert d.help and "quoted text must close" in d.help


def test_error_on_a_later_line_points_at_it():
    text = 'organisation A "a"\norganisation B "b"\n\ngateway G "g" {\n  allows A B\n}\n'
    d = _only_diagnostic(text)
    assert (d.span.line, d.span.column) == (5, 12)
    assert "expected `,` or `->` after `A`, found `B`" in d.message
