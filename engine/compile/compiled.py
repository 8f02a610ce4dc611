"""Checked model -> `CompiledPolicy`, by one function (`compile_policy`): scopes as sets of keys, each rule's
in-force window, indexes by party and candidate buckets by (source, recipient), so that a decision touches
only the rules that can apply to it and is a handful of set look-ups.

The compiled data is immutable once built (the candidate table is a bounded, lock-protected cache of values
derived from it). Nothing here decides: the rules of a decision are in engine/eval/rules.py.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Optional, Sequence

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic, did_you_mean
from engine.errors import UnknownNameError
from engine.base.source import SourceFile, Span

if TYPE_CHECKING:  # pragma: no cover
    from engine.check.checks import Checked
    from engine.base.hierarchy import Tree

PAIR_LIMIT = 200_000  # (source, recipient) candidate buckets kept before the table is cleared

ANYONE: Optional[frozenset] = None  # a party scope of `*`


@dataclass(frozen=True)
class CStatute:
    statute: m.Statute

    @property
    def key(self) -> str:
        return self.statute.id.lower()


@dataclass(frozen=True, eq=False)
class CGateway:
    key: str
    model: m.Gateway
    statute: Optional[m.Statute]
    provision: Optional[str]
    pairs: tuple[tuple[Optional[frozenset], Optional[frozenset]], ...]  # party scopes (expanded); None = anyone
    data: frozenset  # every category inside the gateway's data scope
    purposes: frozenset  # every purpose inside its purpose scope
    requires_agreement: bool
    overrides: frozenset
    valid: Optional[m.Validity]
    window: "Window"
    # issue 13
    conditions: frozenset = frozenset()  # condition keys a flow under it needs the question to give
    implied: bool = False  # `power implied`: reasonably incidental to functions, or common law

    @property
    def id(self) -> str:
        return self.model.id.text


@dataclass(frozen=True, eq=False)
class CRestriction:
    key: str
    model: m.Restriction
    statute: Optional[m.Statute]
    provision: Optional[str]
    one_way: frozenset  # every organisation inside a one-way scope
    forbids: tuple[tuple[Optional[frozenset], Optional[frozenset]], ...]
    data: Optional[frozenset]  # categories that overlap the restricted ones (inside or containing); None: all
    purposes: Optional[frozenset]  # purposes that overlap; None: every purpose
    exceptions: tuple[tuple[bool, Optional[frozenset], Optional[frozenset], m.Exception_], ...]
    valid: Optional[m.Validity]
    window: "Window"
    # issue 13: provenance; None when the restriction binds whatever the data's provenance
    received_under: Optional[frozenset] = None  # gateway keys
    held_for: Optional[frozenset] = None  # function keys

    @property
    def id(self) -> str:
        return self.model.id.text

    @property
    def by_provenance(self) -> bool:
        return self.received_under is not None or self.held_for is not None

    @property
    def is_one_way(self) -> bool:
        return bool(self.one_way)


@dataclass(frozen=True, eq=False)
class CAgreement:
    key: str
    model: m.Agreement
    directions: tuple[tuple[frozenset, frozenset], ...]  # (source scope, recipient scope), expanded
    data: frozenset
    purposes: frozenset
    gateway: str  # key of the gateway it relies on
    valid: Optional[m.Validity]
    hypothetical: bool = False  # made up by a what-if (a fix being verified), never from the bundle
    conditions: frozenset = frozenset()  # issue 13: condition keys a flow under it needs the question to give

    @property
    def id(self) -> str:
        return self.model.id.text


@dataclass(frozen=True)
class Window:
    """When a gateway or restriction is in force, reduced once from its statute and its own `valid` clause:
    the statute's [commenced, repealed) and the rule's [start, end] (both inclusive). `proposed` names the
    statute an assumption can switch on; `no_statute` marks a rule that cites none."""

    statute_key: Optional[str] = None
    proposed: bool = False
    no_statute: bool = False
    commenced: Optional[dt.date] = None
    repealed: Optional[dt.date] = None
    valid_from: Optional[dt.date] = None
    valid_to: Optional[dt.date] = None


def rule_window(statute: Optional[m.Statute], valid: Optional[m.Validity]) -> Window:
    start = valid.start if valid is not None else None
    end = valid.end if valid is not None else None
    if statute is None:
        return Window(no_statute=True, valid_from=start, valid_to=end)
    return Window(statute_key=sys.intern(statute.id.lower()), proposed=statute.status == "proposed",
                  commenced=statute.commenced, repealed=statute.repealed, valid_from=start, valid_to=end)


class Candidates:
    """The rules that can apply to one (source, recipient): restrictions whose parties reach it, and gateways
    whose `allows` pairs match it, each with the agreements under it that cover that direction. Orders are
    key orders, so explanations are deterministic."""

    __slots__ = ("restrictions", "gateways")

    def __init__(self, restrictions: list["CRestriction"], gateways: list[tuple["CGateway", list["CAgreement"]]]):
        self.restrictions = restrictions
        self.gateways = gateways


class CompiledPolicy:
    """A compiled bundle: the checked declarations, their expanded scopes and the indexes over them.
    Built by `compile_policy`; immutable afterwards, so one instance may serve many threads. The question
    methods (decide, allowed, routes, the memo) are on the facade, `engine.Policy`, which extends it."""

    def __init__(self, checked: Checked, sources: Mapping[str, SourceFile], warnings: Sequence[Diagnostic] = ()):
        # Called by compile_policy only; the compilation itself is `_compile` below.
        c = checked
        self.sources = dict(sources)
        self.warnings: tuple[Diagnostic, ...] = tuple(warnings)
        self.root = c.bundle.root
        self.org_tree: Tree = c.org_tree
        self.data_tree: Tree = c.data_tree
        self.purpose_tree: Tree = c.purpose_tree
        self.orgs: dict[str, m.Organisation] = dict(c.orgs)
        self.org_alias: dict[str, str] = dict(c.org_alias)
        self.data: dict[str, m.DataCategory] = dict(c.data)
        self.purposes: dict[str, m.Purpose] = dict(c.purposes)
        self.statutes: dict[str, m.Statute] = dict(c.statutes)
        self.tests: tuple[m.PolicyTest, ...] = tuple(c.tests)
        self.conditions: dict[str, m.ConditionDecl] = dict(c.conditions)  # issue 13
        # issue 13: the functions each organisation holds data for (its own and those of the bodies it is part of)
        own = {k: frozenset(f.key for f in o.functions) for k, o in self.orgs.items()}
        self.functions: dict[str, frozenset[str]] = {
            k: frozenset().union(*(own.get(a, frozenset()) for a in self.org_tree.ancestors.get(k, (k,))))
            for k in self.orgs}
        self.function_names: dict[str, str] = {}
        for k in sorted(self.orgs):
            for f in self.orgs[k].functions:
                self.function_names.setdefault(f.key, f.text)

        # Sensitivity of each data category as a flow of it carries it (cautious: parts count).
        self.sensitivity: dict[str, frozenset[str]] = {k: frozenset(c.effective(k)) for k in self.data}

        # When each organisation exists, and the scopes succession cuts (`_succession` below).
        self.org_start, self.org_end, self.scope_cut = _succession(c)

        org = c.org_key
        orgs_in = lambda names: self.org_scope(org(n.text) for n in names)  # noqa: E731
        data_in = lambda names: self.data_tree.expand(n.key for n in names)  # noqa: E731
        purposes_in = lambda names: self.purpose_tree.expand(n.key for n in names)  # noqa: E731

        def overlapping(tree: Tree, names) -> frozenset:
            # A restriction reaches a category inside a restricted one, and one that contains it.
            keys = [n.key for n in names]
            out = set(tree.expand(keys))
            for k in keys:
                out |= tree.ancestors.get(k, {k})
            return frozenset(out)

        def party_scopes(pairs) -> tuple:
            return tuple((None if p.any_source else orgs_in(p.sources),
                          None if p.any_recipient else orgs_in(p.recipients)) for p in pairs)

        self.gateways: dict[str, CGateway] = {}
        for k, g in sorted(c.gateways.items()):
            self.gateways[k] = CGateway(
                key=k, model=g, statute=self.statutes.get(g.statute.id.key) if g.statute else None,
                provision=g.statute.provision if g.statute else None, pairs=party_scopes(g.allows),
                data=data_in(g.data), purposes=purposes_in(g.purposes),
                requires_agreement=g.requires_agreement, overrides=frozenset(n.key for n in g.overrides),
                valid=g.valid, window=rule_window(self.statutes.get(g.statute.id.key) if g.statute else None, g.valid),
                conditions=frozenset(n.key for n in g.conditions), implied=g.power == "implied")
        self.restrictions: dict[str, CRestriction] = {}
        for k, r in sorted(c.restrictions.items()):
            self.restrictions[k] = CRestriction(
                key=k, model=r, statute=self.statutes.get(r.statute.id.key) if r.statute else None,
                provision=r.statute.provision if r.statute else None,
                one_way=orgs_in(r.one_way), forbids=party_scopes(r.forbids),
                data=overlapping(self.data_tree, r.data) if r.data else None,
                purposes=overlapping(self.purpose_tree, r.purposes) if r.purposes else None,
                exceptions=tuple(
                    (e.anonymised, orgs_in(e.to) if e.to else None, purposes_in(e.purposes) if e.purposes else None, e)
                    for e in r.exceptions),
                valid=r.valid, window=rule_window(self.statutes.get(r.statute.id.key) if r.statute else None, r.valid),
                received_under=frozenset(n.key for n in r.received_under) if r.received_under else None,
                held_for=frozenset(n.key for n in r.held_for) if r.held_for else None)
        self.agreements: dict[str, CAgreement] = {}
        for k, a in sorted(c.agreements.items()):
            dirs = [(orgs_in(a.sources), orgs_in(a.recipients))]
            if a.both_ways:
                dirs.append((dirs[0][1], dirs[0][0]))
            self.agreements[k] = CAgreement(
                key=k, model=a, directions=tuple(dirs), data=data_in(a.data), purposes=purposes_in(a.purposes),
                gateway=a.under.key if a.under else "", valid=a.valid,
                conditions=frozenset(n.key for n in a.conditions))

        # Indexes: every rule under each organisation its source scope reaches, so a question looks at one
        # bucket (plus the rules open to any source).
        self.gateways_by_source: dict[str, list[CGateway]] = {}
        self.gateways_any_source: list[CGateway] = []
        for g in self.gateways.values():
            if any(s is None for s, _ in g.pairs):
                self.gateways_any_source.append(g)
                continue
            for s in frozenset().union(*(s for s, _ in g.pairs)):
                self.gateways_by_source.setdefault(s, []).append(g)
        self.restrictions_by_source: dict[str, list[CRestriction]] = {}
        self.restrictions_any_source: list[CRestriction] = []
        for r in self.restrictions.values():
            if any(s is None for s, _ in r.forbids):
                self.restrictions_any_source.append(r)
                continue
            for s in r.one_way.union(*(s for s, _ in r.forbids)):
                self.restrictions_by_source.setdefault(s, []).append(r)
        self.agreements_by_gateway: dict[str, list[CAgreement]] = {}
        for a in self.agreements.values():
            self.agreements_by_gateway.setdefault(a.gateway, []).append(a)
        # issue 13: whether any bar binds by provenance (routes then carry provenance from hop to hop)
        self.provenance_matters = any(r.by_provenance for r in self.restrictions.values())
        # issue 13: the data-protection regimes of the register, by start, and each condition id's regime
        self.regimes: tuple[m.Regime, ...] = tuple(c.bundle.register.regimes)
        self.regime_conditions: dict[str, tuple[m.Regime, m.RegimeCondition, str]] = {}
        for regime in self.regimes:
            for cond in regime.lawful_bases:
                self.regime_conditions.setdefault(cond.id.lower(), (regime, cond, "lawful-basis"))
            for cond in regime.special:
                self.regime_conditions.setdefault(cond.id.lower(), (regime, cond, "special-category"))

        # Candidate buckets by (source, recipient), built on first use (2,000 organisations make 4 million
        # pairs; only the pairs asked about are ever built). Bounded; cleared whole when full.
        self._pairs: dict[tuple[str, str], Candidates] = {}
        self._pairs_lock = threading.Lock()
        self.pair_limit = PAIR_LIMIT

    def __getstate__(self) -> dict:
        # For the compiled-bundle cache (engine/policy/cache.py): derived tables and locks are per process.
        state = dict(self.__dict__)
        for k in self._TRANSIENT:
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset_transient()

    _TRANSIENT: tuple[str, ...] = ("_pairs", "_pairs_lock")

    def _reset_transient(self) -> None:
        self._pairs = {}
        self._pairs_lock = threading.Lock()

    # ---- candidates ---------------------------------------------------------------------------------

    def candidates(self, source: str, recipient: str) -> Candidates:
        """The rules that can apply to a (source, recipient) pair, built on first use."""
        key = (source, recipient)
        hit = self._pairs.get(key)
        if hit is not None:
            return hit
        built = self._build_candidates(source, recipient)
        with self._pairs_lock:
            if len(self._pairs) >= self.pair_limit:
                self._pairs.clear()
            self._pairs[key] = built
        return built

    def _build_candidates(self, s: str, d: str) -> Candidates:
        restrictions = [r for r in self.restrictions_by_source.get(s, []) + self.restrictions_any_source
                        if s in r.one_way or any((rs is None or s in rs) and (rd is None or d in rd) for rs, rd in r.forbids)]
        gateways = []
        for g in self.gateways_by_source.get(s, []) + self.gateways_any_source:
            if not any((gs is None or s in gs) and (gd is None or d in gd) for gs, gd in g.pairs):
                continue
            agreements = [a for a in self.agreements_by_gateway.get(g.key, [])
                          if any(s in as_ and d in ad for as_, ad in a.directions)]
            gateways.append((g, agreements))
        return Candidates(restrictions, gateways)

    # ---- names --------------------------------------------------------------------------------------

    def org_key(self, name: str) -> str:
        k = name.lower()
        if k in self.orgs:
            return k
        if k in self.org_alias:
            return self.org_alias[k]
        candidates = [o.id.text for o in self.orgs.values()] + [a for o in self.orgs.values() for a in o.aliases]
        raise UnknownNameError("organisation", name, did_you_mean(name, candidates))

    def data_key(self, name: str) -> str:
        k = name.lower()
        if k in self.data:
            return k
        raise UnknownNameError("data category", name, did_you_mean(name, [d.id.text for d in self.data.values()]))

    def purpose_key(self, name: str) -> str:
        k = name.lower()
        if k in self.purposes:
            return k
        raise UnknownNameError("purpose", name, did_you_mean(name, [p.id.text for p in self.purposes.values()]))

    def statute_key(self, name: str) -> str:
        k = name.lower()
        if k in self.statutes:
            return k
        # `--assume` takes a statute; someone who names the gateway (or a rule) means the statute it cites.
        cited = getattr(self.gateways.get(k) or self.restrictions.get(k), "statute", None)
        suggestions = [cited.id] if cited is not None else did_you_mean(name, [s.id for s in self.statutes.values()])
        raise UnknownNameError("statute", name, suggestions)

    def condition_key(self, name: str) -> str:
        k = name.lower()
        if k in self.conditions:
            return k
        raise UnknownNameError("condition", name, did_you_mean(name, [c.id.text for c in self.conditions.values()]))

    def condition_name(self, key: str) -> str:
        return self.conditions[key].id.text

    def regime_on(self, day: dt.date) -> Optional[m.Regime]:
        """The data-protection regime in force on `day`: the latest to have started, unless it has ended."""
        return m.regime_on(self.regimes, day)

    def gateway_key(self, name: str) -> str:
        k = name.lower()
        if k in self.gateways:
            return k
        raise UnknownNameError("gateway", name, did_you_mean(name, [g.id for g in self.gateways.values()]))

    def function_key(self, organisation: str, name: str) -> str:
        """A function of `organisation` (a key): its own or one it inherits from a body it is part of."""
        k = name.lower()
        if k in self.functions.get(organisation, ()):
            return k
        mine = sorted(self.function_names[f] for f in self.functions.get(organisation, ()))
        raise UnknownNameError(f"function of `{self.org_name(organisation)}`", name, did_you_mean(name, mine) or mine)

    def rule(self, name: str):
        """The gateway, restriction or agreement with this id (case-insensitive), or None."""
        k = name.lower()
        return self.gateways.get(k) or self.restrictions.get(k) or self.agreements.get(k)

    def org_name(self, key: str) -> str:
        return self.orgs[key].id.text

    def data_name(self, key: str) -> str:
        return self.data[key].id.text

    def purpose_name(self, key: str) -> str:
        return self.purposes[key].id.text

    def org_scope(self, keys: Iterable[str]) -> frozenset[str]:
        """Every organisation inside the scope of any of `keys` (it and everything `part-of` it), except a
        successor of a named body and what is part of the successor: succession passes no rule on, even to a
        successor declared inside its predecessor (an error the checks report)."""
        out: set[str] = set()
        for k in keys:
            below = self.org_tree.descendants.get(k, frozenset((k,)))
            cut = self.scope_cut.get(k)
            out |= below - cut if cut else below
        return frozenset(out)

    def org_exists(self, key: str, on: dt.date) -> bool:
        start = self.org_start.get(key)
        end = self.org_end.get(key)
        return (start is None or on >= start) and (end is None or on < end[0])

    def span_text(self, span: Span) -> str:
        return str(span)


def _succession(c: Checked) -> tuple[dict[str, dt.date], dict[str, tuple[dt.date, str]], dict[str, frozenset[str]]]:
    """From the successions (engine/check/checks.py `successions`, in date order, never file order):
    - start: a successor exists from its succession date;
    - end: a predecessor exists until its earliest succession (ties: the successor first by key), so a bundle
      with two succession dates for one body (`conflicting-succession`) still answers the same in any order;
    - cut: the organisations a named predecessor's scope must not reach, its successors inside it and what is
      part of them (`successor-part-of-predecessor`)."""
    from engine.check.checks import successions, successor_inside

    start = {o.id.key: o.succeeds_on for o in c.orgs.values() if o.succeeds is not None and o.succeeds_on is not None}
    end: dict[str, tuple[dt.date, str]] = {}
    cut: dict[str, frozenset[str]] = {}
    for pred, succs in successions(c).items():
        end[pred] = (succs[0].succeeds_on, succs[0].id.key)
        inside = [o.id.key for o in succs if successor_inside(c, o.id.key, pred) is not None]
        if inside:
            cut[pred] = c.org_tree.expand(inside)
    return start, end, cut


def compile_policy(checked: Checked, sources: Mapping[str, SourceFile],
                   warnings: Sequence[Diagnostic] = ()) -> CompiledPolicy:
    """The compiler: a checked bundle (no errors) and its sources -> the compiled, immutable policy."""
    return CompiledPolicy(checked, sources, warnings)
