"""Checks over a whole bundle, as a named, ordered list of stages (as OPA's compiler runs its stages).

Each stage reads the bundle and what earlier stages built, and adds diagnostics; none stops the others
unless it must (hierarchies cannot be built over a cycle). The result, `Checked`, holds the symbol tables
and trees that `compile` turns into a Policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any, Callable, Iterable, NamedTuple, Optional

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic, did_you_mean, error, warning
from engine.base.hierarchy import MAX_DEPTH, Tree, find_cycles
from engine.base.source import Span
from engine.check.incremental import FileIndex, agreements_in_order, each_agreement, environment, index_files, items
from engine.check.incremental import same_environment, same_restrictions

SENSITIVE = frozenset({"personal", "special-category", "criminal-offence"})
LAWFUL_BASES = ("consent", "contract", "legal-obligation", "vital-interests", "public-task", "legitimate-interests")
MAX_RULES = 500_000
MAX_LIST = 10_000


@dataclass
class Checked:
    bundle: m.Bundle
    on: dt.date
    orgs: dict[str, m.Organisation] = field(default_factory=dict)
    org_alias: dict[str, str] = field(default_factory=dict)  # lower alias -> org key
    data: dict[str, m.DataCategory] = field(default_factory=dict)
    purposes: dict[str, m.Purpose] = field(default_factory=dict)
    gateways: dict[str, m.Gateway] = field(default_factory=dict)
    restrictions: dict[str, m.Restriction] = field(default_factory=dict)
    agreements: dict[str, m.Agreement] = field(default_factory=dict)
    tests: list[m.PolicyTest] = field(default_factory=list)
    statutes: dict[str, m.Statute] = field(default_factory=dict)
    org_tree: Optional[Tree] = None
    data_tree: Optional[Tree] = None
    purpose_tree: Optional[Tree] = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unresolved: bool = False  # some reference did not resolve: later semantic stages would mislead
    # continuity (issue 12, engine/check/continuity.py)
    transfers: list[m.Transfer] = field(default_factory=list)
    renamed: dict[str, list] = field(default_factory=dict)  # org key -> its former names (continuity.Former)
    classes: dict[str, m.BodyClass] = field(default_factory=dict)
    members: dict[str, list[tuple[str, m.Membership]]] = field(default_factory=dict)  # class key -> (org key, …)
    conditions: dict[str, m.ConditionDecl] = field(default_factory=dict)  # issue 13
    # Checking again after an edit (engine/check/incremental.py): each file's declarations by kind, the
    # agreements in force by file, what a previous check found per file (`reuse`, when nothing else changed),
    # what this one found, and values derived from the environment once per check (`derived`).
    files: list[FileIndex] = field(default_factory=list, repr=False, compare=False)
    agreement_winners: list[tuple[Optional[m.PolicyFile], tuple[m.Agreement, ...]]] = field(
        default_factory=list, repr=False, compare=False)
    env: tuple = field(default=(), repr=False, compare=False)
    restrictions_seen: tuple = field(default=(), repr=False, compare=False)
    reuse: Optional[dict] = field(default=None, repr=False, compare=False)
    blocks: dict = field(default_factory=dict, repr=False, compare=False)
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not any(d.severity.value == "error" for d in self.diagnostics)

    def org_key(self, name: str) -> Optional[str]:
        k = name.lower()
        if k in self.orgs:
            return k
        return self.org_alias.get(k)

    # Sensitivity: markers inherit downward; `anonymised` takes a category out of personal data.
    def markers(self, data_key: str) -> set[str]:
        out: set[str] = set()
        assert self.data_tree is not None  # built by the hierarchies stage
        for a in self.data_tree.ancestors.get(data_key, (data_key,)):
            out.update(self.data[a].markers)
        return out

    def own_sensitivity(self, data_key: str) -> set[str]:
        """The markers a category's own data carries. Walking up from the category, the nearest declaration
        decides: an `anonymised` category (and what is under it) is not personal, unless a category at or
        below it is itself declared personal / special-category / criminal-offence — an explicit marker on
        a part beats an inherited `anonymised` (the cautious reading)."""
        found: set[str] = set()
        key: Optional[str] = data_key
        assert self.data_tree is not None  # built by the hierarchies stage
        for _ in range(MAX_DEPTH + 2):
            if key is None or key not in self.data:
                break
            own = set(self.data[key].markers)
            sensitive = own & SENSITIVE
            if "anonymised" in own and not found and not sensitive:
                return {"anonymised"}
            found |= sensitive
            key = self.data_tree.parent(key)
        return found

    def effective(self, data_key: str) -> set[str]:
        """Markers a flow of this category carries. Asking for a whole category includes its parts, so a
        category counts as personal (special, criminal) if any category under it does — the cautious reading."""
        memo = self.derived.setdefault("effective", {})  # once per category and check: every agreement asks
        hit = memo.get(data_key)
        if hit is None:
            hit = memo[data_key] = frozenset(self._effective(data_key))
        return set(hit)

    def _effective(self, data_key: str) -> set[str]:
        out: set[str] = set()
        anonymised = "anonymised" in self.markers(data_key)
        assert self.data_tree is not None  # built by the hierarchies stage
        for d in self.data_tree.descendants.get(data_key, (data_key,)):
            out |= self.own_sensitivity(d) & SENSITIVE
        if "special-category" in out or "criminal-offence" in out:
            out.add("personal")
        if anonymised and not out:
            out.add("anonymised")
        return out


Stage = Callable[[Checked], None]


# ---- stage: symbol tables and duplicate ids -----------------------------------------------------------


def _position(item) -> tuple[str, int, int]:
    return (item.span.file, item.span.line, item.span.column)



def stage_symbols(c: Checked) -> None:
    tables: list[tuple[type, dict[str, Any], str]] = [
        (m.Organisation, c.orgs, "organisation"),
        (m.DataCategory, c.data, "data category"),
        (m.Purpose, c.purposes, "purpose"),
        (m.Gateway, c.gateways, "gateway"),
        (m.Restriction, c.restrictions, "restriction"),
        (m.Agreement, c.agreements, "agreement"),
    ]
    total = 0
    over: Optional[Span] = None  # where the item past the limit is declared

    def declare(item, table: dict, word: str) -> None:
        nonlocal total, over
        total += 1
        if total == MAX_RULES + 1:
            over = item.span
        key = item.id.key
        if key in table:
            first = table[key]
            c.diagnostics.append(error(
                "duplicate-id", f"{word} `{item.id.text}` is declared twice", item.id.span,
                "identifiers are case-insensitive; rename one of them",
                related=[(f"`{first.id.text}` first declared", first.id.span)]))
            return
        table[key] = item

    for kind, table, word in tables:
        if kind is not m.Agreement:
            for item in sorted(items(c.files, kind), key=_position):
                declare(item, table, word)
            continue
        by_file = agreements_in_order(c)
        if by_file is None:
            everything: list[m.Agreement] = sorted(items(c.files, kind), key=_position)
            for item in everything:
                declare(item, table, word)
            c.agreement_winners = [(None, tuple([a for a in everything if table.get(a.id.key) is a]))]
            continue
        # File by file, in the order the sort would give: a file none of whose ids is taken is merged whole.
        for fi in by_file:
            if not fi.repeats and table.keys().isdisjoint(fi.table):
                if total < MAX_RULES + 1 <= total + len(fi.agreements):
                    over = fi.agreements[MAX_RULES - total].span
                total += len(fi.agreements)
                table.update(fi.table)
                c.agreement_winners.append((fi.file, fi.agreements))
            else:
                for item in fi.agreements:
                    declare(item, table, word)
                c.agreement_winners.append((fi.file, tuple(a for a in fi.agreements if table.get(a.id.key) is a)))
    if total > MAX_RULES:
        c.diagnostics.append(error("limit-exceeded",
                                   f"the bundle declares {total:,} items, over the limit of {MAX_RULES:,}",
                                   over, "split the bundle, or remove declarations nothing uses"))
    # Rules are named in `because`, `overrides` and reports: one id must mean one rule.
    seen: dict[str, tuple[str, m.Name]] = {}
    rules: tuple[tuple[str, dict[str, Any]], ...] = (
        ("gateway", c.gateways), ("restriction", c.restrictions), ("agreement", c.agreements))
    for word, table in rules:
        # agreements come last: only their ids that a gateway or restriction has can clash
        keys = sorted(table.keys() & seen.keys()) if word == "agreement" else sorted(table)
        for key in keys:
            item = table[key]
            if key in seen and seen[key][0] != word:
                other_word, other = seen[key]
                c.diagnostics.append(error(
                    "duplicate-id", f"`{item.id.text}` names both a {other_word} and a {word}", item.id.span,
                    "gateways, restrictions and agreements share one namespace",
                    related=[(f"the {other_word}", other.span)]))
            seen.setdefault(key, (word, item.id))
    for key, org in sorted(c.orgs.items()):
        for alias in org.aliases:
            a = alias.lower()
            if a == key:
                continue
            if a in c.orgs:
                c.diagnostics.append(error("duplicate-id",
                                           f"alias `{alias}` of `{org.id.text}` is another organisation's id",
                                           org.span))
            elif a in c.org_alias and c.org_alias[a] != key:
                c.diagnostics.append(error("duplicate-id", f"alias `{alias}` is used by two organisations", org.span))
            else:
                c.org_alias[a] = key
    c.tests = items(c.files, m.PolicyTest)
    for s in c.bundle.register.statutes:
        c.statutes.setdefault(s.id.lower(), s)


# ---- stage: clauses each block needs ------------------------------------------------------------------


def stage_clauses(c: Checked) -> None:
    from engine.syntax.clauses import is_set

    for g in c.gateways.values():
        _check_required(c, "gateway", g, is_set)
        _check_validity(c, g.valid)
        _check_basis(c, g.lawful_basis)
    for r in c.restrictions.values():
        _check_required(c, "restriction", r, is_set)
        _check_validity(c, r.valid)

    needs = _needs("agreement")

    def agreement(c: Checked, a: m.Agreement) -> None:
        # `_check_required(c, "agreement", a, is_set)`, `_check_validity` and `_check_basis`, each called only
        # where it may have something to say (20,000 agreements)
        for fields, lacks, help_text in needs:
            for f in fields:
                if is_set(getattr(a, f)):
                    break
            else:
                c.diagnostics.append(error("missing-clause", f"agreement `{a.id.text}` {lacks}", a.id.span, help_text))
        v = a.valid
        if v and v.start and v.end:
            _check_validity(c, v)
        if a.lawful_basis:
            _check_basis(c, a.lawful_basis)

    each_agreement(c, "clauses", agreement)
    for item in list(c.gateways.values()) + list(c.restrictions.values()):
        _check_lists(c, item)
    each_agreement(c, "lists", _check_lists)
    for o in c.orgs.values():
        if len(o.aliases) > MAX_LIST:
            c.diagnostics.append(error("limit-exceeded", f"`{o.id.text}` has more than {MAX_LIST:,} aliases", o.span))


_LISTS = ("data", "purposes", "sources", "recipients", "one_way", "overrides", "except_sources", "except_recipients",
          "one_way_except")


@lru_cache(maxsize=None)
def _lists_of(kind: type) -> tuple[tuple[str, ...], tuple[str, ...], bool, bool, Optional[Callable[[Any], tuple]]]:
    """Which of the fields `_check_lists` reads a kind of declaration has (any other reads as empty): the plain
    name lists, the party pairs (`allows`, `forbids`), whether it has `exceptions` and an `onward` clause; and
    for a model class with several plain lists, a getter of them all at once."""
    if not hasattr(kind, "__struct_fields__"):  # not a model class
        return _LISTS, ("allows", "forbids"), True, True, None
    has = set(m.field_names(kind))
    plain = tuple(f for f in _LISTS if f in has)
    return (plain, tuple(f for f in ("allows", "forbids") if f in has), "exceptions" in has, "onward" in has,
            attrgetter(*plain) if len(plain) > 1 else None)


def _check_lists(c: Checked, item: Any) -> None:
    kind: type = type(item)
    plain, pairs, exceptions, onward, getter = _lists_of(kind)
    if getter is not None:  # every plain list in one call (an agreement has six)
        over = max(map(len, getter(item))) > MAX_LIST
    else:
        over = any(len(getattr(item, f, ())) > MAX_LIST for f in plain)
    if not over:
        lists = [side for f in pairs for p in getattr(item, f, ())
                 for side in (p.sources, p.recipients, p.except_sources, p.except_recipients)]
        if exceptions:
            lists += [side for e in getattr(item, "exceptions", ()) for side in (e.to, e.purposes, e.to_except)]
        clause = getattr(item, "onward", None) if onward else None
        if clause is not None:
            lists += [clause.targets, clause.excluded]
        over = any(len(names) > MAX_LIST for names in lists)
    if over:
        c.diagnostics.append(error("limit-exceeded", f"`{item.id.text}` lists more than {MAX_LIST:,} names",
                                   item.span))


@lru_cache(maxsize=None)
def _needs(kind: str) -> tuple[tuple[tuple[str, ...], str, str], ...]:
    """What the clause table says a block of this kind needs: for each group of clauses of which one must be
    present, (the model field of each, what the message says it lacks, the help)."""
    from engine.syntax import clauses as table  # here, not at the top: a start from the cache needs no table

    out = []
    for group in table.required(kind):
        words = [f"`{clause.spelling[0]}`" for clause in group]
        if len(words) == 1:
            lacks = f"has no {words[0]} clause"
        elif len(words) == 2:
            lacks = f"has neither {words[0]} nor {words[1]}"
        else:
            lacks = f"has none of {', '.join(words[:-1])} or {words[-1]}"
        out.append((tuple(c.fields_in(kind)[0] for c in group), lacks, table.help_for(kind, group)))
    return tuple(out)


def _check_required(c: Checked, kind: str, item, is_set: Callable[[object], bool]) -> None:
    """`missing-clause` for each group of clauses the table says this kind of block needs and it lacks."""
    for fields, lacks, help_text in _needs(kind):
        for f in fields:
            if is_set(getattr(item, f)):
                break
        else:
            c.diagnostics.append(error("missing-clause", f"{kind} `{item.id.text}` {lacks}", item.id.span, help_text))


def _check_validity(c: Checked, v: Optional[m.Validity]) -> None:
    if v and v.start and v.end and v.end < v.start:
        c.diagnostics.append(error("bad-validity", f"the window ends on {v.end} before it starts on {v.start}", v.span))


def _check_basis(c: Checked, basis: Optional[m.Name]) -> None:
    if basis and basis.key not in LAWFUL_BASES and basis.key not in regime_bases(c.bundle.register):
        sugg = did_you_mean(basis.text, LAWFUL_BASES + tuple(regime_bases(c.bundle.register)))
        c.diagnostics.append(error("bad-lawful-basis", f"`{basis.text}` is not a UK GDPR Article 6 lawful basis",
                                   basis.span,
                                   f"did you mean `{sugg[0]}`?" if sugg else f"one of: {', '.join(LAWFUL_BASES)}"))


# ---- stage: every name resolves -----------------------------------------------------------------------


def stage_names(c: Checked) -> None:
    known = c.orgs.keys() | c.org_alias.keys() | c.classes.keys()  # what `org_key` finds, and the classes
    kinds = {
        # a class stands for its members
        "organisation": (lambda k: k in known or c.org_key(k) is not None or k in c.classes,
                         lambda: [o.id.text for o in c.orgs.values()] + [a for o in c.orgs.values() for a in o.aliases]
                         + [k.id.text for k in c.classes.values()]),
        "data category": (lambda k: k in c.data, lambda: [d.id.text for d in c.data.values()]),
        "purpose": (lambda k: k in c.purposes, lambda: [p.id.text for p in c.purposes.values()]),
        "gateway": (lambda k: k in c.gateways, lambda: [g.id.text for g in c.gateways.values()]),
        "restriction": (lambda k: k in c.restrictions, lambda: [r.id.text for r in c.restrictions.values()]),
    }

    found: dict[str, dict[str, bool]] = c.derived.setdefault("names-found", {})  # by kind: spelling -> exists

    def need(kind: str, names: Iterable[m.Name]) -> None:
        exists, candidates = kinds[kind]
        seen = found.setdefault(kind, {})
        for n in names:
            ok = seen.get(n.text)
            if ok is None:
                ok = seen[n.text] = exists(n.key)
            if ok:
                continue
            c.unresolved = True
            other = [k for k, (ex, _) in kinds.items() if k != kind and ex(n.key)]
            if other:
                c.diagnostics.append(error("wrong-kind", f"`{n.text}` is a {other[0]}, not a {kind}", n.span))
                continue
            sugg = did_you_mean(n.text, candidates())
            c.diagnostics.append(error("unknown-name", f"unknown {kind} `{n.text}`", n.span,
                                       f"did you mean {', '.join(f'`{s}`' for s in sugg)}?" if sugg else
                                       f"declare it with `{_DECLARE[kind]} {n.text} \"…\"`"))

    for o in c.orgs.values():
        need("organisation", [x for x in (o.parent, o.succeeds) if x])
    for d in c.data.values():
        need("data category", [d.parent] if d.parent else [])
    for p in c.purposes.values():
        need("purpose", [p.parent] if p.parent else [])
    for g in c.gateways.values():
        for pair in g.allows:
            need("organisation", pair.sources + pair.except_sources + pair.recipients + pair.except_recipients)
        need("data category", g.data)
        need("purpose", g.purposes)
        need("restriction", g.overrides)
        _need_onward(need, g.onward)
    for r in c.restrictions.values():
        need("organisation", r.one_way + r.one_way_except)
        for pair in r.forbids:
            need("organisation", pair.sources + pair.except_sources + pair.recipients + pair.except_recipients)
        need("data category", r.data)
        need("purpose", r.purposes)
        for e in r.exceptions:
            need("organisation", e.to + e.to_except)
            need("purpose", e.purposes)

    # An agreement's names are nearly always spellings already found: those are skipped here, and `need` is
    # asked about each other one, in the same order (so the same diagnostics).
    orgs_found, data_found, purposes_found, gateways_found = (
        found.setdefault(kind, {}) for kind in ("organisation", "data category", "purpose", "gateway"))

    def agreement(_c: Checked, a: m.Agreement) -> None:
        for n in a.sources + a.except_sources + a.recipients + a.except_recipients:
            if orgs_found.get(n.text) is not True:
                need("organisation", (n,))
        for n in a.data:
            if data_found.get(n.text) is not True:
                need("data category", (n,))
        for n in a.purposes:
            if purposes_found.get(n.text) is not True:
                need("purpose", (n,))
        under = a.under
        if under and gateways_found.get(under.text) is not True:
            need("gateway", (under,))
        if a.onward is not None:
            _need_onward(need, a.onward)

    each_agreement(c, "names", agreement)


_DECLARE = {"organisation": "organisation", "data category": "data", "purpose": "purpose", "gateway": "gateway",
            "restriction": "restriction"}


def _need_onward(need, onward: Optional[m.Onward]) -> None:
    if onward is None:
        return
    if onward.kind == "to":
        need("organisation", onward.targets + onward.excluded)
    elif onward.kind in ("only-for", "for"):
        need("purpose", onward.targets)
    elif onward.kind == "as":
        need("data category", onward.targets)


# ---- stage: hierarchies, cycles and depth -------------------------------------------------------------


def stage_hierarchies(c: Checked) -> None:
    specs = (
        ("organisation", "part-of", c.orgs, lambda o: c.org_key(o.parent.text) if o.parent else None),
        ("data category", "under", c.data, lambda d: d.parent.key if d.parent else None),
        ("purpose", "under", c.purposes, lambda p: p.parent.key if p.parent else None),
    )
    trees = []
    for word, relation, table, parent_of in specs:
        parents = {k: parent_of(v) for k, v in table.items()}
        parents = {k: (p if p in table else None) for k, p in parents.items()}
        for cycle in find_cycles(parents):
            names = [table[k].id.text for k in cycle]
            first = table[cycle[0]]
            c.diagnostics.append(error(
                "cycle", f"{word}s form a `{relation}` loop: {' -> '.join(f'`{n}`' for n in names + names[:1])}",
                first.span, f"remove one `{relation}` so the {word}s form a tree",
                related=[(f"`{table[k].id.text}` declared", table[k].span) for k in cycle[1:]]))
            for k in cycle:
                parents[k] = None  # break the loop so the rest of the checks can still run
        tree = Tree(word, parents)
        for k, item in table.items():
            if tree.depth(k) > MAX_DEPTH:
                c.diagnostics.append(error("limit-exceeded",
                                           f"{word} `{item.id.text}` is nested deeper than {MAX_DEPTH} levels",
                                           item.span))
                break
        trees.append(tree)
    c.org_tree, c.data_tree, c.purpose_tree = trees


# ---- stage: succession --------------------------------------------------------------------------------
# A body ceases once, and succession passes none of its rules on (docs/language.md). The events that end or
# start an organisation are gathered by `successions`, in an order that never depends on where they were
# declared; compile/compiled.py reads the same (issue 12's renames, transfers and `ceases on` belong here too).


def successions(c: Checked) -> dict[str, list[m.Organisation]]:
    """Predecessor key -> the organisations that succeed it, earliest first (ties by key): the order is the
    dates', never the files'. Successions naming an unknown body are left out (reported as unknown names)."""
    out: dict[str, list[m.Organisation]] = {}
    for o in c.orgs.values():
        if o.succeeds is None or o.succeeds_on is None:
            continue
        pred = c.org_key(o.succeeds.text)
        if pred is not None:
            out.setdefault(pred, []).append(o)
    for succs in out.values():
        succs.sort(key=lambda o: (o.succeeds_on, o.id.key))
    return out


def successor_inside(c: Checked, successor: str, predecessor: str) -> Optional[list[str]]:
    """The `part-of` chain from `successor` up to its `predecessor` (both included) when the successor lies
    inside the body it succeeds, else None."""
    tree = c.org_tree
    assert tree is not None  # built by the hierarchies stage
    if successor == predecessor or predecessor not in tree.ancestors.get(successor, ()):
        return None
    chain, cur = [successor], successor
    while cur != predecessor and len(chain) <= MAX_DEPTH + 1:
        up = tree.parent(cur)
        if up is None:  # cannot happen: the predecessor is an ancestor
            break
        cur = up
        chain.append(cur)
    return chain


def stage_succession(c: Checked) -> None:
    for pred, succs in sorted(successions(c).items()):
        first, name = succs[0], c.orgs[pred].id.text
        for later in succs[1:]:
            if later.succeeds_on == first.succeeds_on:
                continue  # a split: every successor starts on the day the body ceases
            # successions() keeps only organisations that name both a predecessor and a date
            assert first.succeeds and first.succeeds_on and later.succeeds and later.succeeds_on
            day1, day2 = first.succeeds_on.isoformat(), later.succeeds_on.isoformat()
            c.diagnostics.append(error(
                "conflicting-succession",
                f"`{name}` is succeeded on two dates: by `{first.id.text}` on {day1} and by `{later.id.text}` "
                f"on {day2}; a body ceases once", later.succeeds.span,
                f"if `{name}` was split, give every successor the same date; if `{later.id.text}` took over from "
                f"`{first.id.text}`, declare it with `succeeds {first.id.text} on {day2}`",
                related=[(f"`{first.id.text}` succeeds `{name}` on {day1}", first.succeeds.span)]))
        for o in succs:
            chain = successor_inside(c, o.id.key, pred)
            if chain is None:
                continue
            # inside its predecessor, so part of something; and in successions(), so it names both
            assert o.parent is not None and o.succeeds is not None and o.succeeds_on is not None
            via = [c.orgs[k].id.text for k in chain[1:-1]]
            c.diagnostics.append(error(
                "successor-part-of-predecessor",
                f"`{o.id.text}` succeeds `{name}` but is declared part of it"
                + (f" (through {', '.join(f'`{v}`' for v in via)})" if via else "")
                + f": `{name}` no longer exists once `{o.id.text}` does",
                o.parent.span,
                f"succession does not pass `{name}`'s agreements or other rules on; declare `{o.id.text}` part of "
                "the body it belongs to now (or of none), and agree its flows afresh",
                related=[(f"`{o.id.text}` succeeds `{name}` on {o.succeeds_on.isoformat()}", o.succeeds.span)]))


# ---- stage: the register on the evaluation date -------------------------------------------------------


def stage_register(c: Checked) -> None:
    """Each statute's `status` against its dates. The status records the register's present, so it is judged
    on the evaluation date, or today when that is earlier (a historical --on makes no status wrong)."""
    day = max(c.on, dt.date.today())
    for _key, s in sorted(c.statutes.items()):
        found = status_mismatch(s, day)
        if found is not None:
            severity, message, help_ = found
            c.diagnostics.append((error if severity == "error" else warning)(
                "statute-status-mismatch", f"statute `{s.id}` has status `{s.status}`, but {message}", s.span, help_))


def status_mismatch(s: m.Statute, day: dt.date) -> Optional[tuple[str, str, str]]:
    """(severity, what the dates say, hint) when the status and the dates disagree on `day`. The engine
    follows the dates (and gives a `proposed` statute no power), so a status that takes away a power the
    dates still give is an error: the engine would allow what the register says is gone. A status that
    claims more than the dates give is a warning: the engine already takes the stricter reading."""
    c, r = s.commenced, s.repealed
    if s.status == "repealed" and r is not None and r > day:
        return ("error", f"its repeal takes effect on {r.isoformat()}, after {day.isoformat()}: until then the engine "
                "treats it as in force",
                "while a repeal is only scheduled keep `status: in-force` (the `repealed:` date ends its power on "
                "that day); if it is already repealed, correct the `repealed:` date")
    if s.status == "in-force" and r is not None and r <= day:
        return ("warning", f"was repealed on {r.isoformat()}: the engine treats it as repealed from that day",
                "set `status: repealed`")
    if s.status == "in-force" and c is not None and c > day:
        return ("warning", f"commences on {c.isoformat()}: the engine gives it no power before that day",
                "correct the `commenced:` date if it is already in force")
    if s.status == "proposed" and r is not None and r <= day:
        return ("warning", f"was repealed on {r.isoformat()}: a proposed statute gives no power unless assumed",
                "set `status: repealed` (with its `commenced:` date) if it was enacted, or remove the `repealed:` date")
    if s.status == "proposed" and c is not None and c <= day:
        return ("warning", f"commenced on {c.isoformat()}: a proposed statute gives no power unless assumed, "
                "whatever its dates", "set `status: in-force` if it has been enacted and commenced")
    return None


# ---- stage: statutes ----------------------------------------------------------------------------------


def stage_statutes(c: Checked) -> None:
    for rule in list(c.gateways.values()) + list(c.restrictions.values()):
        ref = rule.statute
        if ref is None:
            continue
        if ref.id.key not in c.statutes:
            sugg = did_you_mean(ref.id.text, [s.id for s in c.statutes.values()])
            c.diagnostics.append(error("unknown-statute", f"statute `{ref.id.text}` is not in gateways.yaml",
                                       ref.id.span,
                                       f"did you mean {', '.join(f'`{s}`' for s in sugg)}?" if sugg else
                                       "register it under `statutes:` in gateways.yaml"))
            c.unresolved = True


# ---- stage: agreements are supported by their gateways -----------------------------------------------


def _supports(pairs: tuple[_Pair, ...], source: str, recipient: str) -> bool:
    for srcs, dsts, except_srcs, except_dsts in pairs:
        if ((srcs is None or source in srcs) and source not in except_srcs
                and (dsts is None or recipient in dsts) and recipient not in except_dsts):
            return True
    return False


# An `allows` pair as every organisation inside each side (None: anyone) and every one inside what it excludes.
_Pair = tuple[Optional[frozenset[str]], Optional[frozenset[str]], frozenset[str], frozenset[str]]


class _GatewayScope(NamedTuple):
    pairs: tuple[_Pair, ...]
    data: frozenset[str]  # every category inside the gateway's data
    purposes: frozenset[str]


def _gateway_scope(c: Checked, g: m.Gateway) -> _GatewayScope:
    """A gateway's parties, data and purposes with everything inside them (`Tree.within(k, names)` is
    `k in Tree.expand(names)`), worked out once per gateway and check: every agreement under it asks."""
    memo = c.derived.setdefault("gateway-scope", {})
    hit = memo.get(id(g))
    if hit is not None and hit[0] is g:
        return hit[1]
    assert c.org_tree is not None and c.data_tree is not None and c.purpose_tree is not None  # built by then
    orgs = c.org_tree.expand
    found = _GatewayScope(
        tuple((None if pair.any_source else orgs(party_keys(c, pair.sources)),
               None if pair.any_recipient else orgs(party_keys(c, pair.recipients)),
               orgs(party_keys(c, pair.except_sources, False)),
               orgs(party_keys(c, pair.except_recipients, False))) for pair in g.allows),
        c.data_tree.expand(n.key for n in g.data), c.purpose_tree.expand(n.key for n in g.purposes))
    memo[id(g)] = (g, found)  # the gateway is kept with its entry, so its id is never another object's
    return found


def party_keys(c: Checked, names, transfers: bool = True) -> list[str]:
    """The organisations a party list names (issue 12): each organisation, every member of each class (on
    any date), and, with `transfers`, every body that received functions from one of them."""
    from engine.check.continuity import inheritors

    out = _bodies(c, names, lambda _ms: True)
    if transfers and c.transfers:
        out += inheritors(c, out)
    return out


def _bodies(c: Checked, names, member_counts) -> list[str]:
    """The organisations a party list names, and the members of each class it names whose membership
    `member_counts`."""
    out: list[str] = []
    for n in names:
        k = c.org_key(n.text)
        if k is not None:
            out.append(k)
        elif n.key in c.members:
            out += [o for o, ms in c.members[n.key] if member_counts(ms)]
    return out


def _named(c: Checked, names: tuple[m.Name, ...]) -> list[str]:
    """`party_keys(c, names, False)`, once per spelling of a party list and check: agreements repeat them."""
    memo = c.derived.setdefault("named", {})
    spelt = tuple([n.text for n in names])
    hit = memo.get(spelt)
    if hit is None:
        hit = memo[spelt] = party_keys(c, names, False)
    return hit


def always_left_out(c: Checked, names) -> list[str]:
    """The bodies an exclusion (`A except B`) leaves out on every date: organisations it names, and the members
    of a class it names whose membership is not dated (a dated member is a party on its other dates)."""
    return _bodies(c, names, lambda ms: ms.start is None and ms.end is None)


def stage_agreements(c: Checked) -> None:
    if c.unresolved:
        return  # an unknown name has been reported; coverage would only repeat it
    each_agreement(c, "agreements", _check_supported)


def _check_supported(c: Checked, a: m.Agreement) -> None:
    under = a.under
    if under is None:
        return
    g = c.gateways.get(under.text.lower())
    if g is None:
        return
    scope = _gateway_scope(c, g)
    problems = []
    pairs = scope.pairs
    for s, r in agreement_directions(c, a):
        if not _supports(pairs, s, r):
            problems.append(f"it does not allow `{c.orgs[s].id.text}` -> `{c.orgs[r].id.text}`")
    covered = scope.data
    for d in a.data:
        if d.text.lower() not in covered:
            problems.append(f"it does not cover data `{d.text}`")
    covered = scope.purposes
    for p in a.purposes:
        if p.text.lower() not in covered:
            problems.append(f"it does not cover purpose `{p.text}`")
    if problems:
        c.diagnostics.append(error(
            "unsupported-agreement",
            f"agreement `{a.id.text}` relies on gateway `{g.id.text}`, but {'; '.join(problems)}",
            under.span, "narrow the agreement to what the gateway allows, or rely on a gateway that covers it",
            related=[(f"gateway `{g.id.text}` declared", g.span)]))


def agreement_directions(c: Checked, a: m.Agreement) -> list[tuple[str, str]]:
    sources, recipients = _named(c, a.sources), _named(c, a.recipients)  # a class stands for its members
    if not a.except_sources and not a.except_recipients and not a.both_ways:
        # nothing left out, one way (most agreements): every pair, each once (a class may repeat a member)
        if len(sources) == 1 and len(recipients) == 1:
            return [(sources[0], recipients[0])]
        return list(dict.fromkeys([(sk, rk) for sk in sources for rk in recipients]))
    tree = c.org_tree
    assert tree is not None  # built by the hierarchies stage
    left_out = (always_left_out(c, a.except_sources), always_left_out(c, a.except_recipients))
    out = []
    for sk in sources:
        if tree.within(sk, left_out[0]):
            continue
        for rk in recipients:
            if tree.within(rk, left_out[1]):
                continue
            out.append((sk, rk))
            if a.both_ways:
                out.append((rk, sk))
    return list(dict.fromkeys(out))


# ---- stage: warnings ----------------------------------------------------------------------------------


def stage_warnings(c: Checked) -> None:
    if c.unresolved:
        return
    on = c.on
    successors = {pred: succs[0] for pred, succs in successions(c).items()}  # the earliest, whatever the order
    g: Optional[m.Gateway]
    for g in c.gateways.values():
        sens = set().union(*(c.effective(d.key) for d in g.data)) if g.data else set()
        if not g.requires_agreement and "personal" in sens and g.lawful_basis is None:
            c.diagnostics.append(warning("no-lawful-basis",
                                         f"gateway `{g.id.text}` lets personal data flow without an agreement "
                                         "and records no lawful basis", g.id.span,
                                         "add `lawful-basis public-task` (or the basis that applies)"))
        _statute_warning(c, g.statute, f"gateway `{g.id.text}`")

    memo: dict[tuple[str, ...], frozenset[str]] = c.derived.setdefault("sensitivity", {})
    # the parties that name a body succeeded by the evaluation date (most agreements name none)
    replaced = {k for k, succ in successors.items() if succ.succeeds_on is not None and succ.succeeds_on <= on}

    gateways = c.gateways
    diagnostics = c.diagnostics
    flagged: dict[str, bool] = {}  # gateway key -> whether its statute has a warning to give (`_statute_flagged`)

    def agreement(c: Checked, a: m.Agreement) -> None:
        under = a.under
        g = gateways.get(under.text.lower()) if under else None
        data = a.data
        spelt = tuple([d.text for d in data])  # once per data list and check: agreements repeat them
        sens = memo.get(spelt)
        if sens is None:
            sens = memo[spelt] = frozenset(set().union(*(c.effective(d.key) for d in data)) if data else set())
        if sens:
            basis = a.lawful_basis or (g.lawful_basis if g else None)
            if "personal" in sens and basis is None:
                diagnostics.append(warning("no-lawful-basis",
                                           f"agreement `{a.id.text}` shares personal data but records no lawful basis",
                                           a.id.span, "add `lawful-basis public-task` (or the basis that applies)"))
            if "special-category" in sens and not (a.article9 or (g and g.article9)):
                diagnostics.append(warning("no-article-9", f"agreement `{a.id.text}` shares special-category data "
                                           "without an article-9 condition", a.id.span,
                                           "add `article-9 \"DPA 2018 Sch 1 para 6\"` (or the condition that applies)"))
            if "criminal-offence" in sens and not (a.article10 or (g and g.article10)):
                diagnostics.append(warning("no-article-10", f"agreement `{a.id.text}` shares criminal-offence data "
                                           "without an article-10 condition", a.id.span,
                                           "add `article-10 \"…\"` naming the DPA 2018 Sch 1 Part 3 condition"))
        valid = a.valid
        if valid and valid.end and valid.end < on:
            diagnostics.append(warning("agreement-expired",
                                       f"agreement `{a.id.text}` expired on {valid.end.isoformat()}",
                                       valid.span, "renew it with a new `valid` window, or remove it"))
        elif a.review and a.review < on:
            diagnostics.append(warning("review-overdue",
                                       f"agreement `{a.id.text}` was due for review on {a.review.isoformat()}",
                                       a.id.span, "review it and record the next review date"))
        if a.owner is None:
            diagnostics.append(warning(
                "no-owner", f"agreement `{a.id.text}` names no owner", a.id.span,
                "add `owner \"role, organisation\"`: unowned sharing is how flows get severed"))
        if g is not None and g.statute is not None:
            flag = flagged.get(g.id.text)
            if flag is None:
                flag = flagged[g.id.text] = _statute_flagged(c, g.statute)
            if flag:
                _statute_warning(c, g.statute, f"agreement `{a.id.text}` (through gateway `{g.id.text}`)", a.id.span)
        for party in a.sources + a.recipients if replaced else ():
            k = c.org_key(party.text)
            succ = successors.get(k) if k is not None else None
            if succ is not None and succ.succeeds_on is not None and succ.succeeds_on <= on:
                diagnostics.append(warning(
                    "succeeded-organisation",
                    f"agreement `{a.id.text}` names `{party.text}`, which `{succ.id.text}` replaced on "
                    f"{succ.succeeds_on.isoformat()}",
                    party.span, f"agree the flow afresh with `{succ.id.text}`: it does not pass to the successor"))

    each_agreement(c, "warnings", agreement)


def _statute_flagged(c: Checked, ref: m.StatuteRef) -> bool:
    """Whether `_statute_warning` has something to say of this statute (asked before writing what it would
    say: every agreement under a gateway asks)."""
    s = c.statutes.get(ref.id.key)
    return s is not None and (s.status == "proposed" or s.repealed is not None and s.repealed <= c.on)


def _statute_warning(c: Checked, ref: Optional[m.StatuteRef], what: str, span: Optional[Span] = None) -> None:
    if ref is None:
        return
    s = c.statutes.get(ref.id.key)
    if s is None:
        return
    if s.status == "proposed":
        c.diagnostics.append(warning("statute-proposed", f"{what} relies on `{s.id}`, which is only proposed",
                                     span or ref.span, "it gives no power until enacted; test it with --assume"))
    elif s.repealed is not None and s.repealed <= c.on:
        c.diagnostics.append(warning("statute-repealed",
                                     f"{what} relies on `{s.id}`, repealed on {s.repealed.isoformat()}",
                                     span or ref.span))


# ---- stage: provisions with their own dates (issue 12) -------------------------------------------------


def stage_provisions(c: Checked) -> None:
    """A rule citing a provision the register does not list, while it lists others of that Act, takes the
    Act's dates: probably an oversight (`unlisted-provision`). And each listed provision's status against its
    dates, as `stage_register` judges a statute's."""
    for rule in list(c.gateways.values()) + list(c.restrictions.values()):
        ref = rule.statute
        s = c.statutes.get(ref.id.key) if ref is not None else None
        if s is None or not s.provisions or ref is None:
            continue
        if ref.provision is None or s.provision(ref.provision) is None:
            word = "gateway" if isinstance(rule, m.Gateway) else "restriction"
            cited = f"`{ref.provision}`" if ref.provision else "no provision"
            listed = ", ".join(f"`{p.text}`" for p in s.provisions[:5]) + (", …" if len(s.provisions) > 5 else "")
            c.diagnostics.append(warning(
                "unlisted-provision", f"{word} `{rule.id.text}` cites {cited} of `{s.id}`, which gateways.yaml does "
                f"not list; it lists {listed}", ref.span,
                f"list the provision under `{s.id}: provisions:` with its own dates, or cite a listed one: until then "
                "the Act's dates apply"))
    day = max(c.on, dt.date.today())
    for _key, s in sorted(c.statutes.items()):
        for p in s.provisions:
            periods = p.periods()
            last = periods[-1].repealed if periods else None
            if p.status == "repealed" and last is not None and last > day:
                c.diagnostics.append(error(
                    "statute-status-mismatch", f"provision `{p.text}` of `{s.id}` has status `repealed`, but its "
                    f"repeal takes effect on {last.isoformat()}, after {day.isoformat()}", p.span,
                    "while a repeal is only scheduled keep `status: in-force` (the `repealed:` date ends it)"))
            elif p.status == "in-force" and last is not None and last <= day:
                c.diagnostics.append(warning(
                    "statute-status-mismatch", f"provision `{p.text}` of `{s.id}` has status `in-force`, but was "
                    f"repealed on {last.isoformat()}", p.span, "set `status: repealed`"))


