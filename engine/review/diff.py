"""Semantic diff: which flows a change to a bundle makes lawful or unlawful, when, and which rule change did it.

Two compiled policies (OLD and NEW, from bundle folders or git revisions) are compared rule by rule: added,
removed or changed gateways, restrictions and agreements, statutes whose register entry changed, and
organisations, data categories and purposes whose place in a hierarchy (or sensitivity, or succession)
changed. Each change is described clause by clause (`Delta`: a scope widened or narrowed by the names given,
a value that changed), so a reviewer reads "gateway X: data widened by learner-record [special-category]"
before any flow.

Each change has a *scope*: boxes of (sources, recipients, data, purposes) outside which it cannot alter a
verdict. A question can only change verdict if it is allowed on one side, so it must lie inside some
gateway's scope on that side; the diff evaluates exactly the questions in (change scopes) ∩ (gateway scopes)
on both sides — fast on large bundles — and `brute_force` (used by the property test) checks every question.

Verdicts depend on the date only through the dates on which something starts or ends: a statute commences or
is repealed, a gateway's, restriction's or agreement's window opens or closes, a body is succeeded. Between
two such boundaries nothing changes, so the diff compares the two sides once per range between the boundaries
of either side (or on the one date `--on` names) and reports each change as a date range.

A question that names something one side does not declare is denied on that side (fail closed).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from engine.syntax import model as m
from engine.policy.facade import Policy
from engine.policy.loader import BundleLoader
from engine.eval.decide import Question, allowed
from engine.policy.decide import decide_question
from engine.decision.answer import Decision
from engine.decision.review import FLAG_RANK, Delta, DiffResult, FlowChange, RolledFlow, RuleChange
from engine.base.diagnostics import error
from engine.errors import DiagnosticsError
from engine.render import words
from engine.base.filenames import file_name_problem

RULE_KINDS = ("gateway", "restriction", "agreement")

Box = tuple[Optional[frozenset], Optional[frozenset], Optional[frozenset], Optional[frozenset]]
QKey = tuple[str, str, str, str]


# ---- which rules changed -----------------------------------------------------------------------------


def _differing_fields(a, b, skip: Iterable[str] = ("span", "clause_spans")) -> tuple[str, ...]:
    out = []
    for name in m.field_names(a):
        if name in skip:
            continue
        if getattr(a, name) != getattr(b, name):
            out.append(name.replace("_", "-"))
    return tuple(out)


def _statute_cite(policy: Policy, rule) -> tuple[Optional[str], Optional[str]]:
    s = getattr(rule, "statute", None)
    if s is None:
        return None, None
    prov = getattr(rule, "provision", None)
    return f"{s.title}{' ' + prov if prov else ''}", m.provision_url(s.url, prov)


def rule_changes(old: Policy, new: Policy) -> list[RuleChange]:
    """Every rule, statute and hierarchy node that differs, in a stable order."""
    out: list[RuleChange] = []
    for kind, table_of in (("gateway", lambda p: p.gateways), ("restriction", lambda p: p.restrictions),
                           ("agreement", lambda p: p.agreements)):
        o, n = table_of(old), table_of(new)
        for k in sorted(set(o) | set(n)):
            a, b = o.get(k), n.get(k)
            if a is not None and b is not None and (a.model is b.model or a.model == b.model):
                continue  # (one object on both sides when NEW was loaded through OLD's loader)
            rule = b or a
            cite, url = _statute_cite(new if b else old, rule)
            action = "added" if a is None else "removed" if b is None else "changed"
            details = _differing_fields(a.model, b.model) if a is not None and b is not None else ()
            deltas = rule_deltas(old, new, kind, a.model if a else None, b.model if b else None)
            out.append(RuleChange(kind, action, rule.id, rule.model.title, a.model.span if a else None,
                                  b.model.span if b else None, details, cite, url, deltas))
    for k in sorted(set(old.statutes) | set(new.statutes)):
        a, b = old.statutes.get(k), new.statutes.get(k)
        if a is not None and b is not None and _statute_effect(a) == _statute_effect(b):
            continue
        s = b or a
        assert s is not None  # k is a key of one side or the other
        action = "added" if a is None else "removed" if b is None else "changed"
        details = ()
        if a is not None and b is not None:
            details = tuple(f"{name}: {x or '—'} → {y or '—'}" for name, x, y in
                            zip(("status", "commenced", "repealed", "provisions"),
                                _statute_effect(a), _statute_effect(b))
                            if x != y)
        deltas = tuple(Delta(name, old=x, new=y) for name, x, y in
                       zip(("status", "commenced", "repealed", "provisions"),
                           _statute_effect(a) if a else (None,) * 4, _statute_effect(b) if b else (None,) * 4)
                       if x != y)
        out.append(RuleChange("statute", action, s.id, s.title, a.span if a else None, b.span if b else None,
                              details, s.citation, s.url, deltas))
    out += _continuity_changes(old, new)
    out += _regime_changes(old, new)
    for kind, table_of in (("organisation", lambda p: p.orgs), ("data", lambda p: p.data),
                           ("purpose", lambda p: p.purposes)):
        o, n = table_of(old), table_of(new)
        for k in sorted(set(o) | set(n)):
            a, b = o.get(k), n.get(k)
            if a is not None and b is not None and _structure(a) == _structure(b):
                continue
            item = b or a
            action = "added" if a is None else "removed" if b is None else "changed"
            details = (_differing_fields(a, b, ("span", "title", "aliases", "id"))
                       if a is not None and b is not None else ())
            out.append(RuleChange(kind, action, item.id.text, item.title, a.span if a else None, b.span if b else None,
                                  details, deltas=_node_deltas(a, b)))
    return out


def _transfer_id(t) -> str:
    """How the diff names a transfer across the two sides: its parties and scope (a changed date, statute or
    `continues` is a change of the same transfer)."""
    text = f"{', '.join(n.text for n in t.model.sources)} to {', '.join(n.text for n in t.model.targets)}"
    text += f" data {', '.join(n.text for n in t.model.data)}" if t.model.data else ""
    text += f" for {', '.join(n.text for n in t.model.purposes)}" if t.model.purposes else ""
    return text


def _continuity_changes(old: Policy, new: Policy) -> list[RuleChange]:
    """Transfers of functions added, removed or changed (issue 12): each a rule change."""
    out: list[RuleChange] = []
    o = {_transfer_id(t).lower(): t for t in old.transfers.values()}
    n = {_transfer_id(t).lower(): t for t in new.transfers.values()}
    for k in sorted(set(o) | set(n)):
        a, b = o.get(k), n.get(k)
        if a is not None and b is not None and a.model == b.model:
            continue
        item = b or a
        assert item is not None
        action = "added" if a is None else "removed" if b is None else "changed"
        details = _differing_fields(a.model, b.model) if a is not None and b is not None else ()
        out.append(RuleChange("transfer", action, _transfer_id(item), item.model.title,
                              a.model.span if a else None, b.model.span if b else None, details))
    return out + _class_changes(old, new)


def _class_changes(old: Policy, new: Policy) -> list[RuleChange]:
    """Classes of bodies added, removed, or changed in their statute or their members (issue 12): each a rule
    change, since every rule naming the class changes with it."""
    out: list[RuleChange] = []
    for k in sorted(set(old.classes) | set(new.classes)):
        a, b = old.classes.get(k), new.classes.get(k)
        ma, mb = set(old.class_members.get(k, ())), set(new.class_members.get(k, ()))
        item = b or a
        assert item is not None
        details: list[str] = []
        if a is not None and b is not None:
            if a.statute != b.statute:
                details.append("statute")
            def names(p: Policy, ms: set) -> list[str]:
                return sorted(f"{p.org_name(o)}{f' from {s}' if s else ''}{f' until {e}' if e else ''}"
                              for o, s, e in ms)
            details += [f"member {x}" for x in names(new, mb - ma)]
            details += [f"no longer member {x}" for x in names(old, ma - mb)]
            if not details:
                continue
        action = "added" if a is None else "removed" if b is None else "changed"
        out.append(RuleChange("class", action, item.id.text, item.title, a.span if a else None,
                              b.span if b else None, tuple(details)))
    return out


def _regime_changes(old: Policy, new: Policy) -> list[RuleChange]:
    """Issue 13: data-protection regimes of the register whose dates or conditions differ (they decide which
    lawful bases hold on which dates)."""
    def effect(r: m.Regime) -> tuple:
        return (r.start, r.until, tuple((c.id.lower(), c.equivalent) for c in r.lawful_bases),
                tuple(c.id.lower() for c in r.special))

    o = {r.id.lower(): r for r in old.regimes}
    n = {r.id.lower(): r for r in new.regimes}
    out = []
    for k in sorted(set(o) | set(n)):
        a, b = o.get(k), n.get(k)
        if a is not None and b is not None and effect(a) == effect(b):
            continue
        r = b if b is not None else a
        assert r is not None
        action = "added" if a is None else "removed" if b is None else "changed"
        details: tuple[str, ...] = ()
        if a is not None and b is not None:
            details = tuple(name for name, x, y in zip(("from", "until", "lawful-bases", "special-category"),
                                                       effect(a), effect(b)) if x != y)
        out.append(RuleChange("regime", action, r.id, r.title, a.span if a else None, b.span if b else None,
                              details, r.citation, r.url))
    return out


def _statute_effect(s: m.Statute) -> tuple:
    return (s.status, s.commenced.isoformat() if s.commenced else None, s.repealed.isoformat() if s.repealed else None,
            _provisions_effect(s))


def _provisions_effect(s: m.Statute) -> Optional[str]:
    """The provisions with their own dates, as one comparable text (None when it lists none)."""
    if not s.provisions:
        return None
    def one(p: m.Provision) -> str:
        periods = ", ".join(f"{w.commenced}..{w.repealed or ''}" for w in p.periods()) or "never"
        return f"{p.text} {p.status} [{periods}]"
    return "; ".join(sorted(one(p) for p in s.provisions))


def _structure(item) -> tuple:
    """What of a vocabulary item can change a verdict (not its title or aliases)."""
    key = lambda n: n.key if n is not None else None  # noqa: E731
    if isinstance(item, m.Organisation):  # its functions decide which `held-for` bars bind its data (issue 13)
        return (key(item.parent), key(item.succeeds), item.succeeds_on, key(item.renames), item.renames_on,
                item.exists_from, item.ceases, tuple(sorted(f.key for f in item.functions)))
    if isinstance(item, m.DataCategory):
        return (key(item.parent), tuple(sorted(item.markers)))
    return (key(item.parent),)


# ---- what changed, clause by clause -------------------------------------------------------------------


def _top(keys: frozenset, tree, names) -> tuple[str, ...]:
    """The top-most of `keys` (those whose parent is not among them), as declared, sorted."""
    tops = [k for k in keys if tree.parent(k) not in keys]
    return tuple(sorted((names(k) for k in tops), key=str.lower))


def _org_scope(p: Policy, names, excluded=()) -> frozenset:
    """A party list's scope as the rule's own is compiled: a class as its members, less the excluded bodies
    (issue 12), and succession cutting a successor out."""
    return frozenset(p.party_scope(names, excluded))


def _parties_scope(p: Policy, parties, side: str) -> Optional[frozenset]:
    """Everyone a rule's `allows` / `forbids` clauses name on one side (None: anyone, `*`)."""
    out: set = set()
    for pt in parties:
        any_, names, excluded = ((pt.any_source, pt.sources, pt.except_sources) if side == "sources"
                                 else (pt.any_recipient, pt.recipients, pt.except_recipients))
        if any_ and not excluded:
            return None
        out |= frozenset(p.party_scope(names, excluded, everyone=any_))
    return frozenset(out)


