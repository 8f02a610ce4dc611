# Test oracle: the route search of engine/eval/routes.py as it was before it pruned by distance to the target
# (issue 18): the flow graph, the breadth-first search and `find_routes`, kept verbatim so that
# tests/test_routes_fixes_equivalence.py compares the pruned search with the unpruned one. Everything the
# change left as it was (onward permissions, edges, turning raw routes into reported ones) is the engine's own,
# imported. Not part of the engine.

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Optional

from engine.compile.compiled import CGateway, CompiledPolicy
from engine.decision.answer import Route
from engine.eval.routes import (MAX_HOPS_DEFAULT, MAX_PARTIAL_ROUTES, MAX_ROUTES, OPEN, SAME_BODY, Edge, RawRoute,
                                Search, _last_disclosure, _next_pairs, chain_candidates, check_max_hops,
                                group_routes, onward_permission, received_permission, related)

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    from engine.eval.decide import Question


def candidate_recipients(policy: CompiledPolicy, source: str, data: str, purpose: str) -> set[str]:
    """Organisations some gateway could let `source` disclose this data to for this purpose (a superset),
    leaving out the source itself and its parts and parents."""
    out: set[str] = set()
    pool = policy.gateways_by_source.get(source, []) + policy.gateways_any_source
    for e in policy.inherits.get(source, ()):  # rules naming a body whose functions passed to the source
        pool = pool + policy.gateways_by_source.get(e.pred, [])
    for g in pool:
        if data not in g.data or purpose not in g.purposes:
            continue
        for s, d in g.pairs:
            s, d = policy.reach_scope(s), policy.reach_scope(d)
            if s is None or source in s:
                out |= set(policy.orgs) if d is None else d
    return {r for r in out if not related(policy, source, r)}