def stage_renames(c: Checked) -> None:
    """Transfers collected and complete; renames folded into one identity (engine/check/continuity.py)."""
    from engine.check.continuity import stage_renames as fold
    from engine.syntax.clauses import is_set

    c.transfers = items(c.files, m.Transfer)
    for t in c.transfers:
        _check_required(c, "transfer", t, is_set)
    fold(c)


def stage_continuity(c: Checked) -> None:
    from engine.check.continuity import stage_continuity as run

    run(c)


def stage_classes(c: Checked) -> None:
    """Classes of bodies and their members (engine/check/continuity.py)."""
    from engine.check.continuity import stage_classes as run

    run(c)
# ---- stage: conditions (issue 13) ---------------------------------------------------------------------


def stage_conditions(c: Checked) -> None:
    """`condition` declarations (once each) and every condition named by `requires` or `except … when`: a
    typo must be a diagnostic, never a condition no question can give (a silent DENY)."""
    for item in sorted(items(c.files, m.ConditionDecl), key=_position):
        first = c.conditions.get(item.id.key)
        if first is not None:
            c.diagnostics.append(error(
                "duplicate-id", f"condition `{item.id.text}` is declared twice", item.id.span,
                "identifiers are case-insensitive; rename one of them",
                related=[(f"`{first.id.text}` first declared", first.id.span)]))
            continue
        c.conditions[item.id.key] = item
    named: list[m.Name] = []
    for g in c.gateways.values():
        named += g.conditions
    _need_conditions(c, named)
    each_agreement(c, "conditions", lambda c, a: _need_conditions(c, a.conditions))
    named = []
    for r in c.restrictions.values():
        for e in r.exceptions:
            named += e.when
    _need_conditions(c, named)


