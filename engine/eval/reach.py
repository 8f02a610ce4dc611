"""Reachability over the lawful-flow graph: who may receive (recipients), who may send (sources), every lawful
direct flow with its basis (the register of sharing), and every flow a restriction blocks.

`flows` and `blocked` are computed from the gateways' scopes, not by trying every pair of organisations with
every data category and purpose: each gateway (narrowed by each agreement relying on it, where it requires
one) names the only sources, recipients, data and purposes it could ever allow, and only those candidates are
decided. Rows are reported at the highest level that holds: a row is left out when the same basis already
allows the flow with the source, recipient, data or purpose one level up (LSC -> ALI covers the local LSCs;
`provider-data` covers `provider-contacts`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

import networkx as nx

from engine.syntax import model as m
from engine.compile.compiled import CAgreement, CGateway, CompiledPolicy
from engine.eval.routes import (MAX_HOPS_DEFAULT, FlowGraph, check_max_hops, group_routes, onward_text, related,
                                search, to_route)
from engine.decision.answer import Route

ROUTES_PER_ORGANISATION = 3


def _question(policy: CompiledPolicy, source: str, recipient: str, data: str, purpose: str, on: dt.date,
              assume: frozenset):
    from engine.eval.decide import Question

    return Question(source, recipient, data, purpose, on, assume)


def _assumed(policy: CompiledPolicy, assume: Iterable[str]) -> frozenset:
    return frozenset(policy.statute_key(s) for s in assume)


def _parent(policy: CompiledPolicy, key: str, on: dt.date) -> Optional[str]:
    parent = policy.org_tree.parent(key)
    return policy.org_name_on(parent, on) if parent else None


def _purposes(policy: CompiledPolicy, purpose: Optional[str]) -> list[str]:
    if purpose is not None:
        return [policy.purpose_key(purpose)]
    return sorted(policy.purposes, key=lambda k: policy.purpose_name(k).lower())


# ---- recipients and sources --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """One organisation reached (or reaching) for one purpose: directly, or only by the routes given."""

    organisation: str
    purpose: str
    direct: Optional[Route]  # the one-hop route with its basis, when the direct flow is lawful
    routes: tuple[Route, ...] = ()
    part_of: Optional[str] = None  # the body the organisation is part of, if any
    classes: tuple[tuple[str, str], ...] = ()  # (side, class) through which the direct basis matched (issue 12)
    same_body: bool = False  # a body and its part: not a disclosure between bodies (issue 12)

    def to_dict(self) -> dict:
        return {"organisation": self.organisation, "purpose": self.purpose, "part_of": self.part_of,
                "direct": self.direct.to_dict() if self.direct else None,
                "routes": [r.to_dict() for r in self.routes],
                "classes": [{"side": side, "class": k} for side, k in self.classes], "same_body": self.same_body}


@dataclass(frozen=True)
class Reach:
    kind: str  # "recipients" | "sources"
    anchor: str  # the source (recipients) or the recipient (sources)
    data: str
    purposes: tuple[str, ...]
    on: dt.date
    assume: tuple[str, ...]
    max_hops: int
    found: tuple[Reached, ...]
    truncated: bool = False

    def to_dict(self) -> dict:
        return {"kind": self.kind, ("source" if self.kind == "recipients" else "recipient"): self.anchor,
                "data": self.data, "purposes": list(self.purposes), "on": self.on.isoformat(),
                "assume": list(self.assume), "max_hops": self.max_hops, "truncated": self.truncated,
                self.kind: [r.to_dict() for r in self.found]}


def recipients(policy: CompiledPolicy, source: str, data: str, purpose: Optional[str] = None,
               on: Optional[dt.date] = None, assume: Iterable[str] = (), max_hops: int = MAX_HOPS_DEFAULT) -> Reach:
    """Every organisation that may lawfully receive `data` from `source` — directly, or by a route whose every
    hop is lawful and respects the onward clauses — for `purpose` (or for each declared purpose)."""
    check_max_hops(max_hops)
    s, d, day, assumed = policy.org_key(source), policy.data_key(data), on or dt.date.today(), _assumed(policy, assume)
    found: list[Reached] = []
    truncated = False
    purposes = _purposes(policy, purpose)
    for p in purposes:
        flows = FlowGraph(policy, _question(policy, s, s, d, p, day, assumed))
        result = search(flows, s, max_hops)
        truncated |= result.truncated
        by_end: dict[str, list] = {}
        for raw in result.routes:
            by_end.setdefault(raw.nodes[-1], []).append(raw)
        for end, raws in by_end.items():
            found.append(_reached(policy, end, p, raws, s, end, d, day))
    found.sort(key=lambda r: (r.organisation.lower(), r.purpose.lower()))
    return Reach("recipients", policy.org_name_on(s, day), policy.data_name(d),
                 tuple(policy.purpose_name(p) for p in purposes),
                 day, tuple(sorted(policy.assumed_name(a) for a in assumed)), max_hops, tuple(found), truncated)


def sources(policy: CompiledPolicy, recipient: str, data: str, purpose: Optional[str] = None,
            on: Optional[dt.date] = None, assume: Iterable[str] = (), max_hops: int = MAX_HOPS_DEFAULT) -> Reach:
    """Every organisation that may lawfully send `data` to `recipient`, directly or by a lawful route."""
    check_max_hops(max_hops)
    r, d = policy.org_key(recipient), policy.data_key(data)
    day, assumed = on or dt.date.today(), _assumed(policy, assume)
    found: list[Reached] = []
    truncated = False
    purposes = _purposes(policy, purpose)
    for p in purposes:
        flows = FlowGraph(policy, _question(policy, r, r, d, p, day, assumed))
        graph: nx.MultiDiGraph = flows.expand_all()
        # Only organisations with a path of lawful flows to the recipient can be a source; the onward clauses
        # are then checked route by route.
        near = nx.single_source_shortest_path_length(graph.reverse(copy=False), r, cutoff=max_hops)
        if policy.provenance_matters:
            # issue 13: a hop is decided for data of the provenance carried to it, so the graph of flows of
            # unknown provenance bounds nothing: every organisation is tried, unpruned
            near = {k: 0 for k in policy.orgs}
        for s in sorted(near, key=lambda k: policy.org_name(k).lower()):
            if s == r:
                continue
            result = search(flows, s, max_hops, target=r, to_target=near)
            truncated |= result.truncated
            if not result.routes:
                continue
            found.append(_reached(policy, s, p, result.routes, s, r, d, day))
    found.sort(key=lambda x: (x.organisation.lower(), x.purpose.lower()))
    return Reach("sources", policy.org_name_on(r, day), policy.data_name(d),
                 tuple(policy.purpose_name(p) for p in purposes),
                 day, tuple(sorted(policy.assumed_name(a) for a in assumed)), max_hops, tuple(found), truncated)


def _reached(policy: CompiledPolicy, org: str, purpose: str, raws: list, source: str, recipient: str, data: str,
             on: dt.date) -> Reached:
    """How `org` is reached (or reaches): directly (a disclosure, or within one legal person: `same_body`), else
    by the routes found, grouped."""
    direct = next((r for r in raws if len(r.edges) == 1), None)
    if direct is not None and direct.edges[0].same_body:  # a body and its part: not a disclosure between bodies
        return Reached(policy.org_name_on(org, on), policy.purpose_name(purpose), None, (), _parent(policy, org, on),
                       same_body=True)
    indirect = [] if direct else group_routes(policy, raws, ROUTES_PER_ORGANISATION)
    return Reached(policy.org_name_on(org, on), policy.purpose_name(purpose),
                   to_route(policy, direct) if direct else None, tuple(indirect), _parent(policy, org, on),
                   _direct_classes(policy, direct, source, recipient, data, purpose, on))


def _direct_classes(policy: CompiledPolicy, direct, source: str, recipient: str, data: str, purpose: str,
                    on: dt.date) -> tuple[tuple[str, str], ...]:
    """The classes through which the direct basis's gateway covered the flow (issue 12)."""
    from engine.eval.rules import classes_of

    gateway = direct.edges[0].gateway if direct is not None else None
    if gateway is None or not policy.classes:
        return ()
    return classes_of(policy, gateway.pairs, source, recipient, data, purpose, on)


