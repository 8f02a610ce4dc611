"""Lawful indirect routes A -> X -> … -> B for one data category, purpose and date.

The graph of lawful direct flows is built with networkx, lazily, outwards from the source (each edge carries
the basis of that hop). Routes are then enumerated shortest first, pruned by the onward clauses:
a hop's onward permission is the stricter of its gateway's and its agreement's clause, and a missing clause
means `onward none`. Each clause governs what that hop's recipient may do next:
- `none`: the data may not leave the recipient — the route ends there;
- `to ORG…`: the next recipient must be inside one of those organisations;
- `only-for P…`: the purpose must be inside one of those purposes (clauses accumulate along the route);
- `as-discloser`: the next hop must be one the route's original source could itself make lawfully.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable, Optional

from . import model as m
from .compile import CAgreement, CGateway, Policy

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx  # imported where a graph is built: it is most of a fresh process's start-up

MAX_HOPS_LIMIT = 8
MAX_ROUTES = 10


@dataclass(frozen=True)
class Hop:
    source: str
    recipient: str
    gateway: str
    agreement: Optional[str]
    onward: str

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "gateway": self.gateway,
                "agreement": self.agreement, "onward": self.onward}


@dataclass(frozen=True)
class Route:
    hops: tuple[Hop, ...]

    @property
    def path(self) -> tuple[str, ...]:
        return (self.hops[0].source,) + tuple(h.recipient for h in self.hops)

    def __str__(self) -> str:
        return " → ".join(self.path)

    def to_dict(self) -> dict:
        return {"path": list(self.path), "hops": [h.to_dict() for h in self.hops]}


def _onward(g: CGateway, a: Optional[CAgreement]) -> m.Onward:
    """The stricter of the gateway's and the agreement's onward clauses; none when neither has one."""
    clauses = [c for c in ((a.model.onward if a else None), g.model.onward) if c is not None]
    if not clauses:
        return m.Onward("none")
    kinds = {c.kind for c in clauses}
    if "none" in kinds:
        return m.Onward("none")
    if len(clauses) == 1:
        return clauses[0]
    # Two clauses that both permit something: keep both constraints by returning the narrower kind; a
    # `to` and an `only-for` cannot both be expressed in one clause, so `to` wins (names a recipient).
    order = {"to": 0, "only-for": 1, "as-discloser": 2}
    return min(clauses, key=lambda c: order[c.kind])


def _candidate_recipients(policy: Policy, source: str, data: str, purpose: str) -> set[str]:
    out: set[str] = set()
    for g in policy.gateways_by_source.get(source, []) + policy.gateways_any_source:
        if data not in g.data or purpose not in g.purposes:
            continue
        for s, d in g.pairs:
            if s is None or source in s:
                out |= set(policy.orgs) if d is None else d
    out.discard(source)
    return out


def _lawful_edges(policy: Policy, q, max_hops: int) -> tuple[set[str], list[tuple[str, str, dict]]]:
    """Breadth-first from q.source: the organisations reached and the lawful hops (x, y, basis) in the
    order found. Plain sets and lists: networkx is imported only when there is a route to enumerate."""
    from .decide import evaluate

    edges: list[tuple[str, str, dict]] = []
    seen_edges: set[tuple[str, str]] = set()
    visited = {q.source}
    frontier = [q.source]
    for _depth in range(max_hops):
        nxt = []
        for x in frontier:
            for y in sorted(_candidate_recipients(policy, x, q.data, q.purpose)):
                if (x, y) in seen_edges:
                    continue
                out = evaluate(policy, replace(q, source=x, recipient=y))
                if out.allowed:
                    g, a = out.basis
                    seen_edges.add((x, y))
                    edges.append((x, y, dict(gateway=g, agreement=a, onward=_onward(g, a))))
                    if y not in visited:
                        visited.add(y)
                        nxt.append(y)
        frontier = sorted(set(nxt))
        if not frontier:
            break
    return visited, edges


def _graph(source: str, edges: list[tuple[str, str, dict]]) -> "nx.DiGraph":
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node(source)
    for x, y, attrs in edges:
        graph.add_edge(x, y, **attrs)
    return graph


def lawful_flow_graph(policy: Policy, q, max_hops: int) -> "nx.DiGraph":
    """Lawful direct flows reachable from q.source within max_hops, as a DiGraph with each hop's basis."""
    _visited, edges = _lawful_edges(policy, q, max_hops)
    return _graph(q.source, edges)


def find_routes(policy: Policy, q, max_hops: int = 4, limit: int = MAX_ROUTES) -> list[Route]:
    """Indirect lawful routes (two hops or more), shortest first, then by path names."""
    from .decide import evaluate

    max_hops = max(2, min(max_hops, MAX_HOPS_LIMIT))
    visited, edges = _lawful_edges(policy, q, max_hops)
    if q.recipient not in visited:
        return []
    import networkx as nx

    graph = _graph(q.source, edges)
    direct_cache: dict[str, bool] = {}

    def original_could(y: str) -> bool:
        if y not in direct_cache:
            direct_cache[y] = y != q.source and evaluate(policy, replace(q, recipient=y)).allowed
        return direct_cache[y]

    found: list[tuple[str, ...]] = []
    for path in nx.all_simple_paths(graph, q.source, q.recipient, cutoff=max_hops):
        if len(path) < 3:
            continue
        if _respects_onward(policy, graph, path, q, original_could):
            found.append(tuple(path))
    found.sort(key=lambda p: (len(p), [policy.org_name(k) for k in p]))
    routes = []
    for path in found[:limit]:
        hops = []
        for x, y in zip(path, path[1:]):
            e = graph.edges[x, y]
            on = e["onward"]
            hops.append(Hop(policy.org_name(x), policy.org_name(y), e["gateway"].id,
                            e["agreement"].id if e["agreement"] else None,
                            on.kind + (" " + ", ".join(t.text for t in on.targets) if on.targets else "")))
        routes.append(Route(tuple(hops)))
    return routes


def _respects_onward(policy: Policy, graph: nx.DiGraph, path, q, original_could) -> bool:
    for i in range(len(path) - 2):
        onward = graph.edges[path[i], path[i + 1]]["onward"]
        nxt = path[i + 2]
        if onward.kind == "none":
            return False
        if onward.kind == "to":
            scope = policy.org_tree.expand(policy.org_key(t.text) for t in onward.targets)
            if nxt not in scope:
                return False
        elif onward.kind == "only-for":
            scope = policy.purpose_tree.expand(t.key for t in onward.targets)
            if q.purpose not in scope:
                return False
        elif onward.kind == "as-discloser":
            if not original_could(nxt):
                return False
    return True


def routes(policy: Policy, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
           assume: Iterable[str] = (), max_hops: int = 4) -> list[Route]:
    from .decide import normalise

    if not 1 <= max_hops <= MAX_HOPS_LIMIT:
        raise ValueError(f"max_hops must be between 1 and {MAX_HOPS_LIMIT}")
    return find_routes(policy, normalise(policy, source, recipient, data, purpose, on, assume), max_hops)