def _need_conditions(c: Checked, named: Iterable[m.Name]) -> None:
    for n in named:
        if n.key in c.conditions:
            continue
        c.unresolved = True
        sugg = did_you_mean(n.text, [x.id.text for x in c.conditions.values()])
        c.diagnostics.append(error("unknown-name", f"unknown condition `{n.text}`", n.span,
                                   f"did you mean {', '.join(f'`{x}`' for x in sugg)}?" if sugg else
                                   f"declare it with `condition {n.text} \"…\"` (what a person must establish)"))


# ---- stage: data-protection regimes (issue 13) ----------------------------------------------------------


def regime_bases(register: m.Register) -> dict[str, str]:
    """Lawful-basis condition ids of the register's regimes: lower-cased id -> id."""
    return {cond.id.lower(): cond.id for r in register.regimes for cond in r.lawful_bases}


def _period(c: Checked, ref: Optional[m.StatuteRef], valid: Optional[m.Validity]
            ) -> tuple[Optional[dt.date], Optional[dt.date]]:
    """When a rule is in force, as [start, end) (None: unbounded): its statute's dates narrowed by `valid`."""
    s = c.statutes.get(ref.id.key) if ref is not None else None
    start, end = (s.commenced, s.repealed) if s is not None else (None, None)
    provision = s.provision(ref.provision) if s is not None and ref is not None else None
    periods = provision.periods() if provision is not None else ()
    if periods:  # a provision with its own dates (issue 12): from its first commencement to its last repeal
        start, end = periods[0].commenced, periods[-1].repealed
    if valid is not None:
        if valid.start is not None and (start is None or valid.start > start):
            start = valid.start
        last = valid.end + dt.timedelta(days=1) if valid.end is not None else None
        if last is not None and (end is None or last < end):
            end = last
    return start, end