# ---- the register of sharing -------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowRow:
    """One lawful direct flow and its basis."""

    source: str
    recipient: str
    data: str
    purpose: str
    gateway: str
    agreement: Optional[str]
    statute: Optional[str]
    url: Optional[str]
    onward: str
    lifted: tuple[str, ...] = ()  # restrictions the gateway overrides for this flow
    conditions: tuple[str, ...] = ()
    gateway_at: Optional[str] = None
    agreement_at: Optional[str] = None
    keys: tuple[str, str] = field(default=("", ""), compare=False, repr=False)  # (source, recipient) keys
    classes: tuple[str, ...] = ()  # `source public-authority`: the classes through which the basis matched
    same_body: bool = False  # a body and its part: not a disclosure between bodies (issue 12)

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "data": self.data, "purpose": self.purpose,
                "gateway": self.gateway, "agreement": self.agreement, "statute": self.statute, "url": self.url,
                "onward": self.onward, "lifted": list(self.lifted), "conditions": list(self.conditions),
                "gateway_at": self.gateway_at, "agreement_at": self.agreement_at, "classes": list(self.classes),
                "same_body": self.same_body}


@dataclass(frozen=True)
class BlockedRow:
    """A flow that a gateway (and its agreement, where required) would allow but a restriction blocks."""

    source: str
    recipient: str
    data: str
    purpose: str
    gateway: str
    agreement: Optional[str]
    restrictions: tuple[str, ...]
    one_way: bool
    needs_agreement: bool = False  # the gateway requires an agreement and none in force covers the flow
    citations: tuple[str, ...] = ()
    restriction_at: tuple[str, ...] = ()
    keys: tuple[str, str] = field(default=("", ""), compare=False, repr=False)
    # issue 12: a flow within one legal person (no gateway needed) that a `forbids` naming it explicitly bars
    same_body: bool = False

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "data": self.data, "purpose": self.purpose,
                "gateway": self.gateway, "agreement": self.agreement, "restrictions": list(self.restrictions),
                "one_way": self.one_way, "needs_agreement": self.needs_agreement, "citations": list(self.citations),
                "restriction_at": list(self.restriction_at), "same_body": self.same_body}


