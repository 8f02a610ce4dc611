"""Classes of bodies (issue 12, part 3): `class`, dated membership (`is C from D until E`), classes and
exclusions in party lists (`A except B -> C`, `* except X -> *`).

The decisions are spec cases (tests/spec/decisions/classes.yaml); here: the syntax of exclusions against a
restriction's `except` clauses (both parsers agree), the checks, the formatter's round trip, what reach and
the decision JSON say of the class that matched, the diff, and the hypothesis property that adding a member
to a class never takes an ALLOW away from a rule naming the class.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from bundlegen import DATES, all_questions, bundles
from conftest import MINI_REGISTER, ROOT
from engine.base.source import SourceFile
from engine.review import fmt
from engine.review.diff import brute_force, diff_policies
from engine.syntax import fastparse
from engine.syntax.parser import parse_source_lark

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SPEC = yaml.safe_load((Path(__file__).parent / "spec" / "decisions" / "classes.yaml").read_text("utf-8"))
SCHEMA = json.loads((ROOT / "schemas" / "decision.schema.json").read_text("utf-8"))


def spec_policy(text: str | None = None) -> engine.Policy:
    return engine.load_texts({"policies/main.policy": text or SPEC["policy"]}, SPEC["register"])


def both(text: str):
    source = SourceFile("policies/x.policy", text)
    return parse_source_lark(source), fastparse.parse_fast(source)


# ---- syntax --------------------------------------------------------------------------------------------

RESTRICTION = 'restriction R "r" {{\n  statute X\n  {bar}\n  {after}\n}}\n'


@pytest.mark.parametrize("bar,after,excluded,exceptions", [
    ("forbids HMRC -> *", "except to DWP for fraud", (), 1),
    ("forbids HMRC -> *", "except anonymised", (), 1),
    ("forbids HMRC -> *", "except for audit", (), 1),
    ("forbids * except HMRC -> *", "except to DWP", ("HMRC",), 1),
    ("forbids A -> B except C, D", "except to tomato", (), 1),
    ("forbids A -> B except tomato", "note \"n\"", (), 0),
])
def test_an_exclusion_and_an_except_clause_are_told_apart(bar, after, excluded, exceptions):
    text = RESTRICTION.format(bar=bar, after=after)
    reference, fast = both(text)
    assert reference[0] is not None and reference[1] == [], reference
    assert fast == reference
    (r,) = reference[0].items
    (p,) = r.forbids
    assert tuple(n.text for n in p.except_sources) == excluded
    assert len(r.exceptions) == exceptions
    assert fmt.format_text(text) == text


def test_an_exclusion_on_both_sides_and_after_a_wildcard():
    text = ('gateway G "g" {\n  statute X\n  allows public-authority except NHS-England, DfE -> * except Charity\n'
            '  data d\n  for p\n}\n')
    reference, fast = both(text)
    assert fast == reference and reference[1] == []
    (p,) = reference[0].items[0].allows
    assert p.any_recipient and [n.text for n in p.except_recipients] == ["Charity"]
    assert [n.text for n in p.except_sources] == ["NHS-England", "DfE"]
    assert fmt.format_text(text) == text


def test_a_comment_between_except_and_the_name_is_left_to_the_reference_parser():
    text = 'gateway G "g" {\n  statute X\n  allows A except # c\n B -> C\n  data d\n  for p\n}\n'
    reference, fast = both(text)
    assert fast is None and reference[0] is None  # Lark: `except` needs the excluded name after a space


@pytest.mark.parametrize("clause,field,names,excluded", [
    ("one-way local-authority except Leeds-CC, Camden", "one_way", ["local-authority"], ["Leeds-CC", "Camden"]),
    ("one-way local-authority", "one_way", ["local-authority"], []),
    ("except to dea-sch4 except HMRC for fraud", "exceptions", ["dea-sch4"], ["HMRC"]),
    ("except to dea-sch4 except HMRC when court-order", "exceptions", ["dea-sch4"], ["HMRC"]),
    ("except to dea-sch4\n  except for audit", "exceptions", ["dea-sch4"], []),
    ("except to dea-sch4\n  except when court-order", "exceptions", ["dea-sch4"], []),
    ("one-way HMRC\n  except to DWP", "one_way", ["HMRC"], []),
    ("one-way HMRC\n  except anonymised", "one_way", ["HMRC"], []),
])
def test_every_restriction_party_list_takes_an_exclusion(clause, field, names, excluded):
    # `except` after `one-way` or `except to` leaves bodies out, unless it opens the next `except` clause
    text = RESTRICTION.format(bar=clause, after='note "n"')
    reference, fast = both(text)
    assert reference[0] is not None and reference[1] == [], reference
    assert fast == reference
    (r,) = reference[0].items
    if field == "one_way":
        got = ([n.text for n in r.one_way], [n.text for n in r.one_way_except])
    else:
        got = ([n.text for n in r.exceptions[0].to], [n.text for n in r.exceptions[0].to_except])
    assert got == (names, excluded)
    assert fmt.format_text(text) == text


@pytest.mark.parametrize("text,sources,recipients", [
    ("from public-authority except NHS-England, DfE to local-authority except Camden",
     (["public-authority"], ["NHS-England", "DfE"]), (["local-authority"], ["Camden"])),
    ("from A to B except C", (["A"], []), (["B"], ["C"])),
    ("between local-authority except Leeds-CC and DWP", (["local-authority"], ["Leeds-CC"]), (["DWP"], [])),
    ("between A and B except and", (["A"], []), (["B"], ["and"])),
])
def test_an_agreement_s_parties_take_exclusions(text, sources, recipients):
    block = f'agreement A "a" {{\n  {text}\n  data d\n  for p\n  under G\n  onward to X except Y\n}}\n'
    reference, fast = both(block)
    assert reference[0] is not None and reference[1] == [], reference
    assert fast == reference
    (a,) = reference[0].items
    assert ([n.text for n in a.sources], [n.text for n in a.except_sources]) == sources
    assert ([n.text for n in a.recipients], [n.text for n in a.except_recipients]) == recipients
    assert [n.text for n in a.onward.targets] == ["X"] and [n.text for n in a.onward.excluded] == ["Y"]
    assert fmt.format_text(block) == block


def test_one_way_clauses_are_one_list_and_their_exclusions_apply_to_it_all():
    # `one-way A except X` and `one-way B` read as `one-way A, B except X` (the formatter writes them so)
    text = RESTRICTION.format(bar="one-way A except X\n  one-way B", after='note "n"')
    (r,) = both(text)[0][0].items
    assert [n.text for n in r.one_way] == ["A", "B"] and [n.text for n in r.one_way_except] == ["X"]
    assert "one-way A, B except X" in fmt.format_text(text)


def test_the_look_ahead_keyword_of_an_exclusion_never_replaces_an_except_clause():
    from engine.syntax.parser import parser

    table = parser().parser.parser._parse_table
    for actions in table.states.values():
        if "_EXCEPT_PARTY" in actions and "EXCEPT" not in actions:
            assert "RBRACE" not in actions  # where a clause may follow, `except to/for/anonymised` still can


_CLASS_LINES = st.lists(st.sampled_from([
    'class local-authority "Local authorities"',
    'class dea-sch4 "DEA 2017 Schedule 4" statute DEA-2017 "Schedule 4"',
    'organisation Leeds-CC "Leeds" is local-authority from 2018-05-01, dea-sch4 until 2019-03-31',
    'organisation Camden "Camden" part-of London is local-authority',
    'organisation HMRC "HMRC" is dea-sch4 from 2018-05-01 until 2019-03-31 aka "Revenue"',
    'gateway G "g" {\n  statute X\n  allows local-authority except Leeds-CC -> * except HMRC\n  data d\n  for p\n}',
    'restriction R "r" {\n  statute X\n  forbids * except HMRC -> local-authority\n  except to HMRC\n}',
    # every party list takes classes and exclusions
    'restriction O "o" {\n  statute X\n  one-way local-authority except Leeds-CC, Camden\n'
    '  except to dea-sch4 except HMRC for fraud when court-order\n  except anonymised\n}',
    'agreement A "a" {\n  from local-authority except Leeds-CC to dea-sch4 except HMRC\n  data d\n  for p\n'
    '  under G\n  onward to local-authority except Camden\n}',
    'agreement B "b" {\n  between local-authority except Leeds-CC and HMRC except London\n  data d\n  for p\n'
    '  under G\n}',
    'gateway H "h" {\n  statute X\n  allows * -> *\n  data d\n  for p\n  onward to dea-sch4 except HMRC, Camden\n}',
]), min_size=1, max_size=7, unique=True)


@settings(max_examples=max(EXAMPLES, 40), deadline=None)
@given(_CLASS_LINES, st.sampled_from(["\n", "\n\n", "\n# a comment\n"]))
def test_fmt_round_trips_every_class_form(lines, sep):
    text = sep.join(lines) + "\n"
    reference, fast = both(text)
    assert reference[0] is not None and reference[1] == [], reference
    assert fast is None or fast == reference
    once = fmt.format_text(text)
    assert fmt.format_text(once) == once
    assert both(once)[0][0] == reference[0]


# ---- checks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy,code,message", [
    ('organisation A "A" is nothing', "unknown-name", "unknown class `nothing`"),
    ('organisation B "B"\norganisation A "A" is B', "wrong-kind", "`B` is an organisation, not a class"),
    ('class C "c"\norganisation C "C"', "duplicate-id", "`C` names both an organisation and a class"),
    ('class C "c"\nclass c "again"', "duplicate-id", "class `c` is declared twice"),
    ('class C "c"\norganisation A "A" part-of C', "wrong-kind", "`C` is a class, not an organisation"),
    ('class C "c" statute NOPE', "unknown-statute", "statute `NOPE` is not in gateways.yaml"),
    ('class C "c"\norganisation A "A" is C from 2010-01-01 until 2009-01-01', "bad-validity", "`A` is `C` until"),
])
def test_the_checks_of_classes(policy, code, message):
    with pytest.raises(engine.DiagnosticsError) as info:
        engine.load_texts({"policies/main.policy": policy + "\n"}, MINI_REGISTER)
    assert any(d.code == code and message in d.message for d in info.value.diagnostics), info.value.diagnostics


def test_an_agreement_naming_a_member_is_supported_by_a_gateway_naming_the_class():
    text = SPEC["policy"] + '''
gateway G-REQ "needs an agreement" {
  statute LGA-1972
  allows public-authority -> local-authority
  data contact
  for research
  requires agreement
}
agreement A-REQ "signed" {
  from Cabinet-Office to Camden
  data contact
  for research
  under G-REQ
  owner "x"
}
agreement A-CLASS "signed by a whole class" {
  from Cabinet-Office to local-authority
  data contact
  for research
  under G-REQ
  owner "x"
}
'''
    p = spec_policy(text)
    d = p.decide("Cabinet-Office", "Camden", "contact", "research", on=dt.date(2010, 1, 1))
    assert d.allowed and d.basis.gateway.id == "G-REQ" and d.basis.agreement.id == "A-CLASS"  # first by id
    assert p.decide("Cabinet-Office", "Leeds-CC", "contact", "research", on=dt.date(2010, 1, 1)).basis.agreement.id \
        == "A-CLASS"
    bad = text.replace("from Cabinet-Office to Camden", "from Cabinet-Office to Charity")
    with pytest.raises(engine.DiagnosticsError) as info:
        spec_policy(bad)
    assert any(x.code == "unsupported-agreement" for x in info.value.diagnostics)


# ---- what answers say --------------------------------------------------------------------------------------


def test_the_decision_json_says_which_class_matched_and_validates():
    p = spec_policy()
    doc = p.decide("Cabinet-Office", "Leeds-Schools", "contact", "services", on=dt.date(2010, 1, 1)).to_dict()
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["classes"] == [
        {"kind": "gateway", "rule": "G-LA", "side": "source", "organisation": "Cabinet-Office",
         "class": "public-authority"},
        {"kind": "gateway", "rule": "G-LA", "side": "recipient", "organisation": "Leeds-Schools",
         "class": "local-authority"}]
    named = p.decide("HMRC", "Charity", "contact", "research", on=dt.date(2010, 1, 1)).to_dict()
    assert named["classes"] == [{"kind": "gateway", "rule": "G-CHARITY", "side": "source", "organisation": "HMRC",
                                 "class": "public-authority"}]


def test_recipients_sources_and_flows_expand_classes_and_say_which_matched():
    from engine.eval.reach import lawful_flows, recipients, sources

    p = spec_policy()
    found = recipients(p, "Cabinet-Office", "contact", "services", on=dt.date(2010, 1, 1))
    assert {r.organisation: r.classes for r in found.found} == {
        "Camden": (("source", "public-authority"), ("recipient", "local-authority")),
        "Leeds-CC": (("source", "public-authority"), ("recipient", "local-authority")),
        "Leeds-Schools": (("source", "public-authority"), ("recipient", "local-authority"))}
    senders = sources(p, "Camden", "contact", "services", on=dt.date(2010, 1, 1))
    assert "NHS-England" not in {r.organisation for r in senders.found}  # excluded
    assert {"Cabinet-Office", "HMRC", "Leeds-CC"} <= {r.organisation for r in senders.found}
    early = {(r.source, r.recipient) for r in lawful_flows(p, data="debt", on=dt.date(2018, 4, 30))}
    later = {(r.source, r.recipient): r.classes for r in lawful_flows(p, data="debt", on=dt.date(2018, 5, 1))}
    assert ("Leeds-CC", "HMRC") not in early
    assert later[("Leeds-CC", "HMRC")] == ("source dea-sch4", "recipient dea-sch4")


def test_the_cli_flows_say_the_class(tmp_path):
    from typer.testing import CliRunner

    from cli import app
    from conftest import write_bundle

    root = write_bundle(tmp_path / "b", {"main.policy": SPEC["policy"]}, SPEC["register"])
    r = CliRunner().invoke(app, ["flows", "--data", "debt", "--on", "2018-06-01", "--bundle", str(root)])
    assert r.exit_code == 0, r.output
    assert "through the classes: source dea-sch4, recipient dea-sch4" in r.output
    r = CliRunner().invoke(app, ["can-share", "Cabinet-Office", "Camden", "contact", "--purpose", "services",
                                 "--on", "2010-01-01", "--bundle", str(root)])
    assert r.exit_code == 0
    assert "class     Camden is in the class local-authority (as recipient of gateway G-LA)" in r.output


# ---- diff ----------------------------------------------------------------------------------------------


def test_diff_reports_a_membership_change_as_a_change_of_the_class():
    new = spec_policy()
    old = spec_policy(SPEC["policy"].replace("is local-authority, public-authority\n", "is public-authority\n", 1))
    day = dt.date(2010, 1, 1)
    result = diff_policies(old, new, day)
    assert [(c.kind, c.action, c.id, c.details) for c in result.changes] == \
        [("class", "changed", "local-authority", ("member Camden",))]
    assert {(f.source, f.recipient, f.new) for f in result.flows} >= {("Cabinet-Office", "Camden", "allow")}
    assert len(brute_force(old, new, day)) == len(result.flows)


def test_diff_reports_a_dated_membership_and_a_new_class():
    new = spec_policy()
    old = spec_policy(SPEC["policy"].replace("dea-sch4 from 2018-05-01", "dea-sch4 from 2019-01-01"))
    result = diff_policies(old, new, dt.date(2018, 6, 1))
    assert [(c.kind, c.details) for c in result.changes] == \
        [("class", ("member Leeds-CC from 2018-05-01", "no longer member Leeds-CC from 2019-01-01"))]
    assert {(f.source, f.recipient, f.new) for f in result.flows} >= {("Leeds-CC", "HMRC", "allow"),
                                                                      ("HMRC", "Leeds-CC", "allow"),
                                                                      ("HMRC", "Leeds-Schools", "allow"),
                                                                      ("Leeds-Schools", "HMRC", "allow")}
    assert {f.causes for f in result.flows} == {("class:dea-sch4",)}
    added = spec_policy(SPEC["policy"] + 'class spare "A class nothing names"\n')
    assert [(c.kind, c.action) for c in diff_policies(new, added, dt.date(2010, 1, 1)).changes] == [("class", "added")]


# ---- the property ----------------------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_adding_a_class_member_never_removes_an_allow_from_a_rule_naming_the_class(data):
    b = data.draw(bundles())
    members = data.draw(st.lists(st.sampled_from(b.orgs), min_size=0, max_size=2, unique=True))
    newcomer = data.draw(st.sampled_from(b.orgs))
    window = data.draw(st.sampled_from(["", " from 2005-06-23", " until 2008-01-26",
                                        " from 2000-01-01 until 2009-01-01"]))
    side = data.draw(st.sampled_from(["source", "recipient", "both"]))
    others = ", ".join(data.draw(st.lists(st.sampled_from(b.orgs), min_size=1, max_size=2, unique=True)))
    src = "C-TEST" if side in ("source", "both") else others
    dst = "C-TEST" if side in ("recipient", "both") else others
    gateway = (f'gateway G-CLASS "names the class" {{\n  statute LSA-2000\n  allows {src} -> {dst}\n'
               f"  data {', '.join(b.data)}\n  for {', '.join(b.purposes)}\n  lawful-basis public-task\n"
               '  article-9 "c"\n  article-10 "c"\n}\n')
    base = b.with_item('class C-TEST "a class"').with_item(gateway)

    def with_members(names: list[str], extra: str = "") -> engine.Policy:
        items = list(base.items)
        for i, item in enumerate(items):
            for o in names:
                if item.startswith(f"organisation {o} "):
                    items[i] = item + f" is C-TEST{extra if o == newcomer else ''}"
        return engine.load_texts({"policies/main.policy": "\n".join(items) + "\n"}, MINI_REGISTER)

    before = with_members([o for o in members if o != newcomer])
    after = with_members(list(dict.fromkeys(members + [newcomer])), window)
    for q in all_questions(b, 200):
        if before.allowed(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume):
            assert after.allowed(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume), q
    assert DATES  # the questions cover every date of the generator


@SETTINGS
@given(st.data())
def test_diff_reports_a_change_to_a_transfer_or_a_class_as_a_rule_change(data):
    """Random bundles; the new side adds, drops or moves a transfer of functions, or changes a class's members:
    the diff names that change (kind `transfer` or `class`), and its flows are exactly the brute force's."""
    b = data.draw(bundles())
    orgs = [o for o in b.orgs if f"succeeds {o} " not in "\n".join(b.items)
            and not any(i.startswith(f"organisation {o} ") and " succeeds " in i for i in b.items)]
    if len(orgs) < 2:
        return
    a, t = data.draw(st.permutations(orgs))[:2]
    day, later = data.draw(st.sampled_from([(DATES[1], DATES[2]), (DATES[2], DATES[3])]))
    gateway = (f'gateway G-C "names the class" {{\n  statute LSA-2000\n  allows C-TEST -> {", ".join(b.orgs)}\n'
               f"  data {', '.join(b.data)}\n  for {', '.join(b.purposes)}\n  lawful-basis public-task\n"
               '  article-9 "c"\n  article-10 "c"\n}\n')
    base = b.with_item('class C-TEST "a class"').with_item(gateway)

    def side(transfer: str | None, members: dict[str, str]) -> engine.Policy:
        items = list(base.items)
        for i, item in enumerate(items):
            for o, window in members.items():
                if item.startswith(f"organisation {o} "):
                    items[i] = item + f" is C-TEST{window}"
        if transfer:
            items.append(transfer)
        return engine.load_texts({"policies/main.policy": "\n".join(items) + "\n"}, MINI_REGISTER)

    kind = data.draw(st.sampled_from(["add-transfer", "move-transfer", "scope-transfer", "member", "window"]))
    first = f"transfer {a} to {t} on {day} continues"
    if kind == "add-transfer":
        old, new = side(None, {a: ""}), side(first, {a: ""})
    elif kind == "move-transfer":
        old, new = side(first, {a: ""}), side(f"transfer {a} to {t} on {later} continues", {a: ""})
    elif kind == "scope-transfer":
        old, new = side(first, {a: ""}), side(f"transfer {a} to {t} on {day} for {b.purposes[0]} continues", {a: ""})
    elif kind == "member":
        old, new = side(None, {a: ""}), side(None, {a: "", t: ""})
    else:
        old, new = side(None, {a: ""}), side(None, {a: f" from {later}"})
    on = data.draw(st.sampled_from(DATES))
    result = diff_policies(old, new, on)
    want_kind = "class" if kind in ("member", "window") else "transfer"
    assert [c.kind for c in result.changes] == [want_kind] * len(result.changes) and result.changes, result.changes
    got = {(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower()) for f in result.flows}
    assert got == brute_force(old, new, on)
    assert all(any(c.startswith(f"{want_kind}:") for c in f.causes) for f in result.flows)


