"""Onward sharing: what a recipient may do next with data it received, and lawful indirect routes A -> X -> B.

The effective onward permission of one disclosure is the INTERSECTION of its gateway's and its agreement's
`onward` clauses (a missing clause is `onward none`), held as an `OnwardPermission`:

- `none`              the data may not leave the recipient;
- `to ORG…`           it may go on only to those organisations (or their parts);
- `only-for PURPOSE…` it may go on only for those purposes (or purposes under them);
- `as-discloser`      it may go on only where the body that disclosed it could itself lawfully disclose it
                      directly (same data, purpose and date).

Two clauses together keep both limits: agreement `to X` with gateway `only-for P` allows onward disclosure only
to X and only for P. Restrictions travel with the data: along a route every permission received so far is
intersected with the next, so a limit imposed at the first hop still binds the third, and data received under
`onward none` never leaves its recipient, whatever gateway that recipient has for its own data.

Routes are searched over a graph of lawful direct flows for one data category, purpose, date and set of
assumptions (one edge per gateway/agreement basis, because the basis decides the onward clause), built lazily
outwards from the source; breadth first, so routes come shortest first. The graph is held in plain dicts and
handed out as a networkx MultiDiGraph only when asked (`FlowGraph.graph`). Routes to one recipient are searched
with a backward pass first (`reach_in_hops`, issue 18): from the gateways' scopes, and for a gateway that
requires an agreement from its agreements' scopes for the data and purpose, which organisations could reach the
recipient in the hops left; the forward search decides no flow to any other, and its candidates are read the same
way (`candidate_recipients`), so its cost follows the routes that could exist, not the number of gateways open to
any source or of their parties.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import field, replace

from engine.base.records import record
from typing import TYPE_CHECKING, Callable, Iterable, Optional


from engine.compile.compiled import CAgreement, CGateway, CompiledPolicy
from engine.decision.answer import Hop, Route
from engine.errors import RequestError
from engine.eval import memo
from engine.eval import decide as _decide  # looked up per call: a fault injected into the evaluator reaches routes
from engine.eval.rules import org_absent

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx  # imported where a graph is built: it is much of a fresh process's start-up
    from engine.eval.decide import Question

MAX_HOPS_DEFAULT = 4
MAX_HOPS_LIMIT = 8
MAX_ROUTES = 10  # routes reported per question, after grouping
MAX_VARIANTS = 10  # variants kept per reported route
MAX_PARTIAL_ROUTES = 50_000  # partial routes held by one search; beyond it the search stops (and says so)


def check_max_hops(max_hops: int) -> int:
    if not isinstance(max_hops, int) or not 1 <= max_hops <= MAX_HOPS_LIMIT:
        raise RequestError("limit-exceeded", f"max hops `{max_hops}` is out of range",
                           f"routes may have from 1 to {MAX_HOPS_LIMIT} hops (default {MAX_HOPS_DEFAULT})")
    return max_hops


# ---- onward permissions ------------------------------------------------------------------------------


@record(frozen=True)
class OnwardPermission:
    """What may happen next to data received under one or more onward clauses (their intersection).

    `recipients` / `purposes` are expanded key sets (None: that dimension is not limited); `disclosers` are the
    bodies whose direct permission bounds every onward flow (`as-discloser`); `clauses` say where each limit
    came from, for explanations.
    """

    closed: bool = False
    recipients: Optional[frozenset] = None
    purposes: Optional[frozenset] = None
    disclosers: frozenset = frozenset()
    clauses: tuple[str, ...] = field(default=(), compare=False)
    # issue 13: chains that change purpose or data. None: the next hop keeps the purpose (the data) received;
    # a set: it may also change to these (`onward for P`, `onward lawful`; `onward as C`). Changes need every
    # clause's leave, like every other limit.
    change_purposes: Optional[frozenset] = None
    change_data: Optional[frozenset] = None
    lawful: bool = False  # `onward lawful`: any disclosure otherwise lawful
    changes: tuple[str, ...] = field(default=(), compare=False)  # the clauses that allow a change

    @property
    def is_closed(self) -> bool:
        return self.closed or self.recipients == frozenset() or self.purposes == frozenset()

    def meet(self, other: "OnwardPermission") -> "OnwardPermission":
        """Both permissions at once: every limit of either holds."""
        def both(a, b):
            if a is None:
                return b
            if b is None:
                return a
            return a & b

        def change(a, b):  # a change needs both clauses' leave
            return None if a is None or b is None else a & b

        return OnwardPermission(
            closed=self.closed or other.closed, recipients=both(self.recipients, other.recipients),
            purposes=both(self.purposes, other.purposes), disclosers=self.disclosers | other.disclosers,
            clauses=tuple(dict.fromkeys(self.clauses + other.clauses)),
            change_purposes=change(self.change_purposes, other.change_purposes),
            change_data=change(self.change_data, other.change_data), lawful=self.lawful and other.lawful,
            changes=tuple(dict.fromkeys(self.changes + other.changes)))

    def admits(self, recipient: str, purpose: str, discloser_could: Callable[[str, str], bool],
               received_for: Optional[str] = None, data: Optional[str] = None,
               received: Optional[str] = None) -> bool:
        """May data held under this permission go on to `recipient` for `purpose`? With `received_for` (the
        purpose it was received for) and `received` (the category received): as `data`, only where the clauses
        allow the change."""
        if self.is_closed:
            return False
        if self.recipients is not None and recipient not in self.recipients:
            return False
        if self.purposes is not None and purpose not in self.purposes:
            return False
        if received_for is not None and purpose != received_for and (
                self.change_purposes is None or purpose not in self.change_purposes):
            return False
        if received is not None and data is not None and data != received and (
                self.change_data is None or data not in self.change_data):
            return False
        return all(d != recipient and discloser_could(d, recipient) for d in sorted(self.disclosers))

    def describe(self, policy: CompiledPolicy) -> str:
        """`none`, or the limits joined with `and`: `to ALI, OfSTED and only-for funding, inspection`."""
        if self.is_closed:
            return "none"
        parts = []
        if self.recipients is not None:
            parts.append("to " + ", ".join(_tops(policy.org_tree, self.recipients, policy.org_name)))
        if self.purposes is not None:
            parts.append("only-for " + ", ".join(_tops(policy.purpose_tree, self.purposes, policy.purpose_name)))
        if self.disclosers:
            parts.append("as-discloser")
        if self.lawful:
            parts.append("lawful")
        elif self.change_purposes is not None:
            parts.append("for " + ", ".join(_tops(policy.purpose_tree, self.change_purposes, policy.purpose_name)))
        if self.change_data is not None:
            parts.append("as " + ", ".join(_tops(policy.data_tree, self.change_data, policy.data_name)))
        return " and ".join(parts) if parts else "unrestricted"


OPEN = OnwardPermission()  # the source's own data: nothing received, nothing to carry


def _tops(tree, keys: frozenset, name: Callable[[str], str]) -> list[str]:
    """The fewest declared names whose scopes make up `keys` (the nodes whose parent is not in the set)."""
    return sorted((name(k) for k in keys if tree.parent(k) not in keys), key=str.lower)


def on_date(scope: frozenset, on: Optional[dt.date]) -> frozenset:
    """A party scope as it stands on a date: without the bodies inside only on other days (a dated class
    membership, or an exclusion while a member of an excluded class); with no date, only the bodies inside on
    every day (fail closed)."""
    dated = getattr(scope, "dated", None)
    if not dated:
        return scope
    return frozenset(k for k in scope if k not in dated or on is not None and any(
        (s is None or s <= on) and (e is None or on <= e) for s, e, _k in dated[k]))


def clause_permission(policy: CompiledPolicy, clause, discloser: str, where: str,
                      on: Optional[dt.date] = None) -> OnwardPermission:
    """One `onward` clause (None: missing, read as `none`) as a permission; `discloser` is who disclosed, `on`
    the date of the disclosure (an `onward to` naming a class covers its members on that date)."""
    if clause is None or clause.kind == "none":
        return OnwardPermission(closed=True, clauses=(f"{where}: none",))
    text = clause.kind + (" " + ", ".join(t.text for t in clause.targets) if clause.targets else "")
    if clause.excluded:
        text += " except " + ", ".join(t.text for t in clause.excluded)
    tag = (f"{where}: {text}",)
    if clause.kind == "to":
        return OnwardPermission(recipients=on_date(policy.party_scope(clause.targets, clause.excluded), on),
                                clauses=tag)
    if clause.kind == "only-for":
        return OnwardPermission(purposes=policy.purpose_tree.expand(t.key for t in clause.targets), clauses=tag)
    if clause.kind == "as-discloser":
        return OnwardPermission(disclosers=frozenset({discloser}), clauses=tag)
    if clause.kind == "for":  # issue 13: the next hop may be for these purposes
        return OnwardPermission(change_purposes=policy.purpose_tree.expand(t.key for t in clause.targets),
                                clauses=tag, changes=tag)
    if clause.kind == "as":  # issue 13: what may travel on is the transformed category
        return OnwardPermission(change_data=policy.data_tree.expand(t.key for t in clause.targets), clauses=tag,
                                changes=tag)
    if clause.kind == "lawful":  # issue 13: any disclosure otherwise lawful, for any purpose
        return OnwardPermission(change_purposes=frozenset(policy.purposes), lawful=True, clauses=tag, changes=tag)
    # fail closed
    return OnwardPermission(closed=True, clauses=(f"{where}: unknown clause `{clause.kind}`, read as none",))


def onward_permission(policy: CompiledPolicy, g: CGateway, a: Optional[CAgreement], discloser: str,
                      on: Optional[dt.date] = None) -> OnwardPermission:
    """The effective onward permission of a disclosure by `discloser` under gateway g and agreement a on `on`:
    the intersection of both clauses. Without an agreement only the gateway's clause counts."""
    perm = clause_permission(policy, g.model.onward, discloser, f"gateway {g.id}", on)
    if a is not None:
        perm = perm.meet(clause_permission(policy, a.model.onward, discloser, f"agreement {a.id}", on))
    return perm


