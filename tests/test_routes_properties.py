"""Properties of routes on random small bundles (hypothesis), checked against an independent plain
implementation of the onward rules:

- every hop of every reported route (and of every grouped variant) is itself an ALLOW (`Policy.allowed`),
  under a basis that really allows it;
- every route respects the onward clauses: for each hop, both its gateway's and its agreement's clause bind
  every later hop (`none` forbids any, `to` limits the recipient, `only-for` the purpose, `as-discloser`
  needs the hop's discloser to be allowed to make the later disclosure directly);
- the routes reported are exactly the lawful ones (brute force over every simple path and basis);
- a route never changes the direct verdict, and `recipients` is exactly direct-or-by-route.

A hop between a body and its part (issue 12) is not a disclosure: allowed as the same body, a route may take
one only as its first hop (the source's own data), it adds no onward limit, and the disclosure after it must not
be one a restriction bars the source from making (`barred` below); a route through one is not reported when the
route without one of its two bodies is lawful too.

Examples per property: $LAWFUL_HYPOTHESIS_EXAMPLES (default 60).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.eval import reach
from engine.eval.decide import evaluate, normalise

from conftest import MINI_REGISTER

EXAMPLES = int(os.environ.get("LAWFUL_HYPOTHESIS_EXAMPLES", "60"))
DAY = dt.date(2006, 1, 1)
ORGS = ["A", "B", "C", "D", "E"]
PURPOSES = ["p1", "p1.sub", "p2"]
PARENT_OF_PURPOSE = {"p1.sub": "p1"}
ONWARD_KINDS = ["missing", "none", "to", "only-for", "as-discloser"]


@st.composite
def bundles(draw):
    parents = {}
    for i, o in enumerate(ORGS):
        if i >= 2 and draw(st.booleans()) and draw(st.booleans()):
            parents[o] = draw(st.sampled_from(ORGS[:i]))
    subset = lambda items: draw(st.lists(st.sampled_from(items), min_size=1, max_size=len(items), unique=True))  # noqa: E731

    def onward():
        kind = draw(st.sampled_from(ONWARD_KINDS))
        if kind == "missing":
            return None
        if kind == "to":
            return "onward to " + ", ".join(subset(ORGS))
        if kind == "only-for":
            return "onward only-for " + ", ".join(subset(PURPOSES))
        return f"onward {kind}"

    lines = [f'organisation {o} "{o}"' + (f" part-of {parents[o]}" if o in parents else "") for o in ORGS]
    lines += ['data d "Data"', 'purpose p1 "One"', 'purpose p1.sub "Under one" under p1', 'purpose p2 "Two"']
    for gi in range(draw(st.integers(1, 6))):
        srcs, dsts, purposes = subset(ORGS), subset(ORGS), subset(PURPOSES)
        needs = draw(st.booleans())
        body = [f"statute LSA-2000 \"s{gi}\"", f"allows {', '.join(srcs)} -> {', '.join(dsts)}", "data d",
                f"for {', '.join(purposes)}"]
        if needs:
            body.append("requires agreement")
        clause = onward()
        if clause:
            body.append(clause)
        lines.append(f'gateway G{gi} "gateway {gi}" {{\n  ' + "\n  ".join(body) + "\n}")
        for ai in range(draw(st.integers(0, 2)) if needs else draw(st.integers(0, 1))):
            a_src = draw(st.lists(st.sampled_from(srcs), min_size=1, max_size=len(srcs), unique=True))
            a_dst = draw(st.lists(st.sampled_from(dsts), min_size=1, max_size=len(dsts), unique=True))
            a_for = draw(st.lists(st.sampled_from(purposes), min_size=1, max_size=len(purposes), unique=True))
            a_body = [f"from {', '.join(a_src)} to {', '.join(a_dst)}", "data d", f"for {', '.join(a_for)}",
                      f"under G{gi}", "valid 2005-01-01 to 2007-12-31"]
            clause = onward()
            if clause:
                a_body.append(clause)
            lines.append(f'agreement G{gi}-A{ai} "agreement" {{\n  ' + "\n  ".join(a_body) + "\n}")
    if draw(st.booleans()):
        lines.append('restriction R "a bar" {\n  statute SSAA-1992 "s1"\n  '
                     + draw(st.sampled_from([f"one-way {o}" for o in ORGS] + [f"forbids {a} -> {b}" for a in ORGS
                                                                              for b in ORGS if a != b]))
                     + "\n}")
    return "\n".join(lines) + "\n", parents


# ---- an independent, plain statement of the rules --------------------------------------------------


def within(name: str, scope: set[str], parents: dict[str, str]) -> bool:
    while name is not None:
        if name in scope:
            return True
        name = parents.get(name)
    return False


def related(a: str, b: str, parents: dict[str, str]) -> bool:
    return within(a, {b}, parents) or within(b, {a}, parents)


def clauses_of(policy, gateway: str, agreement):
    out = [policy.gateways[gateway.lower()].model.onward]
    if agreement:
        out.append(policy.agreements[agreement.lower()].model.onward)
    return out


def respects_onward(policy, parents, hops, purpose) -> bool:
    """hops: [(source, recipient, gateway id, agreement id or None)]; a hop within one body (gateway
    `same-body`) neither sets a limit nor is bound by one."""
    hops = [h for h in hops if h[2] != SAME_BODY]
    for i, (src, _dst, g, a) in enumerate(hops):
        for later in hops[i + 1:]:
            for c in clauses_of(policy, g, a):
                if c is None or c.kind == "none":
                    return False
                if c.kind == "to" and not within(later[1], {t.text for t in c.targets}, parents):
                    return False
                if c.kind == "only-for" and not within(purpose, {t.text for t in c.targets}, PARENT_OF_PURPOSE):
                    return False
                if c.kind == "as-discloser" and not policy.allowed(src, later[1], "d", purpose, on=DAY):
                    return False
    return True


SAME_BODY = "same-body"


def bases(policy, src, dst, purpose):
    out = evaluate(policy, normalise(policy, src, dst, "d", purpose, DAY, ()))
    if out.allowed and out.same_body:
        return [(SAME_BODY, None)]
    return [(g.id, a.id if a else None) for g, a in out.bases] if out.allowed else []


def barred(policy, src, dst, purpose, lifted_by) -> bool:
    """Would a restriction bar src -> dst (one the gateway `lifted_by` does not override)?"""
    out = evaluate(policy, normalise(policy, src, dst, "d", purpose, DAY, ()))
    overrides = {n.key for n in policy.gateways[lifted_by.lower()].model.overrides}
    return any(r.key not in overrides for r in out.firing)


def _carries_bars(policy, path, choice, purpose) -> bool:
    """No hop within one body passes data round a bar: the disclosure after it is not one a restriction bars
    the source from making."""
    return choice[0][0] != SAME_BODY or not barred(policy, path[0], path[2], purpose, choice[1][0])


def _walks(policy, parents, source, recipient, purpose, max_hops) -> set[tuple]:
    """Every simple path source -> … -> recipient of 2..max_hops hops with some choice of bases that respects
    the onward rules and the rules of hops within one body."""
    found: set[tuple] = set()
    others = [o for o in ORGS if o not in (source, recipient)]
    for n in range(1, max_hops):
        for mids in itertools.permutations(others, n):
            path = (source, *mids, recipient)
            pairs = list(zip(path, path[1:]))
            inner = [related(x, y, parents) for x, y in pairs]
            if any(inner[1:]):
                continue  # within one body only as the first hop
            if any(related(o, source, parents) for o in path[2 if inner[0] else 1:]):
                continue  # back into the source's body once the data has left it
            options = [bases(policy, x, y, purpose) for x, y in pairs]
            if not all(options):
                continue
            for choice in itertools.product(*options):
                hops = [(x, y, g, a) for (x, y), (g, a) in zip(pairs, choice)]
                if respects_onward(policy, parents, hops, purpose) and _carries_bars(policy, path, choice, purpose):
                    found.add(path)
                    break
    return found


def lawful_paths(policy, parents, source, recipient, purpose, max_hops) -> set[tuple]:
    """The lawful routes as reported: every lawful walk, less those through a hop within one body when the
    walk without one of that hop's two bodies is lawful too (or is the lawful direct flow)."""
    if source == recipient or related(source, recipient, parents):
        return set()  # not a disclosure between bodies: no route is sought
    walks = _walks(policy, parents, source, recipient, purpose, max_hops)
    if policy.allowed(source, recipient, "d", purpose, on=DAY):
        walks_or_direct = walks | {(source, recipient)}
    else:
        walks_or_direct = walks
    return {w for w in walks if not any(
        related(w[i], w[i + 1], parents) and any(w[:j] + w[j + 1:] in walks_or_direct for j in (i, i + 1)
                                                 if 0 < j < len(w) - 1) for i in range(len(w) - 1))}