def stage_regimes(c: Checked) -> None:
    """A lawful basis (or article-9 condition) that is a condition of one regime, cited by a rule in force on
    dates another regime governs (`wrong-regime`): a DPA 1998 Schedule 2 condition after 25 May 2018, say."""
    regimes = c.bundle.register.regimes
    if not regimes:
        return
    where: dict[str, tuple[m.Regime, m.RegimeCondition]] = {}
    for r in regimes:
        for cond in r.lawful_bases + r.special:
            where.setdefault(cond.id.lower(), (r, cond))
    for g in c.gateways.values():
        _regime_of_rule(c, where, f"gateway `{g.id.text}`", g, _period(c, g.statute, g.valid))

    def agreement(c: Checked, a: m.Agreement) -> None:
        under = c.gateways.get(a.under.key) if a.under else None
        gs, ge = _period(c, under.statute, under.valid) if under is not None else (None, None)
        s, e = _period(c, None, a.valid)
        start = max((d for d in (gs, s) if d is not None), default=None)
        end = min((d for d in (ge, e) if d is not None), default=None)
        _regime_of_rule(c, where, f"agreement `{a.id.text}`", a, (start, end))

    each_agreement(c, "regimes", agreement)


def _regime_of_rule(c: Checked, where: dict[str, tuple[m.Regime, m.RegimeCondition]], what: str,
                    rule: m.Gateway | m.Agreement, period: tuple[Optional[dt.date], Optional[dt.date]]) -> None:
    regimes = c.bundle.register.regimes
    start, end = period
    cited: list[tuple[str, Span]] = []
    if rule.lawful_basis is not None:
        cited.append((rule.lawful_basis.text, rule.lawful_basis.span))
    if rule.article9:
        cited.append((rule.article9, dict(rule.clause_spans).get("article-9", rule.span)))
    for ident, span in cited:
        hit = where.get(ident.lower())
        if hit is None:
            continue
        regime, cond = hit
        r_end = m.regime_end(regimes, regime)
        before = start is None or start < regime.start
        after = r_end is not None and (end is None or end > r_end)
        if not (before or after):
            continue
        shown = (f"from {start.isoformat()}" if start else "with no start") + \
            (f" until {(end - dt.timedelta(days=1)).isoformat()}" if end else ", with no end")
        limit = f"{regime.start.isoformat()} to {(r_end - dt.timedelta(days=1)).isoformat()}" if r_end else \
            f"from {regime.start.isoformat()}"
        neutral = f"the regime-neutral `{cond.equivalent}`, " if cond.equivalent else ""
        c.diagnostics.append(warning(
            "wrong-regime",
            f"{what} cites `{cond.id}`, a condition of {regime.title} ({limit}), but is in force {shown}", span,
            f"cite {neutral}or a condition of each regime in rules whose windows fall inside its dates "
            "(`valid FROM to UNTIL`)"))


