"""Issue 18: the route search that prunes by distance to the target, and the fixes verified cheaply, give exactly
what the unpruned search and the full re-evaluation gave (tests/oracles/: the engine's code before the change,
kept verbatim as the oracle) — the same routes in the same order under the same limits, the same fixes in the
same order — on random questions over the default bundle, a generated bundle (benchmarks/generate.py) and
random bundles with onward chains, conditions and provenance (tests/bundlegen13.py).

Examples per property: $LAWFUL_EXAMPLES (default 40).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.eval import fixes as fixes_now
from engine.eval import memo
from engine.eval import routes as routes_now
from engine.eval.decide import Question, evaluate, normalise

from bundlegen13 import bundles13, chain_bundles
from bundlegen import all_questions
from conftest import MINI_REGISTER
from oracles import fixes_full, routes_unpruned

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def _raw(routes: list) -> list[tuple]:
    """A raw search's routes as comparable data: nodes, each hop's basis, data and purpose, what it carries."""
    return [(r.nodes, tuple((e.gateway.key if e.gateway else None, e.agreement.key if e.agreement else None,
                             e.data, e.purpose, e.same_body) for e in r.edges),
             tuple(_permission(c) for c in r.carried)) for r in routes]


def _permission(p) -> tuple:
    """An OnwardPermission as plain data (the oracle has its own class of it)."""
    return (p.closed, p.recipients, p.purposes, p.disclosers, p.clauses, p.change_purposes, p.change_data, p.lawful,
            p.changes)


def same_answers(policy, q: Question, max_hops: int = 4) -> bool:
    """Routes, raw search and fixes of one question agree with the oracles'; True when the question is a DENY
    (so callers can count what they compared)."""
    out = evaluate(policy, q, explain=True)
    assert routes_now.find_routes(policy, q, max_hops) == routes_unpruned.find_routes(policy, q, max_hops), q
    if max_hops >= 2 and not routes_now.related(policy, q.source, q.recipient):
        new = routes_now.search(routes_now.FlowGraph(policy, q), q.source, max_hops, target=q.recipient, chains=True)
        old = routes_unpruned.search(routes_unpruned.FlowGraph(policy, q), q.source, max_hops, target=q.recipient,
                                     chains=True)
        assert _raw(new.routes) == _raw(old.routes), q
        assert new.truncated == old.truncated
    if out.allowed:
        return False
    assert fixes_now.find_fixes(policy, q, out) == fixes_full.find_fixes(policy, q, out), q
    return True


def _question(policy, draw, on_range: tuple[dt.date, dt.date]) -> Question:
    """Uniform, or near the gateways (where fixes and routes are found): a source a gateway names, a recipient
    some gateway names (often one that could receive from the first's recipients), the first's data, and a
    purpose that is the gateway's or any."""
    orgs, data, purposes = sorted(policy.orgs), sorted(policy.data), sorted(policy.purposes)
    on = draw(st.dates(*on_range))
    gateways = sorted(policy.gateways.values(), key=lambda g: g.key)
    if gateways and draw(st.booleans()):
        g = draw(st.sampled_from(gateways))
        src, mid = draw(st.sampled_from(g.pairs))
        onward = [h for h in gateways if any(hs is None or mid is None or not hs.isdisjoint(mid) for hs, _ in h.pairs)]
        h = draw(st.sampled_from(onward)) if onward and draw(st.booleans()) else draw(st.sampled_from(gateways))
        _, dst = draw(st.sampled_from(h.pairs))
        s = draw(st.sampled_from(sorted(src) if src else orgs))
        r = draw(st.sampled_from(sorted(dst) if dst else orgs))
        d = draw(st.sampled_from(sorted(g.data)))
        p = draw(st.sampled_from(sorted(g.purposes) + purposes[:3]))
    else:
        s, r = draw(st.sampled_from(orgs)), draw(st.sampled_from(orgs))
        d, p = draw(st.sampled_from(data)), draw(st.sampled_from(purposes))
    return normalise(policy, policy.org_name(s), policy.org_name(r), policy.data_name(d), policy.purpose_name(p),
                     on, ())


@pytest.fixture(scope="module")
def generated_policy(tmp_path_factory) -> engine.Policy:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import generate

    root = generate.write_bundle(tmp_path_factory.mktemp("gen") / "b", generate.generate(300, 1500, seed=18))
    return engine.load(root)


@SETTINGS
@given(st.data())
def test_default_bundle_routes_and_fixes_are_the_oracles(default_policy, data):
    q = _question(default_policy, data.draw, (dt.date(1998, 1, 1), dt.date(2012, 12, 31)))
    same_answers(default_policy, q, data.draw(st.sampled_from([2, 3, 4, 4])))


@SETTINGS
@given(st.data())
def test_generated_bundle_routes_and_fixes_are_the_oracles(generated_policy, data):
    q = _question(generated_policy, data.draw, (dt.date(1998, 1, 1), dt.date(2012, 12, 31)))
    same_answers(generated_policy, q)


@SETTINGS
@given(st.data())
def test_random_bundles_with_chains_routes_and_fixes_are_the_oracles(data):
    b = data.draw(st.one_of(bundles13(), chain_bundles()))
    policy = engine.load_texts(b.texts(), MINI_REGISTER)
    for bq in all_questions(b, 30):
        if bq.source == bq.recipient:
            continue
        q = normalise(policy, bq.source, bq.recipient, bq.data, bq.purpose, bq.on, bq.assume)
        same_answers(policy, q, 3)


def test_the_unlawful_questions_of_the_service_bench_are_the_oracles(default_policy):
    """The 100 DENY questions benchmarks/service.py asks, every one compared (not sampled)."""
    import random

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from transfer_log import _pools

    _lawful, unlawful = _pools(default_policy, random.Random(1), lawful_size=300, unlawful_size=100)
    denied = 0
    for s, r, d, p, day in unlawful:
        on = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        denied += same_answers(default_policy, normalise(default_policy, s, r, d, p, on, ()))
    assert denied == len(unlawful)


def test_pruning_keeps_every_node_that_can_reach_the_target(generated_policy):
    """The backward pass is a superset of the lawful graph's: every node of every lawful route (the unpruned
    search from a source to anyone) lies within the hops it has left to that route's last node."""
    policy = generated_policy
    checked = 0
    for g in sorted(policy.gateways.values(), key=lambda g: g.key)[:40]:
        src = next((s for s, _d in g.pairs if s), None)
        if not src:
            continue
        s, d, p = sorted(src)[0], sorted(g.data)[0], sorted(g.purposes)[0]
        q = Question(s, s, d, p, dt.date(2006, 1, 1))
        for route in routes_unpruned.search(routes_unpruned.FlowGraph(policy, q), s, 4).routes:
            within = routes_now.reach_in_hops(policy, route.nodes[-1], ((d, p),), 3)
            for k, node in enumerate(route.nodes[1:], start=1):
                left = len(route.nodes) - 1 - k
                assert within[left] is None or node in within[left], (route.nodes, node, left)
                checked += within[left] is not None
    assert checked > 100


def test_every_pair_of_the_default_bundle_for_the_route_spec_flows_is_the_oracles(default_policy):
    """Every (source, recipient) of the default bundle for the flows tests/spec/routes/default-bundle.yaml asks
    about, where its routes are (DfES -> LSC -> ALI): routes, raw search and fixes compared, none sampled."""
    policy = default_policy
    with_routes = 0
    for data, purpose in (("provider-data", "inspection"), ("provider-data", "planning")):
        for s in sorted(policy.orgs):
            for r in sorted(policy.orgs):
                if s == r:
                    continue
                q = normalise(policy, policy.org_name(s), policy.org_name(r), data, purpose, dt.date(2006, 1, 1), ())
                same_answers(policy, q)
                with_routes += bool(routes_now.find_routes(policy, q))
    assert with_routes >= 2, with_routes


def test_the_memos_are_bounded_and_shared_safely_between_threads(generated_policy, monkeypatch):
    """The backward pass's memo (per compiled policy) stays within its bound, and threads deciding at once over
    one policy (the library is documented thread-safe) get exactly the routes a single thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    policy = generated_policy
    monkeypatch.setattr(routes_now, "_MEMO_ENTRIES", 16)
    memo.TABLES.pop(policy, None)
    orgs = sorted(policy.orgs)
    qs = [Question(orgs[i % len(orgs)], orgs[(7 * i + 3) % len(orgs)], sorted(g.data)[0], sorted(g.purposes)[0],
                   dt.date(2006, 1, 1))
          for i, g in enumerate(sorted(policy.gateways.values(), key=lambda g: g.key)[:60])]
    qs = [q for q in qs if not routes_now.related(policy, q.source, q.recipient)]
    serial = [routes_unpruned.find_routes(policy, q) for q in qs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(lambda q: routes_now.find_routes(policy, q), qs)) == serial
    assert all(len(table) <= 16 for name, table in memo.TABLES[policy].items() if name != "by-data")


@st.composite
def _stated(draw, policy, q: Question) -> Question:
    """q with what a question may state besides its flow (issue 13) drawn: conditions given, implied powers
    excluded, and the data's provenance (received under a gateway, from whom; the source's own; the function
    it is held for)."""
    conditions = sorted(policy.conditions)
    given = frozenset(draw(st.lists(st.sampled_from(conditions), unique=True, max_size=3))) if conditions \
        else frozenset()
    functions = sorted(policy.functions.get(q.source, ()))
    kind = draw(st.sampled_from(["unstated", "received", "own", "held", "received-held", "own-held"]))
    received = draw(st.sampled_from(sorted(policy.gateways))) if "received" in kind and policy.gateways else None
    held = draw(st.sampled_from(functions)) if "held" in kind and functions else None
    frm = draw(st.sampled_from([None, *sorted(policy.orgs)])) if received is not None else None
    return replace(q, given=given, express_only=draw(st.booleans()), received_under=received,
                   own_data=kind.startswith("own"), held_for=held, received_from=frm)


@SETTINGS
@given(st.data())
def test_fixes_of_questions_stating_conditions_power_and_provenance_are_the_oracles(data):
    """Issue 18 (fixes verified by the one gateway an added agreement touches): questions that give conditions,
    exclude implied powers and state provenance — so that gateways are closed by a condition, a power or an
    onward bar — have the oracle's fixes (the whole decision made again for every candidate)."""
    b = data.draw(st.one_of(bundles13(), chain_bundles()))
    policy = engine.load_texts(b.texts(), MINI_REGISTER)
    for bq in all_questions(b, 30):
        if bq.source == bq.recipient:
            continue
        q = data.draw(_stated(policy, normalise(policy, bq.source, bq.recipient, bq.data, bq.purpose, bq.on,
                                                bq.assume)))
        out = evaluate(policy, q, explain=True)
        if not out.allowed:
            assert fixes_now.find_fixes(policy, q, out) == fixes_full.find_fixes(policy, q, out), q


