"""Checked model -> `CompiledPolicy`, by one function (`compile_policy`): scopes as sets of keys, each rule's
in-force window, indexes by party and candidate buckets by (source, recipient), so that a decision touches
only the rules that can apply to it and is a handful of set look-ups.

The compiled data is immutable once built (the candidate table is a bounded, lock-protected cache of values
derived from it). Nothing here decides: the rules of a decision are in engine/eval/rules.py.
"""

from __future__ import annotations

import bisect
import datetime as dt
import operator
import sys
import threading
from dataclasses import replace

from engine.base.records import record
from typing import TYPE_CHECKING, Iterable, Mapping, NamedTuple, Optional, Sequence

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic, did_you_mean, error
from engine.errors import DiagnosticsError, UnknownNameError
from engine.base.source import SourceFile

if TYPE_CHECKING:  # pragma: no cover
    from engine.check.checks import Checked
    from engine.base.hierarchy import Tree

PAIR_LIMIT = 200_000  # (source, recipient) candidate buckets kept before the table is cleared

@record(frozen=True, eq=False)
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


@record(frozen=True, eq=False)
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
    dated: bool = False  # some party scope holds a class member only on some dates (issue 12)
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


@record(frozen=True, eq=False)
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


@record(frozen=True)
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
    # A cited provision the register lists (issue 12): its dates replace the Act's. `provision_key` is what
    # `--assume STATUTE/PROVISION` names; `periods` its windows in force, earliest first (empty: never commenced);
    # `commenced`/`repealed` then hold the first start and the last end.
    provision_key: Optional[str] = None
    periods: Optional[tuple[tuple[dt.date, Optional[dt.date]], ...]] = None


def rule_window(statute: Optional[m.Statute], valid: Optional[m.Validity], provision: Optional[str] = None) -> Window:
    start = valid.start if valid is not None else None
    end = valid.end if valid is not None else None
    if statute is None:
        return Window(no_statute=True, valid_from=start, valid_to=end)
    listed = statute.provision(provision)
    if listed is not None:
        periods = tuple((w.commenced, w.repealed) for w in listed.periods())
        return Window(statute_key=sys.intern(statute.id.lower()), proposed=listed.status == "proposed",
                      commenced=periods[0][0] if periods else None, repealed=periods[-1][1] if periods else None,
                      valid_from=start, valid_to=end, provision_key=provision_key(statute, listed), periods=periods)
    return Window(statute_key=sys.intern(statute.id.lower()), proposed=statute.status == "proposed",
                  commenced=statute.commenced, repealed=statute.repealed, valid_from=start, valid_to=end)


def provision_key(statute: m.Statute, provision: m.Provision) -> str:
    """The key of an assumable provision: `esa-2008/section-15`."""
    return sys.intern(f"{statute.id.lower()}/{provision.slug}")


class Candidates:
    """The rules that can apply to one (source, recipient): restrictions whose parties reach it, and gateways
    whose `allows` pairs match it, each with the agreements under it that cover that direction. Orders are
    key orders, so explanations are deterministic. `conditional` holds the keys of the gateways and
    agreements that reach the pair only on some dates or for some flows (through a transfer of functions):
    the evaluator decides those with the question's date, data and purpose (engine/eval/rules.py `inside`)."""

    __slots__ = ("restrictions", "gateways", "conditional")

    def __init__(self, restrictions: list["CRestriction"], gateways: list[tuple["CGateway", list["CAgreement"]]],
                 conditional: frozenset[str] = frozenset()):
        self.restrictions = restrictions
        self.gateways = gateways
        self.conditional = conditional


Window3 = tuple[Optional[dt.date], Optional[dt.date], str]  # (from, until, class key): a dated class membership


class Scope(frozenset):
    """A party scope that names a class or excludes bodies (issue 12). As a frozenset it holds every
    organisation that may be inside on some date: what indexes, reachability and the diff enumerate.
    `dated`: the organisations inside only on some dates (through a class membership `from`/`until`, or left
    out by an exclusion only while a member of an excluded class), with those windows (the class key through
    which each is inside, "" when named itself); `via`: the class through which an organisation not named
    itself is inside; `left_out`: for an organisation an exclusion leaves out on some dates, those windows and
    the excluded class (to explain a miss). The evaluator decides membership on the question's date
    (engine/eval/rules.py `inside`)."""

    dated: Mapping[str, tuple[Window3, ...]]
    via: Mapping[str, str]
    left_out: Mapping[str, tuple[Window3, ...]]

    def __new__(cls, keys: Iterable[str], dated: Mapping[str, tuple[Window3, ...]], via: Mapping[str, str],
                left_out: Optional[Mapping[str, tuple[Window3, ...]]] = None) -> "Scope":
        obj = super().__new__(cls, keys)
        obj.dated = dated
        obj.via = via
        obj.left_out = left_out or {}
        return obj

    def __reduce__(self):  # the compiled-bundle cache pickles policies
        return (Scope, (frozenset(self), dict(self.dated), dict(self.via), dict(self.left_out)))


_DAY = dt.timedelta(days=1)


def _outside(windows: Iterable[tuple[Optional[dt.date], Optional[dt.date]]]
             ) -> list[tuple[Optional[dt.date], Optional[dt.date]]]:
    """The days outside a union of inclusive windows (None: unbounded), as inclusive windows."""
    out: list[tuple[Optional[dt.date], Optional[dt.date]]] = []
    start: Optional[dt.date] = None  # the first day not yet covered (None: from the beginning)
    for s, e in sorted(windows, key=lambda w: w[0] or dt.date.min):
        if s is not None and (start is None or s > start):
            if s > dt.date.min:
                out.append((start, s - _DAY))
        if e is None or e >= dt.date.max:
            return out
        if start is None or e + _DAY > start:
            start = e + _DAY
    out.append((start, None))
    return out