class FlowGraph:
    """Lawful direct flows for one data category, purpose, date and assumptions (one edge per basis, keyed
    `gateway/agreement`), expanded node by node on demand."""

    def __init__(self, policy: CompiledPolicy, q: "Question"):
        self.policy = policy
        self.q = q
        # Plain dicts, not a networkx graph: a DENY searches routes on every `can-share`, and importing
        # networkx would be most of a fresh process's start-up. `graph` builds the MultiDiGraph when asked.
        self._succ: dict[str, dict[str, dict[str, Edge]]] = {}  # x -> y -> basis key -> edge, insertion order
        self._nodes: dict[str, None] = {}  # every node, in the order it was first seen
        self._expanded: set[str] = set()
        self._out: dict[str, list[Edge]] = {}  # out_edges as plain lists, the search's inner loop
        self._could: dict[tuple[str, str], bool] = {}
        self._bars: dict[tuple[str, str, str], frozenset[str]] = {}  # `barred`, by (…, holder, recipient)
        self._after: dict[object, "FlowGraph"] = {"root": self}  # the family of graphs (`after`, `at`), shared
        self._root = q  # the question the family of graphs (`after`, `at`) was made for

    def at(self, prev: Optional[Edge], data: str, purpose: str) -> "FlowGraph":
        """`after(prev)` for another data category and purpose (a chain that changes them, issue 13)."""
        base = self.after(prev)
        if (data, purpose) == (base.q.data, base.q.purpose):
            return base
        key = ("at", id(base), data, purpose)
        hit = self._after.get(key)
        if hit is None:
            hit = FlowGraph(self.policy, replace(base.q, data=data, purpose=purpose))
            hit._after, hit._root = self._after, self._root
            self._after[key] = hit
        return hit

    def after(self, prev: Optional[Edge]) -> "FlowGraph":
        """The lawful flows of data that arrived by `prev` (None: the source's own hop, with the question's
        provenance). A hop carries its provenance to the next (issue 13): the next disclosure is decided for
        data received under prev's gateway from prev's source, so bars that bind by provenance and that
        gateway's onward clause apply. Where no bar binds by provenance the onward clauses are all that
        provenance changes, and the carried permission of the search already holds them: one graph then
        serves every later hop."""
        if prev is None:
            root = self._after.get("root")
            return root if root is not None else self
        assert prev.gateway is not None  # a hop within one body carries the provenance it received (`search`)
        key: object = (prev.gateway.key, prev.source) if self.policy.provenance_matters else None
        hit = self._after.get(key)
        if hit is None:
            cleared = replace(self._root, received_under=None, own_data=False, held_for=None, received_from=None)
            if key is not None:
                cleared = replace(cleared, received_under=prev.gateway.key, received_from=prev.source)
            hit = FlowGraph(self.policy, cleared)
            hit._after, hit._root = self._after, self._root
            self._after[key] = hit
        return hit

    def out_edges(self, x: str) -> list[Edge]:
        """Every lawful direct flow out of x, by recipient name then basis order (as `decide` prefers)."""
        from engine.eval.decide import evaluate

        hit = self._out.get(x)
        if hit is not None:
            return hit
        if x not in self._expanded:
            self._expanded.add(x)
            self._nodes.setdefault(x, None)
            succ = self._succ.setdefault(x, {})
            for y in sorted(candidate_recipients(self.policy, x, self.q.data, self.q.purpose),
                            key=lambda k: (self.policy.org_name(k).lower(), k)):
                out = evaluate(self.policy, replace(self.q, source=x, recipient=y))  # every basis: one edge each
                self._could[(x, y)] = out.allowed
                for g, a in (out.bases if out.allowed else []):
                    self._nodes.setdefault(y, None)
                    succ.setdefault(y, {})[f"{g.key}/{a.key if a else ''}"] = Edge(
                        x, y, g, a, onward_permission(self.policy, g, a, x, self.q.on), self.q.data, self.q.purpose)
            # issue 12: the bodies x is part of and its parts, where the decision allows the flow as within one
            # legal person (no `forbids` names it): a route may pass through such a hop (`search` says how)
            tree = self.policy.org_tree
            for y in sorted((tree.ancestors.get(x, frozenset()) | tree.descendants.get(x, frozenset())) - {x},
                            key=lambda k: (self.policy.org_name(k).lower(), k)):
                out = evaluate(self.policy, replace(self.q, source=x, recipient=y))
                self._could[(x, y)] = out.allowed
                if out.allowed and out.same_body:
                    self._nodes.setdefault(y, None)
                    succ.setdefault(y, {})[SAME_BODY] = Edge(x, y, None, None, OPEN, self.q.data, self.q.purpose,
                                                             out.same_body)
        self._out[x] = [e for keyed in self._succ.get(x, {}).values() for e in keyed.values()]
        return self._out[x]

    def barred(self, holder: str, recipient: str, lifted_by: Optional[CGateway]) -> bool:
        """Would a restriction bar `holder` from disclosing this data to `recipient` (with this graph's
        provenance), unless `lifted_by` overrides it? The bars a hop within one body carries (`search`)."""
        from engine.eval.decide import evaluate

        key = ("barred", holder, recipient)
        firing = self._bars.get(key)
        if firing is None:
            out = evaluate(self.policy, replace(self.q, source=holder, recipient=recipient))
            firing = frozenset(r.key for r in out.firing)
            self._bars[key] = firing
        return any(lifted_by is None or k not in lifted_by.overrides for k in firing)

    @property
    def graph(self) -> "nx.MultiDiGraph[str]":
        """The flows expanded so far as a networkx MultiDiGraph (edge data `edge`), nodes and edges in the order
        they were found."""
        import networkx as nx

        g: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        g.add_nodes_from(self._nodes)
        for x, succ in self._succ.items():
            for y, keyed in succ.items():
                for key, edge in keyed.items():
                    g.add_edge(x, y, key=key, edge=edge)
        return g

    def expand_all(self) -> "nx.MultiDiGraph[str]":
        for x in sorted(self.policy.orgs):
            self.out_edges(x)
        return self.graph

    def could(self, discloser: str, recipient: str) -> bool:
        """May `discloser` lawfully disclose this data directly to `recipient` (as-discloser's test)?"""
        key = (discloser, recipient)
        if key not in self._could:
            from engine.eval.decide import allowed

            self._could[key] = discloser != recipient and discloser in self.policy.orgs and allowed(
                self.policy, replace(self.q, source=discloser, recipient=recipient, received_under=None,
                                     own_data=False, held_for=None, received_from=None))
        return self._could[key]