ONWARD_BARRED = """\
organisation A "a"
organisation B "b"
organisation C "c"
data D "d"
purpose P "p"
gateway G0 "received" {
  statute LSA-2000 "s.1"
  allows A -> B
  data D
  for P
  onward none
}
gateway G1 "onward" {
  statute LSA-2000 "s.2"
  allows B -> C
  data D
  for P
  requires agreement
}
agreement X "expired" {
  from B to C
  data D
  for P
  under G1
  valid 2001-01-01 to 2002-01-01
  owner "b"
}
"""


def test_no_agreement_is_offered_where_the_onward_clause_bars_the_flow():
    """The attack on the one-gateway check: B received the data under G0 (`onward none`) and G1, which needs an
    agreement, is otherwise open to B -> C. Renewing X or a new agreement under G1 would not make the flow lawful
    (the received data may not go on): neither is offered, as the whole decision made again says; for the same
    flow of data B holds as its own both are."""
    policy = engine.load_texts({"policies/main.policy": ONWARD_BARRED}, MINI_REGISTER)
    on = dt.date(2006, 1, 1)
    for received, kinds in (("G0", []), (None, ["renew-agreement", "new-agreement"])):
        q = normalise(policy, "B", "C", "D", "P", on, (), received_under=received, own_data=received is None)
        out = evaluate(policy, q, explain=True)
        assert not out.allowed
        found = fixes_now.find_fixes(policy, q, out)
        assert found == fixes_full.find_fixes(policy, q, out)
        assert [f.kind for f in found] == kinds


