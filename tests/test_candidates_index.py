"""The candidate rules of a (source, recipient) pair come from indexes (issue 18, target 5): the gateways open to
any source by recipient, a gateway's agreements by source. The indexes only narrow which rules are tested: for
every pair the candidates are exactly those of the full scan, in the same order, with or without transfers."""

from __future__ import annotations

import pickle
import random
import re

import pytest

import engine
from benchmarks.generate import generate
from conftest import ROOT
from engine.compile.compiled import CompiledPolicy, _agreement_indexes, _scope_index


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


def test_the_any_source_index_is_per_process_and_the_agreement_indexes_are_compiled():
    """The agreements' indexes are made by the compile and kept in the compiled-bundle cache (built on first use,
    they fell on a question: issue 18, target 5); the small index of gateways open to any source is per process."""
    policy = _generated(60, 1200, 3)
    assert policy._agreement_index and policy._agreement_to_index  # before any question
    assert set(policy._agreement_index) == {g for g, every in policy.agreements_by_gateway.items() if len(every) >= 8}
    assert set(policy._agreement_to_index) == set(policy._agreement_index)
    policy._build_candidates(*sorted(policy.orgs)[:2])
    state = policy.__getstate__()
    assert "_any_source_index" not in state
    assert state["_agreement_index"] is policy._agreement_index
    clone = pickle.loads(pickle.dumps(policy))
    assert clone._agreement_to_index == policy._agreement_to_index and clone._any_source_index is None


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


def test_a_reload_keeps_the_indexes_of_gateways_whose_agreements_did_not_change(tmp_path):
    """After one agreement file is edited, a gateway whose agreements have the same parties in the same order as
    at the last load keeps its indexes; every index is what a fresh load makes (an agreement removed, one
    retitled, one given other recipients)."""
    from engine.policy.loader import BundleLoader

    for name, text in generate(60, 1200, 3).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    for path in sorted((tmp_path / "policies").glob("agreements-*.policy")):  # by gateway, in files of 100
        blocks = path.read_text(encoding="utf-8").rstrip("\n").split("\n\n")
        blocks.sort(key=lambda b: re.search(r"under (\S+)", b)[1])  # type: ignore[index]
        path.unlink()
        for k in range(0, len(blocks), 100):
            (path.parent / f"{path.stem}-{k // 100:02d}.policy").write_text("\n\n".join(blocks[k:k + 100]) + "\n",
                                                                             encoding="utf-8")
    loader = BundleLoader()
    before = loader.load(tmp_path)
    files = sorted((tmp_path / "policies").glob("agreements-*.policy"))
    assert files
    blocks = files[0].read_text(encoding="utf-8").split("\n\n")
    removed = blocks.pop(len(blocks) // 2)
    blocks[0] = blocks[0].replace('"', '"edited ', 1)
    def parties(block: str) -> tuple:
        hit = re.search(r"\n  from (\S+) to (\S+)\n  data .*\n  for .*\n  under (\S+)\n", block)
        return (hit[0], hit[1], hit[2], hit[3]) if hit else ("", "", "", "")

    # one agreement given the parties of the agreement before it under the same gateway
    j = next(j for j in range(len(blocks) - 1, 1, -1)
             if parties(blocks[j])[3] and parties(blocks[j])[3] == parties(blocks[j - 1])[3]
             and parties(blocks[j])[1:3] != parties(blocks[j - 1])[1:3])
    line, source, recipient, _g = parties(blocks[j])
    _line, source2, recipient2, _g = parties(blocks[j - 1])
    blocks[j] = blocks[j].replace(line, line.replace(f"from {source} to {recipient}\n",
                                                     f"from {source2} to {recipient2}\n", 1))
    files[0].write_text("\n\n".join(blocks), encoding="utf-8")
    after = loader.load(tmp_path)
    fresh = BundleLoader().load(tmp_path)
    gone = removed.split()[1].lower()
    assert gone in before.agreements and gone not in after.agreements
    assert after._agreement_index == fresh._agreement_index
    assert after._agreement_to_index == fresh._agreement_to_index
    kept = changed = 0
    for g, index in after._agreement_index.items():
        same = g in before._agreement_index and [a.directions for a in before.agreements_by_gateway[g]] == [
            a.directions for a in after.agreements_by_gateway[g]]
        assert (index is before._agreement_index.get(g)) == same, g
        assert (after._agreement_to_index[g] is before._agreement_to_index.get(g)) == same, g
        kept += same
        changed += not same
    assert kept and changed


@pytest.mark.parametrize("which", ["default", "generated", "generated-dense"])
def test_the_compiles_agreement_indexes_are_the_scope_indexes_of_each_side(which):
    """The one-pass builder gives exactly `_scope_index` of the source scopes and of the recipient scopes (an
    agreement `between` two parties has two directions; one open to anyone is under no party)."""
    policy = engine.load(ROOT) if which == "default" else (
        _generated(120, 400, 7) if which == "generated" else _generated(60, 1200, 3))
    lists = list(policy.agreements_by_gateway.values())
    assert any(len(a.directions) > 1 for every in lists for a in every)
    for every in lists:
        got = _agreement_indexes(every)
        assert got == tuple(_scope_index([[d[side] for d in a.directions] for a in every]) for side in (0, 1))