def onward_text(policy: CompiledPolicy, g: CGateway, a: Optional[CAgreement], discloser: str,
                on: Optional[dt.date] = None) -> str:
    return onward_permission(policy, g, a, discloser, on).describe(policy)


# ---- routes as plain data ----------------------------------------------------------------------------


# ---- the lawful-flow graph ---------------------------------------------------------------------------


SAME_BODY = "same-body"  # the basis of a hop within one legal person (issue 12)


@record(frozen=True, eq=False)
class Edge:
    """One lawful direct flow of the graph: a disclosure under a gateway (and agreement), or a hop within one
    legal person (`same_body`: the `part-of` chain from the part up to the body; no gateway, no onward clause)."""

    source: str
    recipient: str
    gateway: Optional[CGateway]  # None for a hop within one legal person
    agreement: Optional[CAgreement]
    onward: OnwardPermission
    data: str = ""  # issue 13: the data and purpose of this disclosure (a chain may change them)
    purpose: str = ""
    same_body: tuple[str, ...] = ()  # issue 12: a hop between a body and its part, as the decision allows it


def _with_transferors(policy: CompiledPolicy, org: str) -> tuple[str, ...]:
    """`org` and the bodies whose rules it inherits (transfers of functions): the keys a rule naming it may
    name (as `CompiledPolicy.candidates` reads them)."""
    inherited = policy.inherits.get(org)
    return (org,) if not inherited else (org,) + tuple(dict.fromkeys(e.pred for e in inherited))