def _within(windows: Iterable[Window3], allowed: list[tuple[Optional[dt.date], Optional[dt.date]]]
            ) -> list[Window3]:
    """Each window cut to the days of `allowed` (both inclusive)."""
    out: list[Window3] = []
    for s, e, k in windows:
        for a, b in allowed:
            lo = s if a is None else a if s is None else max(s, a)
            hi = e if b is None else b if e is None else min(e, b)
            if lo is None or hi is None or lo <= hi:
                out.append((lo, hi, k))
    return out


@record(frozen=True, eq=False)
class CTransfer:
    """A transfer of functions (issue 12), its names resolved and its scope expanded."""

    key: str
    model: m.Transfer
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    on: dt.date
    data: Optional[frozenset]  # None: every category
    purposes: Optional[frozenset]  # None: every purpose
    statute: Optional[m.Statute]
    provision: Optional[str]

    @property
    def id(self) -> str:
        return self.model.title


@record(frozen=True)
class Inherit:
    """An organisation inside the scope of rules naming `pred` from `since`, for the data and purposes given
    (None: all), through the chain of transfers of functions `chain` (keys, in date order)."""

    pred: str
    since: dt.date
    data: Optional[frozenset]
    purposes: Optional[frozenset]
    chain: tuple[str, ...]


