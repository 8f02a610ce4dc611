"""Tables made once per compiled policy instead of during a question (issue 18, target 5): each is what the
question used to work out, for every key, and survives the compiled-bundle cache."""

from __future__ import annotations

import pickle

import pytest

import engine
from benchmarks.generate import generate
from conftest import ROOT
from engine.eval.fixes import _declared, _declared_sensitivity


def _policy(which: str) -> engine.Policy:
    if which == "default":
        return engine.load(ROOT)
    files = generate(120, 400, 7)
    register = files.pop("gateways.yaml")
    return engine.load_texts({k: v for k, v in files.items() if k.endswith(".policy")}, register)


@pytest.mark.parametrize("which", ["default", "generated"])
def test_the_gateways_by_data_category_are_every_gateway_covering_it_in_order(which):
    policy = _policy(which)
    for p in (policy, pickle.loads(pickle.dumps(policy))):
        for d in p.data:
            assert [g.key for g in p.gateways_by_data.get(d, [])] == [
                g.key for g in p.gateways.values() if d in g.data]
            assert [g.key for g in p.any_source_by_data.get(d, [])] == [
                g.key for g in p.gateways_any_source if d in g.data]
    assert any(p.gateways_by_data.values())


@pytest.mark.parametrize("which", ["default", "generated"])
def test_the_declared_sensitivity_table_is_the_markers_of_each_category_and_its_parents(which):
    policy = _policy(which)
    found = set()
    for d in policy.data:
        markers = set()
        for a in policy.data_tree.ancestors.get(d, {d}):
            markers |= {mk for mk in policy.data[a].markers if mk in ("personal", "special-category",
                                                                       "criminal-offence")}
        assert _declared_sensitivity(policy, d) == _declared(policy, d) == frozenset(markers), d
        found.add(frozenset(markers))
    assert len(found) > 1  # the bundles have categories with and without markers
