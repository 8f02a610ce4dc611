"""Issue 15: names a person can find (`lawful list`, `lawful show`, titles wherever a name is typed) and what
changed when (`lawful timeline`), on the default bundle and on small bundles written here."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from typer.testing import CliRunner

from cli import app
from engine.errors import RequestError, UnknownNameError
from engine.eval import catalogue

from conftest import D2005, ROOT

B = ["--bundle", str(ROOT)]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


# ---- titles are names ----------------------------------------------------------------------------------


def test_a_title_is_a_name_wherever_a_name_is_typed(default_policy):
    by_id = default_policy.decide("JCP", "ALI", "provider-data", "inspection", on=D2005)
    by_title = default_policy.decide("jobcentre plus", "Adult Learning  Inspectorate",
                                     "Information about learning providers", "Inspection of education and training",
                                     on=D2005)
    assert by_title.to_dict()["question"] == by_id.to_dict()["question"]
    assert by_title.verdict == by_id.verdict == "deny"
    assert default_policy.statute_key("Education Act 1996") == "ea-1996"
    r = run("can-share", "Learning and Skills Council for England", "Adult Learning Inspectorate", "provider-data",
            "--purpose", "inspection", "--on", "2005-06-23", *B)
    assert r.exit_code == 0 and r.stdout.startswith("ALLOWED"), r.output


def test_an_id_or_alias_wins_over_another_declarations_title(make_bundle):
    import engine

    bundle = make_bundle({"o.policy": 'organisation A "B"\norganisation B "Something else"\n'
                                      'organisation C "Twin"\norganisation D "Twin"\n'})
    p = engine.load(bundle)
    assert p.org_key("b") == "b"  # B's own id, not A's title
    with pytest.raises(UnknownNameError):
        p.org_key("Twin")  # two organisations carry that title: never a guess


# ---- list ----------------------------------------------------------------------------------------------


def test_list_orgs_text_json_and_csv(default_policy):
    r = run("list", "orgs", *B)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == f"Organisations: {len(default_policy.orgs)}"
    assert any(line.split()[:4] == ["ALI", "Adult", "Learning", "Inspectorate"] for line in r.stdout.splitlines())
    j = json.loads(run("list", "orgs", "--format", "json", *B).stdout)
    assert j["kind"] == "organisation" and len(j["items"]) == len(default_policy.orgs)
    ali = next(i for i in j["items"] if i["id"] == "ALI")
    assert ali["title"] == "Adult Learning Inspectorate" and ali["end"] == "2007-03-31"
    assert ali["at"] == "policies/organisations.policy:152"
    jcp = next(i for i in j["items"] if i["id"] == "JCP")
    assert jcp["aliases"] == ["Jobcentre Plus", "JobCentrePlus"] and jcp["parent"] == "DWP"
    rows = list(csv.DictReader(io.StringIO(run("list", "orgs", "--format", "csv", *B).stdout)))
    assert len(rows) == len(default_policy.orgs)
    assert next(r for r in rows if r["id"] == "JCP")["aliases"] == "Jobcentre Plus; JobCentrePlus"


def test_list_on_a_date_keeps_only_what_exists_or_is_in_force_then():
    before = {i["id"] for i in json.loads(run("list", "orgs", "--on", "2007-03-31", "-f", "json", *B).stdout)["items"]}
    after = {i["id"] for i in json.loads(run("list", "orgs", "--on", "2007-04-01", "-f", "json", *B).stdout)["items"]}
    assert "ALI" in before and "ALI" not in after
    assert "OFSTED-2007" in after and "OFSTED-2007" not in before
    agreements = json.loads(run("list", "agreements", "--on", "2005-06-23", "-f", "json", *B).stdout)["items"]
    assert "LSC-ALI-2005" in {a["id"] for a in agreements}
    assert all(a["status"] == "in force" for a in agreements)
    statutes = {s["id"]
                for s in json.loads(run("list", "statutes", "--on", "2005-06-23", "-f", "json", *B).stdout)["items"]}
    assert "DCA-GATEWAY-2006" not in statutes  # proposed: not in force on any date


def test_list_data_carries_sensitivity_and_every_kind_lists(default_policy):
    items = json.loads(run("list", "data", "-f", "json", *B).stdout)["items"]
    ilr = next(i for i in items if i["id"] == "ilr-disability-fields")
    assert ilr["sensitivity"] == ["personal", "special-category"] and ilr["parent"] == "individualised-learner-record"
    for what, n in (("purposes", len(default_policy.purposes)), ("gateways", len(default_policy.gateways)),
                    ("restrictions", len(default_policy.restrictions)),
                    ("agreements", len(default_policy.agreements)), ("statutes", len(default_policy.statutes))):
        r = run("list", what, "-f", "json", *B)
        assert r.exit_code == 0 and len(json.loads(r.stdout)["items"]) == n, what


def test_list_refuses_an_unknown_kind_and_a_bad_date():
    r = run("list", "people", *B)
    assert r.exit_code == 2 and "people" in r.output
    r = run("list", "orgs", "--on", "23/06/2005", *B)
    assert r.exit_code == 2 and "error[bad-date]" in r.output


# ---- show ----------------------------------------------------------------------------------------------


def test_show_finds_by_title_and_says_everything_with_file_and_line():
    r = run("show", "Adult Learning Inspectorate", *B)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("organisation ALI — Adult Learning Inspectorate")
    assert "written at policies/organisations.policy:152" in out
    assert "replaced by OFSTED-2007 on 2007-04-01" in out
    assert "agreement LSC-ALI-2005 (party, receives)" in out and "[policies/agreements.policy:25]" in out
    j = json.loads(run("show", "ali", "--format", "json", *B).stdout)
    [ali] = j["found"]
    assert ali["details"]["replaced_by"] == "OFSTED-2007"
    assert {(x["kind"], x["id"]) for x in ali["related"]} >= {("gateway", "LSC-INSPECTION"),
                                                               ("agreement", "LSC-ALI-2005")}


def test_show_an_agreement_gives_owner_review_and_dates_and_a_statute_its_rules():
    out = run("show", "LSC-ALI-2005", "--on", "2009-01-01", *B).stdout
    assert "owner: Data Sharing Lead, Learning and Skills Council" in out
    assert "review due: 2006-06-22" in out and "in force: 2005-06-22 to 2008-06-21" in out
    assert "on the date asked: ended" in out
    out = run("show", "Social Security Administration Act 1992", *B).stdout
    assert out.startswith("statute SSAA-1992")
    assert "restriction SSAA-1992-s123 (cites it)" in out


def test_show_an_unknown_name_is_an_error_with_suggestions():
    r = run("show", "Adult Learning Inspectorat", *B)
    assert r.exit_code == 2
    assert "error[unknown-name]" in r.output and "Adult Learning Inspectorate" in r.output


# ---- timeline -----------------------------------------------------------------------------------------


def test_the_alis_end_in_the_timeline(default_policy):
    t = catalogue.timeline(default_policy, dt.date(2007, 3, 31), dt.date(2007, 4, 2))
    [day] = t.days
    assert day.on == dt.date(2007, 4, 1)
    kinds = {(e.kind, e.id) for e in day.events}
    # the ALI's and the old OfSTED's functions passed to the new Ofsted (EIA 2006): flows to and from the old
    # bodies end, and the same flows with the new Ofsted begin
    assert ("organisation-transferred", "ALI, OfSTED") in kinds and ("agreement-ends", "ALI-OFSTED-JOINT-2005") in kinds
    assert ("organisation-begins", "OFSTED-2007") in kinds
    assert len(day.ended) == 22 and len(day.began) == 12
    assert {(f.source, f.recipient) for f in day.began} >= {("LSC", "OFSTED-2007"), ("OFSTED-2007", "LSC")}
    # every flow reported as ended was lawful the day before and is not lawful on the day
    for f in day.ended:
        assert default_policy.allowed(f.source, f.recipient, f.data, f.purpose, on=dt.date(2007, 3, 31))
        assert not default_policy.allowed(f.source, f.recipient, f.data, f.purpose, on=dt.date(2007, 4, 1))
    r = run("timeline", "--from", "2007-03-31", "--to", "2007-04-02", *B)
    assert r.exit_code == 0, r.output
    assert "2007-04-01: ALI, OfSTED's functions passed to OFSTED-2007 and they ceased; OFSTED-2007" in r.stdout
    assert "22 flows ended, 12 began" in r.stdout
    assert "ended:  LSC → ALI: provider-data for inspection (LSC-INSPECTION / LSC-ALI-2005)" in r.stdout


def test_flows_that_begin_are_lawful_on_the_day_and_not_the_day_before(default_policy):
    t = catalogue.timeline(default_policy)
    began = [(d.on, f) for d in t.days for f in d.began]
    assert began, "the default bundle has agreements that begin"
    for on, f in began:
        if f.data == "*":  # a body and its own part (same-body): no one flow to decide
            continue
        assert default_policy.allowed(f.source, f.recipient, f.data, f.purpose, on=on)
        assert not default_policy.allowed(f.source, f.recipient, f.data, f.purpose, on=on - dt.timedelta(days=1))
    assert [d.on for d in t.days] == sorted(d.on for d in t.days)


def test_timeline_json_and_csv():
    j = json.loads(run("timeline", "--from", "2007-04-01", "--to", "2007-04-01", "-f", "json", *B).stdout)
    assert j["from"] == j["to"] == "2007-04-01" and j["days"][0]["events"][0]["kind"] == "organisation-transferred"
    rows = list(csv.DictReader(io.StringIO(run("timeline", "--from", "2007-04-01", "--to", "2007-04-01", "-f", "csv",
                                               *B).stdout)))
    assert len(rows) == 34 and {r["change"] for r in rows} == {"ended", "began"}
    assert all("ALI, OfSTED's functions passed to OFSTED-2007" in r["events"] for r in rows)


def test_a_statute_commencement_makes_flows_begin(make_bundle):
    import engine

    bundle = make_bundle({"b.policy": """