Quad = tuple[str, str, str, str]  # (source, recipient, data, purpose) keys


class _Scan:
    """Candidate flows from the gateways' (and agreements') scopes, each decided once."""

    def __init__(self, policy: CompiledPolicy, on: dt.date, assume: frozenset, data: Optional[str],
                 purpose: Optional[str]):
        self.policy, self.on, self.assume = policy, on, assume
        self.data_scope = policy.data_tree.expand([data]) if data else None
        self.purpose_scope = policy.purpose_tree.expand([purpose]) if purpose else None
        self._outcomes: dict[Quad, object] = {}
        self._explained: dict[Quad, object] = {}

    def outcome(self, quad: Quad, explain: bool = False):
        """The evaluation of one flow, memoised (separately with and without the explanation)."""
        from engine.eval.decide import evaluate

        cache = self._explained if explain else self._outcomes
        hit = cache.get(quad)
        if hit is None:
            hit = evaluate(self.policy, _question(self.policy, *quad, self.on, self.assume), explain=explain)
            cache[quad] = hit
        return hit

    def candidates(self, unagreed: bool = False) -> Iterator[tuple[CGateway, Optional[CAgreement], Quad]]:
        """(gateway, agreement or None, flow) for every flow some gateway's scopes could allow. With `unagreed`,
        a gateway that requires an agreement also yields its whole scope with no agreement (for `blocked`)."""
        from engine.eval.rules import in_force, valid_on

        p = self.policy
        everyone = frozenset(k for k in p.orgs if p.org_exists(k, self.on))
        for g in p.gateways.values():
            if in_force(g.window, self.on, self.assume) is not None:
                continue  # not in force on the date: it allows nothing
            scopes: list[tuple[Optional[CAgreement], frozenset, frozenset, frozenset, frozenset]] = []
            reach = p.reach_scope  # with the bodies that received functions from one named (issue 12)
            pairs = [(reach(s), reach(d)) for s, d in g.pairs]
            if g.requires_agreement:
                for a in p.agreements_by_gateway.get(g.key, []):
                    if valid_on(a.valid, self.on) is not None:
                        continue
                    for a_src0, a_dst0 in a.directions:
                        a_src, a_dst = reach(a_src0) or frozenset(), reach(a_dst0) or frozenset()
                        for g_src, g_dst in pairs:
                            scopes.append((a, a_src & (everyone if g_src is None else g_src),
                                           a_dst & (everyone if g_dst is None else g_dst),
                                           a.data & g.data, a.purposes & g.purposes))
            if not g.requires_agreement or unagreed:
                for g_src, g_dst in pairs:
                    scopes.append((None, everyone if g_src is None else g_src & everyone,
                                   everyone if g_dst is None else g_dst & everyone, g.data, g.purposes))
            for agreement, srcs, dsts, data, purposes in scopes:
                if self.data_scope is not None:
                    data = data & self.data_scope
                if self.purpose_scope is not None:
                    purposes = purposes & self.purpose_scope
                for s in sorted(srcs):
                    for r in sorted(dsts):
                        if related(p, s, r):
                            continue  # a body and its own part: not a disclosure between bodies
                        for d in sorted(data):
                            for pp in sorted(purposes):
                                yield g, agreement, (s, r, d, pp)

    def parents(self, quad: Quad) -> Iterator[Quad]:
        """The flows one level up in each dimension (within the --data/--purpose filters)."""
        p = self.policy
        s, r, d, pp = quad
        ps, pr, pd, ppp = p.org_tree.parent(s), p.org_tree.parent(r), p.data_tree.parent(d), p.purpose_tree.parent(pp)
        if ps:
            yield (ps, r, d, pp)
        if pr:
            yield (s, pr, d, pp)
        if pd and (self.data_scope is None or pd in self.data_scope):
            yield (s, r, pd, pp)
        if ppp and (self.purpose_scope is None or ppp in self.purpose_scope):
            yield (s, r, d, ppp)