class CompiledPolicy:
    """A compiled bundle: the checked declarations, their expanded scopes and the indexes over them.
    Built by `compile_policy`; immutable afterwards, so one instance may serve many threads. The question
    methods (decide, allowed, routes, the memo) are on the facade, `engine.Policy`, which extends it."""

    def __init__(self, checked: Checked, sources: Mapping[str, SourceFile], warnings: Sequence[Diagnostic] = (),
                 previous: Optional["CompiledPolicy"] = None):
        # Called by compile_policy only. Everything but the agreements (the environment) is compiled by
        # `_compile_environment`, or taken as it is from `previous` when the checked environment is the very same
        # objects; each agreement file unchanged since `previous` keeps its compiled agreements (`_Reuse`).
        c = checked
        self.sources = dict(sources)
        self.warnings: tuple[Diagnostic, ...] = tuple(warnings)
        self.root = c.bundle.root
        # Here, not at the top: a policy answered from the compiled-bundle cache is never compiled (issue 18).
        from engine.check.incremental import same_environment, same_restrictions

        reuse: Optional[_Reuse] = getattr(previous, "_reuse", None)
        if reuse is not None and not same_environment(reuse.env, c.env):
            reuse = None  # nothing compiled then can be taken
        if reuse is not None and same_restrictions(reuse.restrictions, c.restrictions_seen):
            self.__dict__.update(reuse.state)  # shared with `previous`: a compiled policy is never changed
        else:  # the environment compiled again; the agreements (which read no restriction) may still be reused
            before = set(self.__dict__)
            self._compile_environment(c)
            reuse = _Reuse(c.env, c.restrictions_seen, {k: v for k, v in self.__dict__.items() if k not in before},
                           reuse.blocks if reuse is not None else {}, reuse.indexes if reuse is not None else {})
        self._compile_agreements(c, reuse)

        # Candidate buckets by (source, recipient), built on first use (2,000 organisations make 4 million
        # pairs; only the pairs asked about are ever built). Bounded; cleared whole when full.
        self._pairs: dict[tuple[str, str], Candidates] = {}
        self._pairs_lock = threading.Lock()
        self.pair_limit = PAIR_LIMIT
        self._any_source_index: Optional[_Index] = None
        self._regime_cuts: Optional[tuple[list[dt.date], list[Optional[m.Regime]]]] = None  # (regime_on)

    def _compile_environment(self, c: Checked) -> None:
        """Everything but the agreements."""
        # the hierarchies stage builds every tree, and only a checked bundle is compiled
        assert c.org_tree is not None and c.data_tree is not None and c.purpose_tree is not None
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

        # Titles as names a person may type ("Adult Learning Inspectorate" for ALI), when a title is unique
        # among its kind; ids and aliases always win over titles.
        self.titles: dict[str, dict[str, str]] = {
            "organisation": _unique_titles((k, o.title) for k, o in self.orgs.items()),
            "data": _unique_titles((k, d.title) for k, d in self.data.items()),
            "purpose": _unique_titles((k, p.title) for k, p in self.purposes.items()),
            "statute": _unique_titles((k, s.title) for k, s in self.statutes.items()),
        }

        # Sensitivity of each data category as a flow of it carries it (cautious: parts count).
        self.sensitivity: dict[str, frozenset[str]] = {k: frozenset(c.effective(k)) for k in self.data}

        # When each organisation exists, and the scopes succession cuts (`_succession` below).
        self.org_start, self.org_end, self.scope_cut = _succession(c)
        # Continuity (issue 12): `exists from`, `ceases on` and transfers end and start bodies too; a transfer
        # of functions carries rules naming the transferor to the transferee; renames keep former names.
        self.org_end_kind: dict[str, str] = {}
        self.transfers: dict[str, CTransfer] = {}
        self.inherits: dict[str, tuple[Inherit, ...]] = {}
        self.transferees: dict[str, frozenset[str]] = {}
        self.former: dict[str, tuple[tuple[str, dt.date, str], ...]] = {}
        _continuity(self, c)

        # Classes of bodies (issue 12): class key -> (member, from, until), read by `party_scope`.
        self.classes: dict[str, m.BodyClass] = dict(c.classes)
        self.class_members: dict[str, tuple[tuple[str, Optional[dt.date], Optional[dt.date]], ...]] = {
            k: tuple((o, ms.start, ms.end) for o, ms in sorted(members, key=lambda x: x[0]))
            for k, members in c.members.items()}
        orgs_in = self.party_scope
        data_in = lambda names: self.data_tree.expand(n.key for n in names)  # noqa: E731
        purposes_in = lambda names: self.purpose_tree.expand(n.key for n in names)  # noqa: E731

        def overlapping(tree: Tree, names) -> frozenset:
            # A restriction reaches a category inside a restricted one, and one that contains it.
            keys = [n.key for n in names]
            out = set(tree.expand(keys))
            for k in keys:
                out |= tree.ancestors.get(k, {k})
            return frozenset(out)

        def side(any_: bool, names, excluded) -> Optional[frozenset]:
            if any_:
                return self.party_scope([], excluded, everyone=True) if excluded else None
            return self.party_scope(names, excluded)

        def party_scopes(pairs) -> tuple:
            return tuple((side(p.any_source, p.sources, p.except_sources),
                          side(p.any_recipient, p.recipients, p.except_recipients)) for p in pairs)

        self.gateways: dict[str, CGateway] = {}
        for k, g in sorted(c.gateways.items()):
            self.gateways[k] = CGateway(
                key=k, model=g, statute=self.statutes.get(g.statute.id.key) if g.statute else None,
                provision=g.statute.provision if g.statute else None, pairs=party_scopes(g.allows),
                data=data_in(g.data), purposes=purposes_in(g.purposes),
                requires_agreement=g.requires_agreement, overrides=frozenset(n.key for n in g.overrides),
                valid=g.valid, window=rule_window(self.statutes.get(g.statute.id.key) if g.statute else None, g.valid,
                                                 g.statute.provision if g.statute else None),
                conditions=frozenset(n.key for n in g.conditions), implied=g.power == "implied")
        self.restrictions: dict[str, CRestriction] = {}
        for k, r in sorted(c.restrictions.items()):
            self.restrictions[k] = CRestriction(
                key=k, model=r, statute=self.statutes.get(r.statute.id.key) if r.statute else None,
                provision=r.statute.provision if r.statute else None,
                one_way=orgs_in(r.one_way, r.one_way_except), forbids=party_scopes(r.forbids),
                data=overlapping(self.data_tree, r.data) if r.data else None,
                purposes=overlapping(self.purpose_tree, r.purposes) if r.purposes else None,
                exceptions=tuple(
                    (e.anonymised, orgs_in(e.to, e.to_except) if e.to else None,
                     purposes_in(e.purposes) if e.purposes else None, e)
                    for e in r.exceptions),
                valid=r.valid, window=rule_window(self.statutes.get(r.statute.id.key) if r.statute else None, r.valid,
                                                 r.statute.provision if r.statute else None),
                received_under=frozenset(n.key for n in r.received_under) if r.received_under else None,
                held_for=frozenset(n.key for n in r.held_for) if r.held_for else None)
        for k, cr in list(self.restrictions.items()):
            if any(getattr(s, "dated", None) for s in (cr.one_way,) + tuple(x for pair in cr.forbids for x in pair)):
                self.restrictions[k] = replace(cr, dated=True)

        # Indexes: every rule under each organisation its source scope reaches, so a question looks at one
        # bucket (plus the rules open to any source).
        self.gateways_by_source: dict[str, list[CGateway]] = {}
        self.gateways_any_source: list[CGateway] = []
        for cg in self.gateways.values():
            if any(s is None for s, _ in cg.pairs):
                self.gateways_any_source.append(cg)
                continue
            for s in frozenset().union(*(s for s, _ in cg.pairs if s is not None)):
                self.gateways_by_source.setdefault(s, []).append(cg)
        self.restrictions_by_source: dict[str, list[CRestriction]] = {}
        self.restrictions_any_source: list[CRestriction] = []
        for cr in self.restrictions.values():
            if any(s is None for s, _ in cr.forbids):
                self.restrictions_any_source.append(cr)
                continue
            for s in cr.one_way.union(*(s for s, _ in cr.forbids if s is not None)):
                self.restrictions_by_source.setdefault(s, []).append(cr)
        # issue 13: whether any bar binds by provenance (routes then carry provenance from hop to hop)
        self.provenance_matters = any(r.by_provenance for r in self.restrictions.values())
        # the gateways whose onward clause may change a chain's data or purpose (`as`, `for`, `lawful`), in key
        # order: every route search looks for them (engine/eval/routes.py `chain_candidates`)
        self.gateways_changing: tuple[CGateway, ...] = tuple(
            g for g in self.gateways.values()
            if g.model.onward is not None and g.model.onward.kind in ("as", "for", "lawful"))
        # issue 13: the data-protection regimes of the register, by start, and each condition id's regime
        self.regimes: tuple[m.Regime, ...] = tuple(c.bundle.register.regimes)
        self.regime_conditions: dict[str, tuple[m.Regime, m.RegimeCondition, str]] = {}
        for regime in self.regimes:
            for cond in regime.lawful_bases:
                self.regime_conditions.setdefault(cond.id.lower(), (regime, cond, "lawful-basis"))
            for cond in regime.special:
                self.regime_conditions.setdefault(cond.id.lower(), (regime, cond, "special-category"))

        self.gateways_dated = any(getattr(x, "dated", None) for g in self.gateways.values() for pair in g.pairs
                                  for x in pair)
        # Every gateway under each data category it covers, and those open to any source: the route search's
        # passes read them (engine/eval/routes.py). Made here: on first use, at 10x the large bundle, the first
        # route search paid ~30 ms for them (issue 18, target 5).
        self.gateways_by_data: dict[str, list[CGateway]] = _by_data(self.gateways.values())
        self.any_source_by_data: dict[str, list[CGateway]] = _by_data(self.gateways_any_source)

    def _compile_agreements(self, c: Checked, reuse: "_Reuse") -> None:
        """The agreements, by file: a file whose agreements in force are the same objects as when `reuse` was
        made keeps their compiled form (they depend on nothing but themselves and the environment)."""
        blocks: dict[int, tuple] = {}
        compiled: list[tuple[str, CAgreement]] = []
        dated = False
        scopes: dict[tuple, frozenset] = {}  # party lists, data and purposes repeat: each expanded once, shared
        for pf, run in c.agreement_winners:
            hit = reuse.blocks.get(id(pf)) if pf is not None else None
            if hit is not None and hit[0] is pf and len(hit[1]) == len(run) and all(map(operator.is_, hit[1], run)):
                done, any_dated = hit[2], hit[3]
            else:
                done = tuple(self._compile_agreement(a, scopes) for a in run)
                any_dated = any(getattr(x, "dated", None) for ca in done for pair in ca.directions for x in pair)
            if pf is not None:
                blocks[id(pf)] = (pf, run, done, any_dated)
            compiled += [(ca.key, ca) for ca in done]
            dated = dated or any_dated
        compiled.sort()  # by key: the keys are distinct, so the agreements themselves are never compared
        self.agreements: dict[str, CAgreement] = dict(compiled)
        self.agreements_by_gateway: dict[str, list[CAgreement]] = {}
        for a in self.agreements.values():
            self.agreements_by_gateway.setdefault(a.gateway, []).append(a)
        # Each gateway's agreements by source and by recipient (`_agreements_from`, `_agreements_to`), made here
        # while the agreements are fresh in memory: built on first use, the index fell on a question and read
        # every agreement of its gateway from a heap of 1 GB at 10x the large bundle (issue 18, target 5).
        # A gateway whose agreements have the parties of `reuse`'s, in the same order, keeps their indexes (which
        # hold positions by party): a reload after one edit (an edited file's agreements are compiled again).
        self._agreement_index: dict[str, _Index] = {}
        self._agreement_to_index: dict[str, _Index] = {}
        indexes: dict[str, tuple[list[CAgreement], _Index, _Index]] = {}
        for g, every in self.agreements_by_gateway.items():
            if len(every) < _SHORT:
                continue
            old = reuse.indexes.get(g)
            if old is not None and len(old[0]) == len(every) and all(
                    x is y or x.directions == y.directions for x, y in zip(old[0], every)):
                by_source, by_recipient = old[1], old[2]
            else:
                by_source, by_recipient = _agreement_indexes(every)
            self._agreement_index[g], self._agreement_to_index[g] = by_source, by_recipient
            indexes[g] = (every, by_source, by_recipient)
        # Whether any party scope holds a class member only on some dates: candidates then say which rules
        # reach a pair only so (`Candidates.conditional`), and the evaluator decides them on the date.
        self.has_dated = self.gateways_dated or dated
        self._reuse = _Reuse(reuse.env, reuse.restrictions, reuse.state, blocks, indexes)

    def _compile_agreement(self, a: m.Agreement, scopes: Optional[dict[tuple, frozenset]] = None) -> CAgreement:
        """One agreement; `scopes` remembers each party list, data and purposes list expanded (by spelling)."""
        memo: dict[tuple, frozenset] = {} if scopes is None else scopes
        # Keyed by what is written: (kind, the names' spellings, the excluded names' spellings).
        key = ("parties", _spelt(a.sources), _spelt(a.except_sources))
        sources = memo.get(key)
        if sources is None:
            sources = memo[key] = self.party_scope(a.sources, a.except_sources)
        key = ("parties", _spelt(a.recipients), _spelt(a.except_recipients))
        recipients = memo.get(key)
        if recipients is None:
            recipients = memo[key] = self.party_scope(a.recipients, a.except_recipients)
        key = ("data", _spelt(a.data), ())
        data = memo.get(key)
        if data is None:
            data = memo[key] = self.data_tree.expand(n.key for n in a.data)
        key = ("purposes", _spelt(a.purposes), ())
        purposes = memo.get(key)
        if purposes is None:
            purposes = memo[key] = self.purpose_tree.expand(n.key for n in a.purposes)
        directions = ((sources, recipients), (recipients, sources)) if a.both_ways else ((sources, recipients),)
        # `CAgreement(...)`, field by field as its frozen `__init__` sets them (through `object.__setattr__`, which
        # keeps the values in the instance, as small as the constructor's), without the call's own cost.
        # tests/test_compile_fast.py checks it against the constructor.
        ca = _new(CAgreement)
        _set(ca, "key", a.id.text.lower())
        _set(ca, "model", a)
        _set(ca, "directions", directions)
        _set(ca, "data", data)
        _set(ca, "purposes", purposes)
        _set(ca, "gateway", a.under.text.lower() if a.under else "")
        _set(ca, "valid", a.valid)
        _set(ca, "hypothetical", False)
        _set(ca, "conditions", frozenset([n.text.lower() for n in a.conditions]) if a.conditions else frozenset())
        return ca

    def __getstate__(self) -> dict:
        # For the compiled-bundle cache (engine/policy/cache.py): derived tables and locks are per process.
        state = dict(self.__dict__)
        for k in self._TRANSIENT:
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset_transient()

    _TRANSIENT: tuple[str, ...] = ("_pairs", "_pairs_lock", "_reuse", "_any_source_index", "_regime_cuts")

    def _reset_transient(self) -> None:
        self._regime_cuts = None
        self._pairs = {}
        self._pairs_lock = threading.Lock()
        self._any_source_index = None

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

    def _any_source_to(self, recipients: tuple[str, ...]) -> list[CGateway]:
        """The gateways open to any source whose recipient scopes may hold one of `recipients`, in the order of
        `gateways_any_source`: a superset that the exact test of the pair then narrows. Without it every new
        pair scanned every gateway open to any source (150 at 10x the large bundle; issue 18, target 5). Built
        on first use, per process (a race builds the same index twice; either is kept)."""
        every = self.gateways_any_source
        index = self._any_source_index
        if index is None:
            index = self._any_source_index = _scope_index([[gd for _gs, gd in g.pairs] for g in every])
        return _pick(every, index, recipients)

    def _agreements_from(self, gateway: str, sources: tuple[str, ...]) -> list[CAgreement]:
        """The agreements under a gateway whose source scopes may hold one of `sources`, in the order of
        `agreements_by_gateway`: a superset the exact test of the pair narrows (a gateway open to any source may
        have an agreement for each of hundreds of parties). Indexed by the compile (`_compile_agreements`)."""
        return self._agreements_by_side(gateway, sources, self._agreement_index)

    def _agreements_to(self, gateway: str, recipients: tuple[str, ...]) -> list[CAgreement]:
        """The agreements under a gateway whose recipient scopes may hold one of `recipients`, in the order of
        `agreements_by_gateway`: a superset (as `_agreements_from`, by recipient). The route search's backward
        pass reads it (engine/eval/routes.py `reach_in_hops`). Indexed by the compile."""
        return self._agreements_by_side(gateway, recipients, self._agreement_to_index)

    def _agreements_by_side(self, gateway: str, parties: tuple[str, ...], indexes: dict[str, "_Index"]
                            ) -> list[CAgreement]:
        """`_agreements_from` (side 0: the directions' source scopes) and `_agreements_to` (side 1: recipients),
        from the indexes `_compile_agreements` makes (a short list is not indexed: read faster whole)."""
        index = indexes.get(gateway)
        if index is None:
            return self.agreements_by_gateway.get(gateway, [])
        return _pick(self.agreements_by_gateway[gateway], index, parties)

    def _build_candidates(self, s: str, d: str) -> Candidates:
        if s in self.inherits or d in self.inherits or self.has_dated:
            return self._build_candidates_through_transfers(s, d)
        restrictions = [r for r in self.restrictions_by_source.get(s, []) + self.restrictions_any_source
                        if s in r.one_way
                        or any((rs is None or s in rs) and (rd is None or d in rd) for rs, rd in r.forbids)]
        gateways = []
        for g in self.gateways_by_source.get(s, []) + self._any_source_to((d,)):
            if not any((gs is None or s in gs) and (gd is None or d in gd) for gs, gd in g.pairs):
                continue
            agreements = [a for a in self._agreements_from(g.key, (s,))
                          if any(s in as_ and d in ad for as_, ad in a.directions)]
            gateways.append((g, agreements))
        return Candidates(restrictions, gateways)

    def _build_candidates_through_transfers(self, s: str, d: str) -> Candidates:
        """Candidates of a pair one of whose bodies received functions, or of a policy with dated class
        memberships: the rules naming it (or a transferor) on any date; those that reach the pair only through
        a transfer or a dated membership are `conditional`: the evaluator decides them on the question's date."""
        srcs = (s,) + tuple(dict.fromkeys(e.pred for e in self.inherits.get(s, ())))
        dsts = (d,) + tuple(dict.fromkeys(e.pred for e in self.inherits.get(d, ())))

        def meets(scope: Optional[frozenset], keys: tuple[str, ...]) -> bool:
            return scope is None or any(k in scope for k in keys)

        seen: set[str] = set()
        pool: list[CRestriction] = []
        for k in srcs:
            for r in self.restrictions_by_source.get(k, []):
                if r.key not in seen:
                    seen.add(r.key)
                    pool.append(r)
        pool.sort(key=lambda r: r.key)
        restrictions = [r for r in pool + self.restrictions_any_source
                        if meets(r.one_way, srcs) and bool(r.one_way)
                        or any(meets(rs, srcs) and meets(rd, dsts) for rs, rd in r.forbids)]
        conditional: set[str] = set()
        gateways = []
        seen.clear()
        gpool: list[CGateway] = []
        for k in srcs:
            for g in self.gateways_by_source.get(k, []):
                if g.key not in seen:
                    seen.add(g.key)
                    gpool.append(g)
        gpool.sort(key=lambda g: g.key)
        for g in gpool + self._any_source_to(dsts):
            if not any(meets(gs, srcs) and meets(gd, dsts) for gs, gd in g.pairs):
                continue
            if not any(_sure(gs, s) and _sure(gd, d) for gs, gd in g.pairs):
                conditional.add(g.key)
            agreements = []
            for a in self._agreements_from(g.key, srcs):
                if any(_sure(as_, s) and _sure(ad, d) for as_, ad in a.directions):
                    agreements.append(a)
                elif any(meets(as_, srcs) and meets(ad, dsts) for as_, ad in a.directions):
                    agreements.append(a)
                    conditional.add(f"agreement:{a.key}")
            gateways.append((g, agreements))
        return Candidates(restrictions, gateways, frozenset(conditional))

    # ---- names --------------------------------------------------------------------------------------

    def org_key(self, name: str) -> str:
        k = name.lower()
        if k in self.orgs:
            return k
        if k in self.org_alias:
            return self.org_alias[k]
        if title_key(name) in self.titles["organisation"]:
            return self.titles["organisation"][title_key(name)]
        candidates = [o.id.text for o in self.orgs.values()] + [a for o in self.orgs.values() for a in o.aliases]
        raise UnknownNameError("organisation", name, did_you_mean(name, candidates))

    def data_key(self, name: str) -> str:
        k = name.lower()
        if k in self.data:
            return k
        if title_key(name) in self.titles["data"]:
            return self.titles["data"][title_key(name)]
        raise UnknownNameError("data category", name, did_you_mean(name, [d.id.text for d in self.data.values()]))

    def purpose_key(self, name: str) -> str:
        k = name.lower()
        if k in self.purposes:
            return k
        if title_key(name) in self.titles["purpose"]:
            return self.titles["purpose"][title_key(name)]
        raise UnknownNameError("purpose", name, did_you_mean(name, [p.id.text for p in self.purposes.values()]))

    def statute_key(self, name: str) -> str:
        """The key of a statute to assume, or of one provision of it (`ESA-2008/section-15`)."""
        k = name.lower()
        if k in self.statutes:
            return k
        act, slash, part = k.partition("/")
        if slash and act in self.statutes:
            listed = self.statutes[act].provision(part)
            if listed is not None:
                return provision_key(self.statutes[act], listed)
            raise UnknownNameError("provision", name, [f"{self.statutes[act].id}/{p.slug}"
                                                       for p in self.statutes[act].provisions][:3])
        if title_key(name) in self.titles["statute"]:
            return self.titles["statute"][title_key(name)]
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
        """The data-protection regime in force on `day`: the latest to have started, unless it has ended
        (`m.regime_on`). It changes only on the days a regime starts or ends, so it is found by bisection over
        those days (every decision about personal data with a basis asks, often several times)."""
        table = self._regime_cuts
        if table is None:  # made on first use (two threads at once make equal tables; either is kept)
            regimes = self.regimes
            cuts = sorted({d for r in regimes for d in (r.start, m.regime_end(regimes, r)) if d is not None})
            table = self._regime_cuts = (cuts, [m.regime_on(regimes, dt.date.min)] +
                                         [m.regime_on(regimes, d) for d in cuts])
        return table[1][bisect.bisect_right(table[0], day)]

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

    def assumed_name(self, key: str) -> str:
        """How an assumption (a statute key, or `statute/provision` key) is shown: `ESA-2008/section-15`."""
        act, slash, part = key.partition("/")
        return self.statutes[act].id + (f"/{part}" if slash else "")

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

    def party_scope(self, names: Iterable[m.Name], excluded: Iterable[m.Name] = (),
                    everyone: bool = False) -> frozenset[str]:
        """Every organisation a party list covers: each named organisation and what is part of it, and the
        members of each named class (and their parts), less the excluded bodies (and their parts). A plain
        frozenset when no class or exclusion is involved; else a `Scope` saying which members are inside only
        on some dates and through which class. A body left out as a member of an excluded class is left out
        only on the days of that membership (a restriction's `forbids * except C` still bars it on the others)."""
        named: set[str] = set(self.orgs) if everyone else set()
        dated: dict[str, list[Window3]] = {}
        via: dict[str, str] = {}
        classes = False
        for n in names:
            k = n.key if n.key in self.orgs else self.org_alias.get(n.key)
            if k is not None:
                named |= self.org_scope([k])
                continue
            for member, start, end in self.class_members.get(n.key, ()):
                classes = True
                for x in self.org_scope([member]):
                    if start is None and end is None:
                        via.setdefault(x, n.key)
                    else:
                        dated.setdefault(x, []).append((start, end, n.key))
        excluded = list(excluded)
        if not classes and not excluded and not everyone:
            return frozenset(named)
        static = named | set(via)
        out = static | set(dated)
        left_out: dict[str, tuple[Window3, ...]] = {}
        if excluded:
            gone = self.party_scope(excluded)
            gone_dated: Mapping[str, tuple[Window3, ...]] = getattr(gone, "dated", {})
            for x in gone:
                if x not in out:
                    continue
                windows = gone_dated.get(x)
                if windows is None:  # left out on every date
                    out.discard(x)
                    continue
                days = _outside((s, e) for s, e, _k in windows)
                always = [(None, None, "" if x in named else via.get(x, ""))]
                inside = _within(dated[x] if x not in static else always, days)
                left_out[x] = windows
                static.discard(x)
                if inside:
                    dated[x] = inside
                else:
                    out.discard(x)
        return Scope(out, {x: tuple(w) for x, w in dated.items() if x in out and x not in static},
                     {x: k for x, k in via.items() if x in out and x not in named},
                     {x: w for x, w in left_out.items() if x in out})

    def reach_scope(self, scope: Optional[frozenset]) -> Optional[frozenset]:
        """A party scope with every body that received functions from one inside it (on some date, for some
        flows): the superset that reachability and the diff enumerate; the evaluator decides each flow."""
        if scope is None or not self.transferees:
            return scope
        extra = [self.transferees[k] for k in scope if k in self.transferees]
        return scope.union(*extra) if extra else scope

    def org_name_on(self, key: str, on: dt.date) -> str:
        """The name an organisation was known by on a date (renames: `TTA` before 2005-09-01, `TDA` after)."""
        for name, until, _title in self.former.get(key, ()):
            if on < until:
                return name
        return self.org_name(key)

    def formerly_on(self, key: str, on: dt.date) -> tuple[str, ...]:
        """The names an organisation had before the one in use on a date, latest first."""
        return tuple(name for name, until, _title in reversed(self.former.get(key, ())) if until <= on)

    def org_exists(self, key: str, on: dt.date) -> bool:
        start = self.org_start.get(key)
        end = self.org_end.get(key)
        return (start is None or on >= start) and (end is None or on < end[0])

