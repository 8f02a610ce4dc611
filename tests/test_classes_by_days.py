"""The classes a decision names, remembered per span of days between two changes of a party's dated class
memberships (engine/policy/decide.py `_ByDays`; issue 18, target 4). A decision on a day on either side of a
membership's first day, or of the day after its last, must name the classes a fresh policy names, whatever
was asked before. No timing is asserted here."""

from __future__ import annotations

import datetime as dt
import itertools

import engine
from conftest import MINI_REGISTER
from engine.eval.decide import explain_cache
from engine.ops.service import _json, decision_json

BUNDLE = """\
class c1 "first class"
class c2 "second class"
organisation A "A"
organisation B "B"
organisation X "X" is c1 from 2005-01-01 until 2006-12-31, c2 from 2007-01-01
organisation Y "Y" is c1 from 2006-03-01 until 2006-03-01
organisation Z "Z" is c1 from 2005-01-01 until 2005-12-31, c2 from 2005-06-01
organisation W "W" is c2 from 2005-01-01 until 2005-12-31, c1 from 2005-06-01
data d "d"
purpose p "p"
gateway G "g" {
  statute LSA-2000 "s.5"
  allows A -> c1, c2
  data d
  for p
}
restriction R "r" {
  forbids c2 -> B
}
"""

DAY = dt.timedelta(days=1)
EDGES = (dt.date(2005, 1, 1), dt.date(2006, 12, 31), dt.date(2007, 1, 1), dt.date(2006, 3, 1),
         dt.date(2005, 6, 1), dt.date(2005, 12, 31))
DAYS = sorted({e + k * DAY for e in EDGES for k in (-1, 0, 1)})


def classes(decision: engine.Decision) -> list[tuple[str, str, str]]:
    return [(c.rule, c.organisation, c.class_) for c in decision.classes]


def test_each_day_around_a_membership_edge_names_the_classes_of_that_day():
    policy = engine.load_texts({"policies/main.policy": BUNDLE}, MINI_REGISTER)
    pairs = (("A", "X"), ("A", "Y"), ("X", "B"), ("A", "Z"), ("A", "W"))
    expected = {}
    for (s, r), on in itertools.product(pairs, DAYS):  # each from a policy that has answered nothing
        d = engine.Policy.of(policy).decide(s, r, "d", "p", on=on, fixes=False, routes=False)
        expected[s, r, on] = (classes(d), _json(d.to_dict()))
    # the memberships change the answer: without this the test could not catch an entry from another day
    assert expected["A", "X", dt.date(2004, 12, 31)][0] == []
    assert expected["A", "X", dt.date(2005, 1, 1)][0] == [("G", "X", "c1")]
    assert expected["A", "X", dt.date(2006, 12, 31)][0] == [("G", "X", "c1")]
    assert expected["A", "X", dt.date(2007, 1, 1)][0] == [("G", "X", "c2")]
    assert expected["A", "Y", dt.date(2006, 3, 1)][0] == [("G", "Y", "c1")]
    assert expected["A", "Y", dt.date(2006, 3, 2)][0] == []
    assert expected["X", "B", dt.date(2007, 1, 1)][0] == [("R", "X", "c2")]
    assert expected["X", "B", dt.date(2006, 12, 31)][0] == []
    # the same gateway on both days, through another class: only the membership's last day tells them apart
    assert expected["A", "Z", dt.date(2005, 12, 31)][0] == [("G", "Z", "c1")]
    assert expected["A", "Z", dt.date(2006, 1, 1)][0] == [("G", "Z", "c2")]
    # … or only a membership's first day (the gateway names c1 first)
    assert expected["A", "W", dt.date(2005, 5, 31)][0] == [("G", "W", "c2")]
    assert expected["A", "W", dt.date(2005, 6, 1)][0] == [("G", "W", "c1")]
    # every order of the days: a warm policy answers each day as a fresh one does
    for order in (DAYS, DAYS[::-1], DAYS[1::2] + DAYS[::2]):
        warm = engine.Policy.of(policy)
        for on in order:
            for s, r in pairs:
                d = warm.decide(s, r, "d", "p", on=on, fixes=False, routes=False)
                assert classes(d) == expected[s, r, on][0], (s, r, on)
                assert _json(d.to_dict()) == expected[s, r, on][1], (s, r, on)
                assert decision_json(d) == expected[s, r, on][1], (s, r, on)  # the service's bytes
        # the entries are the span of days, not the day: fewer than the days asked
        spans = [k for k in explain_cache(warm).parts if type(k) is tuple and len(k) == 2
                 and type(k[0]) is tuple and k[0][:1] == ("classes",)]
        assert spans and len(spans) < len(DAYS) * len(pairs), spans


def test_a_reloaded_policy_never_sees_another_policys_spans():
    first = engine.load_texts({"policies/main.policy": BUNDLE}, MINI_REGISTER)
    first.decide("A", "X", "d", "p", on=dt.date(2005, 6, 1), fixes=False, routes=False)
    # the same names, X a member of c2 from 2005 instead: another policy, its own cache
    second = engine.load_texts({"policies/main.policy": BUNDLE.replace(
        "is c1 from 2005-01-01 until 2006-12-31, c2 from 2007-01-01", "is c2 from 2005-01-01")}, MINI_REGISTER)
    assert explain_cache(second) is not explain_cache(first)
    got = second.decide("A", "X", "d", "p", on=dt.date(2005, 6, 1), fixes=False, routes=False)
    assert classes(got) == [("G", "X", "c2")]


RENAMES = """\
organisation A "A"
organisation T1 "first"
organisation T2 "second" renames T1 on 2004-01-01
organisation T3 "third" renames T2 on 2006-07-01
data d "d"
purpose p "p"
gateway G "g" {
  statute LSA-2000 "s.5"
  allows A -> T3
  data d
  for p
}
"""


def test_a_renamed_body_is_named_as_on_the_day_either_side_of_each_rename(default_policy):
    from engine.policy.decide import _name_on

    policy = engine.load_texts({"policies/main.policy": RENAMES}, MINI_REGISTER)
    for p in (policy, default_policy):
        assert p.former  # (else this tests nothing)
        cache = explain_cache(p)
        days = sorted({until + k * DAY for history in p.former.values() for _n, until, _t in history
                       for k in (-1, 0, 1)} | {dt.date(1990, 1, 1), dt.date(2030, 1, 1)})
        for k in p.former:
            for on in days[::-1] + days:  # every day twice, from either end: remembered per body, not per day
                assert _name_on(p, cache, k, on) == (p.org_name_on(k, on), p.formerly_on(k, on)), (k, on)
    # the names the answer gives, either side of the second rename
    before = policy.decide("A", "T3", "d", "p", on=dt.date(2006, 6, 30), fixes=False, routes=False)
    after = policy.decide("A", "T3", "d", "p", on=dt.date(2006, 7, 1), fixes=False, routes=False)
    assert (before.recipient, before.renamed) == ("T2", (("T2", ("T1",)),))
    assert (after.recipient, after.renamed) == ("T3", (("T3", ("T2", "T1")),))
    fresh = engine.Policy.of(policy).decide("A", "T3", "d", "p", on=dt.date(2006, 6, 30), fixes=False, routes=False)
    assert _json(before.to_dict()) == _json(fresh.to_dict())