def _maximal(scan: _Scan, groups: dict[tuple, set[Quad]]) -> list[tuple[tuple, Quad]]:
    out = []
    for key, quads in groups.items():
        for quad in quads:
            if not any(up in quads for up in scan.parents(quad)):
                out.append((key, quad))
    return out


def _loc(span) -> Optional[str]:
    return str(span) if span and span.file else None


def lawful_flows(policy: CompiledPolicy, data: Optional[str] = None, purpose: Optional[str] = None,
                 on: Optional[dt.date] = None, assume: Iterable[str] = ()) -> list[FlowRow]:
    """Every lawful direct flow on the date with its basis (one row per gateway/agreement basis), at the
    highest level that holds, sorted by source, recipient, data, purpose."""
    from engine.eval.rules import classes_of

    day = on or dt.date.today()
    scan = _Scan(policy, day, _assumed(policy, assume), policy.data_key(data) if data else None,
                 policy.purpose_key(purpose) if purpose else None)
    groups: dict[tuple, set[Quad]] = {}
    for g, _a, quad in scan.candidates():
        out = scan.outcome(quad)
        if not out.allowed:
            continue
        for bg, ba in out.bases:
            if bg is g:
                groups.setdefault((bg, ba), set()).add(quad)
    rows = []
    for (g, a), (s, r, d, pp) in _maximal(scan, groups):
        out = scan.outcome((s, r, d, pp))
        statute = g.statute.title + (f", {g.provision}" if g.provision else "") if g.statute else None
        rows.append(FlowRow(
            policy.org_name_on(s, day), policy.org_name_on(r, day), policy.data_name(d), policy.purpose_name(pp), g.id,
            a.id if a else None, statute, m.provision_url(g.statute.url, g.provision) if g.statute else None,
            onward_text(policy, g, a, s, day),
            tuple(sorted(x.id for x in out.firing if x.key in g.overrides)), tuple(a.model.requires) if a else (),
            _loc(g.model.span), _loc(a.model.span) if a else None, keys=(s, r),
            classes=tuple(f"{side} {k}" for side, k in classes_of(policy, g.pairs, s, r, d, pp, day))
            if policy.classes else ()))
    rows += _same_body_rows(policy, scan)
    rows.sort(key=lambda x: (x.source.lower(), x.recipient.lower(), x.data.lower(), x.purpose.lower(),
                             x.gateway.lower(), (x.agreement or "").lower()))
    return rows


