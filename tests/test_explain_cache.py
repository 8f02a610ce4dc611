"""The per-policy parts of explanations made once (engine/eval/decide.py `ExplainCache`; issue 18, target 4).

A decision from a policy that has answered many other questions (its cache full of their parts) must be the
very decision a policy that never answered anything gives: the same `to_dict()`, the same JSON whether its
parts are shared (`to_dict(shared=True)`, what the service writes) or not. A fresh facade over the same
compiled policy (`Policy.of`) has an empty cache, so it is the reference. No timing is asserted here.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from bundlegen import all_questions
from bundlegen13 import CONDITIONS, bundles13
from conftest import MINI_REGISTER
from engine.eval.decide import Bounded, explain_cache
from engine.ops.service import _decision_json, _json, decision_json

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fresh(policy: engine.Policy) -> engine.Policy:
    """The same compiled policy with nothing remembered (a new facade, a new cache)."""
    return engine.Policy.of(policy)


def same_bytes(warm: engine.Policy, *question, **kw) -> engine.Decision:
    d = warm.decide(*question, **kw)
    want = _json(fresh(warm).decide(*question, **kw).to_dict())
    assert _json(d.to_dict()) == want, question
    assert _decision_json(d.to_dict(shared=True)) == want, question
    assert decision_json(d) == want, question  # the service's: shared parts written once, their text reused
    assert decision_json(d) == want, question  # (again: now from the text kept on the parts)
    assert _json(d.to_dict(shared=True)) == want, question  # shared parts are plain JSON too
    return d


DATED = """\
class local-authority "Local authorities"
organisation A "A"
organisation B "B"
organisation Leeds-CC "Leeds" is local-authority from 2005-01-01 until 2008-12-31
organisation Camden "Camden" is local-authority
data d "d"
purpose p "p"
gateway G "g" {
  statute LSA-2000 "s.5"
  allows A -> B
  data d
  for p
  onward to local-authority
}
gateway H "h" {
  statute LSA-2000 "s.6"
  allows A -> Camden
  data d
  for p
  onward only-for p
}
"""


def test_onward_words_that_depend_on_a_dated_membership_are_never_taken_from_another_date():
    policy = engine.load_texts({"policies/main.policy": DATED}, MINI_REGISTER)
    words = {}
    for on in (dt.date(2006, 1, 1), dt.date(2010, 1, 1), dt.date(2006, 6, 1), dt.date(2004, 1, 1)):
        words[on] = same_bytes(policy, "A", "B", "d", "p", on=on).basis.onward
    # the class's members on the date: the test would not catch a cache keyed too coarsely without this
    assert words[dt.date(2006, 1, 1)] != words[dt.date(2010, 1, 1)], words
    assert words[dt.date(2006, 1, 1)] == words[dt.date(2006, 6, 1)]
    # an undated clause: one basis for every date, shared
    first = same_bytes(policy, "A", "Camden", "d", "p", on=dt.date(2006, 1, 1))
    assert same_bytes(policy, "A", "Camden", "d", "p", on=dt.date(2010, 1, 1)).basis is first.basis


CLASSES = """\
class c1 "first class"
class c2 "second class"
organisation A "A"
organisation X "X" is c1 from 2005-01-01 until 2006-12-31, c2 from 2007-01-01
organisation OLD "old name" is c1
organisation NEW "new name" renames OLD on 2006-01-01
data d "d"
purpose p "p"
gateway G "g" {
  statute LSA-2000 "s.5"
  allows A -> c1, c2
  data d
  for p
}
"""


def test_the_classes_a_decision_names_are_never_taken_from_another_date():
    policy = engine.load_texts({"policies/main.policy": CLASSES}, MINI_REGISTER)
    seen = {}
    for on in (dt.date(2005, 6, 1), dt.date(2008, 1, 1), dt.date(2005, 7, 1)):
        seen["X", on] = same_bytes(policy, "A", "X", "d", "p", on=on).classes
    for on in (dt.date(2005, 6, 1), dt.date(2008, 1, 1)):
        seen["NEW", on] = same_bytes(policy, "A", "NEW", "d", "p", on=on).classes
    # through c1, then c2: the same gateway, another class (a memo keyed without the date would say c1)
    assert [c.class_ for c in seen["X", dt.date(2005, 6, 1)]] == ["c1"], seen
    assert [c.class_ for c in seen["X", dt.date(2008, 1, 1)]] == ["c2"], seen
    # a renamed body is named as it was on the date
    assert {c.organisation for c in seen["NEW", dt.date(2005, 6, 1)]} != \
        {c.organisation for c in seen["NEW", dt.date(2008, 1, 1)]}, seen


def test_the_regime_of_a_date_by_bisection_is_the_policys(default_policy):
    cache = explain_cache(default_policy)
    days = {dt.date.min, dt.date.max, dt.date(2018, 5, 25), dt.date(2021, 1, 1)}
    for r in default_policy.regimes:
        for edge in (r.start, r.until):
            if edge is not None:
                days |= {edge - dt.timedelta(days=1), edge, edge + dt.timedelta(days=1)}
    days |= {dt.date(1990, 1, 1) + dt.timedelta(days=k * 97) for k in range(200)}
    assert default_policy.regimes  # (the default bundle has regimes: else this tests nothing)
    for day in sorted(days):
        assert cache.regime_on(day) is default_policy.regime_on(day), day


def test_a_bounded_memo_is_emptied_when_full_and_keeps_answering():
    memo = Bounded(3)
    made = [memo.get_or(k, lambda k=k: k * 2) for k in range(10)]
    assert made == [k * 2 for k in range(10)] and len(memo) <= 3


def test_each_policy_has_its_own_cache_and_lets_it_go(default_policy):
    import gc
    import weakref

    other = fresh(default_policy)
    assert explain_cache(other) is not explain_cache(default_policy)
    assert explain_cache(other) is explain_cache(other)
    other.decide("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    gone = weakref.ref(explain_cache(other))
    del other
    gc.collect()
    assert gone() is None


@pytest.fixture(scope="module")
def pools(default_policy) -> tuple[list[tuple], list[tuple], list[str]]:
    """(lawful questions, unlawful questions, organisations) of the default bundle, over 30 years: random
    questions are nearly all DENY, and the cache's keys matter most for ALLOWs (bases, regimes, headlines)."""
    import random

    rng = random.Random(18)
    orgs = sorted(o.id.text for o in default_policy.orgs.values())
    data = sorted(d.id.text for d in default_policy.data.values())
    purposes = sorted(p.id.text for p in default_policy.purposes.values())
    lawful: list[tuple] = []
    unlawful: list[tuple] = []
    other = fresh(default_policy)  # its verdict memo is its own
    for _ in range(60_000):
        q = (rng.choice(orgs), rng.choice(orgs), rng.choice(data), rng.choice(purposes),
             dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(11_000)))
        (lawful if other.allowed(*q) else unlawful).append(q)
        if len(lawful) >= 400 and len(unlawful) >= 400:
            break
    assert len(lawful) >= 100, len(lawful)
    return lawful, unlawful[:400], orgs