def candidate_recipients(policy: CompiledPolicy, source: str, data: str, purpose: str) -> set[str]:
    """Organisations `source` might lawfully disclose this data to for this purpose (a superset), leaving out
    the source itself and its parts and parents: those inside a recipient scope of a gateway covering the data
    and purpose whose source scope holds the source, and, for a gateway that requires an agreement, inside a
    recipient scope of one of its agreements covering the data and purpose from the source too (issue 18: the
    decision allows no flow under such a gateway without one). Every scope is read with `reach_scope`
    (transfers), so no flow the decision could allow is left out."""
    out: set[str] = set()
    reach = policy.reach_scope
    srcs = _with_transferors(policy, source)
    # the gateways open to any source, only those covering the data (150 at 10x the large bundle, most of
    # them for other data)
    pool = policy.gateways_by_source.get(source, []) + policy.any_source_by_data.get(data, [])
    for k in srcs[1:]:  # rules naming a body whose functions passed to the source
        pool = pool + policy.gateways_by_source.get(k, [])
    for g in pool:
        if data not in g.data or purpose not in g.purposes:
            continue
        to = [reach(d) for s, d in g.pairs if s is None or source in (reach(s) or ())]
        if not to:
            continue
        if not g.requires_agreement:
            for d in to:
                out.update(policy.orgs if d is None else d)
            continue
        anyone = any(d is None for d in to)
        for a in policy._agreements_from(g.key, srcs):
            if data not in a.data or purpose not in a.purposes:
                continue
            for a_s, a_d in a.directions:
                if source not in (reach(a_s) or ()):
                    continue
                recipients = reach(a_d) or frozenset()
                if anyone:
                    out |= recipients
                else:
                    for gd in to:
                        out |= recipients & (gd or frozenset())
    return {r for r in out if not related(policy, source, r)}