# ---- stage: provenance (issue 13) ---------------------------------------------------------------------


def declared_functions(c: Checked) -> dict[str, str]:
    """Every function some organisation declares (`functions F, …`): key -> its first spelling."""
    out: dict[str, str] = {}
    for o in sorted(c.orgs.values(), key=lambda o: o.id.key):
        for f in o.functions:
            out.setdefault(f.key, f.text)
    return out


def stage_provenance(c: Checked) -> None:
    """`data received-under G` names gateways; `data held-for F` names a function some organisation declares."""
    functions = declared_functions(c)
    for r in c.restrictions.values():
        for n in r.received_under:
            if n.key in c.gateways:
                continue
            c.unresolved = True
            other = ("restriction" if n.key in c.restrictions else "agreement" if n.key in c.agreements else None)
            if other:
                c.diagnostics.append(error("wrong-kind", f"`{n.text}` is a {other}, not a gateway", n.span,
                                           "`received-under` names the gateway the data came through"))
                continue
            sugg = did_you_mean(n.text, [g.id.text for g in c.gateways.values()])
            c.diagnostics.append(error("unknown-name", f"unknown gateway `{n.text}`", n.span,
                                       f"did you mean {', '.join(f'`{x}`' for x in sugg)}?" if sugg else
                                       "`received-under` names a gateway declared in the bundle"))
        for n in r.held_for:
            if n.key in functions:
                continue
            c.unresolved = True
            sugg = did_you_mean(n.text, list(functions.values()))
            c.diagnostics.append(error("unknown-name", f"unknown function `{n.text}`", n.span,
                                       f"did you mean {', '.join(f'`{x}`' for x in sugg)}?" if sugg else
                                       f"declare it on the bodies that hold data for it: `functions {n.text}`"))