def _scope_delta(field: str, o: Optional[frozenset], n: Optional[frozenset], old: Policy, new: Policy,
                 kind: str) -> Optional[Delta]:
    """A scope that widened and/or narrowed; None when equal. `None` scopes mean anyone."""
    if o == n:
        return None
    tree_of = {"org": "org_tree", "data": "data_tree", "purpose": "purpose_tree"}[kind]

    def name(p: Policy, k: str) -> str:
        tables: dict[str, Mapping[str, Any]] = {"org": p.orgs, "data": p.data, "purpose": p.purposes}
        table = tables[kind]
        return table[k].id.text if k in table else k

    if o is None or n is None:  # to or from anyone
        return Delta(field, old="anyone" if o is None else ", ".join(_top(o, old.org_tree, lambda k: name(old, k))),
                     new="anyone" if n is None else ", ".join(_top(n, new.org_tree, lambda k: name(new, k))))
    added = _top(n - o, getattr(new, tree_of), lambda k: name(new, k))
    removed = _top(o - n, getattr(old, tree_of), lambda k: name(old, k))
    flags: list[tuple[str, str]] = []
    if kind == "data":
        for p, names in ((new, added), (old, removed)):
            for nm in names:
                f = _loudest(p.sensitivity.get(nm.lower(), frozenset()))
                if f:
                    flags.append((nm, f))
    return Delta(field, added, removed, flags=tuple(flags))


