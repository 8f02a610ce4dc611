"""Continuity of bodies (issue 12, part 2): renames, `exists from`, `ceases on`, transfers of functions.

The decisions are spec cases (tests/spec/decisions/continuity.yaml); here: the syntax (both parsers agree,
the `data` of a transfer's line against a following data declaration), the formatter's round trip of every
new form, the lint (`dead-rule`, `re-sign-agreement`), the diff, the decision JSON, and hypothesis properties:
a rename changes no verdict but the name shown; a transfer changes nothing before its date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from bundlegen import DATES, Bundle, Question, all_questions, bundles
from conftest import MINI_REGISTER, ROOT
from engine.base.source import SourceFile
from engine.review import fmt
from engine.review.diff import brute_force, diff_policies
from engine.review.lint import lint
from engine.syntax import fastparse
from engine.syntax.parser import parse_source_lark

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SPEC = yaml.safe_load((Path(__file__).parent / "spec" / "decisions" / "continuity.yaml").read_text("utf-8"))
SCHEMA = json.loads((ROOT / "schemas" / "decision.schema.json").read_text("utf-8"))


def spec_policy(text: str | None = None) -> engine.Policy:
    return engine.load_texts({"policies/main.policy": text or SPEC["policy"]}, SPEC["register"])


def both(text: str):
    source = SourceFile("policies/x.policy", text)
    reference = parse_source_lark(source)
    fast = fastparse.parse_fast(source)
    return reference, fast


# ---- syntax --------------------------------------------------------------------------------------------


def test_the_spec_bundle_parses_the_same_with_both_parsers():
    reference, fast = both(SPEC["policy"])
    assert reference[1] == [] and fast == reference


@pytest.mark.parametrize("text", [
    'transfer A to B on 2007-01-01 data d1, d2\ndata d3 "Data three"\n',
    'transfer A to B on 2007-01-01 data d1\n\ndata d3 "Data three" personal\n',
    'transfer A to B on 2007-01-01\ndata d3 "Data three"\n',
    'transfer A, B to C, D on 2007-01-01 under X "section 1" data d1 for p1, p2 continues\n',
    'transfer A to B on 2007-01-01 data d1 # a comment\ndata d3 "Data three"\n',
])
def test_data_on_a_transfer_line_and_a_data_declaration_are_told_apart(text):
    reference, fast = both(text)
    assert reference[0] is not None and reference[1] == [], reference
    assert fast is None or fast == reference
    kinds = [type(i).__name__ for i in reference[0].items]
    assert kinds == ["Transfer"] + (["DataCategory"] if "\ndata" in text else [])


def test_a_comment_between_data_and_its_name_falls_back_to_the_reference_parser():
    text = 'transfer A to B on 2007-01-01 data # c\n d1 "x"\n'
    reference, fast = both(text)
    assert fast is None  # Lark decides: here a data declaration after the transfer
    assert [type(i).__name__ for i in reference[0].items] == ["Transfer", "DataCategory"]


def test_data_inside_a_gateway_is_still_a_clause_after_a_transfer_elsewhere():
    text = ('transfer A to B on 2007-01-01 data d1\n'
            'gateway G "g" {\n  statute X\n  allows A -> B\n  data d1\n  data d2\n  for p\n}\n')
    reference, fast = both(text)
    assert [d.code for d in reference[1]] == ["duplicate-clause"] and fast == reference


# ---- the formatter round-trips every new form -----------------------------------------------------------

_NAME = st.sampled_from(["A", "B", "C", "ALI", "OfSTED-2007", "data", "to", "on", "for"])


@st.composite
def continuity_text(draw) -> str:
    lines = []
    for i in range(draw(st.integers(1, 4))):
        opts = []
        if draw(st.booleans()):
            opts.append(f"renames R{i} on 2005-09-0{draw(st.integers(1, 9))}")
        if draw(st.booleans()):
            opts.append("exists from 2001-01-01")
        if draw(st.booleans()):
            opts.append("ceases on 2011-03-31")
        if draw(st.booleans()):
            opts.append("part-of P")
        opts = draw(st.permutations(opts))
        lines.append(f'organisation O{i} "o {i}" ' + " ".join(opts))
    for _ in range(draw(st.integers(1, 3))):
        names = draw(st.lists(_NAME, min_size=1, max_size=3, unique=True))
        opts = [f"to {', '.join(draw(st.lists(_NAME, min_size=1, max_size=2, unique=True)))}",
                f"on 200{draw(st.integers(0, 9))}-04-01"]
        if draw(st.booleans()):
            opts.append('under EIA-2006 "section 157"' if draw(st.booleans()) else "under EIA-2006")
        if draw(st.booleans()):
            opts.append(f"data {', '.join(draw(st.lists(_NAME, min_size=1, max_size=2, unique=True)))}")
        if draw(st.booleans()):
            opts.append(f"for {', '.join(draw(st.lists(_NAME, min_size=1, max_size=2, unique=True)))}")
        if draw(st.booleans()):
            opts.append("continues")
        opts = draw(st.permutations(opts))
        sep = draw(st.sampled_from([" ", "\n  ", "  "]))
        lines.append(f"transfer {', '.join(names)}{sep}" + sep.join(opts))
    if draw(st.booleans()):
        lines.append('data d9 "A data declaration after a transfer" personal')
    return "\n".join(draw(st.permutations(lines))) + "\n"


@settings(max_examples=max(EXAMPLES, 60), deadline=None)
@given(continuity_text())
def test_fmt_round_trips_every_new_form(text):
    reference, fast = both(text)
    assert reference[0] is not None and reference[1] == [], (text, reference)
    assert fast is None or fast == reference
    once = fmt.format_text(text)
    assert fmt.format_text(once) == once  # idempotent
    again, _ = both(once)
    assert again[0] == reference[0]  # no meaning changed


def test_fmt_puts_a_transfer_on_one_line_in_table_order():
    text = ('transfer ALI\n  continues for inspection data provider-data under EIA-2006 "section 157" '
            'on 2007-04-01 to B\n')
    assert fmt.format_text(text) == ('transfer ALI to B on 2007-04-01 under EIA-2006 "section 157" data provider-data '
                                     'for inspection continues\n')


# ---- decisions, JSON and words -----------------------------------------------------------------------------


def test_the_decision_json_names_the_transfer_relied_on_and_validates():
    p = spec_policy()
    d = p.decide("LSC", "OfSTED-2007", "provider-data", "inspection", on=dt.date(2007, 4, 1))
    doc = d.to_dict()
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    (t,) = doc["transfers"]
    assert (t["from"], t["to"], t["on"], t["statute"]["id"], t["statute"]["provision"]) == \
        (["ALI"], ["OfSTED-2007"], "2007-04-01", "EIA-2006", "section 157")
    assert doc["renamed"] == []
    # a flow needing no transfer names none
    assert p.decide("LSC", "ALI", "provider-data", "inspection", on=dt.date(2006, 1, 1)).to_dict()["transfers"] == []


def test_a_renamed_body_is_shown_by_the_name_in_use_on_the_date():
    p = spec_policy()
    after = p.decide("DfES", "TTA", "pupil-data", "planning", on=dt.date(2006, 1, 1))
    before = p.decide("DfES", "TDA", "pupil-data", "planning", on=dt.date(2005, 1, 1))
    assert (after.recipient, before.recipient) == ("TDA", "TTA")
    assert after.to_dict()["renamed"] == [{"organisation": "TDA", "formerly": ["TTA"]}]
    assert before.to_dict()["renamed"] == []
    from engine.render.explain import explain

    assert "DfES → TDA (formerly TTA): pupil-data" in explain(after)
    jsonschema.Draft202012Validator(SCHEMA).validate(after.to_dict())
    # one identity: the old name is a name of the new body, not a body of its own
    assert "tta" not in p.orgs and p.org_key("TTA") == "tda"


def test_the_cli_shows_the_transfer_and_the_former_name(tmp_path):
    from typer.testing import CliRunner

    from cli import app
    from conftest import write_bundle

    root = write_bundle(tmp_path / "b", {"main.policy": SPEC["policy"]}, SPEC["register"])
    r = CliRunner().invoke(app, ["can-share", "LSC", "OfSTED-2007", "provider-data", "--purpose", "inspection",
                                 "--on", "2008-01-01", "--bundle", str(root)])
    assert r.exit_code == 0 and "transfer  ALI's functions passed to OfSTED-2007 on 2007-04-01" in r.output, r.output
    r = CliRunner().invoke(app, ["can-share", "DfES", "TTA", "pupil-data", "--purpose", "planning",
                                 "--on", "2006-01-01", "--bundle", str(root)])
    assert r.exit_code == 0 and "TDA (formerly TTA)" in r.output, r.output


def test_recipients_and_flows_include_the_transferee(tmp_path):
    from engine.eval.reach import lawful_flows, recipients

    p = spec_policy()
    found = recipients(p, "LSC", "provider-data", "inspection", on=dt.date(2008, 1, 1))
    assert [r.organisation for r in found.found] == ["OfSTED-2007"]
    rows = lawful_flows(p, on=dt.date(2008, 1, 1))
    assert ("LSC", "OfSTED-2007", "provider-data", "inspection", "G-INSPECT") in \
        {(r.source, r.recipient, r.data, r.purpose, r.gateway) for r in rows}
    assert not any(r.source == "LSC" and r.recipient == "ALI" for r in rows)  # ALI has ceased


# ---- lint ----------------------------------------------------------------------------------------------


LINT_BUNDLE = '''
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
organisation OfSTED-2007 "Ofsted" exists from 2007-04-01
organisation Becta "Becta" ceases on 2011-03-31
organisation TTA "Teacher Training Agency"
organisation TDA "TDA" renames TTA on 2005-09-01
transfer ALI to OfSTED-2007 on 2007-04-01
data d "d"
purpose p "p"
gateway G-ALI "g" {
  statute LSA-2000
  allows LSC -> ALI
  data d
  for p
  requires agreement
}
gateway G-BECTA "g" {
  statute LSA-2000
  allows LSC -> Becta
  data d
  for p
}
gateway G-TTA "g" {
  statute LSA-2000
  allows LSC -> TTA
  data d
  for p
  requires agreement
}
agreement A-ALI "a" {
  from LSC to ALI
  data d
  for p
  under G-ALI
  owner "x"
  review 2020-01-01
}
agreement A-TTA "a" {
  from LSC to TTA
  data d
  for p
  under G-TTA
  owner "x"
  review 2020-01-01
}
'''


def test_lint_reports_dead_rules_and_agreements_to_re_sign():
    p = engine.load_texts({"policies/main.policy": LINT_BUNDLE}, MINI_REGISTER)
    found = {(d.code, d.message) for d in lint(p, dt.date(2012, 1, 1))}
    dead = [m for c, m in found if c == "dead-rule"]
    assert dead == ["gateway `G-BECTA` can no longer apply: `Becta` (ceased on 2011-03-31) and no transfer passed "
                    "the functions on"]
    resign = sorted(m for c, m in found if c == "re-sign-agreement")
    assert resign == ["agreement `A-ALI` names `ALI`, whose functions passed to `OfSTED-2007` on 2007-04-01: it "
                      "continues only through the transfer",
                      "agreement `A-TTA` names `TTA`, now `TDA`"]
    # before the body ceased, the gateway is alive; before the rename, nothing to re-sign
    early = {(d.code, d.message) for d in lint(p, dt.date(2005, 1, 1))}
    assert not any(c in ("dead-rule", "re-sign-agreement") for c, _ in early)


# ---- diff ----------------------------------------------------------------------------------------------


def test_diff_reports_a_changed_transfer_as_a_rule_change_and_matches_brute_force():
    new = spec_policy()
    old = spec_policy(SPEC["policy"].replace("transfer ALI to OfSTED-2007 on 2007-04-01",
                                             "transfer ALI to OfSTED-2007 on 2008-04-01"))
    day = dt.date(2007, 6, 1)
    result = diff_policies(old, new, day)
    assert [(c.kind, c.action, c.id, c.details) for c in result.changes] == \
        [("transfer", "changed", "ALI to OfSTED-2007", ("on",))]
    flows = {(f.source, f.recipient, f.data, f.purpose, f.old, f.new) for f in result.flows}
    assert flows == {("LSC", "OfSTED-2007", "provider-data", "inspection", "deny", "allow"),
                     ("LSC", "ALI", "provider-data", "inspection", "allow", "deny")}
    assert all(f.causes == ("transfer:ali to ofsted-2007",) for f in result.flows)
    assert len(brute_force(old, new, day)) == len(result.flows)


def test_diff_reports_an_added_and_a_removed_transfer():
    new = spec_policy()
    old = spec_policy(SPEC["policy"].replace("transfer QCA to Ofqual on 2010-04-01 data exam-data continues\n", ""))
    result = diff_policies(old, new, dt.date(2011, 1, 1))
    assert [(c.kind, c.action) for c in result.changes] == [("transfer", "added")]
    assert {(f.source, f.recipient, f.data, f.new) for f in result.flows} == {("Ofqual", "LA", "exam-data", "allow")}
    back = diff_policies(new, old, dt.date(2011, 1, 1))
    assert [(c.kind, c.action) for c in back.changes] == [("transfer", "removed")]


# ---- properties ----------------------------------------------------------------------------------------


def _verdict(policy: engine.Policy, q: Question) -> bool:
    return policy.allowed(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume)


def _plain_orgs(b: Bundle) -> list[str]:
    """Organisations in no succession (a rename or transfer of those could clash with it: an error)."""
    text = "\n".join(b.items)
    involved = set(re.findall(r"organisation (\w+) \"[^\"]*\"[^\n]* succeeds (\w+)", text))
    return [o for o in b.orgs if not any(o in pair for pair in involved)]


@SETTINGS
@given(st.data())
def test_a_rename_changes_no_verdict_but_the_name_shown(data):
    b = data.draw(bundles())
    candidates = _plain_orgs(b)
    if not candidates:
        return
    old = data.draw(st.sampled_from(candidates))
    day = data.draw(st.sampled_from(DATES + [dt.date(2006, 3, 1)]))
    before = engine.load_texts(b.texts(), MINI_REGISTER)
    after = engine.load_texts(b.with_item(f'organisation NEWNAME "renamed" renames {old} on {day}').texts(),
                              MINI_REGISTER)
    for q in all_questions(b, 200):
        want = _verdict(before, q)
        assert _verdict(after, q) == want, q
        swapped = replace(q, source="NEWNAME" if q.source == old else q.source,
                          recipient="NEWNAME" if q.recipient == old else q.recipient)
        assert _verdict(after, swapped) == want, swapped
        if old in (q.source, q.recipient):
            d = after.decide(swapped.source, swapped.recipient, q.data, q.purpose, on=q.on, fixes=False, routes=False)
            shown = d.source if q.source == old else d.recipient
            assert shown == (old if q.on < day else "NEWNAME")


@SETTINGS
@given(st.data())
def test_a_transfer_never_changes_a_verdict_before_its_date(data):
    b = data.draw(bundles())
    candidates = _plain_orgs(b)
    if not candidates:
        return
    source = data.draw(st.sampled_from(candidates))
    day = data.draw(st.sampled_from(DATES[1:] + [dt.date(2006, 3, 1)]))
    continues = data.draw(st.booleans())
    to_new = data.draw(st.booleans()) or len(candidates) < 2
    extra = b
    if to_new:
        target = "NEWBODY"
        extra = extra.with_item(f'organisation NEWBODY "a new body" exists from {day}')
    else:
        target = data.draw(st.sampled_from([o for o in candidates if o != source]))
    scope = data.draw(st.sampled_from(["", f" data {b.data[0]}", f" for {b.purposes[-1]}"]))
    extra = extra.with_item(f"transfer {source} to {target} on {day}{scope}{' continues' if continues else ''}")
    before = engine.load_texts(b.texts(), MINI_REGISTER)
    after = engine.load_texts(extra.texts(), MINI_REGISTER)
    for q in all_questions(b, 200):
        if q.on < day:
            assert _verdict(after, q) == _verdict(before, q), q
    if to_new:  # before its existence the new body can do nothing; after, what it inherits
        for q in all_questions(b, 100):
            if q.on < day and source in (q.source, q.recipient):
                moved = replace(q, source=target if q.source == source else q.source,
                                recipient=target if q.recipient == source else q.recipient)
                assert not _verdict(after, moved), moved


def test_the_look_ahead_keyword_of_a_transfer_is_a_possible_token_only_on_a_transfer_line():
    """LALR merges the states of shared rules: were `_DATA_SCOPE` possible where a block's clause is, the
    contextual lexer would read `data x` in a gateway as a transfer's scope."""
    from engine.syntax.parser import parser

    table = parser().parser.parser._parse_table
    for state, actions in table.states.items():
        if "_DATA_SCOPE" in actions:
            assert not {"RBRACE", "STATUTE", "EXPECT", "PART_OF", "AKA"} & set(actions), (state, sorted(actions))