def _spelt(names: tuple[m.Name, ...]) -> tuple[str, ...]:
    """A list of names as written (a key of `_compile_agreement`'s memo)."""
    return tuple([n.text for n in names]) if names else ()


_new, _set = object.__new__, object.__setattr__  # (`_compile_agreement`)


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
    assert c.org_tree is not None  # built by the hierarchies stage
    for pred, succs in successions(c).items():
        first = succs[0].succeeds_on
        assert first is not None  # successions() keeps only organisations with a succession date
        end[pred] = (first, succs[0].id.key)
        inside = [o.id.key for o in succs if successor_inside(c, o.id.key, pred) is not None]
        if inside:
            cut[pred] = c.org_tree.expand(inside)
    return start, end, cut


def title_key(text: str) -> str:
    """A title as looked up: any case, runs of spaces as one."""
    return " ".join(text.split()).casefold()


def _unique_titles(pairs) -> dict[str, str]:
    """{title key: declaration key} for the titles only one declaration of a kind carries."""
    seen: dict[str, Optional[str]] = {}
    for key, title in pairs:
        t = title_key(title)
        seen[t] = key if t not in seen else None
    return {t: k for t, k in seen.items() if k is not None}
MAX_TRANSFER_CHAIN = 16
MAX_INHERITED = 100_000  # inherited scopes (transferee, transferor, date, scope) a bundle's transfers may make


