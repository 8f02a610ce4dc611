"""`lawful diff`: the done-when scenario on a git repository, folders and JSON, and the property that the
scoped diff agrees with brute force over every question on small generated bundles."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import engine
from cli import app
from conftest import MINI_REGISTER, ROOT
from gitrepo import copy_bundle, git, make_repo
from engine.review.diff import brute_force, diff_policies

runner = CliRunner()
EXAMPLES = int(os.environ.get("LAWFUL_HYPOTHESIS_EXAMPLES", "60"))

NEW_AGREEMENT = """
agreement UFI-LSC-ILR-2004 "ILR returns from learndirect, 2004/05" {
  from Ufi to LSC
  data individualised-learner-record
  for planning
  under LSC-FUNDING-CONDITIONS
  lawful-basis public-task
  article-9 "dpa1998-sch3-7"
  valid 2004-08-01 to 2005-07-31
  review 2005-04-01
  owner "Director of Funding and Information, Learning and Skills Council"
  onward none
}
"""


_git = git
_copy_bundle = copy_bundle


def _change(bundle: Path) -> None:
    """Add one agreement and tighten one restriction (HMRC's confidentiality, CRCA 2005 s.18, made to bind the
    LSC too — a hypothetical reading, for the test)."""
    with open(bundle / "policies" / "agreements.policy", "a", encoding="utf-8") as f:
        f.write(NEW_AGREEMENT)
    path = bundle / "policies" / "restrictions.policy"
    text = path.read_text(encoding="utf-8")
    assert "  forbids HMRC -> *\n" in text
    path.write_text(text.replace("  forbids HMRC -> *\n", "  forbids HMRC, LSC -> *\n", 1), encoding="utf-8")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    return make_repo(tmp_path / "repo", monkeypatch, "feature", _change, "add an agreement, tighten a restriction")


def test_git_diff_lists_exactly_the_changed_flows(repo, tmp_path):
    on = dt.date(2005, 6, 23)
    old = engine.load(ROOT)
    new_dir = _copy_bundle(tmp_path / "expected")
    _change(new_dir)
    new = engine.load(new_dir)
    expected = brute_force(old, new, on)
    assert expected  # the change does change verdicts
    # an uncommitted edit in the work tree must not leak into `diff main HEAD`
    (repo / "policies" / "agreements.policy").write_text("garbage {", encoding="utf-8")
    r = runner.invoke(app, ["diff", "main", "HEAD", "--on", "2005-06-23", "--format", "json"])
    assert r.exit_code == 1, r.output
    assert _git(repo, "status", "--porcelain").strip() == "M policies/agreements.policy"
    data = json.loads(r.output)
    listed = [(f["source"].lower(), f["recipient"].lower(), f["data"].lower(), f["purpose"].lower())
              for f in data["flows"]]
    assert len(listed) == len(set(listed)) and set(listed) == expected
    allowed = {q for q in expected if new.allowed(*q, on=on)}
    assert data["summary"]["newly_allowed"] == len(allowed)
    assert data["summary"]["newly_denied"] == len(expected) - len(allowed)
    assert all(f["from"] == f["until"] == "2005-06-23" for f in data["flows"])
    # the rolled-up rows stand for every flow, once
    assert sum(row["covers"] for row in data["rolled_up"]) == len(expected)
    r = runner.invoke(app, ["diff", "main", "HEAD", "--on", "2005-06-23", "--format", "markdown"])
    md = r.output
    assert md.startswith("## lawful diff: added agreement `UFI-LSC-ILR-2004`: `Ufi` → `LSC`; data "
                         "`individualised-learner-record` **[special-category]**"), md.splitlines()[0]
    assert "> [!WARNING]" in md and "**6 newly allowed flows involve personal data**" in md
    assert "| flows (a question over a date range) | 6 | 126 |" in md
    # the rule changes in words, then the flows folded in <details>, newly allowed first
    assert ("**restriction `CRCA-2005-s18`**: forbidden sources widened by `LSC` — newly denies 126 flows on "
            "2005-06-23") in md
    assert md.index("### Rule changes") < md.index("### Flow changes") \
        < md.index("<details open><summary><b>Newly allowed")
    assert md.index("Newly allowed: 1 row (6 flows)") < md.index("Newly denied:")
    assert md.count("<details") == md.count("</details>") == 2
    assert ("| **SPECIAL-CATEGORY DATA** | on 2005-06-23 | `Ufi` → `LSC` | `individualised-learner-record` "
            "(6 flows) | `planning` | under gateway `LSC-FUNDING-CONDITIONS`") in md
    assert ("|  | on 2005-06-23 | `LSC` → `ALI` | `provider-data` (48 flows) | `inspection` | "
            "blocked by restriction `CRCA-2005-s18`") in md
    # file:line of each rule, as text without --link-base
    assert "`policies/restrictions.policy:61`" in md


def test_json_and_folders(tmp_path):
    new_dir = _copy_bundle(tmp_path / "new")
    _change(new_dir)
    r = runner.invoke(app, ["diff", str(ROOT), str(new_dir), "--on", "2005-06-23", "--format", "json"])
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert data["summary"]["newly_allowed"] == 6 and data["summary"]["newly_allowed_personal"] == 6
    kinds = {(c["kind"], c["action"], c["id"]) for c in data["changes"]}
    assert kinds == {("agreement", "added", "UFI-LSC-ILR-2004"), ("restriction", "changed", "CRCA-2005-s18")}
    assert all(f["causes"] for f in data["flows"])
    assert data["flows"][0]["new"] == "allow"  # newly allowed first
    # the same folder on both sides: nothing changes, exit 0
    r = runner.invoke(app, ["diff", str(ROOT), str(ROOT), "--on", "2005-06-23"])
    assert r.exit_code == 0 and r.output.startswith("no rule changed\n\n0 newly allowed, 0 newly denied")


def test_bad_revision_is_an_error(repo):
    r = runner.invoke(app, ["diff", "no-such-branch", "HEAD"])
    assert r.exit_code == 2
    assert "error[bad-revision]" in r.output


def test_statute_and_hierarchy_changes_are_causes(tmp_path):
    new_dir = _copy_bundle(tmp_path / "new")
    reg = (new_dir / "gateways.yaml").read_text(encoding="utf-8")
    # enacting the proposed DCA gateway
    start = reg.index("  DCA-GATEWAY-2006:")
    reg = reg[:start] + reg[start:].replace("status: proposed", "status: in-force\n    commenced: 2005-01-01", 1)
    (new_dir / "gateways.yaml").write_text(reg, encoding="utf-8")
    old, new = engine.load(ROOT), engine.load(new_dir)
    on = dt.date(2005, 6, 23)
    result = diff_policies(old, new, on)
    assert {(f.source, f.recipient, f.data, f.purpose) for f in result.flows} and \
        {(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower())
         for f in result.flows} == brute_force(old, new, on)
    assert {c.key for c in result.changes} == {"statute:dca-gateway-2006"}
    assert all(f.causes == ("statute:dca-gateway-2006",) and f.newly_allowed for f in result.flows)


# ---- the property: scoped diff == brute force -------------------------------------------------------

ORGS = ["A", "B", "C", "D"]
DATA = ["d0", "d1", "d2", "d3"]
PURPOSES = ["p0", "p1", "p2"]
MARKERS = ["", " personal", " special-category", " anonymised"]


@st.composite
def bundles(draw):
    """A small bundle as a dict of parts, so that a second version can be drawn by mutating it."""
    orgs = {o: draw(st.sampled_from([None] + [x for x in ORGS[:i]])) for i, o in enumerate(ORGS)}
    data = {d: (draw(st.sampled_from([None] + DATA[:i])), draw(st.sampled_from(MARKERS))) for i, d in enumerate(DATA)}
    purposes = {p: draw(st.sampled_from([None] + PURPOSES[:i])) for i, p in enumerate(PURPOSES)}
    some = lambda pool: draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))  # noqa: E731
    gateways = {}
    for i in range(draw(st.integers(1, 3))):
        gateways[f"G{i}"] = dict(src=some(ORGS), dst=some(ORGS), data=some(DATA), purposes=some(PURPOSES),
                                 agreement=draw(st.booleans()), basis=draw(st.booleans()),
                                 statute=draw(st.sampled_from(["LSA-2000", "DCA-GATEWAY-2006", "OLD-1990"])),
                                 overrides=draw(st.booleans()),
                                 valid=draw(st.sampled_from([None, "valid from 2004-01-01", "valid until 2004-01-01"])))
    restrictions = {}
    for i in range(draw(st.integers(0, 2))):
        restrictions[f"R{i}"] = dict(one_way=some(ORGS), data=draw(st.sampled_from([None] + DATA)),
                                     exc=draw(st.sampled_from([None, "anonymised", "to", "for"])), to=some(ORGS),
                                     purposes=some(PURPOSES), forbids=draw(st.booleans()),
                                     scope=draw(st.sampled_from([None] + PURPOSES)))
    agreements = {}
    for i in range(draw(st.integers(0, 3))):
        g = draw(st.sampled_from(sorted(gateways)))
        gw = gateways[g]
        agreements[f"A{i}"] = dict(g=g, src=draw(st.sampled_from(gw["src"])), dst=draw(st.sampled_from(gw["dst"])),
                                   data=draw(st.sampled_from(gw["data"])),
                                   purposes=draw(st.sampled_from(gw["purposes"])), basis=draw(st.booleans()),
                                   end=draw(st.sampled_from([None, "2005-01-01", "2010-01-01"])))
    return dict(orgs=orgs, data=data, purposes=purposes, gateways=gateways, restrictions=restrictions,
                agreements=agreements, succeeds=draw(st.sampled_from([None, "2004-01-01", "2006-01-01"])))


def render(b) -> str:
    out = []
    for o, parent in b["orgs"].items():
        line = f'organisation {o} "{o}"' + (f" part-of {parent}" if parent else "")
        out.append(line)
    if b["succeeds"]:
        out.append(f'organisation E "E" succeeds D on {b["succeeds"]}')
    for d, (parent, marker) in b["data"].items():
        out.append(f'data {d} "{d}"' + (f" under {parent}" if parent else "") + marker)
    for p, parent in b["purposes"].items():
        out.append(f'purpose {p} "{p}"' + (f" under {parent}" if parent else ""))
    restrictions = sorted(b["restrictions"])
    for k, g in b["gateways"].items():
        out.append(f'gateway {k} "g" {{\n  statute {g["statute"]} "s"\n'
                   f'  allows {", ".join(g["src"])} -> {", ".join(g["dst"])}\n'
                   f'  data {", ".join(g["data"])}\n  for {", ".join(g["purposes"])}\n'
                   + ("  requires agreement\n" if g["agreement"] else "")
                   + ("  lawful-basis public-task\n  article-9 \"x\"\n" if g["basis"] else "")
                   + (f"  overrides {restrictions[0]}\n" if g["overrides"] and restrictions else "")
                   + (f"  {g['valid']}\n" if g.get("valid") else "") + "}")
    for k, r in b["restrictions"].items():
        exc = {None: "", "anonymised": "  except anonymised\n", "to": f"  except to {', '.join(r['to'])}\n",
               "for": f"  except for {', '.join(r['purposes'])}\n"}[r["exc"]]
        parties = (f"forbids {r['one_way'][0]} -> {', '.join(r['to'])}" if r["forbids"]
                   else f"one-way {', '.join(r['one_way'])}")
        out.append(f'restriction {k} "r" {{\n  statute SSAA-1992 "s"\n  {parties}\n'
                   + (f"  data {r['data']}\n" if r["data"] else "") + (f"  for {r['scope']}\n" if r["scope"] else "")
                   + exc + "}")
    for k, a in b["agreements"].items():
        out.append(f'agreement {k} "a" {{\n  from {a["src"]} to {a["dst"]}\n  data {a["data"]}\n  for {a["purposes"]}\n'
                   f'  under {a["g"]}\n' + ("  lawful-basis public-task\n  article-9 \"y\"\n" if a["basis"] else "")
                   + (f"  valid 2000-01-01 to {a['end']}\n" if a["end"] else "") + "}")
    return "\n".join(out) + "\n"


@st.composite
def mutated(draw, b):
    """The bundle with one to three changes: rules added, removed or changed, hierarchy and statutes."""
    import copy

    b = copy.deepcopy(b)
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["agreement+", "agreement-", "agreement~", "restriction~", "restriction-",
                                     "gateway~", "org", "data", "marker", "purpose", "succeeds", "statute"]))
        if what == "agreement+" and b["gateways"]:
            g = draw(st.sampled_from(sorted(b["gateways"])))
            gw = b["gateways"][g]
            b["agreements"][f"N{len(b['agreements'])}"] = dict(
                g=g, src=draw(st.sampled_from(gw["src"])), dst=draw(st.sampled_from(gw["dst"])),
                data=draw(st.sampled_from(gw["data"])), purposes=draw(st.sampled_from(gw["purposes"])),
                basis=draw(st.booleans()), end=None)
        elif what == "agreement-" and b["agreements"]:
            del b["agreements"][draw(st.sampled_from(sorted(b["agreements"])))]
        elif what == "agreement~" and b["agreements"]:
            a = b["agreements"][draw(st.sampled_from(sorted(b["agreements"])))]
            a["basis"] = not a["basis"]
        elif what == "restriction~" and b["restrictions"]:
            r = b["restrictions"][draw(st.sampled_from(sorted(b["restrictions"])))]
            r["exc"] = draw(st.sampled_from([None, "anonymised", "to", "for"]))
            r["one_way"] = draw(st.lists(st.sampled_from(ORGS), min_size=1, max_size=2, unique=True))
            r["forbids"] = draw(st.booleans())
            r["scope"] = draw(st.sampled_from([None] + PURPOSES))
        elif what == "restriction-" and b["restrictions"] and not any(g["overrides"] for g in b["gateways"].values()):
            del b["restrictions"][draw(st.sampled_from(sorted(b["restrictions"])))]
        elif what == "gateway~":
            g = b["gateways"][draw(st.sampled_from(sorted(b["gateways"])))]
            g["purposes"] = draw(st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=3, unique=True))
            g["agreement"] = draw(st.booleans())
            g["valid"] = draw(st.sampled_from([None, "valid from 2004-01-01", "valid until 2004-01-01"]))
            for a in b["agreements"].values():  # keep agreements supported by their gateway
                if a["purposes"] not in g["purposes"] and b["gateways"].get(a["g"]) is g:
                    a["purposes"] = g["purposes"][0]
        elif what == "org":
            i = draw(st.integers(1, len(ORGS) - 1))
            b["orgs"][ORGS[i]] = draw(st.sampled_from([None] + ORGS[:i]))
        elif what == "data":
            i = draw(st.integers(1, len(DATA) - 1))
            b["data"][DATA[i]] = (draw(st.sampled_from([None] + DATA[:i])), b["data"][DATA[i]][1])
        elif what == "marker":
            d = draw(st.sampled_from(DATA))
            b["data"][d] = (b["data"][d][0], draw(st.sampled_from(MARKERS)))
        elif what == "purpose":
            i = draw(st.integers(1, len(PURPOSES) - 1))
            b["purposes"][PURPOSES[i]] = draw(st.sampled_from([None] + PURPOSES[:i]))
        elif what == "succeeds":
            b["succeeds"] = draw(st.sampled_from([None, "2004-01-01", "2006-01-01"]))
        elif what == "statute":
            g = b["gateways"][draw(st.sampled_from(sorted(b["gateways"])))]
            g["statute"] = draw(st.sampled_from(["LSA-2000", "DCA-GATEWAY-2006", "OLD-1990"]))
    return b


def _load(b, register: str = MINI_REGISTER):
    try:
        return engine.load_texts({"policies/main.policy": render(b)}, register)
    except engine.DiagnosticsError:
        return None


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_scoped_diff_agrees_with_brute_force(data):
    base = data.draw(bundles())
    changed = data.draw(mutated(base))
    old, new = _load(base), _load(changed)
    if old is None or new is None:  # an invalid mutation (say an unsupported agreement): nothing to compare
        return
    for on in (dt.date(2005, 6, 23), dt.date(2003, 1, 1)):
        result = diff_policies(old, new, on)
        got = {(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower()) for f in result.flows}
        assert got == brute_force(old, new, on), render(base) + "\n----\n" + render(changed)
        for f in result.flows:
            assert f.causes and all(result.change(k) is not None for k in f.causes)


@settings(max_examples=max(EXAMPLES // 2, 10), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_diff_over_every_date_agrees_with_brute_force_on_each_date(data):
    """Without --on, the diff's date ranges hold exactly: on any date (each boundary, the day before it, long
    before and long after), the changes whose range covers it are brute force's for that date."""
    base = data.draw(bundles())
    changed = data.draw(mutated(base))
    old, new = _load(base), _load(changed)
    if old is None or new is None:
        return
    result = diff_policies(old, new)
    assert result.on is None and len(result.dates) == len(result.boundaries) + 1
    days = {dt.date(1900, 1, 1), dt.date(2100, 1, 1)}
    for b in result.boundaries:
        days |= {b, b - dt.timedelta(days=1)}
    for day in sorted(days):
        got = [(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower()) for f in result.flows
               if (f.start is None or f.start <= day) and (f.end is None or day <= f.end)]
        assert len(got) == len(set(got)), day  # ranges of one question never overlap
        assert set(got) == brute_force(old, new, day), (day, render(base) + "\n----\n" + render(changed))