# ---- the backward pass: who can still reach the target ---------------------------------------------------

_MEMO_ENTRIES = 4096  # per compiled policy and table; cleared whole when full (like `CompiledPolicy.candidates`)


def _remember(policy: CompiledPolicy, table: str, key: object, value: object) -> None:
    """Keep `value` in a table bounded by _MEMO_ENTRIES."""
    entries = memo.table(policy, table)
    with memo.LOCK:
        if len(entries) >= _MEMO_ENTRIES:
            entries.clear()
        entries[key] = value


Scopes = tuple[tuple[Optional[frozenset], Optional[frozenset]], ...]


def _backward_rules(policy: CompiledPolicy, pairs: tuple[tuple[str, str], ...]
                    ) -> tuple[Scopes, tuple[tuple[CGateway, Scopes, tuple[tuple[str, str], ...]], ...]]:
    """The gateways covering any of these (data, purpose), read for the backward pass: the party pairs
    (source scope, recipient scope, widened by `reach_scope`) of those that need no agreement, the pairs open
    to any source first so a backward step that reaches everyone stops early; and each gateway that requires
    an agreement with its party pairs and the (data, purpose) it covers, whose flows its agreements bound.
    Memoised."""
    hit = memo.table(policy, "rules").get(pairs)
    if hit is None:
        reach = policy.reach_scope
        by_data = policy.gateways_by_data
        open_pairs: dict[tuple, None] = {}
        bound: dict[str, tuple[CGateway, list[tuple[str, str]]]] = {}
        for d, p in pairs:
            for g in by_data.get(d, ()):
                if p not in g.purposes:
                    continue
                if g.requires_agreement:
                    bound.setdefault(g.key, (g, []))[1].append((d, p))
                    continue
                for sd in g.pairs:
                    open_pairs.setdefault((reach(sd[0]), reach(sd[1])), None)
        hit = (tuple(sorted(open_pairs, key=lambda sd: sd[0] is not None)),
               tuple((g, tuple((reach(gs), reach(gd)) for gs, gd in g.pairs), tuple(dps))
                     for g, dps in bound.values()))
        _remember(policy, "rules", pairs, hit)
    return hit


def reach_in_hops(policy: CompiledPolicy, target: str, pairs: tuple[tuple[str, str], ...], hops: int
                  ) -> tuple[Optional[frozenset], ...]:
    """`within[k]` (k = 0..hops): a superset of the organisations that could reach `target` in at most k lawful
    disclosures carrying any of `pairs` (None: every organisation). It inverts `candidate_recipients` (the same
    reading of the gateways' and agreements' scopes), so no lawful route is lost when the forward search drops
    a node outside the set for the hops it has left. Hops within one body are left out: a route takes one only
    as its first hop (`search`), from the source, which is never tested against the set. Memoised per compiled
    policy: it depends on the target and the pairs, not on the date or the source."""
    key = (target, pairs, hops)
    hit = memo.table(policy, "within").get(key)
    if hit is not None:
        return hit
    reach = policy.reach_scope
    open_pairs, bound = _backward_rules(policy, pairs)
    within: list[Optional[frozenset]] = [frozenset({target})]
    frontier: set[str] = {target}
    for _ in range(hops):
        last = within[-1]
        if last is None or not frontier:  # everyone already, or no one new to reach it from
            within.append(last)
            continue
        found: set[str] = set()
        anyone = False
        for s, d in open_pairs:
            if d is not None and d.isdisjoint(frontier):
                continue
            if s is None:  # a gateway open to any source reaches one of the frontier: anyone can
                anyone = True
                break
            found |= s
        if anyone:
            within.append(None)
            continue
        keys: Optional[tuple[str, ...]] = None
        for g, gpairs, dps in bound:
            senders = [s for s, d in gpairs if d is None or not d.isdisjoint(frontier)]
            if not senders:
                continue
            if keys is None:  # the frontier and the bodies whose rules it inherits: what an agreement may name
                keys = tuple(dict.fromkeys(k for y in frontier for k in _with_transferors(policy, y)))
            open_to_any = any(s is None for s in senders)
            for a in policy._agreements_to(g.key, keys):
                if not any(d in a.data and p in a.purposes for d, p in dps):
                    continue
                for a_s, a_d in a.directions:
                    if (reach(a_d) or frozenset()).isdisjoint(frontier):
                        continue
                    from_ = reach(a_s) or frozenset()
                    if open_to_any:
                        found |= from_
                    else:
                        for gs in senders:
                            found |= from_ & (gs or frozenset())
        frontier = found - last
        within.append(last | frontier)
    hit = tuple(within)
    _remember(policy, "within", key, hit)
    return hit


