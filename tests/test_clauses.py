"""The clause table (engine/syntax/clauses.py) against everything that reads or restates it: the grammar's
keywords and clause lists, both parsers, `assemble`'s placement and duplicate diagnostics, the missing-clause
check, the formatter's order and spelling, and `check --explain missing-clause`."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import lru_cache

import pytest
from typer.testing import CliRunner

from cli import app
from conftest import ROOT
from engine.base.source import SourceFile
from engine.check.checks import check
from engine.review import fmt
from engine.syntax import assemble
from engine.syntax import clauses as T
from engine.syntax import fastparse
from engine.syntax import model as m
from engine.syntax.parser import _ToModel, grammar_text, parse_source, parse_source_lark

runner = CliRunner()

# ---- the grammar, read as text ------------------------------------------------------------------------

_WORD = re.compile(r'"([a-z][a-z0-9-]*)"')


@lru_cache(maxsize=1)
def grammar() -> tuple[dict[str, str], dict[str, str]]:
    """(rule name -> body, terminal name -> body) of grammar.lark, comments removed."""
    rules: dict[str, str] = {}
    terminals: dict[str, str] = {}
    current: dict[str, str] | None = None
    name = ""
    for line in grammar_text().splitlines():
        line = line.split("//")[0].rstrip()
        if not line.strip() or line.startswith("%"):
            current = None
            continue
        head = (re.match(r"^([?!]?[_a-z][_a-z0-9]*)\s*:(.*)$", line)
                or re.match(r"^([A-Z_][A-Z0-9_]*)(?:\.\d+)?\s*:(.*)$", line))
        if head:
            name = head.group(1).lstrip("?!")
            current = rules if name[0].islower() or name[0] == "_" and name[1].islower() else terminals
            current[name] = head.group(2)
        elif current is not None and line[0].isspace():
            current[name] += " " + line.strip()
    return rules, terminals


def _refs(body: str) -> set[str]:
    """Rules a body refers to (quoted literals and regular expressions removed)."""
    bare = re.sub(r'"[^"]*"|/[^/]*/', " ", body)
    return {r for r in re.findall(r"[_a-zA-Z][_a-zA-Z0-9]*", bare)}


_LOOKAHEAD = re.compile(r"^/([a-z][a-z0-9-]*)\(\?")  # a keyword decided by look-ahead: `/data(?=…)/`


def words_of(rule: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """Every keyword a rule writes, through its sub-rules (a recursive one once) and word terminals (MARKER,
    VERDICT, and the look-ahead keywords such as `_DATA_SCOPE`)."""
    rules, terminals = grammar()
    body = rules[rule]
    out = set(_WORD.findall(body))
    for ref in _refs(body):
        if ref in rules:
            if ref not in seen and ref != rule:
                out |= words_of(ref, seen | {rule})
        elif ref in terminals and not terminals[ref].strip().startswith("/"):
            out |= set(_WORD.findall(terminals[ref]))
        elif ref in terminals and _LOOKAHEAD.match(terminals[ref].strip()):
            out.add(_LOOKAHEAD.match(terminals[ref].strip()).group(1))
    return out


def opening_word(body: str) -> str | None:
    """The keyword a rule's body opens with: a quoted word, or a look-ahead keyword terminal."""
    _, terminals = grammar()
    found = _WORD.match(body.strip())
    if found:
        return found.group(1)
    first = body.split()[0] if body.split() else ""
    lookahead = _LOOKAHEAD.match(terminals.get(first, "").strip())
    return lookahead.group(1) if lookahead else None


def alternatives(rule: str) -> set[str]:
    """The rules a clause list stands for: an inlined `_list: a | b` gives its alternatives, a rule itself."""
    rules, _ = grammar()
    return {r for r in _refs(rules[rule]) if r in rules} if rule.startswith("_") else {rule}


