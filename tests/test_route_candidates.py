"""Issue 18, target 5: the route search decides a flow only to an organisation its forward candidates
(`candidate_recipients`) and its backward pass (`reach_in_hops`) keep, and both now read a gateway that
requires an agreement through its agreements (the decision allows no flow under it without one covering the
pair, data and purpose). Both must stay supersets of the lawful flows, or a route would be lost silently:
every lawful direct flow's recipient is a candidate of its source, and every organisation that can reach a
target in k lawful disclosures is within k hops of it — checked exhaustively on the default bundle (transfers
of functions, dated class memberships), on a generated bundle and on random bundles with onward chains."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections import deque
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.eval import routes
from engine.eval.decide import Question, evaluate

from bundlegen13 import bundles13, chain_bundles
from conftest import MINI_REGISTER

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "40"))
DATES = (dt.date(2001, 6, 1), dt.date(2006, 1, 1), dt.date(2009, 9, 1), dt.date(2011, 12, 31))


def _lawful(policy, data: str, purpose: str, dates=DATES) -> dict[str, set[str]]:
    """Every lawful direct flow between two bodies (not one legal person) of this data and purpose on any of
    the dates: source -> recipients."""
    out: dict[str, set[str]] = {}
    orgs = sorted(policy.orgs)
    for s in orgs:
        for r in orgs:
            if routes.related(policy, s, r):
                continue
            if any(evaluate(policy, Question(s, r, data, purpose, on), first_only=True).allowed for on in dates):
                out.setdefault(s, set()).add(r)
    return out


def _check(policy, data: str, purpose: str, dates=DATES, hops: int = 3) -> int:
    """Both supersets for one (data, purpose); the number of lawful flows they were checked against."""
    flows = _lawful(policy, data, purpose, dates)
    for s, rs in flows.items():
        missing = rs - routes.candidate_recipients(policy, s, data, purpose)
        assert not missing, (s, data, purpose, missing)
    into: dict[str, set[str]] = {}
    for s, rs in flows.items():
        for r in rs:
            into.setdefault(r, set()).add(s)
    for target in sorted(into):
        distance = {target: 0}
        todo = deque([target])
        while todo:
            y = todo.popleft()
            for x in into.get(y, ()):
                if x not in distance:
                    distance[x] = distance[y] + 1
                    todo.append(x)
        within = routes.reach_in_hops(policy, target, ((data, purpose),), hops)
        for x, k in distance.items():
            if k <= hops:
                assert within[k] is None or x in within[k], (x, target, k, data, purpose)
    return sum(len(rs) for rs in flows.values())


def _pairs(policy, limit: int) -> list[tuple[str, str]]:
    """(data, purpose) of the gateways, those requiring an agreement first, each gateway's first few."""
    out: dict[tuple[str, str], None] = {}
    for g in sorted(policy.gateways.values(), key=lambda g: (not g.requires_agreement, g.key)):
        for d in sorted(g.data)[:2]:
            for p in sorted(g.purposes)[:2]:
                out.setdefault((d, p), None)
    return list(out)[:limit]


def test_default_bundle_candidates_and_backward_pass_hold_every_lawful_flow(default_policy):
    assert default_policy.inherits and default_policy.has_dated  # transfers and dated memberships are exercised
    checked = sum(_check(default_policy, d, p) for d, p in _pairs(default_policy, 24))
    assert checked > 50, checked


@pytest.fixture(scope="module")
def generated_policy() -> engine.Policy:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import generate

    files = generate.generate(120, 900, seed=11)
    register = files.pop("gateways.yaml")
    return engine.load_texts({k: v for k, v in files.items() if k.endswith(".policy")}, register)


def test_generated_bundle_candidates_and_backward_pass_hold_every_lawful_flow(generated_policy):
    checked = sum(_check(generated_policy, d, p, DATES[1:3]) for d, p in _pairs(generated_policy, 12))
    assert checked > 50, checked


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_random_bundles_candidates_and_backward_pass_hold_every_lawful_flow(data):
    b = data.draw(st.one_of(bundles13(), chain_bundles()))
    policy = engine.load_texts(b.texts(), MINI_REGISTER)
    for d in sorted(policy.data):
        for p in sorted(policy.purposes):
            _check(policy, d, p, DATES[::2], hops=3)


POLICY = """
organisation A "Body A"
organisation A2 "Body A2"
organisation B "Body B"
organisation B2 "Body B2"
organisation C "Body C"
data d1 "Data one"
purpose p1 "Purpose one"
purpose p2 "Purpose two"
gateway G1 "Needs an agreement" {
  statute LSA-2000 "section 1"
  allows A -> B, C
  data d1
  for p1, p2
  requires agreement
}
""" + "".join(f"""
agreement F{i} "A to C, for the other purpose" {{
  from A to C
  under G1
  data d1
  for p2
  valid 2000-01-01 to 2012-12-31
}}
""" for i in range(8))  # enough agreements under G1 that its agreements are looked up through the indexes

AG1 = """
agreement AG1 "A to B" {
  from A to B
  under G1
  data d1
  for p1
  valid 2000-01-01 to 2012-12-31
}
"""


def _policy(extra: str = "") -> engine.Policy:
    return engine.load_texts({"policies/main.policy": POLICY + extra}, MINI_REGISTER)


def test_a_gateway_that_requires_an_agreement_gives_no_candidate_without_one():
    policy = _policy()
    assert routes.candidate_recipients(policy, "a", "d1", "p1") == set()
    assert routes.reach_in_hops(policy, "b", (("d1", "p1"),), 2)[1] == frozenset({"b"})
    assert routes.candidate_recipients(policy, "a", "d1", "p2") == {"c"}


def test_an_agreement_gives_its_recipients_for_its_data_and_purposes_only():
    policy = _policy(AG1)
    assert routes.candidate_recipients(policy, "a", "d1", "p1") == {"b"}
    assert routes.candidate_recipients(policy, "a2", "d1", "p1") == set()  # not its source
    assert routes.reach_in_hops(policy, "b", (("d1", "p1"),), 2)[1] == frozenset({"a", "b"})
    assert routes.reach_in_hops(policy, "c", (("d1", "p1"),), 2)[2] == frozenset({"c"})
    assert evaluate(policy, Question("a", "b", "d1", "p1", dt.date(2006, 1, 1))).allowed


@pytest.mark.parametrize("transfer", ["A to A2", "B to B2"])
def test_a_transferee_inherits_the_agreements_of_the_body_it_took_functions_from(transfer):
    policy = _policy(f"transfer {transfer} on 2005-01-01\n" + AG1)
    source, recipient = ("a2", "b") if transfer == "A to A2" else ("a", "b2")
    assert policy.inherits.get(source if source == "a2" else recipient)
    assert evaluate(policy, Question(source, recipient, "d1", "p1", dt.date(2006, 1, 1))).allowed
    assert recipient in routes.candidate_recipients(policy, source, "d1", "p1")
    assert source in (routes.reach_in_hops(policy, recipient, (("d1", "p1"),), 1)[1] or ())