def exists_on(policy: CompiledPolicy, key: str, on: dt.date) -> bool:
    """Does the organisation exist on the date? One that does not discloses and receives nothing: `evaluate`
    (rule 0) denies every flow from or to it, within one body too, so route search decides none of its flows."""
    return (key not in policy.org_end and key not in policy.org_start) or org_absent(policy, key, on) is None


def related(policy: CompiledPolicy, a: str, b: str) -> bool:
    """The same body, or one part of the other: passing data between them is not a disclosure between
    bodies, so no gateway is looked for between them (flows, routes and reach show such a pair as `same-body`)."""
    tree = policy.org_tree
    return a == b or tree.within(a, {b}) or tree.within(b, {a})


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
        self._out: dict[str, list[Edge]] = {}  # out_edges as plain lists, the search's inner loop
        self._next: dict[str, tuple[frozenset, frozenset]] = {}  # `_neighbours`
        self._pair: dict[tuple[str, str], list[Edge]] = {}  # `_edges`: the flows x -> y, decided once
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
            hit = FlowGraph(self.policy, base.q.about(data, purpose))
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

    def _neighbours(self, x: str) -> tuple[frozenset, frozenset]:
        """The organisations x might disclose to (`candidate_recipients`) and the bodies it is part of and its
        parts (issue 12). They depend on the policy, x and the data and purpose only (no date): remembered per
        policy for every question. Unordered: `out_edges` puts in name order only those it decides."""
        hit = self._next.get(x)
        if hit is None:
            key = (x, self.q.data, self.q.purpose)
            hit = memo.table(self.policy, "neighbours").get(key)
            if hit is None:
                tree = self.policy.org_tree
                hit = (frozenset(candidate_recipients(self.policy, x, self.q.data, self.q.purpose)),
                       (tree.ancestors.get(x, frozenset()) | tree.descendants.get(x, frozenset())) - {x})
                _remember(self.policy, "neighbours", key, hit)
            self._next[x] = hit
        return hit

    def _by_name(self, keys: frozenset) -> list[str]:
        """Organisations in the order `out_edges` lists their edges: by name, then key."""
        if len(keys) < 2:  # commonly none or one, after the backward pass's filter
            return list(keys)
        name = self.policy.org_name
        return sorted(keys, key=lambda k: (name(k).lower(), k))

    def _edges(self, x: str, y: str, body: bool) -> list[Edge]:
        """The lawful direct flows x -> y, one per basis (`decide`'s order), decided once: for a candidate
        recipient, every basis; for a body and its part (`body`), a hop within one legal person where the
        decision allows the flow as such (no `forbids` names it)."""
        key = (x, y)
        hit = self._pair.get(key)
        if hit is not None:
            return hit
        if not exists_on(self.policy, y, self.q.on) or not exists_on(self.policy, x, self.q.on):
            self._pair[key] = []  # no flow from or to a body absent on the date (`evaluate` denies it)
            return []
        out = _decide.evaluate(self.policy, self.q.between(x, y))  # every basis: one edge each
        self._could[key] = out.allowed
        if body:
            hit = ([Edge(x, y, None, None, OPEN, self.q.data, self.q.purpose, out.same_body)]
                   if out.allowed and out.same_body else [])
        else:
            hit = [Edge(x, y, g, a, onward_permission(self.policy, g, a, x, self.q.on), self.q.data, self.q.purpose)
                   for g, a in (out.bases if out.allowed else [])]
        self._pair[key] = hit
        return hit

    def out_edges(self, x: str, among: Optional[frozenset] = None) -> list[Edge]:
        """Every lawful direct flow out of x, by recipient name then basis order (as `decide` prefers); with
        `among`, only those to organisations in it (the others are not decided at all)."""
        hit = self._out.get(x)
        if hit is not None:
            return hit if among is None else [e for e in hit if e.recipient in among]
        if among is not None and not exists_on(self.policy, x, self.q.on):
            return []  # a body absent on the date discloses nothing (`_edges`)
        cands, bodies = self._neighbours(x)
        if among is not None:  # sorted after the filter: `among` is commonly a handful of organisations
            return [e for y in self._by_name(cands & among) for e in self._edges(x, y, False)] + \
                [e for y in self._by_name(bodies & among) for e in self._edges(x, y, True)]
        self._nodes.setdefault(x, None)
        succ = self._succ.setdefault(x, {})
        edges = [e for y in self._by_name(cands) for e in self._edges(x, y, False)] + \
            [e for y in self._by_name(bodies) for e in self._edges(x, y, True)]
        for e in edges:
            self._nodes.setdefault(e.recipient, None)
            keyed = succ.setdefault(e.recipient, {})
            keyed[SAME_BODY if e.same_body else f"{e.gateway.key if e.gateway else ''}/"
                  f"{e.agreement.key if e.agreement else ''}"] = e
        self._out[x] = edges
        return edges

    def barred(self, holder: str, recipient: str, lifted_by: Optional[CGateway]) -> bool:
        """Would a restriction bar `holder` from disclosing this data to `recipient` (with this graph's
        provenance), unless `lifted_by` overrides it? The bars a hop within one body carries (`search`)."""
        key = ("barred", holder, recipient)
        firing = self._bars.get(key)
        if firing is None:
            out = _decide.evaluate(self.policy, self.q.between(holder, recipient))
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
                self.policy, self.q.between_unstated(discloser, recipient))
        return self._could[key]