def test_the_grammar_reader_sees_the_grammar():
    rules, terminals = grammar()
    assert {"start", "organisation", "_clause", "onward_to", "expect"} <= set(rules)
    assert {"MARKER", "VERDICT", "NAME"} <= set(terminals)
    assert words_of("onward") == {"onward", "none", "to", "only-for", "as-discloser", "for", "as", "lawful", "except"}
    assert "personal" in words_of("marker") and "allow" in words_of("expect")


def test_every_keyword_of_the_grammar_is_in_the_table_and_back():
    rules, terminals = grammar()
    in_grammar: set[str] = set()
    for body in list(rules.values()) + [t for t in terminals.values() if not t.strip().startswith("/")]:
        in_grammar |= set(_WORD.findall(body))
    in_table = set(T.DECLARATION_WORDS)
    for c in T.CLAUSES:
        in_table |= set(c.words + c.opens + c.inner + c.choices)
    assert in_grammar == in_table, (sorted(in_grammar - in_table), sorted(in_table - in_grammar))


@pytest.mark.parametrize("clause", T.CLAUSES, ids=lambda c: c.name)
def test_each_clause_spells_its_grammar_rules(clause: T.Clause):
    rules, _ = grammar()
    assert set(clause.rules) <= set(rules), f"no rule {set(clause.rules) - set(rules)} in grammar.lark"
    written = set().union(*(words_of(r) for r in clause.rules))
    assert written == set(clause.words + clause.opens + clause.inner + clause.choices)
    for rule in clause.rules:  # each rule opens with one of the clause's opening words, or is its choice
        assert opening_word(rules[rule]) in clause.openers or clause.shape == "choice"


def test_each_block_is_its_grammar_rule_and_clause_list():
    rules, _ = grammar()
    assert alternatives("_item") == {b.rule for b in T.BLOCKS}
    for b in T.BLOCKS:
        assert set(_WORD.findall(rules[b.rule])) == {b.kind}
        assert b.clause_list in _refs(rules[b.rule])
        written = alternatives(b.clause_list)
        listed = {r for c in T.syntax_of(b.kind) for r in c.rules}
        assert written == listed, (b.kind, sorted(written ^ listed))


# The language as the table gives it today, pinned: changing it changes the language (say so in
# docs/LANGUAGE.md and here). In the formatter's order; `!` needed, `+` one of the `+` clauses needed, `*` may repeat.
PINNED = {
    "organisation": "part-of, aka, succeeds, renames, exists from, ceases, is*, functions",
    "data": "under, marker*",
    "purpose": "under",
    "gateway": "statute!, power, allows!*, data!, for!, valid, overrides, requires agreement, requires condition*, "
               "lawful-basis, article-9, article-10, onward, note*",
    "restriction": "statute, one-way+*, forbids+*, data, data received-under, data held-for, for, valid, except*, "
                   "note*",
    "agreement": "from!, data!, for!, under!, lawful-basis, article-9, article-10, valid, review, owner, onward, "
                 "requires*, requires condition*, note*",
    "test": "expect*",
    "transfer": "transfer-to!, transfer-on!, transfer-under, transfer-data, transfer-for, continues",
    "class": "class-statute",
    "condition": "note*",
}


def test_the_table_says_what_the_language_is():
    def entry(kind: str, c: T.Clause) -> str:
        use = c.blocks[kind]
        return c.name + ("!" if use.required else "+" if use.either else "") + ("" if c.once else "*")

    assert {b.kind: ", ".join(entry(b.kind, c) for c in T.ORDER[b.kind]) for b in T.BLOCKS} == PINNED


def test_the_table_is_consistent():
    assert len({c.name for c in T.CLAUSES}) == len(T.CLAUSES)
    assert len({b.kind for b in T.BLOCKS}) == len(T.BLOCKS)
    for c in T.CLAUSES:
        assert c.shape in T.SHAPES and c.collect in (T.ONCE, T.EACH, T.CONCAT, T.SET), c.name
        assert set(c.blocks) <= set(T.BLOCK) and c.blocks, c.name
        assert c.samples and c.doc, c.name
        assert (c.shape == "choice") == bool(c.choices), c.name
        for kind, use in c.blocks.items():
            assert not use.after or use.after in {o.name for o in T.ORDER[kind]}, (c.name, kind)
            assert not (use.required and use.either), (c.name, kind)
            if use.required:
                assert c.need, f"{c.name} is required in a {kind}: it needs its help"
            for f in c.fields_in(kind):
                assert f in m.field_names(getattr(m, T.BLOCK[kind].model)), (c.name, kind, f)
    for b in T.BLOCKS:
        for group in T.required(b.kind):
            assert len(group) == 1 or all(c.blocks[b.kind].either for c in group)
            if len(group) == 1:
                assert group[0].blocks[b.kind].required  # a lone `either` is a mistake for `required`