SAME_BODY = "same-body"  # the basis a flow within one legal person is shown under (issue 12)


def same_body_pairs(policy: CompiledPolicy, on: dt.date) -> list[tuple[str, str]]:
    """(source, recipient) for each body and each of its parts, both ways, both existing on the date."""
    out = []
    for k in sorted(policy.orgs):
        if not policy.org_exists(k, on):
            continue
        for up in sorted(policy.org_tree.ancestors.get(k, frozenset()) - {k}):
            if policy.org_exists(up, on):
                out += [(k, up), (up, k)]
    return out


def _same_body_rows(policy: CompiledPolicy, scan: "_Scan") -> list[FlowRow]:
    """The flows within one legal person (issue 12): one row per pair (`*` for every data category and
    purpose) unless a `forbids` names the pair, when each lawful flow is decided and reported at its highest
    level."""
    from engine.eval.rules import names_internal_flow

    rows = []
    data = sorted(scan.data_scope) if scan.data_scope is not None else None
    purposes = sorted(scan.purpose_scope) if scan.purpose_scope is not None else None
    for s, r in same_body_pairs(policy, scan.on):
        named = [x for x in policy.restrictions.values() if names_internal_flow(policy, x, s, r)]
        if not named and data is None and purposes is None:
            rows.append(_same_body_row(policy, s, r, "*", "*", scan.on))
            continue
        groups: dict[tuple, set[Quad]] = {}
        for d in data if data is not None else sorted(policy.data):
            for p in purposes if purposes is not None else sorted(policy.purposes):
                out = scan.outcome((s, r, d, p))
                if out.allowed and out.same_body:
                    groups.setdefault(("same-body",), set()).add((s, r, d, p))
        rows += [_same_body_row(policy, s, r, policy.data_name(d), policy.purpose_name(p), scan.on)
                 for _key, (_s, _r, d, p) in _maximal(scan, groups) if _s == s and _r == r]
    return rows


def _same_body_row(policy: CompiledPolicy, s: str, r: str, data: str, purpose: str, on: dt.date) -> FlowRow:
    return FlowRow(policy.org_name_on(s, on), policy.org_name_on(r, on), data, purpose, SAME_BODY, None, None, None,
                   "—",
                   keys=(s, r), same_body=True)


