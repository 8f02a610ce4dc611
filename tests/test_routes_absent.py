"""Issue 18: route search decides no flow from or to a body that does not exist on the question's date (the
evaluator's rule 0 denies every such flow), and finds exactly the routes of the unpruned search
(tests/oracles/routes_unpruned.py) on the days around every organisation's start and end, where sources,
recipients and intermediaries come and go."""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import pytest

import engine
import engine.eval.decide
from engine.eval import routes as routes_now
from engine.eval.decide import normalise
from engine.eval.rules import org_absent

from oracles import routes_unpruned
from test_routes_fixes_equivalence import _raw

ROOT = Path(__file__).resolve().parent.parent


def _days(policy, around: tuple[int, ...]) -> list[dt.date]:
    """The days `around` (offsets) every organisation's start and end."""
    edges = [*policy.org_start.values(), *(e for e, _ in policy.org_end.values())]
    return sorted({d + dt.timedelta(days=k) for d in edges for k in around})


def _boundary_questions(policy, count: int, seed: int = 18) -> list:
    """Questions dated the day before, on and after an organisation's start or end, with a dated organisation
    as source or recipient (or neither) and the data and purpose of a gateway."""
    rng = random.Random(seed)
    days = _days(policy, (-1, 0, 1))
    dated = sorted(set(policy.org_start) | set(policy.org_end))
    orgs = sorted(policy.orgs)
    gateways = sorted(policy.gateways.values(), key=lambda g: g.key)
    out = []
    for _ in range(count):
        g = rng.choice(gateways)
        src, mid = rng.choice(g.pairs)
        # often a recipient of a gateway that could receive from g's recipients, so routes exist
        onward = [h for h in gateways if any(hs is None or mid is None or not hs.isdisjoint(mid) for hs, _ in h.pairs)]
        _, dst = rng.choice((rng.choice(onward) if onward and rng.random() < 0.7 else rng.choice(gateways)).pairs)
        s = rng.choice(dated) if rng.random() < 0.3 else rng.choice(sorted(src) if src else orgs)
        r = rng.choice(dated) if rng.random() < 0.3 else rng.choice(sorted(dst) if dst else orgs)
        d, p = rng.choice(sorted(g.data)), rng.choice(sorted(g.purposes))
        out.append(normalise(policy, policy.org_name(s), policy.org_name(r), policy.data_name(d),
                             policy.purpose_name(p), rng.choice(days), ()))
    return out


@pytest.fixture(scope="module")
def generated_policy(tmp_path_factory) -> engine.Policy:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import generate

    return engine.load(generate.write_bundle(tmp_path_factory.mktemp("gen") / "b",
                                             generate.generate(300, 1500, seed=18)))


@pytest.mark.parametrize("which", ["default", "generated"])
def test_routes_around_the_days_organisations_come_and_go_are_the_oracles(which, request):
    """On the day before and the day of every start and end, from organisations a gateway names: every route of
    up to three hops to anyone (intermediaries and recipients that come and go), and the routes to each
    organisation some route reached on any of those days (sources and recipients that come and go)."""
    policy = request.getfixturevalue(f"{which}_policy")
    days = _days(policy, (-1, 0))
    rng = random.Random(18)
    absent = found = hops = 0
    for g in sorted(policy.gateways.values(), key=lambda g: g.key):
        data, purpose = policy.data_name(sorted(g.data)[0]), policy.purpose_name(sorted(g.purposes)[0])
        sources = sorted(set().union(*(src or policy.orgs for src, _ in g.pairs)))
        for s in rng.sample(sources, min(2, len(sources))):
            reached: set[str] = set()
            name = policy.org_name(s)
            questions = [normalise(policy, name, name, data, purpose, on, ()) for on in days]
            for q in questions:
                new = routes_now.search(routes_now.FlowGraph(policy, q), s, 3)
                old = routes_unpruned.search(routes_unpruned.FlowGraph(policy, q), s, 3)
                assert _raw(new.routes) == _raw(old.routes), q
                hops += sum(len(r.nodes) > 2 for r in new.routes)
                reached.update(r.nodes[-1] for r in new.routes if len(r.nodes) > 2)
            for q in questions:
                for r in sorted(reached):
                    to = q.between(s, r)
                    now = routes_now.find_routes(policy, to)
                    assert now == routes_unpruned.find_routes(policy, to), to
                    absent += any(org_absent(policy, k, to.on) for k in (s, r))
                    found += bool(now)
    assert hops >= 50 and absent + found >= 50  # searches that found routes were compared, not only empty ones


def test_no_flow_of_an_absent_source_or_recipient_is_decided(default_policy, monkeypatch):
    calls: list = []
    real = engine.eval.decide.evaluate

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.eval.decide, "evaluate", counting)
    checked = 0
    for q in _boundary_questions(default_policy, 200, seed=19):
        if not any(org_absent(default_policy, k, q.on) for k in (q.source, q.recipient)):
            continue
        calls.clear()
        assert routes_now.find_routes(default_policy, q) == []
        assert calls == [], q
        checked += 1
    assert checked >= 20