questions = st.tuples(st.sampled_from(ORGS), st.sampled_from(ORGS), st.sampled_from(PURPOSES), st.integers(2, 3))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), questions)
def test_every_reported_route_is_lawful_hop_by_hop_and_respects_onward(bundle, question):
    text, parents = bundle
    source, recipient, purpose, max_hops = question
    policy = engine.load_texts({"policies/main.policy": text}, MINI_REGISTER)
    found = policy.routes(source, recipient, "d", purpose, on=DAY, max_hops=max_hops)
    reported = [r for route in found for r in (route, *route.variants)]
    for r in reported:
        assert r.path[0] == source and r.path[-1] == recipient and 2 <= len(r.hops) <= max_hops
        assert len(set(r.path)) == len(r.path), "a route never visits an organisation twice"
        for h in r.hops:
            assert policy.allowed(h.source, h.recipient, "d", purpose, on=DAY), (str(r), h)
            assert (h.gateway, h.agreement) in bases(policy, h.source, h.recipient, purpose), (str(r), h)
            assert (h.gateway == SAME_BODY) == bool(h.same_body) == related(h.source, h.recipient, parents)
        hops = [(h.source, h.recipient, h.gateway, h.agreement) for h in r.hops]
        assert respects_onward(policy, parents, hops, purpose), (str(r), text)
    # exactly the lawful routes: none missing, none extra
    assert {tuple(r.path) for r in reported} == lawful_paths(policy, parents, source, recipient, purpose,
                                                             max_hops), text
    # a route never changes the direct verdict
    d = policy.decide(source, recipient, "d", purpose, on=DAY)
    assert d.allowed == policy.allowed(source, recipient, "d", purpose, on=DAY)
    if d.allowed:
        assert d.routes == ()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.sampled_from(ORGS), st.sampled_from(PURPOSES))