organisation A "Body A"
organisation B "Body B"
data stats "Statistics" anonymised
purpose planning "Planning"
gateway G "A to B" {
  statute ESA-2008 "section 1"
  allows A -> B
  data stats
  for planning
}
"""})
    t = catalogue.timeline(engine.load(bundle))
    day = next(d for d in t.days if d.on == dt.date(2008, 1, 26))
    assert [e.kind for e in day.events] == ["statute-commenced"]
    assert [(f.source, f.recipient, f.data, f.purpose, f.bases) for f in day.began] == [
        ("A", "B", "stats", "planning", ("G",))]


def test_timeline_refuses_a_backwards_range_and_too_many_dates(default_policy):
    r = run("timeline", "--from", "2008-01-01", "--to", "2007-01-01", *B)
    assert r.exit_code == 2 and "error[bad-range]" in r.output
    with pytest.raises(RequestError) as info:
        catalogue.timeline(default_policy, max_days=2)
    assert info.value.code == "limit-exceeded"


# ---- why no one --------------------------------------------------------------------------------------------


def test_why_no_one_names_the_reason_for_each_side(default_policy):
    from engine.policy.nobody import why_no_one

    one_way = why_no_one(default_policy, "recipients", "JCP", "provider-data", "inspection", D2005)
    assert one_way[0]["reason"].startswith("JCP is bound by a one-way restriction")
    assert any("JCP → ALI for inspection" in r["flows"] for r in one_way)
    nothing = why_no_one(default_policy, "sources", "Ufi", "learner-record", "funding", D2005)
    assert nothing == [{"reason": "no gateway lets Ufi receive learner-record for funding", "flows": []}]
    gone = why_no_one(default_policy, "recipients", "ALI", "provider-data", None, dt.date(2008, 1, 1))
    assert gone == [{"reason": "ALI no longer exists on 2008-01-01: its functions passed to OFSTED-2007 on 2007-04-01",
                     "flows": []}]


# ---- shell completion ----------------------------------------------------------------------------------------


def _complete(words: str) -> list[str]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "_LAWFUL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1 + (1 if words.endswith(" ") else 0))}
    code = "import sys; sys.argv = ['lawful']; import cli; cli.app(prog_name='lawful')"
    done = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout.split()


def test_names_complete_from_the_bundle():
    assert _complete("lawful can-share JCP A") == ["ALI", "AoC"]
    assert _complete("lawful can-share JCP ALI provider-c") == ["provider-contacts"]
    assert "inspection.schools" in _complete("lawful can-share JCP ALI provider-data --purpose insp")
    assert _complete("lawful recipients LS") == ["LSC", "LSDA", "LSIS"]
    assert "LSC-ALI-2005" in _complete("lawful show LSC-A")
    # names are case-insensitive: the typed letters are kept
    assert _complete("lawful show jc") == ["jcP", "jcP-ALI-DRAFT"]
    assert _complete(f"lawful can-share --bundle {ROOT / 'nowhere'} A") == []  # a broken bundle: nothing, quietly


def test_completion_can_be_installed():
    r = run("--help")
    assert "--install-completion" in r.stdout
