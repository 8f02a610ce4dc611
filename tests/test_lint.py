"""Lint (part of `lawful check`): one small bundle per code, the SARIF log validated against the official
schema, GitHub annotations, `--expiring-within`, and `--explain` for every code."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from cli import app
from conftest import ROOT
from engine.base.diagnostics import CODES
from engine.review.lint import check_and_lint

runner = CliRunner()
SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))

VOCAB = """\
organisation DWP "Department for Work and Pensions"
organisation JCP "Jobcentre Plus" part-of DWP
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
organisation AoC "Association of Colleges"
data personal "Personal data" personal
data provider-data "Provider data"
data provider-statistics "Statistics" under provider-data anonymised
purpose inspection "Inspection"
purpose funding "Funding"
"""

GATEWAY = """\
gateway G "g" {
  statute LSA-2000 "s.1"
  allows LSC, JCP -> ALI
  data provider-data
  for inspection
  requires agreement
}
"""


def agreement(ident: str, parties: str = "from LSC to ALI", extra: str = "",
              valid: str = "valid 2005-01-01 to 2006-12-31", review: str = "review 2006-06-01") -> str:
    return (f'agreement {ident} "a" {{\n  {parties}\n  data provider-data\n  for inspection\n  under G\n'
            f'  {valid}\n  {review}\n  owner "someone"\n{extra}}}\n')


def lint_codes(make_bundle, text: str, on=dt.date(2005, 6, 23), days: int = 90):
    root = make_bundle({"main.policy": text})
    diags, _ = check_and_lint(root, on, days)
    assert not [d for d in diags if d.severity.value == "error"], [d.headline() for d in diags]
    return diags


def of(diags, code):
    return [d for d in diags if d.code == code]


def test_clean_bundle_has_no_lint(make_bundle):
    diags = lint_codes(make_bundle, VOCAB + GATEWAY + agreement("A") +
                       'restriction R "r" {\n  statute SSAA-1992 "s.123"\n  one-way DWP\n  except anonymised\n}\n'
                       'gateway H "h" {\n  statute LSA-2000 "s.2"\n  allows AoC -> LSC\n'
                       '  data provider-statistics\n  for funding\n}\n'
                       'gateway DW "d" {\n  statute LSA-2000 "s.3"\n  allows DWP -> AoC\n'
                       '  data provider-statistics\n  for funding\n}\n')
    assert [d.code for d in diags] == [], [d.headline() for d in diags]


def test_agreement_expiring(make_bundle):
    text = VOCAB + GATEWAY + agreement("A", valid="valid 2005-01-01 to 2005-08-01")
    diags = lint_codes(make_bundle, text)
    (d,) = of(diags, "agreement-expiring")
    assert "expires on 2005-08-01, 39 days after 2005-06-23" in d.message and d.span.line == 23
    assert not of(lint_codes(make_bundle, text, days=30), "agreement-expiring")


def test_no_review_date(make_bundle):
    diags = lint_codes(make_bundle, VOCAB + GATEWAY + agreement("A", review=""))
    (d,) = of(diags, "no-review-date")
    assert "`A` records no review date" in d.message


def test_dead_agreement_names_the_restriction(make_bundle):
    text = VOCAB + GATEWAY + agreement("A", "from JCP to ALI") + \
        'restriction SSAA-s123 "one way" {\n  statute SSAA-1992 "s.123"\n  one-way DWP\n  except to DWP\n}\n'
    diags = lint_codes(make_bundle, text)
    (d,) = of(diags, "dead-agreement")
    assert "blocked by restriction `SSAA-s123`" in d.message
    assert d.related and d.related[0][1].line > 0
    # a gateway that overrides the restriction brings the agreement back to life
    alive = text.replace("  requires agreement\n", "  requires agreement\n  overrides SSAA-s123\n")
    assert not of(lint_codes(make_bundle, alive), "dead-agreement")
    # an exception that lets part of it through: not dead
    partly = text.replace("  except to DWP\n", "  except anonymised\n")
    assert not of(lint_codes(make_bundle, partly), "dead-agreement")


def test_overlapping_agreements(make_bundle):
    text = VOCAB + GATEWAY + agreement("A") + agreement("B", extra='  requires "a condition"\n')
    diags = lint_codes(make_bundle, text)
    (d,) = of(diags, "overlapping-agreements")
    assert "`A` and `B`" in d.message and "LSC -> ALI provider-data for inspection" in d.message
    # windows that never meet do not overlap
    apart = VOCAB + GATEWAY + agreement("A") + agreement("B", valid="valid 2007-01-01 to 2008-01-01")
    assert not of(lint_codes(make_bundle, apart), "overlapping-agreements")
    other_side = VOCAB + GATEWAY + agreement("A") + agreement("B", "from JCP to ALI")
    assert not of(lint_codes(make_bundle, other_side), "overlapping-agreements")


def test_unusable_exception(make_bundle):
    text = VOCAB + GATEWAY + agreement("A") + (
        'restriction R "r" {\n  statute SSAA-1992 "s.123"\n  one-way DWP\n  data personal\n'
        '  except anonymised\n  except for funding\n  except to ALI\n}\n')
    diags = lint_codes(make_bundle, text)
    found = of(diags, "unusable-exception")
    # no gateway lets DWP send personal data at all: every exception is unusable
    assert sorted(d.message.split("`")[1] for d in found) == ["except anonymised", "except for funding",
                                                               "except to ALI"]
    usable = text.replace("  data personal\n", "")
    left = [d.message.split("`")[1] for d in of(lint_codes(make_bundle, usable), "unusable-exception")]
    assert left == ["except for funding"]  # JCP -> ALI provider data (incl. statistics) for inspection is allowed


def test_isolated_organisation(make_bundle):
    diags = lint_codes(make_bundle, VOCAB + GATEWAY + agreement("A"))
    isolated = sorted(d.message.split("`")[1] for d in of(diags, "isolated-organisation"))
    # JCP and DWP are inside the gateway but no agreement covers them; AoC is named by nothing
    assert isolated == ["AoC", "DWP", "JCP"]
    assert all(d.severity.value == "info" for d in of(diags, "isolated-organisation"))


def test_default_bundle_lint():
    diags, _ = check_and_lint(ROOT, dt.date(2005, 6, 23))
    codes = {d.code for d in diags}
    assert "error" not in {d.severity.value for d in diags}
    assert {"implied-power", "isolated-organisation"} <= codes
    assert not codes & {"dead-agreement", "overlapping-agreements", "no-review-date"}
    isolated = {d.message.split("`")[1] for d in diags if d.code == "isolated-organisation"}
    assert {"AoC", "UCAS"} <= isolated and "JCP" not in isolated


def test_check_cli_expiring_within():
    r = runner.invoke(app, ["check", "--bundle", str(ROOT), "--on", "2006-06-01", "--expiring-within", "90"])
    assert r.exit_code == 0
    assert "warning[agreement-expiring]: agreement `FE-LSC-ILR-2005` expires on 2006-07-31" in r.output
    r = runner.invoke(app, ["check", "--bundle", str(ROOT), "--on", "2006-06-01", "--expiring-within", "10"])
    assert "agreement-expiring" not in r.output


def test_sarif_validates_against_the_official_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = runner.invoke(app, ["check", "--on", "2006-06-01", "--format", "sarif"])
    assert r.exit_code == 0, r.output
    log = json.loads(r.output)
    cls = jsonschema.validators.validator_for(SARIF_SCHEMA)
    cls.check_schema(SARIF_SCHEMA)
    cls(SARIF_SCHEMA).validate(log)
    run = log["runs"][0]
    rules = [x["id"] for x in run["tool"]["driver"]["rules"]]
    assert set(CODES) <= set(rules)
    res = run["results"]
    assert any(x["ruleId"] == "agreement-expiring" and x["level"] == "warning" for x in res)
    loc = res[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].startswith("policies/") and loc["region"]["startLine"] > 0
    for x in res:
        assert rules[x["ruleIndex"]] == x["ruleId"]


def test_sarif_for_errors_validates(make_bundle, monkeypatch):
    root = make_bundle({"main.policy": 'organisation A "a" part-of Nope\ngateway G "g" {\n  data x\n}\n'})
    monkeypatch.chdir(root)
    r = runner.invoke(app, ["check", "--format", "sarif"])
    assert r.exit_code == 1
    log = json.loads(r.output)
    jsonschema.validators.validator_for(SARIF_SCHEMA)(SARIF_SCHEMA).validate(log)
    assert {x["level"] for x in log["runs"][0]["results"]} == {"error"}


def test_github_annotations_for_check(make_bundle, monkeypatch):
    root = make_bundle({"main.policy": 'organisation A "a" part-of Nope\n'})
    monkeypatch.chdir(root.parent)
    r = runner.invoke(app, ["check", "--bundle", "bundle", "--format", "github"])
    assert r.exit_code == 1
    line = r.output.splitlines()[0]
    assert line.startswith("::error file=bundle/policies/main.policy,line=1,col=28,")
    assert "title=lawful unknown-name::unknown organisation `Nope`" in line


@pytest.mark.parametrize("code", sorted(CODES))
def test_explain_every_code(code):
    r = runner.invoke(app, ["check", "--explain", code])
    assert r.exit_code == 0 and r.output.startswith(f"{code}: ") and len(r.output) > len(code) + 20
