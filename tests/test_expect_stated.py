"""A policy test states what `can-share` states with its options: `given C, …` (declared conditions),
`express-only`, `received-under G` or `own-data` (provenance) and `held-for F` — in both parsers, the formatter,
`lawful test` (unknown names are errors with a suggestion) and the language server."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from conftest import ROOT
from engine.base.source import SourceFile
from engine.review import fmt
from engine.review.testing import run_expectation
from engine.syntax.fastparse import parse_fast
from engine.syntax.parser import parse_source_lark

TESTS = "\n".join([
    'test "stated" {',
    "  expect allow HMRC -> DWP tax-information for fraud-prevention on 2006-01-01 given commissioners-authority "
    "because SSAA-1992-s122",
    "  expect deny DWP -> LSC tax-information for fraud-prevention on 2006-01-01 received-under SSAA-1992-s122",
    "  expect deny JCP -> LSC claimant-record for research on 2005-06-23 held-for employment-services "
    "because DWP-ONE-WAY-2005",
    "  expect deny LSC -> ALI provider-data for inspection on 2005-06-23 express-only",
    "  expect deny JCP -> ALI provider-data for inspection on 2005-06-23 given published-with-lawful-authority "
    "express-only own-data held-for employment-services",
    "}",
    ""])

@pytest.fixture(scope="module")
def policy() -> engine.Policy:
    return engine.load(ROOT)


def _expectations(text: str):
    source = SourceFile("tests/policy/t.policy", text)
    reference, fast = parse_fast(source), parse_source_lark(source)
    assert reference is not None and fast[1] == [] and reference == fast
    return reference[0].items[0].expectations


def test_both_parsers_read_the_stated_facts_with_their_spans():
    es = _expectations(TESTS)
    assert [n.text for n in es[0].given] == ["commissioners-authority"]
    assert (es[0].given[0].span.line, es[0].given[0].span.column) == (2, 85)  # 1-based, as diagnostics show it
    assert es[1].received_under.text == "SSAA-1992-s122" and not es[1].own_data
    assert es[2].held_for.text == "employment-services"
    assert es[3].express_only and not es[2].express_only
    last = es[4]
    assert (last.express_only, last.own_data, last.received_under, last.held_for.text) == \
        (True, True, None, "employment-services")


def test_the_formatter_keeps_them_in_their_order():
    assert fmt.format_text(TESTS) == TESTS
    shuffled = TESTS.replace("given published-with-lawful-authority express-only", "express-only  given "
                             "published-with-lawful-authority")
    assert parse_fast(SourceFile("t.policy", shuffled)) is None  # out of order: a syntax error, as Lark says
    _model, diags = parse_source_lark(SourceFile("t.policy", shuffled))
    assert diags and diags[0].code == "parse-error"


@pytest.mark.parametrize("clause", ["own-data received-under SSAA-1992-s122", "received-under SSAA-1992-s122 own-data",
                                    "given", "received-under", "held-for"])
def test_provenance_is_one_of_two_and_every_word_takes_its_name(clause):
    text = 'test "t" {\n  expect deny JCP -> ALI provider-data ' + clause + "\n}\n"
    assert parse_fast(SourceFile("t.policy", text)) is None
    _model, diags = parse_source_lark(SourceFile("t.policy", text))
    assert [d.code for d in diags] == ["parse-error"]


def test_lawful_test_decides_with_what_the_expectation_states(policy):
    es = _expectations(TESTS)
    results = [run_expectation(policy, "stated", e) for e in es]
    assert [r.status for r in results] == ["passed"] * 5, [r.message for r in results]
    # the same expectations without what they state: the first fails (the condition is not given), the
    # express-only one fails (the implied power allows it)
    plain = _expectations(TESTS.replace(" given commissioners-authority", "").replace(
        "2005-06-23 express-only\n", "2005-06-23\n"))
    assert [run_expectation(policy, "stated", e).status for e in plain][:4] == ["failed", "passed", "passed", "failed"]


@pytest.mark.parametrize("old,new,message", [
    ("given commissioners-authority", "given commisioners-authority",
     "unknown condition `commisioners-authority`"),
    ("received-under SSAA-1992-s122", "received-under SSAA-1992-s12", "unknown gateway `SSAA-1992-s12`"),
    ("held-for employment-services because", "held-for employment-service because",
     "unknown function of `JCP` `employment-service`"),
])
def test_an_unknown_name_is_an_error_with_a_suggestion(policy, old, new, message):
    es = _expectations(TESTS.replace(old, new))
    bad = [r for r in (run_expectation(policy, "stated", e) for e in es) if r.status == "error"]
    assert len(bad) == 1 and message in bad[0].message and "did you mean" in bad[0].details


def test_the_cli_runs_them(tmp_path):
    path = tmp_path / "t.policy"
    path.write_text(TESTS, encoding="utf-8")
    r = CliRunner().invoke(app, ["test", str(path), "--bundle", str(ROOT)])
    assert r.exit_code == 0 and " 0 failed" in r.output, r.output
    path.write_text(TESTS.replace(" given commissioners-authority", ""), encoding="utf-8")
    r = CliRunner().invoke(app, ["test", str(path), "--bundle", str(ROOT)])
    assert r.exit_code == 1 and "expected allow, got deny" in r.output, r.output


def test_the_language_servers_decide_lens_carries_them(policy):
    from engine.ops.lsp import features as f

    stated = f.stated_facts({"given": ["commissioners-authority"], "express_only": True, "own_data": "yes",
                             "received_under": 3, "held_for": "employment-services"})
    assert stated == {"given": ["commissioners-authority"], "express_only": True, "held_for": "employment-services"}
    # contradictory provenance from a client: neither is taken
    assert f.stated_facts({"received_under": "SSAA-1992-s122", "own_data": True}) == {}

    class _Analysis:  # what decide_text reads
        pass

    a = _Analysis()
    a.policy, a.diagnostics = policy, {}
    text = f.decide_text(a, "HMRC", "DWP", "tax-information", "fraud-prevention", "2006-01-01", (),
                         {"given": ["commissioners-authority"]})
    assert text.startswith("ALLOWED"), text
    assert f.decide_text(a, "HMRC", "DWP", "tax-information", "fraud-prevention", "2006-01-01").startswith("DENIED")


def test_today_is_not_assumed_for_a_dated_expectation(policy):
    e = _expectations(TESTS)[0]
    assert run_expectation(policy, "stated", e, today=dt.date(1990, 1, 1)).status == "passed"