def _loudest(sens) -> str:
    for s in ("special-category", "criminal-offence", "personal"):
        if s in sens:
            return s
    return ""


def _valid_text(v: Optional[m.Validity]) -> Optional[str]:
    if v is None or (v.start is None and v.end is None):
        return None
    if v.start is not None and v.end is not None:
        return f"{v.start.isoformat()} to {v.end.isoformat()}"
    if v.start is not None:
        return f"from {v.start.isoformat()}"
    assert v.end is not None  # a window with neither bound returned above
    return f"until {v.end.isoformat()}"


def _onward_text(o: Optional[m.Onward]) -> Optional[str]:
    if o is None:
        return None
    return o.kind + ("".join(" " + t.text for t in o.targets) if o.targets else "") + \
        (" except " + ", ".join(t.text for t in o.excluded) if o.excluded else "")


def _statute_text(r: Optional[m.StatuteRef]) -> Optional[str]:
    if r is None:
        return None
    return r.id.text + (f" {r.provision}" if r.provision else "")


def _names(ns) -> tuple[str, ...]:
    return tuple(n.text for n in ns)


def _exception_text(e: m.Exception_) -> str:
    parts = ["anonymised"] if e.anonymised else []
    if e.to:
        parts.append("to " + ", ".join(n.text for n in e.to))
    if e.to_except:
        parts.append("except " + ", ".join(n.text for n in e.to_except))
    if e.purposes:
        parts.append("for " + ", ".join(n.text for n in e.purposes))
    if e.when:
        parts.append("when " + ", ".join(n.text for n in e.when))
    return "except " + " ".join(parts)


def _list_delta(field: str, o: Iterable[str], n: Iterable[str]) -> Optional[Delta]:
    o_set, n_set = {x.lower(): x for x in o}, {x.lower(): x for x in n}
    added = tuple(sorted((n_set[k] for k in n_set.keys() - o_set.keys()), key=str.lower))
    removed = tuple(sorted((o_set[k] for k in o_set.keys() - n_set.keys()), key=str.lower))
    return Delta(field, added, removed) if added or removed else None


def rule_deltas(old: Policy, new: Policy, kind: str, a, b) -> tuple[Delta, ...]:
    """What differs between two versions of a gateway, restriction or agreement (one of them may be None: an
    added rule is described by its scopes as `added`, a removed one as `removed`)."""
    none: frozenset[str] = frozenset()
    out: list[Optional[Delta]] = []

    def scopes(p: Policy, r) -> dict:
        if r is None:
            return {}
        d = {"data": p.data_tree.expand(n.key for n in r.data) if r.data else None,
             "purposes": p.purpose_tree.expand(n.key for n in r.purposes) if r.purposes else None}
        if kind == "gateway":
            d["sources"] = _parties_scope(p, r.allows, "sources")
            d["recipients"] = _parties_scope(p, r.allows, "recipients")
        elif kind == "agreement":
            d["sources"] = _org_scope(p, r.sources, r.except_sources)
            d["recipients"] = _org_scope(p, r.recipients, r.except_recipients)
        else:
            d["one-way"] = _org_scope(p, r.one_way, r.one_way_except) if r.one_way else none
            d["sources"] = _parties_scope(p, r.forbids, "sources") if r.forbids else none
            d["recipients"] = _parties_scope(p, r.forbids, "recipients") if r.forbids else none
        return d

    so, sn = scopes(old, a), scopes(new, b)
    universe = {"data": lambda p: frozenset(p.data), "purposes": lambda p: frozenset(p.purposes)}
    tree_kind = {"data": "data", "purposes": "purpose", "sources": "org", "recipients": "org", "one-way": "org"}
    for f in ("sources", "recipients", "one-way", "data", "purposes"):
        if f not in so and f not in sn:
            continue
        if a is not None and b is not None and kind == "restriction" and f in ("data", "purposes"):
            # an absent data / for clause on a restriction means every category / purpose
            o = so[f] if so[f] is not None else universe[f](old)
            n = sn[f] if sn[f] is not None else universe[f](new)
        elif a is None or b is None:
            o = so.get(f) if a is not None else none
            n = sn.get(f) if b is not None else none
            if (o if a is not None else n) is None:  # `*`, or a restriction on all data / purposes
                if f in ("data", "purposes"):
                    o, n = (universe[f](old), none) if a is not None else (none, universe[f](new))
                else:
                    out.append(Delta(f, old="anyone" if a is not None else None,
                                     new="anyone" if b is not None else None))
                    continue
        else:
            o, n = so[f], sn[f]
        if o is not None and n is not None and not o and not n:
            continue
        out.append(_scope_delta(f, o, n, old, new, tree_kind[f]))
    if kind == "agreement" and a is not None and b is not None and a.both_ways != b.both_ways:
        out.append(Delta("both-ways", old="yes" if a.both_ways else "no", new="yes" if b.both_ways else "no"))

    def val(field: str, get) -> None:
        x = get(a) if a is not None else None
        y = get(b) if b is not None else None
        if x != y:
            out.append(Delta(field, old=x, new=y))

    val("valid", lambda r: _valid_text(r.valid))
    if kind == "gateway":
        val("requires-agreement", lambda r: "yes" if r.requires_agreement else None)
    if kind in ("gateway", "restriction"):
        val("statute", lambda r: _statute_text(r.statute))
    if kind == "agreement":
        val("under", lambda r: r.under.text if r.under else None)
    if kind in ("gateway", "agreement"):
        val("lawful-basis", lambda r: r.lawful_basis.text if r.lawful_basis else None)
        val("article-9", lambda r: r.article9)
        val("article-10", lambda r: r.article10)
        val("onward", lambda r: _onward_text(r.onward))
    if kind == "gateway":
        out.append(_list_delta("overrides", _names(a.overrides) if a else (), _names(b.overrides) if b else ()))
    if kind == "restriction":
        out.append(_list_delta("exceptions", [_exception_text(e) for e in a.exceptions] if a else (),
                               [_exception_text(e) for e in b.exceptions] if b else ()))
    if kind == "agreement":
        val("review", lambda r: r.review.isoformat() if r.review else None)
        val("owner", lambda r: r.owner)
        out.append(_list_delta("conditions", a.requires if a else (), b.requires if b else ()))
    if a is not None and b is not None:
        val("title", lambda r: r.title)
        val("notes", lambda r: " ".join(r.notes) or None)
    return tuple(d for d in out if d is not None)