def blocked_flows(policy: CompiledPolicy, data: Optional[str] = None, purpose: Optional[str] = None,
                  on: Optional[dt.date] = None, assume: Iterable[str] = ()) -> list[BlockedRow]:
    """Every flow that a gateway in force would allow but a restriction blocks — one-way blocks first.

    "Would allow": the gateway is in force and covers the flow, the lawful basis (and article 9/10 condition)
    is recorded, and, where the gateway requires an agreement, an agreement in force covers it — or, when none
    does, the row says so (`needs_agreement`): signing one would not help, because legislation stands in the way.
    """
    from engine.eval.rules import pair_via, sensitivity_gap

    day = on or dt.date.today()
    scan = _Scan(policy, day, _assumed(policy, assume), policy.data_key(data) if data else None,
                 policy.purpose_key(purpose) if purpose else None)
    groups: dict[tuple, set[Quad]] = {}
    agreed: set[tuple] = set()  # (gateway, flow) pairs that have a row with an agreement
    for g, a, quad in scan.candidates(unagreed=True):
        out = scan.outcome(quad)
        if out.allowed or out.missing_org:
            continue
        firing = tuple(sorted((x for x in out.firing if x.key not in g.overrides), key=lambda x: x.key))
        if not firing:
            continue
        q = _question(policy, *quad, day, scan.assume)
        if a is not None and pair_via(policy, a.directions, q.source, q.recipient, q.data, q.purpose, q.on) is None:
            continue
        if sensitivity_gap(policy, q.data, g, a) is not None:
            continue
        if a is not None:
            agreed.add((g.key, quad))
        groups.setdefault((g, a, firing), set()).add(quad)
    for (g, a, _f), quads in list(groups.items()):
        if a is None:
            quads -= {qd for qd in quads if (g.key, qd) in agreed}
    rows = []
    for (g, a, firing), (s, r, d, pp) in _maximal(scan, groups):
        rows.append(BlockedRow(
            policy.org_name_on(s, scan.on), policy.org_name_on(r, scan.on), policy.data_name(d),
            policy.purpose_name(pp), g.id,
            a.id if a else None, tuple(x.id for x in firing), any(x.is_one_way for x in firing),
            g.requires_agreement and a is None,
            tuple(x.statute.title + (f" {x.provision}" if x.provision else "") for x in firing if x.statute),
            tuple(filter(None, (_loc(x.model.span) for x in firing))), keys=(s, r)))
    rows += _same_body_blocked(policy, scan)
    rows.sort(key=lambda x: (not x.one_way, [i.lower() for i in x.restrictions], x.source.lower(),
                             x.recipient.lower(), x.data.lower(), x.purpose.lower(), x.gateway.lower(),
                             (x.agreement or "").lower()))
    return rows


def _same_body_blocked(policy: CompiledPolicy, scan: "_Scan") -> list[BlockedRow]:
    """Flows within one legal person (issue 12) that need no gateway but that a `forbids` naming them explicitly
    bars: reported with basis `same-body` at their highest level, never left out."""
    from engine.eval.rules import names_internal_flow

    groups: dict[tuple, set[Quad]] = {}
    for s, r in same_body_pairs(policy, scan.on):
        if not any(names_internal_flow(policy, x, s, r) for x in policy.restrictions.values()):
            continue
        for d in sorted(scan.data_scope) if scan.data_scope is not None else sorted(policy.data):
            for p in sorted(scan.purpose_scope) if scan.purpose_scope is not None else sorted(policy.purposes):
                out = scan.outcome((s, r, d, p))
                if not out.allowed and not out.missing_org and out.firing:
                    groups.setdefault(tuple(sorted(out.firing, key=lambda x: x.key)), set()).add((s, r, d, p))
    rows = []
    for firing, (s, r, d, pp) in _maximal(scan, groups):
        rows.append(BlockedRow(
            policy.org_name_on(s, scan.on), policy.org_name_on(r, scan.on), policy.data_name(d),
            policy.purpose_name(pp), SAME_BODY, None,
            tuple(x.id for x in firing), False, False,
            tuple(x.statute.title + (f" {x.provision}" if x.provision else "") for x in firing if x.statute),
            tuple(filter(None, (_loc(x.model.span) for x in firing))), keys=(s, r), same_body=True))
    return rows