@SETTINGS
@given(st.data())
def test_decisions_of_the_default_bundle_from_a_warm_cache_are_a_fresh_policys(default_policy, pools, data):
    lawful, unlawful, _orgs = pools
    for _ in range(12):
        question = data.draw(st.sampled_from(lawful) if data.draw(st.integers(0, 3)) else st.sampled_from(unlawful))
        fr = data.draw(st.booleans())
        same_bytes(default_policy, *question, fixes=fr, routes=fr)


@SETTINGS
@given(st.data())
def test_decisions_of_random_bundles_from_a_warm_cache_are_a_fresh_policys(data):
    b = data.draw(bundles13())
    policy = engine.load_texts(b.texts(), MINI_REGISTER)
    questions = all_questions(b, 120)
    given_ = data.draw(st.lists(st.sampled_from(CONDITIONS), unique=True, max_size=2))
    for q in questions:  # every question on each of DATES: the cache holds the parts of the others
        same_bytes(policy, q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume, given=given_,
                   fixes=False, routes=False)
    for q in questions[::7]:  # with fixes and routes (which decide made-up what-ifs of their own)
        same_bytes(policy, q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume, given=given_)


def test_decision_made_is_the_dataclass_made_by_its_constructor(default_policy):
    import dataclasses

    from engine.decision.answer import Decision

    for question in (("LSC", "ALI", "provider-data", "inspection"), ("JCP", "ALI", "provider-data", "inspection")):
        d = default_policy.decide(*question, on=dt.date(2005, 6, 23))
        values = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}
        made = Decision.made(**values)
        assert made == Decision(**values) and made.__dict__ == Decision(**values).__dict__
        assert hash(made.on) == hash(d.on) and made.to_dict() == d.to_dict()
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.verdict = "allow"  # type: ignore[misc]
        defaults = {k: v for k, v in values.items() if k not in ("routes", "regime", "provenance")}
        assert Decision.made(**defaults) == Decision(**defaults)
        with pytest.raises(TypeError):
            Decision.made(**values, colour="red")
        with pytest.raises(TypeError):
            Decision.made(**{k: v for k, v in values.items() if k != "headline"})