def _node_deltas(a, b) -> tuple[Delta, ...]:
    """What changed of an organisation, data category or purpose (its place, sensitivity, succession)."""
    if a is None or b is None:
        return ()
    out: list[Optional[Delta]] = []
    pa = a.parent.text if a.parent else None
    pb = b.parent.text if b.parent else None
    if (pa or "").lower() != (pb or "").lower():
        out.append(Delta("parent", old=pa, new=pb))
    if isinstance(a, m.DataCategory):
        out.append(_list_delta("markers", a.markers, b.markers))
    if isinstance(a, m.Organisation):
        sa = f"{a.succeeds.text} on {a.succeeds_on.isoformat()}" if a.succeeds and a.succeeds_on else None
        sb = f"{b.succeeds.text} on {b.succeeds_on.isoformat()}" if b.succeeds and b.succeeds_on else None
        if sa != sb:
            out.append(Delta("succeeds", old=sa, new=sb))
    return tuple(d for d in out if d is not None)


# ---- scopes ------------------------------------------------------------------------------------------


def _rule_boxes(policy: Policy, kind: str, key: str) -> list[Box]:
    reach = policy.reach_scope  # with the bodies that received functions from one named (issue 12)
    if kind == "gateway":
        g = policy.gateways.get(key)
        return [(reach(s), reach(r), g.data, g.purposes) for s, r in g.pairs] if g else []
    if kind == "agreement":
        a = policy.agreements.get(key)
        return [(reach(s), reach(r), a.data, a.purposes) for s, r in a.directions] if a else []
    r = policy.restrictions.get(key)
    if r is None:
        return []
    boxes: list[Box] = []
    if r.one_way:
        boxes.append((reach(r.one_way), None, r.data, r.purposes))
    boxes += [(reach(s), reach(d), r.data, r.purposes) for s, d in r.forbids]
    return boxes


def _tree_reach(policies: tuple[Policy, Policy], tree: str, key: str, up: bool) -> frozenset:
    out = {key}
    for p in policies:
        t = getattr(p, tree)
        out |= t.descendants.get(key, frozenset())
        if up:
            out |= t.ancestors.get(key, frozenset())
    return frozenset(out)


def change_boxes(old: Policy, new: Policy, c: RuleChange) -> list[Box]:
    """Where a change can alter a verdict, as (sources, recipients, data, purposes) boxes; None = anything."""
    key = c.id.lower()
    both = (old, new)
    if c.kind in RULE_KINDS:
        return _rule_boxes(old, c.kind, key) + _rule_boxes(new, c.kind, key)
    if c.kind == "statute":
        boxes: list[Box] = []
        for p in both:
            for g in p.gateways.values():
                if g.statute is not None and g.statute.id.lower() == key:
                    boxes += _rule_boxes(p, "gateway", g.key)
            for r in p.restrictions.values():
                if r.statute is not None and r.statute.id.lower() == key:
                    boxes += _rule_boxes(p, "restriction", r.key)
        return boxes
    if c.kind == "class":
        members: set[str] = set()
        for p in both:
            for member, _s, _e in p.class_members.get(key, ()):
                members |= p.org_tree.descendants.get(member, frozenset((member,))) | \
                    p.transferees.get(member, frozenset())
        reach_c = frozenset(members)
        return [(reach_c, None, None, None), (None, reach_c, None, None)]
    if c.kind == "transfer":
        parties: set[str] = set()
        for p in both:
            for t in p.transfers.values():
                if _transfer_id(t).lower() == key:
                    for k in t.sources + t.targets:  # the parties, their parts, and who inherits from them
                        parties |= p.org_tree.descendants.get(k, frozenset((k,))) | p.transferees.get(k, frozenset())
        reach_t = frozenset(parties)
        return [(reach_t, None, None, None), (None, reach_t, None, None)]
    if c.kind == "regime":  # a regime's dates or conditions reach every flow of personal data
        personal = frozenset(k for p in both for k, s in p.sensitivity.items() if "personal" in s)
        return [(None, None, personal, None)]
    if c.kind == "organisation":
        reach = set(_tree_reach(both, "org_tree", key, up=False))
        for p in both:  # succession moves the end of the predecessor's existence too
            o = p.orgs.get(key)
            if o is not None and o.succeeds is not None:
                reach.add(o.succeeds.key if o.succeeds.key in p.orgs
                          else p.org_alias.get(o.succeeds.key, o.succeeds.key))
        reach_f = frozenset(reach)
        return [(reach_f, None, None, None), (None, reach_f, None, None)]
    if c.kind == "data":
        # Sensitivity is inherited downward and a category counts as personal when a part is: both ways.
        return [(None, None, _tree_reach(both, "data_tree", key, up=True), None)]
    return [(None, None, None, _tree_reach(both, "purpose_tree", key, up=True))]


def _same_body_boxes(policy: Policy) -> list[Box]:
    """Where a flow is allowed with no gateway (issue 12): between a body and each of its parts, both ways."""
    out: list[Box] = []
    for k in sorted(policy.orgs):
        above = policy.org_tree.ancestors.get(k, frozenset()) - {k}
        if above:
            out += [(frozenset((k,)), frozenset(above), None, None), (frozenset(above), frozenset((k,)), None, None)]
    return out


def _meet(a: Optional[frozenset], b: Optional[frozenset]) -> Optional[frozenset]:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def candidate_questions(old: Policy, new: Policy, changes: list[RuleChange]) -> dict[QKey, set[str]]:
    """Every question inside some change's scope and some gateway's scope (either side), with the keys of the
    changes whose scope holds it."""
    out: dict[QKey, set[str]] = {}
    gateway_boxes: list[tuple[Policy, Box]] = []
    for p in (old, new):
        for g in p.gateways.values():
            gateway_boxes += [(p, b) for b in _rule_boxes(p, "gateway", g.key)]
        gateway_boxes += [(p, b) for b in _same_body_boxes(p)]
    for c in changes:
        for cb in change_boxes(old, new, c):
            for p, gb in gateway_boxes:
                if cb[0] is not None and gb[0] is not None and cb[0].isdisjoint(gb[0]):
                    continue  # no source in both: the product below would be empty (most boxes, on a large bundle)
                box = [_meet(x, y) for x, y in zip(cb, gb)]
                universe: tuple[Mapping[str, Any], ...] = (p.orgs, p.orgs, p.data, p.purposes)
                dims = [sorted(u if b is None else b) for b, u in zip(box, universe)]
                if not all(dims):
                    continue
                for q in itertools.product(*dims):
                    out.setdefault(q, set()).add(c.key)
    return out


# ---- evaluating ----------------------------------------------------------------------------------------