def test_a_dense_web_of_transfers_cannot_blow_up_the_compiler():
    """The attack: every one of 30 bodies transfers its functions to every other (each `continues`), which
    makes astronomically many chains; one entry per effect keeps the load fast, and its answers sound."""
    import time

    orgs = [f"B{i}" for i in range(30)]
    lines = [f'organisation {o} "{o}"' for o in orgs] + ['organisation X "X"', 'data d "d"', 'purpose p "p"']
    lines += [f"transfer {a} to {b} on 20{10 + (i * 7 + j) % 10:02d}-01-01 continues"
              for i, a in enumerate(orgs) for j, b in enumerate(orgs) if a != b]
    lines.append('gateway G "g" {\n  statute LSA-2000\n  allows B0 -> X\n  data d\n  for p\n}')
    started = time.monotonic()
    p = engine.load_texts({"policies/main.policy": "\n".join(lines) + "\n"}, MINI_REGISTER)
    assert time.monotonic() - started < 60
    assert not p.allowed("B5", "X", "d", "p", on=dt.date(2009, 1, 1))  # before any transfer
    assert p.allowed("B5", "X", "d", "p", on=dt.date(2020, 1, 1))  # B0's functions reached it
    assert p.decide("B5", "X", "d", "p", on=dt.date(2020, 1, 1)).transfers