def _by_data(gateways: Iterable[CGateway]) -> dict[str, list[CGateway]]:
    """`gateways` under each data category they cover, in their order."""
    index: dict[str, list[CGateway]] = {}
    for g in gateways:
        for d in g.data:
            index.setdefault(d, []).append(g)
    return index


_Index = tuple[dict[str, list[int]], tuple[int, ...]]  # `_scope_index`: positions by organisation, open to anyone
_SHORT = 8  # a gateway with fewer agreements is not indexed: its list is read faster whole


def _scope_index(scopes_of: list[list[Optional[frozenset]]]) -> tuple[dict[str, list[int]], tuple[int, ...]]:
    """For items each with party scopes (None: anyone): the positions of the items under each body a scope
    holds, and the positions of the items with a scope open to anyone."""
    by_key: dict[str, list[int]] = {}
    anyone: list[int] = []
    for i, scopes in enumerate(scopes_of):
        _file_under(by_key, anyone, _union(scopes), i)
    return by_key, tuple(anyone)


def _union(scopes: Sequence[Optional[frozenset]]) -> Optional[frozenset]:
    """The union of an item's party scopes; None (anyone) if one of them is open to anyone."""
    if len(scopes) == 1:
        return scopes[0]
    held = [x for x in scopes if x is not None]
    return None if len(held) < len(scopes) else frozenset().union(*held)