@record(frozen=True, eq=False)
class RawRoute:
    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]
    carried: tuple[OnwardPermission, ...]  # the permission the data carries after each hop


@record
class Search:
    routes: list[RawRoute]
    truncated: bool = False


def search(flows: FlowGraph, source: str, max_hops: int, target: Optional[str] = None,
           to_target: Optional[dict[str, int]] = None, chains: bool = False) -> Search:
    """Every lawful route from `source` (to `target`, or to anyone) of at most max_hops hops, shortest first.

    A route may be extended from X to Y only when Y is not already on it (nor part of, or the body of, the
    source, once the data has left the source's body), X -> Y is a lawful direct flow,
    and the permission the data carries into X (the intersection of every onward clause so far) admits Y
    for the question's purpose. `to_target` (hops from each organisation to the target in the lawful-flow
    graph, when known) prunes partial routes that could not reach the target within max_hops; without it, a
    search for a target prunes by `reach_in_hops` (a superset of who could reach it in the hops left), and no
    flow to a pruned organisation is decided at all. Either way the routes found are those of the unpruned
    search, in its order (tests/test_routes_fixes_equivalence.py); only MAX_PARTIAL_ROUTES counts fewer
    partial routes, as the pruned ones are never held.

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
    # Routes to one target: a node that could not reach it in the hops left is never decided (issue 18). Exact:
    # such a node would be neither found nor extended to the target (reach.py passes its own `to_target`).
    within = reach_in_hops(flows.policy, target, tuple(pairs), max_hops - 1) \
        if target is not None and to_target is None else None
    for depth in range(1, max_hops + 1):
        nxt: list[RawRoute] = []
        seen: set = set()
        among = within[max_hops - depth] if within is not None else None
        for partial in level:
            x = partial.nodes[-1]
            carried = partial.carried[-1] if partial.carried else start
            real = _last_disclosure(partial.edges)  # the disclosure the data arrived by (None: the source's own)
            if real is not None and carried.is_closed:
                continue
            prev = partial.edges[-1] if partial.edges else None
            for d, p in _next_pairs(pairs, prev, carried):
                hop = flows.at(real, d, p)  # a hop within one body changes no provenance
                for e in hop.out_edges(x, among):
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


def _last_disclosure(edges: tuple[Edge, ...]) -> Optional[Edge]:
    """The last hop of a route that was a disclosure between bodies (not a hop within one body)."""
    for e in reversed(edges):
        if not e.same_body:
            return e
    return None


def _next_pairs(pairs: list[tuple[str, str]], prev: Optional[Edge], carried: OnwardPermission
                ) -> list[tuple[str, str]]:
    """The (data, purpose) the next hop may carry: any candidate for the source's own first hop; after a hop,
    what it carried, or a change its onward clauses allow."""
    if prev is None or len(pairs) == 1:
        return pairs
    same = (prev.data, prev.purpose)
    return [same] + [(d, p) for d, p in pairs if (d, p) != same
                     and (d == prev.data or (carried.change_data is not None and d in carried.change_data))
                     and (p == prev.purpose or (carried.change_purposes is not None and p in carried.change_purposes))]


MAX_CHAIN_CANDIDATES = 6


def chain_candidates(policy: CompiledPolicy, data: str, purpose: str) -> tuple[list[str], list[str]]:
    """The data categories and purposes a route to (data, purpose) may carry at its earlier hops: the asked
    ones, then, as declared, those a gateway's `onward for` / `lawful` (purposes) or `onward as` (data) could
    change into one already found (so chains of changes are found too); at most MAX_CHAIN_CANDIDATES each."""
    def close(first: str, kinds: tuple[str, ...], scope, names) -> list[str]:
        found = [first]
        grew = True
        while grew and len(found) < MAX_CHAIN_CANDIDATES:
            grew = False
            for g in policy.gateways_changing:  # the gateways with such a clause, in key order
                o = g.model.onward
                if o is None or o.kind not in kinds:
                    continue
                into = frozenset(policy.purposes) if o.kind == "lawful" else scope(o.targets)
                if not into.intersection(found):
                    continue
                for n in names(g.model):
                    if n.key not in found and len(found) < MAX_CHAIN_CANDIDATES:
                        found.append(n.key)
                        grew = True
        return found

    return (close(data, ("as",), lambda t: policy.data_tree.expand(n.key for n in t), lambda gm: gm.data),
            close(purpose, ("for", "lawful"), lambda t: policy.purpose_tree.expand(n.key for n in t),
                  lambda gm: gm.purposes))


def received_permission(policy: CompiledPolicy, q: "Question") -> OnwardPermission:
    """What the source's data carries before the first hop: the onward clause of the gateway the question says
    it was received under (issue 13; the direct decision of that hop applies it too), else nothing."""
    if q.received_under is None:
        return OPEN
    g = policy.gateways[q.received_under]
    return clause_permission(policy, g.model.onward, q.received_from or "", f"gateway {g.id}", q.on)


def _location(span) -> Optional[str]:
    return str(span) if span and span.file else None


def to_route(policy: CompiledPolicy, raw: RawRoute) -> Route:
    hops: list[Hop] = []
    prev: Optional[Edge] = None
    for i, (e, carried) in enumerate(zip(raw.edges, raw.carried)):
        received = _last_disclosure(raw.edges[:i])  # the provenance this hop's source holds the data under
        changed_by = None
        if prev is not None and (e.data, e.purpose) != (prev.data, prev.purpose):
            # issue 13: the clauses received so far that allowed the change of data or purpose
            before = raw.carried[len(hops) - 1]
            changed_by = "; ".join(before.changes) or None
        data = policy.data_name(e.data) if e.data else None
        purpose = policy.purpose_name(e.purpose) if e.purpose else None
        g, a = e.gateway, e.agreement
        if g is None:  # issue 12: within one legal person, no gateway; the data's limits pass on unchanged
            hops.append(Hop(policy.org_name(e.source), policy.org_name(e.recipient), SAME_BODY, None, "unchanged",
                            carried.describe(policy), data=data, purpose=purpose, changed_by=changed_by,
                            received_under=received.gateway.id if received and received.gateway else None,
                            power=None, same_body=tuple(policy.org_name(k) for k in e.same_body)))
            prev = e
            continue
        statute = None
        if g.statute is not None:
            statute = g.statute.title + (f", {g.provision}" if g.provision else "")
        hops.append(Hop(policy.org_name(e.source), policy.org_name(e.recipient), g.id, a.id if a else None,
                        e.onward.describe(policy), carried.describe(policy), statute,
                        _location(g.model.span), _location(a.model.span) if a and not a.hypothetical else None,
                        data=data, purpose=purpose, changed_by=changed_by,
                        received_under=received.gateway.id if received and received.gateway else None,
                        power="implied" if g.implied else "express"))
        prev = e
    return Route(tuple(hops))


def group_routes(policy: CompiledPolicy, raws: Iterable[RawRoute], limit: int = MAX_ROUTES) -> list[Route]:
    """One route per distinct node path (the first basis found), grouped: a route whose every intermediary
    is an intermediary of a shorter-or-equal reported route, or part of one, is listed as that route's
    variant instead of on its own (DfES → LLSC-London-Central → ALI is a variant of DfES → LSC → ALI).
    Ordered shortest first, then higher-level intermediaries first, then by names."""
    tree = policy.org_tree
    by_path: dict[tuple, RawRoute] = {}
    for r in raws:
        by_path.setdefault(r.nodes, r)
    # A route through a hop within one body is left out when the route without one of that hop's two bodies was
    # found too (DfES → LLSC → LSC → ALI beside DfES → LSC → ALI): the hop only moved the data inside a body.
    # (A direct flow counts as found: it is among `raws` when the caller searched for it.)
    found = set(by_path)
    for path, r in list(by_path.items()):
        if len(r.edges) < 2:
            del by_path[path]  # a direct flow is no route
            continue
        for i, e in enumerate(r.edges):
            if e.same_body and any(path[:j] + path[j + 1:] in found for j in (i, i + 1) if 0 < j < len(path) - 1):
                del by_path[path]
                break

    def order(r: RawRoute):
        mids = r.nodes[1:-1]
        return (len(r.nodes), sum(tree.depth(k) for k in mids), [policy.org_name(k).lower() for k in r.nodes])

    kept: list[tuple[RawRoute, list[RawRoute]]] = []
    for r in sorted(by_path.values(), key=order):
        mids = r.nodes[1:-1]
        home = None
        for k, variants in kept:
            if len(k.nodes) <= len(r.nodes) and r.nodes[-1] == k.nodes[-1] and mids and all(
                    tree.within(m, set(k.nodes[1:-1])) for m in mids):
                home = variants
                break
        if home is None:
            if len(kept) < limit:
                kept.append((r, []))
        elif len(home) < MAX_VARIANTS:
            home.append(r)
    return [replace(to_route(policy, k), variants=tuple(to_route(policy, v) for v in vs)) for k, vs in kept]


def find_routes(policy: CompiledPolicy, q: "Question", max_hops: int = MAX_HOPS_DEFAULT, limit: int = MAX_ROUTES,
                flows: Optional[FlowGraph] = None) -> list[Route]:
    """Indirect lawful routes (two hops or more) from q.source to q.recipient, grouped, shortest first."""
    check_max_hops(max_hops)
    if max_hops < 2 or related(policy, q.source, q.recipient):
        return []
    if not exists_on(policy, q.source, q.on) or not exists_on(policy, q.recipient, q.on):
        return []  # no first hop from an absent source, no last hop to an absent recipient (`exists_on`)
    flows = flows or FlowGraph(policy, q)
    found = search(flows, q.source, max_hops, target=q.recipient, chains=True)
    if not found.routes:  # most DENYs: nothing to group
        return []
    return group_routes(policy, found.routes, limit)  # it leaves the direct flow out


def routes(policy: CompiledPolicy, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
           assume: Iterable[str] = (), max_hops: int = MAX_HOPS_DEFAULT, given: Iterable[str] = (),
           express_only: bool = False, received_under: Optional[str] = None, own_data: bool = False,
           held_for: Optional[str] = None) -> list[Route]:
    """`CompiledPolicy.routes`: lawful indirect routes, shortest first, each hop with its own basis. Raises
    UnknownNameError for an unknown name and RequestError when max_hops is outside 1..8."""
    from engine.eval.decide import normalise

    check_max_hops(max_hops)
    return find_routes(policy, normalise(policy, source, recipient, data, purpose, on, assume, given, express_only,
                                         received_under, own_data, held_for), max_hops)