CONDITION_NEEDED = """\
organisation B "b"
organisation C "c"
data D "d"
purpose P "p"
condition C0 "a condition only a person can establish"
gateway G1 "onward" {
  statute LSA-2000 "s.2"
  allows B -> C
  data D
  for P
  requires agreement
  requires C0
}
"""


def test_no_agreement_is_offered_under_a_gateway_whose_condition_is_not_given():
    """The other attack on it: G1 needs condition C0 as well as an agreement. Without C0 given, a new agreement
    alone would not do (the fix is to give C0 with one); with C0 given, the new agreement is the fix."""
    policy = engine.load_texts({"policies/main.policy": CONDITION_NEEDED}, MINI_REGISTER)
    for given_, kinds in (((), []), (("C0",), ["new-agreement"])):
        q = normalise(policy, "B", "C", "D", "P", dt.date(2006, 1, 1), (), given=given_)
        out = evaluate(policy, q, explain=True)
        assert not out.allowed
        found = fixes_now.find_fixes(policy, q, out)
        assert found == fixes_full.find_fixes(policy, q, out)
        assert [f.kind for f in found] == kinds


def test_pairs_reached_through_transfers_and_dated_memberships_have_the_oracles_fixes(default_policy):
    """Every pair of the default bundle that a gateway or agreement reaches only through a transfer of functions
    or a dated class membership (`Candidates.conditional`, decided on the date), on dates when both exist, for the
    data of what reaches it and a purpose it covers or not, and a year before such a gateway opens: the fixes that
    test another data category, purpose or day by the gateways alone (`_Check.rules_hold`) are the oracle's."""
    policy = default_policy
    purposes = sorted(policy.purposes)
    denied = offered = 0
    for s in sorted(policy.orgs):
        for r in sorted(policy.orgs):
            cand = policy.candidates(s, r) if s != r else None
            if cand is None or not cand.conditional:
                continue
            flows = sorted({(d, p) for g, _a in cand.gateways if g.key in cand.conditional for d in sorted(g.data)[:1]
                            for p in [sorted(g.purposes)[0], next(p for p in purposes if p not in g.purposes)]})
            # and a year before each of those gateways opens (a later date through a transfer)
            opening = {d - dt.timedelta(days=365) for g, _a in cand.gateways if g.key in cand.conditional
                       for d in (g.statute.commenced if g.statute else None, g.valid.start if g.valid else None) if d}
            for on in sorted({dt.date(2001, 6, 1), dt.date(2005, 6, 1), dt.date(2008, 6, 1), dt.date(2012, 6, 1),
                              *opening}):
                for d, p in flows:
                    q = normalise(policy, policy.org_name(s), policy.org_name(r), policy.data_name(d),
                                  policy.purpose_name(p), on, ())
                    out = evaluate(policy, q, explain=True)
                    if not out.allowed and not out.missing_org:
                        denied += 1
                        found = fixes_now.find_fixes(policy, q, out)
                        assert found == fixes_full.find_fixes(policy, q, out), q
                        offered += any(f.kind in ("other-purpose", "narrower-data") for f in found)
    assert denied > 100 and offered > 10, (denied, offered)