STAGES: list[tuple[str, Stage]] = [
    ("symbols", stage_symbols),
    ("renames", stage_renames),
    ("classes", stage_classes),
    ("clauses", stage_clauses),
    ("names", stage_names),
    ("continuity", stage_continuity),
    ("conditions", stage_conditions),
    ("provenance", stage_provenance),
    ("regimes", stage_regimes),
    ("hierarchies", stage_hierarchies),
    ("succession", stage_succession),
    ("register", stage_register),
    ("statutes", stage_statutes),
    ("agreements", stage_agreements),
    ("warnings", stage_warnings),
    ("provisions", stage_provisions),
]


def check(bundle: m.Bundle, on: Optional[dt.date] = None, stages: Iterable[tuple[str, Stage]] = STAGES,
          previous: Optional[Checked] = None) -> Checked:
    """Run the stages over a bundle. With `previous` (a check of an earlier version of the same bundle), each
    agreement file unchanged since then, in an unchanged environment, gives the diagnostics it gave then
    (engine/check/incremental.py): the result is the same as without it."""
    checked = Checked(bundle=bundle, on=on or dt.date.today())
    checked.files = index_files(bundle.files, previous.files if previous is not None else None)
    checked.env, restrictions = environment(checked)
    if previous is not None and same_environment(previous.env, checked.env):
        checked.reuse = previous.blocks
        if same_restrictions(previous.restrictions_seen, restrictions):
            checked.derived = dict(previous.derived)  # values of the environment alone
    checked.restrictions_seen = restrictions
    for _name, stage in stages:
        stage(checked)
    if checked.reuse is not None:  # a loop this check skipped (an unresolved name stops two stages) keeps its
        for part, blocks in checked.reuse.items():  # results for the next one; each is checked again on use
            checked.blocks.setdefault(part, blocks)
    return checked