def _former(policy: Policy, q: QKey) -> QKey:
    """A question naming a body by a former name (a rename on this side) asks about the body."""
    s, r, d, p = q
    if policy.former:
        s, r = policy.org_alias.get(s, s) if s not in policy.orgs else s, \
            policy.org_alias.get(r, r) if r not in policy.orgs else r
    return s, r, d, p


def verdict(policy: Policy, q: QKey, on: dt.date) -> bool:
    """Allowed on this side? A name the side does not declare is a deny (fail closed)."""
    s, r, d, p = _former(policy, q)
    if s not in policy.orgs or r not in policy.orgs or d not in policy.data or p not in policy.purposes:
        return False
    return allowed(policy, Question(s, r, d, p, on))


def _decision(policy: Policy, q: QKey, on: dt.date) -> Optional[Decision]:
    s, r, d, p = _former(policy, q)
    if s not in policy.orgs or r not in policy.orgs or d not in policy.data or p not in policy.purposes:
        return None
    return decide_question(policy, Question(s, r, d, p, on), fixes=False, routes=False)


def _missing(policy: Policy, q: QKey) -> str:
    s, r, d, p = q
    tables: tuple[tuple[str, Mapping[str, Any], str], ...] = (
        (s, policy.orgs, "organisation"), (r, policy.orgs, "organisation"), (d, policy.data, "data category"),
        (p, policy.purposes, "purpose"))
    for k, table, word in tables:
        if k not in table:
            return f"DENIED — {word} `{k}` is not declared"
    return "DENIED"


def _name(old: Policy, new: Policy, kind: str, key: str) -> str:
    for p in (new, old):
        tables: dict[str, Mapping[str, Any]] = {"org": p.orgs, "data": p.data, "purpose": p.purposes}
        table = tables[kind]
        if key in table:
            return table[key].id.text
    return key


def _because(d: Optional[Decision], other: Optional[Decision]) -> str:
    """The citation behind the new verdict: the basis (allowed), the block, or the basis that was lost."""
    def ref(r) -> str:
        cite = f" ({words.cites(r)})" if words.cites(r) else ""
        return f"{r.kind} `{r.id}`{cite}" + (f" [{r.span}]" if r.span else "")

    if d is None:
        return "not declared on this side"
    if d.allowed and d.same_body:
        return "within one body: " + words.same_body(d.same_body)
    if d.allowed and d.basis:
        s = "under " + ref(d.basis.gateway)
        if d.basis.agreement:
            s += " and " + ref(d.basis.agreement)
        lifted = [b for b in d.blocks if b.overridden_by is not None]
        if lifted:  # a reviewer must see that the flow now passes a statutory bar
            s += ", lifting " + ", ".join(ref(b.restriction) for b in lifted)
        return s
    live = [b for b in d.blocks if b.overridden_by is None]
    if live:
        return "blocked by " + ", ".join(ref(b.restriction) for b in live)
    if other is not None and other.allowed and other.basis:
        lost = "no longer under " + ref(other.basis.gateway)
        if other.basis.agreement:
            lost += " and " + ref(other.basis.agreement)
        return f"{lost}: {d.headline.removeprefix('DENIED — ')}"
    return d.headline


def _refine(causes: set[str], old_d: Optional[Decision], new_d: Optional[Decision]) -> tuple[str, ...]:
    """Of the changes whose scope holds the question, those among either decision's reasons (rules), plus
    statute and hierarchy changes; all of them when none is among the reasons."""
    reasons: set[str] = set()
    for d in (old_d, new_d):
        if d is not None:
            reasons |= d.reason_ids()
    named = {c for c in causes if c.split(":", 1)[0] in RULE_KINDS and c.split(":", 1)[1] in reasons}
    other = {c for c in causes if c.split(":", 1)[0] not in RULE_KINDS}
    kept = named | other
    return tuple(sorted(kept or causes))


# ---- when: the boundary dates -------------------------------------------------------------------------


def boundary_dates(policy: Policy) -> set[dt.date]:
    """Every date on which a verdict of this policy can change: a statute commences or is repealed (as cited by
    a gateway or restriction), a gateway's or restriction's `valid` window opens or the day after it closes,
    the same for an agreement, and a body is succeeded. Verdicts are constant between two of these dates."""
    out: set[dt.date] = set()

    def after(d: dt.date) -> set[dt.date]:
        """The day after `d`, when there is one."""
        return {d + dt.timedelta(days=1)} if d < dt.date.max else set()

    for rule in list(policy.gateways.values()) + list(policy.restrictions.values()):
        w = rule.window
        out.update(d for d in (w.commenced, w.repealed, w.valid_from) if d is not None)
        if w.valid_to is not None:
            out |= after(w.valid_to)
    for a in policy.agreements.values():
        if a.valid is not None:
            if a.valid.start is not None:
                out.add(a.valid.start)
            if a.valid.end is not None:
                out |= after(a.valid.end)
    out.update(policy.org_start.values())
    out.update(end[0] for end in policy.org_end.values())
    out.update(_continuity_dates(policy, policy.orgs))
    out.discard(None)
    return out


def _continuity_dates(policy: Policy, keys: Iterable[str]) -> set[dt.date]:
    """Issue 12's dates that change which rules cover these bodies: class memberships beginning (or the day after
    they end) of the body, of a body it is part of, or of a body whose functions it received; and the dates it
    received functions by a transfer (a rule naming the transferor covers it from then, even when it existed
    before)."""
    out: set[dt.date] = set()
    seen: set[str] = set()
    todo = [k for k in keys if k is not None]
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        for _cls, members in policy.class_members.items():
            for member, start, end in members:
                if member == k:
                    out.update(d for d in (start, end + dt.timedelta(days=1) if end and end < dt.date.max
                                           else None) if d is not None)
        for i in policy.inherits.get(k, ()):
            out.add(i.since)
            todo.append(i.pred)
        parent = policy.org_tree.parent(k) if k in policy.org_tree else None
        if parent is not None:
            todo.append(parent)
    return out