def test_every_shape_is_read_built_and_printed():
    for shape in T.SHAPES:
        assert shape in fmt.PRINT, f"review/fmt.py cannot print a {shape}"
        if shape not in T.SIMPLE_SHAPES:
            assert shape in fastparse._CUSTOM, f"fastparse.py cannot read a {shape}"
    assert set(assemble.MAKE) <= set(T.SHAPES)
    for c in T.CLAUSES:  # Lark: simple shapes through `__default__`, the others each by its method
        for rule in c.rules:
            assert (rule in vars(_ToModel)) == (c.shape not in T.SIMPLE_SHAPES), rule


def test_the_fast_parser_imports_neither_lark_nor_the_lark_parser():
    code = ("import sys, engine.syntax.fastparse; "
            "bad = [m for m in sys.modules if m == 'lark' or m.startswith('lark.') or m == 'engine.syntax.parser']; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---- generated blocks: the parsers, assemble and the checks against the table -------------------------


def block_text(kind: str, lines: list[str]) -> str:
    b = T.BLOCK[kind]
    if b.head == "names":
        return f"{kind} X " + " ".join(lines) + "\n"
    if not b.braced:
        return f'{kind} X "x" ' + " ".join(lines) + "\n"
    head = f'{kind} X "x"' if b.named else f'{kind} "x"'
    return head + " {\n" + "".join(f"  {line}\n" for line in lines) + "}\n"


def parse_both(text: str) -> tuple[object, list]:
    """Parse with both parsers; they must agree (the fast one may decline). The model and diagnostics."""
    source = SourceFile("policies/x.policy", text)
    reference = parse_source_lark(source)
    fast = fastparse.parse_fast(source)
    assert fast is not None, f"the fast parser declined valid text:\n{text}"
    assert fast == reference
    assert parse_source(source) == reference
    return reference


TAKEN = [(kind, c, s) for kind in T.BLOCK for c in T.ORDER[kind] for s in c.samples]


@pytest.mark.parametrize("kind,clause,sample", TAKEN, ids=lambda x: getattr(x, "name", x))
def test_each_sample_parses_as_its_clause(kind: str, clause: T.Clause, sample: str):
    pf, diags = parse_both(block_text(kind, [sample]))
    assert diags == []
    (item,) = pf.items
    assert T.present(item, kind, clause)
    if hasattr(item, "clause_spans"):
        assert [name for name, _ in item.clause_spans] == [clause.name]
    # and the formatter writes it back as the sample: the samples are the canonical spelling
    assert fmt.format_text(block_text(kind, [sample])) == block_text(kind, [sample])


@pytest.mark.parametrize("kind,clause", [(k, c) for k in T.BLOCK for c in T.ORDER[k]],
                         ids=lambda x: getattr(x, "name", x))
def test_a_clause_twice_is_a_duplicate_iff_the_table_says_once(kind: str, clause: T.Clause):
    sample = clause.samples[-1]
    pf, diags = parse_both(block_text(kind, [sample, sample]))
    duplicates = [d for d in diags if d.code == "duplicate-clause"]
    if clause.once:
        assert len(duplicates) == 1 and duplicates[0].message.startswith(f"`{clause.shown}` appears twice in {kind} ")
        assert duplicates[0].span.line == (3 if T.BLOCK[kind].braced else 1)  # the second one
    else:
        assert diags == [] and len(T.occurrences(pf.items[0], kind, clause)) == (
            1 if clause.collect in (T.CONCAT, T.SET) else 2)


MISPLACED = [(kind, c) for kind in T.BLOCK for c in T.syntax_of(kind) if kind not in c.blocks]


def test_there_are_misplaceable_clauses():
    assert {k for k, _ in MISPLACED} == {"gateway", "restriction", "agreement"}


@pytest.mark.parametrize("kind,clause", MISPLACED, ids=lambda x: getattr(x, "name", x))
def test_a_clause_the_block_does_not_take_is_misplaced(kind: str, clause: T.Clause):
    pf, diags = parse_both(block_text(kind, [clause.samples[0]]))
    assert [d.code for d in diags] == ["misplaced-clause"]
    assert diags[0].message == f"`{clause.shown}` has no meaning in a {kind}"
    takes = diags[0].help.removeprefix(f"a {kind} takes: ").split(", ")
    assert sorted(takes) == sorted(c.shown for c in T.ORDER[kind])
    assert clause.name not in [name for name, _ in pf.items[0].clause_spans]  # left out of the model


def missing(kind: str, lines: list[str]) -> list:
    pf, diags = parse_both(block_text(kind, lines))
    assert diags == []
    checked = check(m.Bundle(files=(pf,), register=m.Register()))
    return [d for d in checked.diagnostics if d.code == "missing-clause"]


@pytest.mark.parametrize("kind", [b.kind for b in T.BLOCKS])
def test_missing_clauses_are_what_the_table_requires(kind: str):
    groups = T.required(kind)
    complete = [g[0].samples[0] for g in groups]
    assert missing(kind, complete) == []
    for i, group in enumerate(groups):
        rest = complete[:i] + complete[i + 1:]
        found = missing(kind, rest)
        assert len(found) == 1, (kind, group, found)
        for c in group:
            assert f"`{c.spelling[0]}`" in found[0].message
            assert all(s in found[0].help for s in c.samples)
            assert missing(kind, rest + [c.samples[0]]) == []  # any clause of the group will do
    # what no block needs can be left out
    if kind in ("gateway", "restriction", "agreement"):
        assert {c.name for c in T.ORDER[kind]} - {c.name for g in groups for c in g}


def test_the_golden_missing_clause_messages_come_from_the_table():
    found = missing("restriction", ['statute SSAA-1992 "section 123"'])
    assert found[0].message == "restriction `X` has neither `one-way` nor `forbids`"
    assert found[0].help == "say whose data it bars: `one-way ORG` or `forbids A -> B`"
    found = missing("agreement", ["data d", "for p", "under G"])
    assert found[0].message == "agreement `X` has no `from … to …` clause"


# ---- the formatter's order --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [b.kind for b in T.BLOCKS])
def test_the_formatter_prints_clauses_in_table_order(kind: str):
    samples = [c.samples[0] for c in T.ORDER[kind]]
    got = fmt.format_text(block_text(kind, list(reversed(samples))))
    assert got == block_text(kind, samples)


def test_valid_moves_after_the_article_conditions_in_an_agreement_only():
    order = {k: [c.name for c in T.ORDER[k]] for k in ("gateway", "agreement")}
    assert order["gateway"].index("valid") < order["gateway"].index("lawful-basis")
    assert order["agreement"].index("article-10") + 1 == order["agreement"].index("valid")


# ---- explanations -----------------------------------------------------------------------------------


def test_explain_missing_clause_lists_the_required_clauses():
    text = T.explain("missing-clause")
    assert text.startswith("A block lacks a clause it needs: ")
    for b in T.BLOCKS:
        for group in T.required(b.kind):
            for c in group:
                assert f"`{c.spelling[0]}`" in text
    assert "a gateway needs `statute`, `allows`, `data` and `for`" in text
    assert "a restriction needs `one-way` or `forbids`" in text
    r = runner.invoke(app, ["check", "--explain", "missing-clause"])
    assert r.exit_code == 0 and r.output == f"missing-clause: {text}\n"
    assert T.explain("no-such-code") is None and T.explain("parse-error")