def _agreement_indexes(every: list[CAgreement]) -> tuple[_Index, _Index]:
    """`_scope_index` of the agreements' source scopes and of their recipient scopes, in one pass (the compile
    makes them for every gateway: this is its cost on a load)."""
    by_source: dict[str, list[int]] = {}
    by_recipient: dict[str, list[int]] = {}
    any_source: list[int] = []
    any_recipient: list[int] = []
    sources: Optional[frozenset]
    recipients: Optional[frozenset]
    for i, a in enumerate(every):
        directions = a.directions
        if len(directions) == 1:
            sources, recipients = directions[0]
        else:
            sides = tuple(zip(*directions))
            sources, recipients = _union(sides[0]), _union(sides[1])
        _file_under(by_source, any_source, sources, i)
        _file_under(by_recipient, any_recipient, recipients, i)
    return (by_source, tuple(any_source)), (by_recipient, tuple(any_recipient))


def _file_under(index: dict[str, list[int]], open_to_any: list[int], scope: Optional[frozenset], i: int) -> None:
    """Position `i` under each key of its scope, or among those open to anyone (`scope` None); positions filed
    in increasing order stay sorted."""
    if scope is None:
        open_to_any.append(i)
        return
    for k in scope:
        hit = index.get(k)
        if hit is None:
            index[k] = [i]
        else:
            hit.append(i)