def pair_boundaries(policy: Policy, source: str, recipient: str) -> frozenset[dt.date]:
    """The boundary dates that can change a verdict between these two bodies: a question's verdict depends only
    on the rules that are candidates for its (source, recipient) and on the two bodies' existence, so it is
    constant between these dates (a subset of `boundary_dates`, and far fewer)."""
    if source not in policy.orgs or recipient not in policy.orgs:
        return frozenset()
    cand = policy.candidates(source, recipient)
    out: set[dt.date] = set()
    for rule in list(cand.restrictions) + [g for g, _ in cand.gateways]:
        w = rule.window
        out.update(d for d in (w.commenced, w.repealed, w.valid_from) if d is not None)
        if w.valid_to is not None and w.valid_to < dt.date.max:
            out.add(w.valid_to + dt.timedelta(days=1))
    for _g, agreements in cand.gateways:
        for a in agreements:
            if a.valid is not None:
                if a.valid.start is not None:
                    out.add(a.valid.start)
                if a.valid.end is not None and a.valid.end < dt.date.max:
                    out.add(a.valid.end + dt.timedelta(days=1))
    for k in (source, recipient):
        if k in policy.org_start:
            out.add(policy.org_start[k])
        if k in policy.org_end:
            out.add(policy.org_end[k][0])
    out.update(_continuity_dates(policy, (source, recipient)))
    return frozenset(out)


def periods(boundaries: Iterable[dt.date]) -> list[tuple[Optional[dt.date], Optional[dt.date], dt.date]]:
    """The ranges between boundaries as (first day or None, last day or None, a date inside to judge on)."""
    pts = sorted(set(boundaries))
    if not pts:
        today = dt.date.today()
        return [(None, None, today)]
    out: list[tuple[Optional[dt.date], Optional[dt.date], dt.date]] = []
    first = pts[0]
    if first > dt.date.min:
        out.append((None, first - dt.timedelta(days=1), first - dt.timedelta(days=1)))
    for i, start in enumerate(pts):
        end = pts[i + 1] - dt.timedelta(days=1) if i + 1 < len(pts) else None
        out.append((start, end, start))
    return out


# ---- rolling flows up ----------------------------------------------------------------------------------


def _parents(old: Policy, new: Policy, q: QKey) -> list[QKey]:
    """The questions one level up in each dimension (the side that declares the name decides its parent)."""
    out = []
    for i, tree in enumerate(("org_tree", "org_tree", "data_tree", "purpose_tree")):
        k = q[i]
        t = getattr(new, tree) if k in getattr(new, tree) else getattr(old, tree)
        up = t.parent(k) if k in t else None
        if up:
            out.append(q[:i] + (up,) + q[i + 1:])
    return out


def _highest(old: Policy, new: Policy, q: QKey, members: dict, top_of: dict[QKey, QKey]) -> QKey:
    """The highest question above `q` (one level at a time) that is in `members`; memoised in `top_of`."""
    seen = [q]
    while True:
        if q in top_of:
            t = top_of[q]
            break
        ups = [u for u in _parents(old, new, q) if u in members]
        if not ups:
            t = q
            break
        q = ups[0]
        seen.append(q)
    for x in seen:
        top_of[x] = t
    return t


def roll_up(old: Policy, new: Policy, flows: list[FlowChange]) -> list[RolledFlow]:
    """Rows at the highest level that holds: a change is folded into the one a level up (source, recipient,
    data or purpose) when that one changes the same way, for the same causes, over the same dates and with the
    same basis or block; rows that then differ only in purpose become one row. Sensitive data first, newly
    allowed first."""
    groups: dict[tuple, dict[QKey, FlowChange]] = {}
    for f in flows:
        groups.setdefault((f.causes, f.new, f.start, f.end, f.because), {})[f.keys] = f
    rows: list[RolledFlow] = []
    for (causes, verdict, start, end, _because), members in groups.items():
        top_of: dict[QKey, QKey] = {}
        covered: dict[QKey, list[FlowChange]] = {}
        for q, f in members.items():
            covered.setdefault(_highest(old, new, q, members, top_of), []).append(f)
        merged: dict[tuple, list] = {}
        for q, fs in covered.items():
            f = members[q]
            key = (f.source, f.recipient, f.data, f.because)
            row = merged.setdefault(key, [[], 0, ""])
            row[0].append(f.purpose)
            row[1] += len(fs)
            flag = min((x.flag for x in fs), key=lambda x: FLAG_RANK[x])
            if FLAG_RANK[flag] < FLAG_RANK[row[2]]:
                row[2] = flag
        for (src, rcp, data, because), (purposes, n, flag) in merged.items():
            rows.append(RolledFlow(src, rcp, data, tuple(sorted(purposes, key=str.lower)), verdict, causes, flag,
                                   because, start, end, n))
    rows.sort(key=lambda r: (not r.newly_allowed, FLAG_RANK[r.flag], r.start or dt.date.min, r.source.lower(),
                             r.recipient.lower(), r.data.lower(), [x.lower() for x in r.purposes]))
    return rows


_KIND_ORDER = {"gateway": 0, "restriction": 1, "agreement": 2, "statute": 3, "organisation": 4, "data": 5, "purpose": 6}


def _order_changes(result: DiffResult) -> None:
    """The changes a reviewer must read first come first: those that open flows of sensitive data (or widen a
    rule to sensitive data), then those that open any flow, then those that close flows, then the rest."""
    def key(c: RuleChange) -> tuple:
        eff = result.effects(c.key)
        opened = min((FLAG_RANK[f.flag] for f in eff["allow"]), default=3)
        return (min(opened, FLAG_RANK[c.flag] if c.flag else 3), not eff["allow"], not eff["deny"],
                _KIND_ORDER.get(c.kind, 9), c.id.lower())

    result.changes.sort(key=key)


# ---- the diff --------------------------------------------------------------------------------------------


def _signature(policy: Policy, q: QKey, on: dt.date) -> tuple:
    """What decides a verdict on a date (the basis, or the blocks and the bodies missing), without the words:
    two dates with the same signature get the same explanation."""
    from engine.eval.decide import evaluate

    s, r, d, p = q
    if s not in policy.orgs or r not in policy.orgs or d not in policy.data or p not in policy.purposes:
        return ("undeclared",)
    out = evaluate(policy, Question(s, r, d, p, on), first_only=True)
    if out.allowed and out.basis is not None:
        g, a = out.basis
        return ("allow", g.key, a.key if a else None, tuple(sorted(x.key for x in out.overridden)))
    return ("deny", tuple(sorted(x.key for x in out.firing)), tuple(k for k, _w, _s in out.missing_org))