def test_recipients_are_exactly_those_reached_directly_or_by_route(bundle, source, purpose):
    text, parents = bundle
    policy = engine.load_texts({"policies/main.policy": text}, MINI_REGISTER)
    got = reach.recipients(policy, source, "d", purpose, on=DAY, max_hops=3)
    want = {y for y in ORGS if y != source and not related(source, y, parents) and (
        policy.allowed(source, y, "d", purpose, on=DAY) or lawful_paths(policy, parents, source, y, purpose, 3))}
    assert {x.organisation for x in got.found if not x.same_body} == want, text
    for x in got.found:
        if x.same_body:  # a body and its part: shown as the same body, when the flow is allowed so
            assert related(source, x.organisation, parents) and policy.decide(
                source, x.organisation, "d", purpose, on=DAY, fixes=False, routes=False).same_body
            continue
        assert (x.direct is not None) == policy.allowed(source, x.organisation, "d", purpose, on=DAY)
    same = {y for y in ORGS if y != source and related(source, y, parents)
            and policy.decide(source, y, "d", purpose, on=DAY, fixes=False, routes=False).same_body}
    assert {x.organisation for x in got.found if x.same_body} == same


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles(), st.sampled_from(ORGS), st.sampled_from(PURPOSES))
def test_sources_are_exactly_those_reaching_directly_or_by_route(bundle, recipient, purpose):
    text, parents = bundle
    policy = engine.load_texts({"policies/main.policy": text}, MINI_REGISTER)
    got = reach.sources(policy, recipient, "d", purpose, on=DAY, max_hops=3)
    want = {s for s in ORGS if s != recipient and not related(s, recipient, parents) and (
        policy.allowed(s, recipient, "d", purpose, on=DAY) or lawful_paths(policy, parents, s, recipient, purpose, 3))}
    assert {x.organisation for x in got.found if not x.same_body} == want, text


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles())
def test_the_register_is_sound_and_complete(bundle):
    """Every row is an ALLOW under its basis, and every lawful direct flow between two separate bodies is
    covered by a row (itself, or one level up or more in source, recipient or purpose) with one of its bases."""
    text, parents = bundle
    policy = engine.load_texts({"policies/main.policy": text}, MINI_REGISTER)
    rows = reach.lawful_flows(policy, on=DAY)
    for row in rows:
        if row.same_body:  # within one legal person (issue 12): allowed with no basis
            assert related(row.source, row.recipient, parents)
            assert policy.decide(row.source, row.recipient, "d", row.purpose if row.purpose != "*" else PURPOSES[0],
                                 on=DAY, fixes=False, routes=False).same_body, row
            continue
        assert (row.gateway, row.agreement) in bases(policy, row.source, row.recipient, row.purpose), row
    for s, r, p in itertools.product(ORGS, ORGS, PURPOSES):
        if related(s, r, parents) or not policy.allowed(s, r, "d", p, on=DAY):
            continue
        allowing = set(bases(policy, s, r, p))
        assert any(within(s, {row.source}, parents) and within(r, {row.recipient}, parents)
                   and within(p, {row.purpose}, PARENT_OF_PURPOSE) and (row.gateway, row.agreement) in allowing
                   for row in rows), (s, r, p, text)