AGREEMENT_CONDITION = """\
organisation B "b"
organisation C "c"
data D "d"
purpose P "p"
purpose P2 "another purpose"
condition C0 "a condition only a person can establish"
gateway G1 "onward" {
  statute LSA-2000 "s.2"
  allows B -> C
  data D
  for P, P2
  requires agreement
}
agreement X "for P2 only, when C0" {
  from B to C
  data D
  for P2
  under G1
  requires C0
  owner "b"
}
"""


def test_another_purpose_through_an_agreement_that_needs_a_condition():
    """Another purpose found by the gateways alone (`_could_cover`) counts an agreement that needs a condition
    only when the question gives it: P2 is offered with C0 given (and X extended to P), not without (a new
    agreement for P)."""
    policy = engine.load_texts({"policies/main.policy": AGREEMENT_CONDITION}, MINI_REGISTER)
    for given_, kinds in (((), ["new-agreement"]), (("C0",), ["extend-agreement", "other-purpose"])):
        q = normalise(policy, "B", "C", "D", "P", dt.date(2006, 1, 1), (), given=given_)
        out = evaluate(policy, q, explain=True)
        assert not out.allowed
        found = fixes_now.find_fixes(policy, q, out)
        assert found == fixes_full.find_fixes(policy, q, out)
        assert [f.kind for f in found] == kinds, found