def diff_policies(old: Policy, new: Policy, on: Optional[dt.date] = None, old_label: str = "OLD",
                  new_label: str = "NEW", path_prefix: str = "") -> DiffResult:
    """The semantic diff of two compiled policies: on one date (`on`), or on every range between the boundary
    dates of either side (`on` None), each flow change reported with the range it holds over."""
    result = DiffResult(old_label, new_label, on, path_prefix=path_prefix)
    result.changes = rule_changes(old, new)
    result.boundaries = sorted(boundary_dates(old) | boundary_dates(new))
    spans: list[tuple[Optional[dt.date], Optional[dt.date], dt.date]] = (
        [(on, on, on)] if on is not None else periods(result.boundaries))
    result.dates = [day for _s, _e, day in spans]
    candidates = candidate_questions(old, new, result.changes)
    result.evaluated = len(candidates)
    flows = []
    # each pair's own ranges (see pair_boundaries)
    by_pair: dict[tuple[str, str], list[tuple[Optional[dt.date], Optional[dt.date], dt.date]]] = {}
    for q, causes in candidates.items():
        if on is None:
            pair = (q[0], q[1])
            found = by_pair.get(pair)
            if found is None:
                found = by_pair[pair] = periods(pair_boundaries(old, *pair) | pair_boundaries(new, *pair))
            spans = found
        runs: list[list] = []  # [start, end, day, verdicts, signatures]
        for start, end, day in spans:
            a, b = verdict(old, q, day), verdict(new, q, day)
            if a == b:
                continue
            sig = (a, b) if on is not None else (a, b, _signature(old, q, day), _signature(new, q, day))
            last = runs[-1] if runs else None
            if last is not None and last[4] == sig and last[1] is not None and start is not None \
                    and last[1] + dt.timedelta(days=1) == start:
                last[1] = end
                continue
            runs.append([start, end, day, (a, b), sig])
        for start, end, day, (a, b), _sig in runs:
            flows.append(_flow_change(old, new, q, causes, a, b, day, start, end))
    flows.sort(key=lambda f: (not f.newly_allowed, FLAG_RANK[f.flag], f.source.lower(), f.recipient.lower(),
                              f.data.lower(), f.purpose.lower(), f.start or dt.date.min))
    result.flows = flows
    result.rows = roll_up(old, new, flows)
    _order_changes(result)
    return result


def _flow_change(old: Policy, new: Policy, q: QKey, causes: set[str], a: bool, b: bool, day: dt.date,
                 start: Optional[dt.date], end: Optional[dt.date]) -> FlowChange:
    od, nd = _decision(old, q, day), _decision(new, q, day)
    sens = (nd if b else od)
    s, r, d, p = q
    return FlowChange(
        source=_name(old, new, "org", s), recipient=_name(old, new, "org", r), data=_name(old, new, "data", d),
        purpose=_name(old, new, "purpose", p), old="allow" if a else "deny", new="allow" if b else "deny",
        old_headline=od.headline if od else _missing(old, q), new_headline=nd.headline if nd else _missing(new, q),
        causes=_refine(causes, od, nd), sensitivity=tuple(sens.sensitivity) if sens else (),
        because=_because(nd, od), start=start, end=end, keys=q)


def brute_force(old: Policy, new: Policy, on: dt.date) -> set[QKey]:
    """Every question (over both sides' names) whose verdict differs — the reference the diff must match."""
    orgs = sorted(set(old.orgs) | set(new.orgs))
    data = sorted(set(old.data) | set(new.data))
    purposes = sorted(set(old.purposes) | set(new.purposes))
    return {q for q in itertools.product(orgs, orgs, data, purposes) if verdict(old, q, on) != verdict(new, q, on)}


# ---- reading the two sides ---------------------------------------------------------------------------


def _fail(message: str, help_: Optional[str] = None) -> DiagnosticsError:
    return DiagnosticsError([error("bad-revision", message, None, help_)])