def _spec_bundles() -> dict:
    """Every bundle of tests/spec/decisions (classes with dated members, transfers of functions, renames,
    regimes, provenance, conditions …) with the dates its cases ask about."""
    import re
    from pathlib import Path

    import yaml

    out = {}
    for path in sorted((Path(__file__).parent / "spec" / "decisions").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text("utf-8"))
        if not isinstance(spec, dict) or "policy" not in spec or "register" not in spec:
            continue
        dates = {dt.date.fromisoformat(d) for case in spec.get("cases", ())
                 for d in re.findall(r"\d{4}-\d\d-\d\d", str(case.get("ask", "")))}
        out[path.stem] = (spec["policy"], spec["register"], sorted(dates))
    return out


SPEC_BUNDLES = _spec_bundles()
_SPEC_POLICIES: dict = {}


def _spec_policy(name: str) -> engine.Policy:
    if name not in _SPEC_POLICIES:  # one policy per bundle for the whole run: its cache grows across examples
        text, register, _dates = SPEC_BUNDLES[name]
        _SPEC_POLICIES[name] = engine.load_texts({"policies/main.policy": text}, register)
    return _SPEC_POLICIES[name]


@SETTINGS
@given(st.data())
def test_decisions_of_the_spec_bundles_from_a_warm_cache_are_a_fresh_policys(data):
    name = data.draw(st.sampled_from(sorted(SPEC_BUNDLES)))
    policy = _spec_policy(name)
    orgs = sorted(o.id.text for o in policy.orgs.values())
    names = (sorted(d.id.text for d in policy.data.values()), sorted(p.id.text for p in policy.purposes.values()))
    days = SPEC_BUNDLES[name][2] + [dt.date(1999, 1, 1), dt.date(2010, 6, 1), dt.date(2024, 1, 1)]
    day = st.one_of(st.sampled_from(days), st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)))
    for _ in range(15):
        question = (data.draw(st.sampled_from(orgs)), data.draw(st.sampled_from(orgs)),
                    data.draw(st.sampled_from(names[0])), data.draw(st.sampled_from(names[1])))
        fr = data.draw(st.integers(0, 3)) == 0
        same_bytes(policy, *question, on=data.draw(day), fixes=fr, routes=fr)


def test_consideration_made_is_the_dataclass_made_by_its_constructor():
    import dataclasses

    from engine.base.source import Span
    from engine.decision.answer import Consideration

    values = ("gateway", "G", "data-not-covered", "data not covered: x", Span("p.policy", 1, 2, 3, 4),
              "data-not-covered", {"data": "x"})
    made, built = Consideration.made(*values), Consideration(*values)
    assert made == built and made.__dict__ == built.__dict__ and made.to_dict() == built.to_dict()
    assert [f.name for f in dataclasses.fields(Consideration)] == list(made.__dict__)  # every field, in order
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.id = "H"  # type: ignore[misc]


RENAMED_IN_A_CLASS = """\
class agency "Agencies"
organisation A "A"
organisation TTA "Teacher Training Agency" is agency
organisation TDA "TDA" renames TTA on 2005-09-01
data d "d"
purpose p "p"
gateway G "g" {
  statute LSA-2000 "s.5"
  allows A -> agency
  data d
  for p
}
"""


def test_classes_matched_by_a_renamed_body_show_its_name_on_each_date_from_a_warm_cache():
    """The classes an answer names are remembered per (rules, pair): a body renamed on some date is shown by
    the name it had on the question's date, so that name is part of what is remembered."""
    policy = engine.load_texts({"policies/main.policy": RENAMED_IN_A_CLASS}, MINI_REGISTER)
    shown = {}
    for on in (dt.date(2006, 1, 1), dt.date(2004, 1, 1), dt.date(2007, 1, 1), dt.date(2005, 1, 1)):
        d = same_bytes(policy, "A", "TDA", "d", "p", on=on, fixes=False, routes=False)
        assert d.allowed and d.classes, d.to_dict()
        shown[on] = d.classes[0].organisation
    # the test would not catch a cache keyed on the pair alone without this
    assert shown[dt.date(2006, 1, 1)] == shown[dt.date(2007, 1, 1)] == "TDA"
    assert shown[dt.date(2004, 1, 1)] == shown[dt.date(2005, 1, 1)] == "TTA"


def test_decision_adopt_takes_every_field_or_refuses(default_policy):
    import dataclasses

    from engine.decision.answer import Decision

    d = default_policy.decide("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    values = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)}
    adopted = Decision.adopt(dict(values))
    assert adopted == Decision(**values) and adopted.to_dict() == d.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        adopted.verdict = "deny"  # type: ignore[misc]
    with pytest.raises(TypeError, match="no field 'colour'"):
        Decision.adopt({**values, "colour": "red"})
    with pytest.raises(TypeError, match="headline"):
        Decision.adopt({k: v for k, v in values.items() if k != "headline"})
