"""Hypothesis properties of issue 13 over generated bundles (tests/bundlegen13.py):

- asserting a condition never turns an ALLOW into a DENY (more given, never less allowed);
- `express_only` never turns a DENY into an ALLOW;
- `Policy.allowed` agrees with `Policy.decide(...)` under `given` and `express_only`, and an ALLOW lists
  exactly conditions the question gave;
- a condition named anywhere but declared nowhere is an `unknown-name` diagnostic at that name, never a
  bundle that loads (and so never a silent DENY).

Examples per property: LAWFUL_EXAMPLES (default 40).
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from bundlegen import Bundle, Question, all_questions
from bundlegen13 import CONDITIONS, bundles13, chain_bundles
from conftest import MINI_REGISTER

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def load(b: Bundle) -> engine.Policy:
    return engine.load_texts(b.texts(), MINI_REGISTER)


def allowed(policy: engine.Policy, q: Question, **kw) -> bool:
    return policy.allowed(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume, **kw)


def test_chain_bundles_make_routes_that_change_data_and_purpose():
    seen = {"purpose": 0, "data": 0}

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(chain_bundles())
    def count(b):
        policy = load(b)
        for q in all_questions(b, 60):
            if q.source == q.recipient:
                continue
            for r in policy.routes(q.source, q.recipient, q.data, q.purpose, on=q.on, max_hops=3):
                for before, hop in zip(r.hops, r.hops[1:]):
                    seen["purpose"] += hop.purpose != before.purpose
                    seen["data"] += hop.data != before.data

    count()
    assert seen["purpose"] and seen["data"], seen


def test_the_generator_writes_issue_13_clauses():
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None)
    @given(bundles13())
    def loads(b):
        load(b)
        text = "\n".join(b.items)
        seen.update(w for w in ("requires C", "power implied", "when C") if w in text)

    loads()
    assert seen == {"requires C", "power implied", "when C"}


@SETTINGS
@given(st.data())
def test_asserting_a_condition_never_turns_allow_into_deny(data):
    b = data.draw(bundles13())
    policy = load(b)
    some = data.draw(st.lists(st.sampled_from(CONDITIONS), unique=True))
    for q in all_questions(b, 200):
        none, part, every = (allowed(policy, q), allowed(policy, q, given=some),
                             allowed(policy, q, given=list(CONDITIONS)))
        assert (not none or part) and (not part or every), str(q)


@SETTINGS
@given(st.data())
def test_express_only_never_turns_deny_into_allow(data):
    b = data.draw(bundles13())
    policy = load(b)
    given_ = data.draw(st.lists(st.sampled_from(CONDITIONS), unique=True))
    for q in all_questions(b, 200):
        if not allowed(policy, q, given=given_):
            assert not allowed(policy, q, given=given_, express_only=True), str(q)


@SETTINGS
@given(st.data())
def test_allowed_agrees_with_decide_and_an_allow_relies_only_on_what_was_given(data):
    b = data.draw(bundles13())
    policy = load(b)
    given_ = data.draw(st.lists(st.sampled_from(CONDITIONS), unique=True))
    express_only = data.draw(st.booleans())
    for q in all_questions(b, 60):
        d = policy.decide(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume, given=given_,
                          express_only=express_only, routes=False)
        assert d.allowed == allowed(policy, q, given=given_, express_only=express_only), str(q)
        if d.allowed:
            assert {c.id for c in d.conditions_relied_on} <= set(given_)
            # within one legal person no power is needed (issue 12's same body): `power` is null
            assert d.power in ("express", "implied") or (d.same_body and d.power is None)
            assert not (express_only and d.power == "implied")
            assert ("implied power" in d.headline) == (d.power == "implied")
        else:
            assert d.power is None and not d.conditions_relied_on


@SETTINGS
@given(st.data())
def test_an_undeclared_condition_is_a_diagnostic(data):
    b = data.draw(bundles13())
    text = "\n".join(b.items)
    uses = [m for m in re.finditer(r"(?:requires|when) (C\d)", text)]
    if not uses:
        return
    use = data.draw(st.sampled_from(uses))
    typo = data.draw(st.sampled_from(["C9", "c-zero", "Cx"]))
    broken = text[:use.start(1)] + typo + text[use.end(1):]
    with pytest.raises(engine.DiagnosticsError) as info:
        engine.load_texts({"policies/main.policy": broken + "\n"}, MINI_REGISTER)
    found = [d for d in info.value.diagnostics if d.code == "unknown-name" and f"`{typo}`" in d.message]
    assert found and found[0].span.line == broken[:use.start(1)].count("\n") + 1


# ---- provenance ---------------------------------------------------------------------------------------


def _hop_allowed(policy: engine.Policy, q: Question, hop, prev, first: dict) -> bool:
    """A hop decided as a direct question, under the provenance carried to it: the question's own for the
    first hop, and for a later one data received under the previous disclosure's gateway from its source (`prev`:
    a hop within one body, issue 12, is no disclosure and changes no provenance)."""
    from engine.eval.decide import Question as Q, allowed as verdict

    extra = dict(first) if prev is None else {
        "received_under": policy.gateways[prev.gateway.lower()].key, "received_from": policy.org_key(prev.source)}
    return verdict(policy, Q(policy.org_key(hop.source), policy.org_key(hop.recipient), policy.data_key(hop.data),
                             policy.purpose_key(hop.purpose), q.on, frozenset(policy.statute_key(a) for a in q.assume),
                             **extra))


@SETTINGS
@given(st.data())
def test_every_hop_of_a_route_is_an_allow_under_the_provenance_carried_to_it(data):
    b = data.draw(st.one_of(bundles13(), chain_bundles()))
    policy = load(b)
    checked = 0
    for q in all_questions(b, 80):
        if q.source == q.recipient:
            continue
        for route in policy.routes(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume, max_hops=3):
            prev = received = None
            for hop in route.hops:
                assert _hop_allowed(policy, q, hop, received, {}), f"{q}: {route} at {hop.source}->{hop.recipient}"
                assert hop.received_under == (received.gateway if received else None)
                # a change of data or purpose is allowed by a clause the data carries, and said
                changed = prev is not None and (hop.data, hop.purpose) != (prev.data, prev.purpose)
                assert changed == (hop.changed_by is not None), (str(q), str(route))
                prev = hop
                received = received if hop.same_body else hop
            last = route.hops[-1]
            assert (policy.data_key(last.data), policy.purpose_key(last.purpose)) == (
                policy.data_key(q.data), policy.purpose_key(q.purpose)), "the last hop carries what was asked"
            checked += 1
    if checked:
        assert checked > 0


@SETTINGS
@given(st.data())
def test_saying_the_data_is_the_sources_own_never_turns_allow_into_deny(data):
    # Without a stated provenance every reading counts (fail closed): any statement only removes readings.
    b = data.draw(bundles13())
    policy = load(b)
    for q in all_questions(b, 150):
        if not allowed(policy, q):
            continue
        assert allowed(policy, q, own_data=True), str(q)
        for f in sorted(policy.functions.get(policy.org_key(q.source), ())):
            assert allowed(policy, q, held_for=policy.function_names[f]), (str(q), f)
