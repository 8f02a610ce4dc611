"""Provisions with their own dates (issue 12, part 1): the register's `provisions:`, what the decision JSON
says of them, `--assume STATUTE/PROVISION` from the library and the CLI, and the register's refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

import engine
from cli import app
from conftest import ROOT, write_bundle

SPEC = yaml.safe_load((Path(__file__).parent / "spec" / "decisions" / "provisions.yaml").read_text("utf-8"))
SCHEMA = json.loads((ROOT / "schemas" / "decision.schema.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def policy() -> engine.Policy:
    return engine.load_texts({"policies/main.policy": SPEC["policy"]}, SPEC["register"])


def test_the_decision_json_carries_the_provision_and_its_dates(policy):
    d = policy.decide("DWP", "LA", "contact", "tracking", on=dt.date(2014, 1, 1))
    doc = d.to_dict()
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    statute = doc["basis"]["gateway"]["statute"]
    assert statute["provision"] == "section 15"
    assert statute["provision_dates"] == {
        "provision": "section 15", "status": "in-force", "commenced": "2013-06-28", "repealed": None,
        "commenced_by": "SI 2013/1204 art 2", "url": None, "windows": []}
    assert statute["url"] == "https://www.legislation.gov.uk/ukpga/2008/25/section/15"


def test_partial_commencement_windows_are_in_the_json(policy):
    doc = policy.decide("DWP", "LA", "contact", "research", on=dt.date(2009, 6, 1)).to_dict()
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    windows = doc["basis"]["gateway"]["statute"]["provision_dates"]["windows"]
    assert [(w["commenced"], w["repealed"], w["extent"]) for w in windows] == [
        ("2009-01-01", "2010-01-01", "for specified purposes"), ("2012-01-01", None, "for remaining purposes")]


def test_an_unlisted_provision_has_no_dates_of_its_own(policy):
    doc = policy.decide("DWP", "LA", "contact", "other", on=dt.date(2009, 6, 1)).to_dict()
    assert doc["basis"]["gateway"]["statute"]["provision_dates"] is None
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def test_assuming_a_provision_is_shown_by_its_name(policy):
    d = policy.decide("DWP", "LA", "contact", "tracking", on=dt.date(2010, 1, 1), assume=["esa-2008/Section 15"])
    assert d.allowed and d.assume == ("ESA-2008/section-15",)


def test_an_unknown_provision_is_refused_with_suggestions(policy):
    with pytest.raises(engine.UnknownNameError) as info:
        policy.decide("DWP", "LA", "contact", "tracking", on=dt.date(2010, 1, 1), assume=["ESA-2008/section-16"])
    assert info.value.kind == "provision" and "ESA-2008/section-15" in info.value.suggestions


def test_the_cli_assumes_a_provision(tmp_path):
    root = write_bundle(tmp_path / "b", {"main.policy": SPEC["policy"]}, SPEC["register"])
    base = ["can-share", "DWP", "LA", "contact", "--purpose", "tracking", "--on", "2010-01-01", "--bundle", str(root)]
    denied = CliRunner().invoke(app, base)
    assert denied.exit_code == 1, denied.output
    allowed = CliRunner().invoke(app, base + ["--assume", "ESA-2008/section-15", "--format", "json"])
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout)["decisions"][0]["question"]["assume"] == ["ESA-2008/section-15"]
    unknown = CliRunner().invoke(app, base + ["--assume", "ESA-2008/section-16"])
    assert unknown.exit_code == 2 and "unknown provision" in unknown.output


@pytest.mark.parametrize("record,problem", [
    ("{status: in-force, commenced: 2013-06-28, windows: [{commenced: 2014-01-01}]}", "schema"),
    ("{status: in-force}", "schema"),
    ("{status: proposed, commenced: 2013-06-28}", "schema"),
    ("{status: in-force, windows: [{repealed: 2014-01-01}]}", "schema"),
    ("{status: in-force, commenced: 2013-06-28, repealed: 2012-01-01}", "bad-validity"),
    ("{status: in-force, windows: [{commenced: 2014-01-01, repealed: 2013-01-01}]}", "bad-validity"),
    ("{status: in-force, commenced: 2013-06-28, extra: 1}", "schema"),
])
def test_the_register_refuses_bad_provisions(tmp_path, record, problem):
    register = ("statutes:\n  ESA:\n    title: t\n    status: in-force\n    commenced: 2008-01-01\n"
                f"    provisions:\n      section 15: {record}\n")
    root = write_bundle(tmp_path / "b", {"main.policy": 'organisation A "A"\n'}, register)
    with pytest.raises(engine.DiagnosticsError) as info:
        engine.load(root)
    assert problem in {d.code for d in info.value.diagnostics}


def test_two_keys_for_one_provision_are_refused(tmp_path):
    register = ("statutes:\n  ESA:\n    title: t\n    status: in-force\n    commenced: 2008-01-01\n"
                "    provisions:\n      section 15: {status: not-commenced}\n"
                "      Section-15: {status: not-commenced}\n")
    root = write_bundle(tmp_path / "b", {"main.policy": 'organisation A "A"\n'}, register)
    with pytest.raises(engine.DiagnosticsError) as info:
        engine.load(root)
    assert any(d.code == "duplicate-id" and "listed twice" in d.message for d in info.value.diagnostics)


def test_the_language_reference_example_of_provisions_is_a_valid_register():
    from engine.base.source import SourceFile
    from engine.syntax.register import parse_register

    text = (ROOT / "docs" / "language.md").read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    example = next(b for b in blocks if "provisions:" in b)
    register, diags = parse_register(SourceFile("gateways.yaml", example))
    assert register is not None and not diags, diags
    esa = register.get("ESA-2008")
    assert [p.text for p in esa.provisions] == ["section 15", "section 17", "section 14"]
    assert len(esa.provision("Section-14").periods()) == 2


def test_diff_reports_a_provision_whose_dates_changed():
    from engine.review.diff import diff_policies

    old = engine.load_texts({"policies/main.policy": SPEC["policy"]}, SPEC["register"])
    register = SPEC["register"].replace("commenced: 2013-06-28", "commenced: 2009-06-28")
    new = engine.load_texts({"policies/main.policy": SPEC["policy"]}, register)
    result = diff_policies(old, new, dt.date(2010, 1, 1))
    assert [c.key for c in result.changes] == ["statute:esa-2008"]
    assert any("provisions" in d for d in result.changes[0].details)
    assert {(f.source, f.recipient, f.purpose, f.new) for f in result.flows} == {("DWP", "LA", "tracking", "allow")}


POLICY_TESTS = """\
test "section 17 gives a power only once commenced" {
  expect deny DWP -> LA contact for planning on 2020-01-01
  expect allow DWP -> LA contact for planning on 2020-01-01 assuming ESA-2008/section-17
  expect allow DWP -> LA contact for tracking on 2010-01-01 assuming ESA-2008/section-15, ESA-2008/section-17
}
"""


def test_a_policy_test_assumes_a_provision_as_the_cli_does(tmp_path):
    # `assuming STATUTE/PROVISION` in a `test` block: both parsers, the formatter and `lawful test`
    from engine.base.source import SourceFile
    from engine.review import fmt
    from engine.syntax.fastparse import parse_fast
    from engine.syntax.parser import parse_source_lark

    source = SourceFile("tests/policy/p.policy", POLICY_TESTS)
    reference, fast = parse_source_lark(source), parse_fast(source)
    assert reference[1] == [] and fast == reference
    e = reference[0].items[0].expectations[2]
    assert [n.text for n in e.assuming] == ["ESA-2008/section-15", "ESA-2008/section-17"]
    assert (e.assuming[0].span.column, e.assuming[0].span.end_column) == (70, 89)
    assert fmt.format_text(POLICY_TESTS) == POLICY_TESTS
    root = write_bundle(tmp_path / "b", {"main.policy": SPEC["policy"]}, SPEC["register"])
    (root / "tests" / "policy").mkdir(parents=True)
    (root / "tests" / "policy" / "p.policy").write_text(POLICY_TESTS, encoding="utf-8")
    r = CliRunner().invoke(app, ["test", str(root / "tests" / "policy"), "--bundle", str(root)])
    assert r.exit_code == 0, r.output
    assert "3 passed" in r.output
    unknown = POLICY_TESTS.replace("ESA-2008/section-17\n", "ESA-2008/section-16\n")
    (root / "tests" / "policy" / "p.policy").write_text(unknown, encoding="utf-8")
    r = CliRunner().invoke(app, ["test", str(root / "tests" / "policy"), "--bundle", str(root)])
    assert r.exit_code != 0 and "unknown provision `ESA-2008/section-16`" in r.output, r.output


@pytest.mark.parametrize("text", ["assuming ESA-2008 / section-15", "assuming ESA-2008/", "assuming /section-15",
                                  "assuming ESA-2008/section-15/x"])
def test_a_provision_is_written_without_spaces(text):
    # one token, as `--assume` takes it: anything else is a syntax error from both parsers
    from engine.base.source import SourceFile
    from engine.syntax.fastparse import parse_fast
    from engine.syntax.parser import parse_source_lark

    source = SourceFile("t.policy", 'test "t" {\n  expect allow A -> B d ' + text + "\n}\n")
    assert parse_fast(source) is None
    model, diags = parse_source_lark(source)
    assert model is None and diags[0].code == "parse-error"


def test_a_provision_outside_assuming_is_a_syntax_error():
    from engine.base.source import SourceFile
    from engine.syntax.fastparse import parse_fast
    from engine.syntax.parser import parse_source_lark

    source = SourceFile("t.policy", 'gateway G "g" {\n  statute ESA-2008/section-15\n}\n')
    assert parse_fast(source) is None and parse_source_lark(source)[0] is None
