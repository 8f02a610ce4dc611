"""Spec cases for onward sharing and reachability, as data: one YAML file per behaviour under tests/spec/routes/.

Each file: `policy` (text of policies/main.policy, registered against the mini register unless `register` is
given) or `bundle: default` (the shipped bundle); `date` (the date of every case unless a case gives its own
`date`; not `on`, which YAML reads as true); and `cases`, each one of:
  - routes:     {from, to, data, for, [date], [assume], [max_hops], want: [[path…]…], [variants: [[[path…]…]…]],
                 [hops: [[[source, recipient, data, purpose, changed_by substring or null]…]…]]}
  - decide:     {from, to, data, for, [date], want: allow|deny, routes: [[path…]…]}
  - recipients: {from, data, for, [date], want: [org…]}      (the exact set, direct or by route)
  - sources:    {to, data, for, [date], want: [org…]}
  - onward:     {from, to, data, for, [date], want: "text"}   (the effective onward clause of the direct basis)
  - blocked:    {[date], want: [[source, recipient, restriction]…]}
Paths name organisations as declared; `want` lists are compared exactly (routes in order).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

import engine
from engine.eval import reach

from conftest import MINI_REGISTER, ROOT, write_bundle

SPEC = Path(__file__).parent / "spec" / "routes"
CASES = sorted(SPEC.glob("*.yaml"))


def _policy(spec: dict, tmp_path: Path) -> engine.Policy:
    if spec.get("bundle") == "default":
        return engine.load(ROOT)
    root = write_bundle(tmp_path / "b", {"main.policy": spec["policy"]}, spec.get("register", MINI_REGISTER))
    return engine.load(root)


def hop_allowed(policy: engine.Policy, hop, prev, day: dt.date, assume) -> bool:
    """A hop decided directly, for its own data and purpose, with the provenance carried to it (issue 13): data
    received under the previous hop's gateway from the previous hop's source."""
    from engine.eval.decide import Question, allowed

    extra = {} if prev is None else {"received_under": policy.gateway_key(prev.gateway),
                                     "received_from": policy.org_key(prev.source)}
    return allowed(policy, Question(policy.org_key(hop.source), policy.org_key(hop.recipient),
                                    policy.data_key(hop.data), policy.purpose_key(hop.purpose), day,
                                    frozenset(policy.statute_key(a) for a in assume), **extra))


def _day(case: dict, spec: dict) -> dt.date:
    value = case.get("date", spec.get("date"))
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_routes_spec(case_file: Path, tmp_path: Path):
    spec = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    policy = _policy(spec, tmp_path)
    assert spec["cases"], "a spec file needs cases"
    for i, case in enumerate(spec["cases"]):
        kind = next(k for k in ("routes", "decide", "recipients", "sources", "onward", "blocked") if k in case)
        c = case[kind]
        where = f"{case_file.name} case {i + 1} ({kind}): {case.get('why', '')}"
        day = _day(c, spec)
        assume = c.get("assume", [])
        if kind == "routes":
            found = policy.routes(c["from"], c["to"], c["data"], c["for"], on=day, assume=assume,
                                  max_hops=c.get("max_hops", 4))
            assert [list(r.path) for r in found] == c["want"], where
            if "variants" in c:
                assert [[list(v.path) for v in r.variants] for r in found] == c["variants"], where
            for r in found:  # every hop of a reported route is itself lawful, under the provenance carried to it
                prev = None  # the disclosure the data arrived by (a hop within one body is none)
                for h in r.hops:
                    assert hop_allowed(policy, h, prev, day, assume), where
                    prev = prev if h.same_body else h
            for r, want in zip(found, c.get("hops", [])):
                got = [[h.source, h.recipient, h.data, h.purpose, h.changed_by] for h in r.hops]
                for g, w in zip(got, want):
                    assert g[:4] == w[:4] and (w[4] is None) == (g[4] is None) and (w[4] or "") in (g[4] or ""), \
                        (where, got)
                assert len(got) == len(want), (where, got)
        elif kind == "decide":
            d = policy.decide(c["from"], c["to"], c["data"], c["for"], on=day, assume=assume)
            assert d.verdict == c["want"], where
            assert [list(r.path) for r in d.routes] == c.get("routes", []), where
            assert d.to_dict()["routes"] == [r.to_dict() for r in d.routes], where
        elif kind == "recipients":
            got = reach.recipients(policy, c["from"], c["data"], c["for"], on=day, assume=assume)
            assert sorted({x.organisation for x in got.found}) == sorted(c["want"]), where
        elif kind == "sources":
            got = reach.sources(policy, c["to"], c["data"], c["for"], on=day, assume=assume)
            assert sorted({x.organisation for x in got.found}) == sorted(c["want"]), where
        elif kind == "onward":
            d = policy.decide(c["from"], c["to"], c["data"], c["for"], on=day, assume=assume)
            assert d.allowed and d.basis.onward == c["want"], where
        elif kind == "blocked":
            rows = reach.blocked_flows(policy, on=day, assume=assume)
            got = [[r.source, r.recipient, ", ".join(r.restrictions)] for r in rows]
            assert got == c["want"], where