def _git(args: list[str], cwd: Path, input_: Optional[bytes] = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=input_, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise _fail("git is not installed, so revisions cannot be read", "pass two bundle folders instead") from None
    except subprocess.TimeoutExpired:
        raise _fail(f"`git {' '.join(args)}` took too long") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _fail(f"`git {' '.join(args)}` failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def read_revision(rev: str, bundle_dir: Path, cwd: Optional[Path] = None) -> tuple[dict[str, str], str]:
    """The bundle at `bundle_dir` (a folder of the current repository) as it was at git revision `rev`:
    ({"policies/x.policy": text}, gateways.yaml text). Reads objects with git; never touches the work tree.

    No file name ever enters a line protocol: the tree is listed NUL-separated (`git ls-tree -z`), and blobs
    are fetched by object id (`git cat-file --batch` keyed by 40-hex ids, each response checked against the id
    asked for). A file name holding a control character is refused (`bad-file-name`) before anything is read."""
    from engine.bundle.read import DEFAULT_LIMITS, POLICIES_DIR, REGISTER_NAME

    cwd = cwd or Path.cwd()
    if rev.startswith("-"):
        raise _fail(f"`{rev}` is not a revision")
    neither = f"`{rev}` is neither a bundle folder nor a git revision"
    hint = "give a folder holding gateways.yaml and policies/, or a revision such as main, HEAD~1 or a commit SHA"
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    except DiagnosticsError:
        raise _fail(f"{neither} (`{cwd}` is not in a git repository)", hint) from None
    try:
        prefix = bundle_dir.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise _fail(f"the bundle `{bundle_dir}` is not inside the git repository at `{top}`",
                    "run the command inside the repository, or pass --bundle with a folder in it") from None
    prefix = "" if prefix == "." else prefix + "/"
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).decode().strip()
    except DiagnosticsError:
        raise _fail(f"{neither} of the repository at `{top}`", hint) from None
    register_path = f"{prefix}{REGISTER_NAME}"
    # --literal-pathspecs: the bundle folder's own name is a path, never a glob or a pathspec magic.
    listing = _git(["--literal-pathspecs", "ls-tree", "-r", "-l", "-z", "--full-tree", commit, "--",
                    register_path, f"{prefix}{POLICIES_DIR}/"], top)
    entries = _tree_entries(listing, rev)
    where = f"at revision `{rev}`"
    policy_entries = sorted((e for e in entries if e.path.startswith(f"{prefix}{POLICIES_DIR}/")
                             and e.path.endswith(".policy")), key=lambda e: e.path)
    register_entry = next((e for e in entries if e.path == register_path), None)
    # The bundle's files (as the folder loader picks them) must have safe names; other files are never read.
    bad = [d for d in (file_name_problem(e.path[len(prefix):], where) for e in policy_entries) if d is not None]
    if bad:
        raise DiagnosticsError(bad)
    if register_entry is None:
        raise _fail(f"revision `{rev}` has no `{register_path}`")
    if len(policy_entries) > DEFAULT_LIMITS.max_files:
        raise _fail(f"revision `{rev}` has {len(policy_entries):,} policy files, over the limit of "
                    f"{DEFAULT_LIMITS.max_files:,}")
    wanted = [register_entry] + policy_entries
    for e in wanted:
        if e.mode not in ("100644", "100755") or e.kind != "blob":
            what = "a symbolic link" if e.mode == "120000" else f"not a regular file (mode {e.mode}, {e.kind})"
            raise DiagnosticsError([error("unsafe-path", f"`{e.path[len(prefix):]}` {where} is {what}; it is not "
                                          "read", None, "commit the file itself")])
        if e.size > DEFAULT_LIMITS.max_file_bytes:
            raise _fail(f"`{e.path}` at `{commit[:12]}` is over the limit of {DEFAULT_LIMITS.max_file_bytes:,} bytes")
    if sum(e.size for e in wanted) > DEFAULT_LIMITS.max_total_bytes:
        raise _fail(f"the bundle at revision `{rev}` is over the limit of {DEFAULT_LIMITS.max_total_bytes:,} bytes")
    blobs = _cat_blobs([e.oid for e in wanted], top)
    texts = {e.path: _decode(blobs[e.oid], e.path, commit) for e in wanted}
    policies = {e.path[len(prefix):]: texts[e.path] for e in policy_entries}
    return policies, texts[register_path]


@dataclass(frozen=True)
class _TreeEntry:
    mode: str
    kind: str
    oid: str
    size: int  # 0 when git gives none (a submodule)
    path: str


_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256 repositories


def _tree_entries(listing: bytes, rev: str) -> list[_TreeEntry]:
    """Parse `git ls-tree -r -l -z` output (`MODE TYPE OID SIZE<TAB>PATH<NUL>`…, SIZE `-` for a submodule),
    failing closed on anything unexpected. Paths are taken verbatim: -z never quotes or escapes them."""
    out = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        head, tab, raw_path = item.partition(b"\t")
        f = head.decode("ascii", "replace").split()
        if not tab or len(f) != 4 or not _OID.fullmatch(f[2]) or not (f[3].isdigit() or f[3] == "-"):
            raise _fail(f"unexpected output from `git ls-tree` for revision `{rev}`")
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            # Not UTF-8: kept as escaped bytes (lone surrogates), which file_name_problem refuses.
            path = raw_path.decode("utf-8", "surrogateescape")
        out.append(_TreeEntry(f[0], f[1], f[2], int(f[3]) if f[3].isdigit() else 0, path))
    return out


def _decode(raw: bytes, path: str, commit: str) -> str:
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _fail(f"`{path}` at `{commit[:12]}` is not valid UTF-8") from None


def _cat_blobs(oids: list[str], cwd: Path) -> dict[str, bytes]:
    """Read blobs by object id in one `git cat-file --batch` call. Every request line is a bare object id,
    so nothing a user named can break the protocol; every response header must name the id asked for."""
    unique = list(dict.fromkeys(oids))
    raw = _git(["cat-file", "--batch"], cwd, "".join(f"{o}\n" for o in unique).encode("ascii"))
    out: dict[str, bytes] = {}
    pos = 0
    for oid in unique:
        nl = raw.find(b"\n", pos)
        header = raw[pos:nl].decode("ascii", "replace").split() if nl >= 0 else []
        if len(header) != 3 or header[0] != oid or header[1] != "blob" or not header[2].isdigit():
            raise _fail(f"unexpected answer from `git cat-file` for object `{oid[:12]}`")
        size = int(header[2])
        body = raw[nl + 1:nl + 1 + size]
        if len(body) != size or raw[nl + 1 + size:nl + 2 + size] != b"\n":
            raise _fail(f"unexpected answer from `git cat-file` for object `{oid[:12]}`")
        out[oid] = body
        pos = nl + 2 + size
    if pos != len(raw):
        raise _fail("unexpected answer from `git cat-file`: more than was asked for")
    return out


def load_side(spec: str, bundle_dir: Path, cwd: Optional[Path] = None, loader: Optional[BundleLoader] = None
              ) -> Policy:
    """A bundle folder when `spec` names a folder, else a git revision of the current repository. With
    `loader`, through it (what an earlier side shares with this one is not checked or compiled again)."""
    from engine.policy.load import load, load_texts

    cwd = cwd or Path.cwd()
    folder = Path(spec) if os.path.isabs(spec) else cwd / spec
    if folder.is_dir():
        return load(folder) if loader is None else loader.load(folder)
    policies, register = read_revision(spec, bundle_dir, cwd)
    return load_texts(policies, register) if loader is None else loader.load_texts(policies, register)


def diff(old: str, new: str, on: Optional[dt.date] = None, bundle_dir: Optional[Path] = None,
         cwd: Optional[Path] = None) -> DiffResult:
    """`lawful diff OLD NEW`: each side a bundle folder or a git revision of the bundle at `bundle_dir`."""
    from engine.bundle.read import resolve_bundle

    bdir = Path(bundle_dir) if bundle_dir else resolve_bundle(None, cwd)
    loader = BundleLoader()  # NEW is checked and compiled again only where it differs from OLD (issue 18)
    return diff_policies(load_side(old, bdir, cwd, loader), load_side(new, bdir, cwd, loader), on, old, new,
                         repository_prefix(new, bdir, cwd))


def repository_prefix(spec: str, bundle_dir: Path, cwd: Optional[Path] = None) -> str:
    """Where the NEW side's files sit, for links: the bundle's folder within its git repository (a revision),
    or the folder relative to the current one; "" at the root, and "" when it cannot be said."""
    cwd = cwd or Path.cwd()
    folder = Path(spec) if os.path.isabs(spec) else cwd / spec
    if not folder.is_dir():
        folder = bundle_dir
        try:
            top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
            rel = folder.resolve().relative_to(top.resolve()).as_posix()
        except (DiagnosticsError, ValueError):
            return ""
    else:
        try:
            rel = folder.resolve().relative_to(cwd.resolve()).as_posix()
        except ValueError:
            return ""
    return "" if rel == "." else rel + "/"




def fails_on(result: DiffResult, fail_on: str = "any") -> bool:
    """Does the diff hold a change that `--fail-on` names (so the command exits 1)? `newly-allowed`: a pull
    request that opens a flow fails until someone approves it; `newly-allowed-personal`: one of personal data."""
    if fail_on == "never":
        return False
    if fail_on == "newly-allowed":
        return bool(result.newly_allowed)
    if fail_on == "newly-allowed-personal":
        return any(f.flag for f in result.newly_allowed)
    if fail_on == "newly-denied":
        return bool(result.newly_denied)
    if fail_on == "any":
        return bool(result.flows)
    raise ValueError(f"unknown --fail-on value `{fail_on}`")