def test_register_status_change_property():
    # a register change alone (statute repealed) is found and scoped
    base = {"orgs": {"A": None, "B": None, "C": None, "D": None}, "data": {d: (None, "") for d in DATA},
            "purposes": {p: None for p in PURPOSES}, "succeeds": None, "restrictions": {}, "agreements": {},
            "gateways": {"G0": dict(src=["A"], dst=["B"], data=["d0"], purposes=["p0"], agreement=False, basis=True,
                                    statute="LSA-2000", overrides=False, valid=None)}}
    old = _load(base)
    reg = MINI_REGISTER.replace("    status: in-force\n    commenced: 2000-07-28",
                                "    status: repealed\n    commenced: 2000-07-28\n    repealed: 2004-01-01")
    new = _load(base, reg)
    on = dt.date(2005, 6, 23)
    result = diff_policies(old, new, on)
    assert [(f.source, f.recipient, f.data, f.purpose, f.new) for f in result.flows] == [("A", "B", "d0", "p0", "deny")]
    assert result.flows[0].causes == ("statute:lsa-2000",)
    assert brute_force(old, new, on) == {("a", "b", "d0", "p0")}


def test_markdown_stays_within_a_comment(tmp_path):
    """A change that moves hundreds of flows renders a comment GitHub accepts: rolled up, and under the cap."""
    new_dir = _copy_bundle(tmp_path / "new")
    path = new_dir / "policies" / "restrictions.policy"
    wider = "  forbids HMRC, LSC, DfES, QCA, HESA -> *\n"
    text = path.read_text(encoding="utf-8").replace("  forbids HMRC -> *\n", wider, 1)
    path.write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["diff", str(ROOT), str(new_dir), "--on", "2005-06-23", "--format", "markdown"])
    assert r.exit_code == 1
    data = json.loads(runner.invoke(app, ["diff", str(ROOT), str(new_dir), "--on", "2005-06-23", "-f", "json"]).output)
    assert data["summary"]["newly_denied"] > 200
    assert len(r.output) < 60_000 and "left out" not in r.output  # all of it fits, rolled up
    assert f"rolled up to the highest level that holds | 0 | {data['summary']['rolled_up_rows']} |" in r.output
