"""Hypothesis properties of decisions over randomly generated valid bundles (tests/bundlegen.py):

- adding a restriction never turns a deny into an allow;
- adding a gateway or an agreement never turns an allow into a deny;
- file names and file order never change a decision;
- every allow has a basis (a gateway; an agreement where the gateway requires one; a lawful basis for
  personal data, an article-9 / article-10 condition where the data needs one);
- every deny has a reason (a block, a consideration, an organisation that does not exist, or the headline
  saying no gateway allows it);
- `Policy.allowed` agrees with `Policy.decide(...).allowed`.

Examples per property: LAWFUL_EXAMPLES (default 40); raise it for long runs.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from bundlegen import Bundle, Question, all_questions, agreement_decl, bundles, gateway_decl, restriction_decl
from conftest import MINI_REGISTER

EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def load(b: Bundle, layout=None) -> engine.Policy:
    return engine.load_texts(b.texts(layout), MINI_REGISTER)


def allowed(policy: engine.Policy, q: Question) -> bool:
    return policy.allowed(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume)


def decide(policy: engine.Policy, q: Question, **kw) -> engine.Decision:
    return policy.decide(q.source, q.recipient, q.data, q.purpose, on=q.on, assume=q.assume, **kw)


def test_the_generator_makes_loadable_bundles():
    @settings(max_examples=30, deadline=None)
    @given(bundles())
    def loads(b):
        load(b)

    loads()


@SETTINGS
@given(st.data())
def test_adding_a_restriction_never_turns_deny_into_allow(data):
    b = data.draw(bundles())
    before = load(b)
    after = load(b.with_item(data.draw(restriction_decl(b, "R-NEW"))))
    for q in all_questions(b, 300):
        if not allowed(before, q):
            assert not allowed(after, q), str(q)


@SETTINGS
@given(st.data())
def test_adding_a_gateway_never_turns_allow_into_deny(data):
    b = data.draw(bundles())
    restrictions = tuple(sorted(set(re.findall(r"^restriction (\S+)", "\n".join(b.items), re.M))))
    text, _g = data.draw(gateway_decl(b, "G-NEW", restrictions))
    before, after = load(b), load(b.with_item(text))
    for q in all_questions(b, 300):
        if allowed(before, q):
            assert allowed(after, q), str(q)


@SETTINGS
@given(st.data())
def test_adding_an_agreement_never_turns_allow_into_deny(data):
    b = data.draw(bundles())
    before, after = load(b), load(b.with_item(data.draw(agreement_decl(b, "A-NEW"))))
    for q in all_questions(b, 300):
        if allowed(before, q):
            assert allowed(after, q), str(q)


_SPAN = re.compile(r"[^\s`]+\.policy:\d+:\d+")


def _without_places(value):
    """A decision's JSON without source locations (which name the file by design)."""
    if isinstance(value, dict):
        return {k: _without_places(v) for k, v in value.items() if k != "span"}
    if isinstance(value, list):
        return [_without_places(v) for v in value]
    if isinstance(value, str):
        return _SPAN.sub("<place>", value)
    return value


@SETTINGS
@given(st.data())
def test_file_names_and_order_never_change_a_decision(data):
    b = data.draw(bundles())
    n = len(b.items)
    order = data.draw(st.permutations(range(n)))
    k = data.draw(st.integers(1, min(4, n)))
    names = data.draw(st.lists(st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True), min_size=k, max_size=k,
                               unique=True))
    cuts = sorted(data.draw(st.lists(st.integers(1, max(1, n - 1)), min_size=k - 1, max_size=k - 1, unique=True))) \
        if n > 1 else []
    bounds = [0, *cuts, n]
    layout = [(f"policies/{sub}/{name}.policy" if i % 2 else f"policies/{name}.policy",
               list(order[bounds[i]:bounds[i + 1]]))
              for i, (name, sub) in enumerate(zip(names, names[::-1]))]
    layout = [(name, idx) for name, idx in layout if idx]
    one, spread = load(b), load(b, layout)
    for q in data.draw(st.lists(st.sampled_from(all_questions(b, 200)), min_size=1, max_size=25)):
        a, c = decide(one, q), decide(spread, q)
        assert _without_places(a.to_dict()) == _without_places(c.to_dict()), str(q)


def _check_decision(policy: engine.Policy, q: Question, d: engine.Decision) -> None:
    assert d.allowed == allowed(policy, q), str(q)
    if d.allowed and d.same_body:  # within one legal person: no gateway is needed, no bar names the flow
        assert d.basis is None and not d.blocks and d.headline.startswith("ALLOWED — same body"), str(q)
        return
    if d.allowed:
        basis = d.basis
        assert basis is not None and basis.gateway.id, str(q)
        g = policy.gateways[basis.gateway.id.lower()]
        if g.requires_agreement:
            assert basis.agreement is not None, f"{q}: {g.id} requires an agreement"
        sens = set(d.sensitivity)
        if "personal" in sens:
            assert basis.lawful_basis, f"{q}: personal data without a lawful basis"
        if "special-category" in sens:
            assert basis.article_9, f"{q}: special-category data without article 9"
        if "criminal-offence" in sens:
            assert basis.article_10, f"{q}: criminal-offence data without article 10"
        assert not [b for b in d.blocks if b.overridden_by is None], f"{q}: allowed through a live block"
        assert d.headline.startswith("ALLOWED — ")
    else:
        assert d.basis is None
        has_reason = bool(d.blocks) or bool(d.considered) or "no legal gateway allows this flow" in d.headline
        assert has_reason, f"{q}: a deny with no reason: {d.headline}"
        assert d.headline.startswith("DENIED — ")


@SETTINGS
@given(st.data())
def test_every_allow_has_a_basis_and_every_deny_a_reason(data):
    b = data.draw(bundles())
    policy = load(b)
    qs = all_questions(b, 120)
    for q in data.draw(st.lists(st.sampled_from(qs), min_size=1, max_size=40)):
        _check_decision(policy, q, decide(policy, q))


@SETTINGS
@given(st.data())
def test_allowed_agrees_with_decide_on_every_question(data):
    b = data.draw(bundles())
    policy = load(b)
    for q in all_questions(b, 150):
        assert allowed(policy, q) == decide(policy, q, fixes=False, routes=False).allowed, str(q)
