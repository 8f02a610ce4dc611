"""The candidate rules of a (source, recipient) pair come from indexes (issue 18, target 5): the gateways open to
any source by recipient, a gateway's agreements by source. The indexes only narrow which rules are tested: for
every pair the candidates are exactly those of the full scan, in the same order, with or without transfers."""

from __future__ import annotations

import random

import pytest

import engine
from benchmarks.generate import generate
from conftest import ROOT
from engine.compile.compiled import CompiledPolicy


def _full_scan(policy: CompiledPolicy) -> CompiledPolicy:
    """The same policy whose index look-ups return every rule (the scan as it was before the indexes)."""
    clone = object.__new__(type(policy))
    clone.__dict__.update(policy.__dict__)
    clone._reset_transient()
    clone._any_source_to = lambda recipients: list(policy.gateways_any_source)  # type: ignore[method-assign]
    clone._agreements_from = lambda gateway, sources: list(  # type: ignore[method-assign]
        policy.agreements_by_gateway.get(gateway, []))
    return clone


def _same(a, b) -> bool:
    return ([r.key for r in a.restrictions] == [r.key for r in b.restrictions]
            and [(g.key, [x.key for x in ags]) for g, ags in a.gateways]
            == [(g.key, [x.key for x in ags]) for g, ags in b.gateways]
            and a.conditional == b.conditional)


def _generated(n_orgs: int, n_agreements: int, seed: int) -> engine.Policy:
    files = generate(n_orgs, n_agreements, seed)
    register = files.pop("gateways.yaml")
    return engine.load_texts({k: v for k, v in files.items() if k.endswith(".policy")}, register)


@pytest.mark.parametrize("which", ["default", "generated", "generated-dense"])
def test_indexed_candidates_are_the_full_scans(which):
    if which == "default":
        policy = engine.load(ROOT)  # transfers and dated memberships: the other path
    else:
        policy = _generated(120, 400, 7) if which == "generated" else _generated(60, 1200, 3)
    reference = _full_scan(policy)
    orgs = sorted(policy.orgs)
    pairs = [(s, d) for s in orgs for d in orgs]
    if len(pairs) > 6000:
        pairs = random.Random(5).sample(pairs, 6000)
    for s, d in pairs:
        got, want = policy._build_candidates(s, d), reference._build_candidates(s, d)
        assert _same(got, want), (s, d)
    indexed_agreements = len(policy._agreement_index)
    if which == "generated-dense":  # the agreement index was used, not only the short-list path
        assert indexed_agreements > 0
    assert policy._any_source_index is not None or not policy.gateways_any_source


def test_the_indexes_are_per_process_and_not_cached():
    policy = _generated(25, 25, 1)
    policy._build_candidates(*sorted(policy.orgs)[:2])
    policy._agreements_to(sorted(policy.gateways)[0], tuple(sorted(policy.orgs)[:2]))
    state = policy.__getstate__()
    assert "_any_source_index" not in state and "_agreement_index" not in state
    assert "_agreement_to_index" not in state


@pytest.mark.parametrize("which", ["generated", "generated-dense"])
def test_agreements_by_recipient_are_those_of_the_full_list(which):
    """`_agreements_to` (the route search's backward pass) keeps, in order, every agreement under a gateway
    whose recipient scope holds one of the organisations asked about (it may keep others; they are tested)."""
    policy = _generated(120, 400, 7) if which == "generated" else _generated(60, 1200, 3)
    rnd = random.Random(9)
    orgs = sorted(policy.orgs)
    indexed = 0
    for g in sorted(policy.agreements_by_gateway):
        every = policy.agreements_by_gateway[g]
        for _ in range(20):
            keys = tuple(rnd.sample(orgs, rnd.randint(1, 4)))
            got = policy._agreements_to(g, keys)
            assert [a.key for a in got] == [a.key for a in every if a in set(got)]  # in the list's order
            held = [a.key for a in every if any(not ad.isdisjoint(keys) for _as, ad in a.directions)]
            assert set(held) <= {a.key for a in got}, (g, keys)
        indexed += g in policy._agreement_to_index
    assert indexed > 0