def test_the_graph_says_which_class_a_flow_matched():
    from engine.render.graph import build

    picture = build(spec_policy(), data="debt", on=dt.date(2018, 6, 1))
    edge = next(e for e in picture.edges if (e.source, e.recipient) == ("leeds-cc", "hmrc"))
    assert edge.details == ["debt for fraud (as source dea-sch4, recipient dea-sch4)"]


@pytest.mark.parametrize("block,words", [
    ('gateway G "g" {{\n  onward to DWP\n  except {w} X\n}}\n', ("to", "for", "when")),
    ('agreement A "a" {{\n  from A to B\n  except {w} X\n}}\n', ("to", "for", "when")),
    ('agreement A "a" {{\n  between A and B\n  except {w} X\n}}\n', ("to", "for", "when")),
    ('agreement A "a" {{\n  from A to B\n  except anonymised{w}\n}}\n', ("",)),
])
def test_the_look_ahead_never_reads_an_except_clause_as_an_exclusion(block, words):
    # after `onward to`, `from … to …` and `between`, `except to/for/when/anonymised` opens an `except` clause
    # (misplaced outside a restriction), never an exclusion of a body named `to`, `for`, …
    for w in words:
        text = block.format(w=w)
        reference, fast = both(text)
        assert fast is None or fast == reference
        assert reference[0] is not None, reference
        assert [d.code for d in reference[1]] == ["misplaced-clause"], reference[1]
        (item,) = reference[0].items
        left_out = getattr(item.onward, "excluded", ()) if item.onward else ()
        assert left_out == () and getattr(item, "except_recipients", ()) == ()