def _pick(every: list, index: tuple[dict[str, list[int]], tuple[int, ...]], keys: tuple[str, ...]) -> list:
    """The items of `every` an index (`_scope_index`) holds under one of `keys` or open to anyone, in order."""
    by_key, anyone = index
    if len(keys) == 1 and not anyone:
        return [every[i] for i in by_key.get(keys[0], ())]
    picked = set(anyone)
    for k in keys:
        picked.update(by_key.get(k, ()))
    return [every[i] for i in sorted(picked)]


def _sure(scope: Optional[frozenset], key: str) -> bool:
    """Inside the scope on every date (not only through a dated class membership)."""
    return scope is None or key in scope and key not in getattr(scope, "dated", ())


def _continuity(p: CompiledPolicy, c: Checked) -> None:
    """Issue 12 on the compiled policy: when bodies start and end (`exists from`, `ceases on`, transfers; from
    engine/check/continuity.py `starts` and `endings`, the one place they are gathered), the transfers with
    their scopes, which organisation inherits the rules naming which (`inherits`, closed over chains of
    transfers and over the transferees' parts), and the former names of renamed bodies."""
    from engine.check.continuity import endings, starts, transfer_edges

    for k, day in starts(c).items():
        p.org_start[k] = day
    for k, ending in endings(c).items():
        p.org_end[k] = (ending.on, ending.successor)
        p.org_end_kind[k] = ending.kind
    for k, history in c.renamed.items():
        p.former[k] = tuple((f.name.text, f.until, f.title) for f in history)
    keys: dict[int, str] = {}
    for t in c.transfers:
        if t.on is None:
            continue
        srcs = tuple(k for k in (c.org_key(n.text) for n in t.sources) if k is not None)
        dsts = tuple(k for k in (c.org_key(n.text) for n in t.targets) if k is not None)
        key = f"{'+'.join(srcs)}>{'+'.join(dsts)}@{t.on.isoformat()}"
        if t.data or t.purposes:
            key += "/" + ",".join(n.key for n in t.data) + "/" + ",".join(n.key for n in t.purposes)
        while key in p.transfers:
            key += "'"
        keys[id(t)] = key
        statute = p.statutes.get(t.statute.id.key) if t.statute else None
        p.transfers[key] = CTransfer(key, t, srcs, dsts, t.on,
                                     p.data_tree.expand(n.key for n in t.data) if t.data else None,
                                     p.purpose_tree.expand(n.key for n in t.purposes) if t.purposes else None,
                                     statute, t.statute.provision if t.statute else None)
    direct: dict[str, list[Inherit]] = {}
    for t, s, d in transfer_edges(c):
        ct = p.transfers[keys[id(t)]]
        direct.setdefault(d, []).append(Inherit(s, ct.on, ct.data, ct.purposes, (ct.key,)))
    if not direct:
        return

    def meet(a: Optional[frozenset], b: Optional[frozenset]) -> Optional[frozenset]:
        return b if a is None else a if b is None else a & b

    # Close over chains: what a transferor had inherited passes on with it (from the later date, within both
    # scopes). For each transferee and transferor only the entries no other covers are kept (an earlier date
    # and wider scopes cover a later, narrower one), so a dense web of transfers cannot multiply chains; past
    # MAX_INHERITED entries the bundle is refused (fail closed: a restriction carried by a transfer must never
    # be silently dropped).
    def wider(a: Optional[frozenset], b: Optional[frozenset]) -> bool:
        return a is None or (b is not None and a >= b)

    def covered(e: Inherit, kept: list[Inherit]) -> bool:
        return any(k.since <= e.since and wider(k.data, e.data) and wider(k.purposes, e.purposes) for k in kept)

    found: dict[str, dict[str, list[Inherit]]] = {}
    total = 0

    def add(d: str, e: Inherit) -> bool:
        nonlocal total
        kept = found.setdefault(d, {}).setdefault(e.pred, [])
        if covered(e, kept):
            return False
        kept[:] = [k for k in kept
                   if not (e.since <= k.since and wider(e.data, k.data) and wider(e.purposes, k.purposes))]
        kept.append(e)
        total += 1
        if total > MAX_INHERITED:
            raise DiagnosticsError([error(
                "limit-exceeded", f"the transfers of functions chain into more than {MAX_INHERITED:,} inherited "
                "scopes", None, "write fewer transfers between the same bodies")])
        return True

    fresh: dict[str, list[Inherit]] = {}
    for d, es in direct.items():
        for e in es:
            if add(d, e):
                fresh.setdefault(d, []).append(e)
    for _ in range(MAX_TRANSFER_CHAIN):
        added: dict[str, list[Inherit]] = {}
        for d in list(found):
            # semi-naive: a new combination uses an entry added in the last round, on one side or the other
            mine = [e for es in found[d].values() for e in es]
            pairs = [(e, up) for e in fresh.get(d, ()) for ups in found.get(e.pred, {}).values() for up in ups]
            pairs += [(e, up) for e in mine for up in fresh.get(e.pred, ())]
            for e, up in pairs:
                if up.pred == d or len(up.chain) + len(e.chain) > MAX_TRANSFER_CHAIN or set(up.chain) & set(e.chain):
                    continue
                new = Inherit(up.pred, max(up.since, e.since), meet(up.data, e.data), meet(up.purposes, e.purposes),
                              up.chain + e.chain)
                if add(d, new):
                    added.setdefault(d, []).append(new)
        if not added:
            break
        fresh = added
    # A rule naming the transferee covers its parts; so does one it inherits.
    inherits: dict[str, list[Inherit]] = {}
    for d, kept_by_pred in sorted(found.items()):
        for x in sorted(p.org_tree.descendants.get(d, frozenset((d,)))):
            inherits.setdefault(x, []).extend(e for es in kept_by_pred.values() for e in es if e.pred != x)
    for x, found_here in inherits.items():
        found_here.sort(key=lambda e: (e.since, len(e.chain), e.pred, e.chain))
        p.inherits[x] = tuple(found_here)
    by_pred: dict[str, set[str]] = {}
    for x, held in p.inherits.items():
        for e in held:
            by_pred.setdefault(e.pred, set()).add(x)
    p.transferees = {k: frozenset(v) for k, v in by_pred.items()}


class _Reuse(NamedTuple):
    """What a compiled policy lends the compilation of the next version of its bundle (`compile_policy`'s
    `previous`): the environment it was compiled in (engine/check/incremental.py: the agreements', then the
    restrictions), the attributes compiled from it, each agreement file's compiled agreements, and each
    gateway's agreements with their indexes by source and by recipient. Never pickled (a policy from the cache
    lends nothing)."""

    env: tuple
    restrictions: tuple
    state: dict
    blocks: dict[int, tuple]
    indexes: dict[str, tuple[list, tuple, tuple]]


def compile_policy(checked: Checked, sources: Mapping[str, SourceFile],
                   warnings: Sequence[Diagnostic] = (), previous: Optional[CompiledPolicy] = None) -> CompiledPolicy:
    """The compiler: a checked bundle (no errors) and its sources -> the compiled, immutable policy. With
    `previous` (compiled from an earlier version of the same bundle), what did not change is taken from it: the
    result is the same as without it."""
    return CompiledPolicy(checked, sources, warnings, previous)