LATER = """\
organisation A "a"
organisation B "b"
organisation C "c"
organisation E "e"
data D "d"
purpose P "p"
gateway G "from 2008" {
  statute LSA-2000 "s.3"
  allows A, C -> B, E
  data D
  for P
  requires agreement
  valid from 2008-01-01
}
agreement X1 "starts as the gateway does" {
  from C to E
  data D
  for P
  under G
  valid from 2008-01-01
  owner "c"
}
agreement X3 "another pair, the same day" {
  from C to B
  data D
  for P
  under G
  valid from 2009-01-01
  owner "c"
}
agreement X2 "the pair asked about" {
  from A to B
  data D
  for P
  under G
  valid from 2009-01-01
  owner "a"
}
agreement X4 "another pair, the same day" {
  from C to E
  data D
  for P
  under G
  valid 2009-01-01 to 2010-01-01
  owner "c"
}
"""


def test_a_later_date_names_every_start_up_to_it_in_order():
    """The later-date fix reads the agreements that start after the gateway opens from an index by start date:
    the one starting the day the gateway does is not an event of its own, and those starting on one day are
    named in the gateway's order; 2008 (no agreement of the pair in force) is not decided again but skipped."""
    policy = engine.load_texts({"policies/main.policy": LATER}, MINI_REGISTER)
    q = normalise(policy, "A", "B", "D", "P", dt.date(2006, 1, 1), ())
    out = evaluate(policy, q, explain=True)
    found = fixes_now.find_fixes(policy, q, out)
    assert found == fixes_full.find_fixes(policy, q, out)
    later = [f for f in found if f.kind == "later-date"]
    assert later and later[0].on == dt.date(2009, 1, 1)
    order = [a.id for a in policy.agreements_by_gateway[policy.gateway_key("G")] if a.id != "X1"]
    assert [e[2] for e in later[0].args["events"]] == ["G", *order]


def test_later_dates_of_the_generated_bundle_are_the_oracles(generated_policy):
    """For each gateway of a generated bundle that opens later (its statute or its window), flows its agreements
    name, asked a year before it opens: the later-date fixes found with days skipped are the oracle's."""
    policy = generated_policy
    later = 0
    for g in sorted(policy.gateways.values(), key=lambda g: g.key):
        opens = [d for d in ((g.statute.commenced if g.statute else None), g.valid.start if g.valid else None) if d]
        if not opens:
            continue
        on = max(opens) - dt.timedelta(days=365)
        for a in policy.agreements_by_gateway.get(g.key, [])[:4]:
            for src, dst in a.directions[:1]:
                s, r = sorted(src)[0], sorted(dst)[0]
                q = normalise(policy, policy.org_name(s), policy.org_name(r), policy.data_name(sorted(a.data)[0]),
                              policy.purpose_name(sorted(a.purposes)[0]), on, ())
                out = evaluate(policy, q, explain=True)
                if not out.allowed:
                    found = fixes_now.find_fixes(policy, q, out)
                    assert found == fixes_full.find_fixes(policy, q, out), q
                    later += any(f.kind == "later-date" for f in found)
    assert later > 5, later


ONE_BODY_PROVENANCE = """\
organisation B "the body"
organisation A "a part of it" part-of B
organisation X "x"
data D "d"
purpose P "p"
gateway G0 "A receives" {
  statute LSA-2000 "s.1"
  allows X -> A
  data D
  for P
}
restriction R "not data received under G0, even within the body" {
  statute SSAA-1992 "s.9"
  forbids A -> B
  data received-under G0
}
"""


def test_stating_provenance_within_one_body_with_no_gateway():
    """Stating provenance is skipped where no gateway could be the flow's basis, but not within one legal person,
    which needs none: A passing its own data to B (the body it is part of) is the fix, as the oracle finds."""
    policy = engine.load_texts({"policies/main.policy": ONE_BODY_PROVENANCE}, MINI_REGISTER)
    q = normalise(policy, "A", "B", "D", "P", dt.date(2006, 1, 1), ())
    out = evaluate(policy, q, explain=True)
    assert not out.allowed and out.readings
    found = fixes_now.find_fixes(policy, q, out)
    assert found == fixes_full.find_fixes(policy, q, out)
    assert [f.kind for f in found][:1] == ["state-provenance"] and found[0].args.get("own_data"), found