def search(flows: FlowGraph, source: str, max_hops: int, target: Optional[str] = None,
           to_target: Optional[dict[str, int]] = None, chains: bool = False) -> Search:
    """Every lawful route from `source` (to `target`, or to anyone) of at most max_hops hops, shortest first.

    A route may be extended from X to Y only when Y is not already on it (nor part of, or the body of, the
    source, once the data has left the source's body), X -> Y is a lawful direct flow,
    and the permission the data carries into X (the intersection of every onward clause so far) admits Y
    for the question's purpose. `to_target` (hops from each organisation to the target in the lawful-flow
    graph, when known) prunes partial routes that could not reach the target within max_hops.

    A hop within one legal person (issue 12: a body and its part, `Edge.same_body`) is not a disclosure. A
    route may take one only as its first hop: the source passes its own data to the body it is part of (or to
    one of its parts), which then discloses it under its own gateways. The data keeps its provenance, and the
    source's bars travel with it: the disclosure after the hop must not be one a restriction would bar the
    source from making (unless that disclosure's gateway overrides the restriction). After a disclosure the
    data never moves within the recipient's body on its own: a rule naming a body already covers its parts,
    and passing data up to the body would take it beyond the bodies the law gave it to (the cautious reading).

    With `chains` (issue 13; a route question), only the final hop must carry the question's data and purpose:
    earlier hops may carry others where the onward clauses allow the change (`onward for`, `as`, `lawful`),
    drawn from `chain_candidates`. Without change clauses in the bundle that is the same search.
    """
    q = flows.q
    final = (q.data, q.purpose)
    data_c, purposes_c = chain_candidates(flows.policy, q.data, q.purpose) if chains else ([q.data], [q.purpose])
    pairs = [(d, p) for d in data_c for p in purposes_c]  # the final pair first
    found: list[RawRoute] = []
    level = [RawRoute((source,), (), ())]
    start = received_permission(flows.policy, q)  # the limits the source's data arrived with (issue 13)
    truncated = False
    held = 0
    tree = flows.policy.org_tree
    own_body = tree.ancestors.get(source, frozenset()) | tree.descendants.get(source, frozenset()) | {source}
    for depth in range(1, max_hops + 1):
        nxt: list[RawRoute] = []
        seen: set = set()
        for partial in level:
            x = partial.nodes[-1]
            carried = partial.carried[-1] if partial.carried else start
            real = _last_disclosure(partial.edges)  # the disclosure the data arrived by (None: the source's own)
            if real is not None and carried.is_closed:
                continue
            prev = partial.edges[-1] if partial.edges else None
            for d, p in _next_pairs(pairs, prev, carried):
                hop = flows.at(real, d, p)  # a hop within one body changes no provenance
                for e in hop.out_edges(x):
                    y = e.recipient
                    if to_target is not None and y != target and to_target.get(y, max_hops + 1) > max_hops - depth:
                        continue  # cannot reach the target in the hops left
                    if y in partial.nodes or (y in own_body and (real is not None or not e.same_body)):
                        continue  # no organisation twice, and never back into the source's own body
                    if e.same_body:
                        if prev is not None:
                            continue  # only the source's own data, as the first hop
                        after = carried
                    else:
                        if real is not None and not carried.admits(y, p, hop.could, prev.purpose if prev else None,
                                                                   d, prev.data if prev else None):
                            continue
                        if prev is not None and prev.same_body and hop.barred(prev.source, y, e.gateway):
                            continue  # the bars of the body the data came from travel with it
                        after = carried.meet(e.onward) if real is not None or start is not OPEN else e.onward
                    if (d != final[0] and after.change_data is None) or \
                            (p != final[1] and after.change_purposes is None):
                        continue  # other data or purpose than asked, and no clause left that could change it back
                    key = (partial.nodes + (y,), after, d, p)
                    if key in seen:  # another basis with the same effect: keep the first (preferred) one
                        continue
                    seen.add(key)
                    route = RawRoute(partial.nodes + (y,), partial.edges + (e,), partial.carried + (after,))
                    if target is None or (y == target and (d, p) == final):
                        found.append(route)
                    if y != target and depth < max_hops and not after.is_closed:
                        nxt.append(route)
                        held += 1
                        if held > MAX_PARTIAL_ROUTES:
                            truncated = True
                            break
                if truncated:
                    break
            if truncated:
                break
        level = nxt
        if truncated or not level:
            break
    return Search(found, truncated)


def find_routes(policy: CompiledPolicy, q: "Question", max_hops: int = MAX_HOPS_DEFAULT, limit: int = MAX_ROUTES,
                flows: Optional[FlowGraph] = None) -> list[Route]:
    """Indirect lawful routes (two hops or more) from q.source to q.recipient, grouped, shortest first."""
    check_max_hops(max_hops)
    if max_hops < 2 or related(policy, q.source, q.recipient):
        return []
    flows = flows or FlowGraph(policy, q)
    found = search(flows, q.source, max_hops, target=q.recipient, chains=True)
    return group_routes(policy, found.routes, limit)  # it leaves the direct flow out
