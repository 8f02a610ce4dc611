"""What a bundle declares, and what changed when: the names a person can look up (`entries`, `find`), and the
dated events with the flows each made lawful or unlawful (`timeline`). Plain data out (engine/decision/
catalogue.py); words in engine/render/catalogue.py.

A name is found by its id, an alias or its title, in any case ("Adult Learning Inspectorate" finds ALI), in
every kind at once (`find`): `lawful show inspection` shows the purpose, and would show a gateway of that id
too. The flows of a timeline are those of `lawful flows` (engine/eval/reach.py) on each event's date and the
day before; a flow counts as begun (or ended) only when the verdict function says it was not lawful the day
before (or is not lawful on the day), so a row that is only reported at another level is never a change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Optional

from engine.base.diagnostics import did_you_mean
from engine.base.source import Span
from engine.compile.compiled import CAgreement, CGateway, CompiledPolicy, CRestriction, title_key
from engine.decision.catalogue import EVENT_KINDS, KINDS, Entry, Event, FlowChange, Ref, Timeline, TimelineDay
from engine.errors import RequestError, UnknownNameError
from engine.syntax import model as m

DAY = dt.timedelta(days=1)
MAX_TIMELINE_DAYS = 400  # dates with events in one timeline; each costs two registers of flows


def _at(span: Optional[Span]) -> Optional[str]:
    """`file:line` of a declaration (None when it has no place, e.g. made up by a what-if)."""
    if span is None or not span.file:
        return None
    return f"{span.file}:{span.line}" if span.line > 0 else span.file


def _names(names: Iterable[m.Name]) -> list[str]:
    return [n.text for n in names]


def _side(names: Iterable[m.Name], excluded: Iterable[m.Name] = (), anyone: bool = False) -> str:
    """A party list as written: `public-authority except NHS-England` (issue 12), `*` for anyone."""
    left_out = _names(excluded)
    return ("*" if anyone else ", ".join(_names(names))) + (f" except {', '.join(left_out)}" if left_out else "")


def _parties(pairs: Iterable[m.Parties]) -> list[str]:
    return [f"{_side(p.sources, p.except_sources, p.any_source)} -> "
            f"{_side(p.recipients, p.except_recipients, p.any_recipient)}" for p in pairs]


def _onward(o: Optional[m.Onward]) -> Optional[str]:
    if o is None:
        return None
    return o.kind + (" " + _side(o.targets, o.excluded) if o.targets else "")


def _window(statute: Optional[m.Statute], valid: Optional[m.Validity]) -> tuple[Optional[dt.date], Optional[dt.date]]:
    """First and last day a rule is in force (its statute's [commenced, repealed) and its own window)."""
    starts = [d for d in (statute.commenced if statute else None, valid.start if valid else None) if d]
    ends = [d for d in (statute.repealed - DAY if statute and statute.repealed else None,
                        valid.end if valid else None) if d]
    return (max(starts) if starts else None), (min(ends) if ends else None)


def _status(start: Optional[dt.date], end: Optional[dt.date], on: Optional[dt.date],
            live: str = "in force") -> Optional[str]:
    if on is None:
        return None
    if start is not None and on < start:
        return "not yet"
    if end is not None and on > end:
        return "ended"
    return live


class _Index:
    """Who names whom: for each organisation, data category, purpose and statute, the rules that name it."""

    def __init__(self, policy: CompiledPolicy):
        p = self.policy = policy
        self.refs: dict[tuple[str, str], list[Ref]] = {}

        def add(kind: str, key: str, ref: Ref) -> None:
            bucket = self.refs.setdefault((kind, key), [])
            if ref not in bucket:
                bucket.append(ref)

        def ref(kind: str, model: Any, role: str) -> Ref:
            return Ref(kind, model.id.text, model.title, role, _at(model.span))

        for g in p.gateways.values():
            for pair in g.model.allows:
                for n in pair.sources:
                    add("organisation", n.key, ref("gateway", g.model, "allows it to disclose"))
                for n in pair.recipients:
                    add("organisation", n.key, ref("gateway", g.model, "allows it to receive"))
                for n in pair.except_sources + pair.except_recipients:
                    add("organisation", n.key, ref("gateway", g.model, "leaves it out"))
            for n in g.model.data:
                add("data", n.key, ref("gateway", g.model, "covers it"))
            for n in g.model.purposes:
                add("purpose", n.key, ref("gateway", g.model, "covers it"))
            if g.statute is not None:
                add("statute", g.statute.id.lower(), ref("gateway", g.model, "cites it"))
        for r in p.restrictions.values():
            for n in r.model.one_way:
                add("organisation", n.key, ref("restriction", r.model, "binds it one-way"))
            for pair in r.model.forbids:
                for n in pair.sources:
                    add("organisation", n.key, ref("restriction", r.model, "forbids it to disclose"))
                for n in pair.recipients:
                    add("organisation", n.key, ref("restriction", r.model, "forbids disclosure to it"))
            left_out = r.model.one_way_except + tuple(n for pair in r.model.forbids
                                                      for n in pair.except_sources + pair.except_recipients)
            for n in left_out + tuple(n for e in r.model.exceptions for n in e.to_except):
                add("organisation", n.key, ref("restriction", r.model, "leaves it out"))
            for n in (n for e in r.model.exceptions for n in e.to):
                add("organisation", n.key, ref("restriction", r.model, "excepts disclosure to it"))
            for n in r.model.data:
                add("data", n.key, ref("restriction", r.model, "restricts it"))
            for n in r.model.purposes:
                add("purpose", n.key, ref("restriction", r.model, "restricts it"))
            if r.statute is not None:
                add("statute", r.statute.id.lower(), ref("restriction", r.model, "cites it"))
        for a in p.agreements.values():
            for n in a.model.sources:
                add("organisation", n.key, ref("agreement", a.model, "party, discloses"))
            for n in a.model.recipients:
                add("organisation", n.key, ref("agreement", a.model, "party, receives"))
            for n in a.model.except_sources + a.model.except_recipients:
                add("organisation", n.key, ref("agreement", a.model, "leaves it out"))
            for n in a.model.data:
                add("data", n.key, ref("agreement", a.model, "covers it"))
            for n in a.model.purposes:
                add("purpose", n.key, ref("agreement", a.model, "covers it"))

    def org_key(self, name: m.Name) -> str:
        k = name.key
        return k if k in self.policy.orgs else self.policy.org_alias.get(k, k)

    def of(self, kind: str, key: str) -> list[Ref]:
        return list(self.refs.get((kind, key), ()))


# ---- one entry per declaration -----------------------------------------------------------------------


def _organisation(p: CompiledPolicy, k: str, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    o = p.orgs[k]
    start = p.org_start.get(k)
    end_at = p.org_end.get(k)
    end = end_at[0] - DAY if end_at else None
    details: list[tuple[str, Any]] = []
    if o.succeeds is not None:
        details += [("succeeds", o.succeeds.text), ("succeeds_on", o.succeeds_on)]
    if end_at and end_at[1]:  # a body that simply `ceases on` has no successor to name (its end is in its dates)
        details += [("replaced_by", p.org_name(end_at[1])), ("replaced_on", end_at[0])]
    parts = sorted(p.org_name(c) for c in p.orgs if p.org_tree.parent(c) == k)
    if parts:
        details.append(("parts", parts))
    related: list[Ref] = []
    if ix is not None:
        related = ix.of("organisation", k)
        for alias in o.aliases:
            related += ix.of("organisation", alias.lower())
    parent = p.org_tree.parent(k)
    return Entry("organisation", o.id.text, o.title, _at(o.span), tuple(o.aliases),
                 p.org_name(parent) if parent else None, (), start, end, _status(start, end, on, "exists"),
                 tuple(details), tuple(related))


def _data(p: CompiledPolicy, k: str, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    d = p.data[k]
    parent = p.data_tree.parent(k)
    details: list[tuple[str, Any]] = [("markers", list(d.markers))]
    parts = sorted(p.data_name(c) for c in p.data if p.data_tree.parent(c) == k)
    if parts:
        details.append(("parts", parts))
    return Entry("data", d.id.text, d.title, _at(d.span), (), p.data_name(parent) if parent else None,
                 tuple(sorted(p.sensitivity[k])), None, None, None if on is None else "declared", tuple(details),
                 tuple(ix.of("data", k)) if ix else ())


def _purpose(p: CompiledPolicy, k: str, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    pu = p.purposes[k]
    parent = p.purpose_tree.parent(k)
    parts = sorted(p.purpose_name(c) for c in p.purposes if p.purpose_tree.parent(c) == k)
    return Entry("purpose", pu.id.text, pu.title, _at(pu.span), (), p.purpose_name(parent) if parent else None,
                 (), None, None, None if on is None else "declared", (("parts", parts),) if parts else (),
                 tuple(ix.of("purpose", k)) if ix else ())


def _statute_facts(statute: Optional[m.Statute], provision: Optional[str]) -> list[tuple[str, Any]]:
    if statute is None:
        return [("statute", None)]
    return [("statute", statute.id), ("statute_title", statute.title), ("provision", provision),
            ("url", m.provision_url(statute.url, provision))]


def _rule_status(statute: Optional[m.Statute], start, end, on) -> Optional[str]:
    if on is not None and statute is not None and statute.status == "proposed":
        return "proposed"
    return _status(start, end, on)


def _gateway(p: CompiledPolicy, g: CGateway, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    gm = g.model
    start, end = _window(g.statute, g.valid)
    details = _statute_facts(g.statute, g.provision) + [
        ("allows", _parties(gm.allows)), ("data", _names(gm.data)), ("purposes", _names(gm.purposes)),
        ("requires_agreement", gm.requires_agreement),
        ("lawful_basis", gm.lawful_basis.text if gm.lawful_basis else None), ("article_9", gm.article9),
        ("article_10", gm.article10), ("onward", _onward(gm.onward)), ("overrides", _names(gm.overrides)),
        ("notes", list(gm.notes))]
    related = [Ref("agreement", a.id, a.model.title, "relies on it", _at(a.model.span))
               for a in p.agreements_by_gateway.get(g.key, [])] if ix is not None else []
    if ix is not None and g.statute is not None:
        related.insert(0, Ref("statute", g.statute.id, g.statute.title, "cited", _at(g.statute.span)))
    return Entry("gateway", g.id, gm.title, _at(gm.span), (), None, (), start, end,
                 _rule_status(g.statute, start, end, on), tuple(details), tuple(related))


def _restriction(p: CompiledPolicy, r: CRestriction, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    rm = r.model
    start, end = _window(r.statute, r.valid)
    exceptions = []
    for e in rm.exceptions:
        parts = (["anonymised"] if e.anonymised else []) + ([f"to {_side(e.to, e.to_except)}"] if e.to else []) + (
            [f"for {', '.join(_names(e.purposes))}"] if e.purposes else []) + (
            [f"when {', '.join(_names(e.when))}"] if e.when else [])
        exceptions.append(" ".join(parts))
    details = _statute_facts(r.statute, r.provision) + [
        ("one_way", _names(rm.one_way)), ("one_way_except", _names(rm.one_way_except)),
        ("forbids", _parties(rm.forbids)), ("data", _names(rm.data)),
        ("purposes", _names(rm.purposes)), ("exceptions", exceptions), ("notes", list(rm.notes))]
    related = [Ref("gateway", g.id, g.model.title, "overrides it", _at(g.model.span))
               for g in p.gateways.values() if r.key in g.overrides] if ix is not None else []
    if ix is not None and r.statute is not None:
        related.insert(0, Ref("statute", r.statute.id, r.statute.title, "cited", _at(r.statute.span)))
    return Entry("restriction", r.id, rm.title, _at(rm.span), (), None, (), start, end,
                 _rule_status(r.statute, start, end, on), tuple(details), tuple(related))


def _agreement(p: CompiledPolicy, a: CAgreement, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    am = a.model
    start, end = (am.valid.start, am.valid.end) if am.valid else (None, None)
    details: list[tuple[str, Any]] = [
        ("from", _names(am.sources)), ("to", _names(am.recipients)), ("both_ways", am.both_ways),
        ("from_except", _names(am.except_sources)), ("to_except", _names(am.except_recipients)),
        ("data", _names(am.data)), ("purposes", _names(am.purposes)),
        ("under", am.under.text if am.under else None), ("owner", am.owner), ("review", am.review),
        ("lawful_basis", am.lawful_basis.text if am.lawful_basis else None), ("article_9", am.article9),
        ("article_10", am.article10), ("onward", _onward(am.onward)), ("conditions", list(am.requires)),
        ("notes", list(am.notes))]
    related: list[Ref] = []
    if ix is not None:
        g = p.gateways.get(a.gateway)
        if g is not None:
            related.append(Ref("gateway", g.id, g.model.title, "relies on", _at(g.model.span)))
    return Entry("agreement", a.id, am.title, _at(am.span), (), None, (), start, end, _status(start, end, on),
                 tuple(details), tuple(related))


def _statute(p: CompiledPolicy, k: str, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    s = p.statutes[k]
    end = s.repealed - DAY if s.repealed else None
    details: list[tuple[str, Any]] = [("status", s.status), ("citation", s.citation), ("url", s.url),
                                      ("commenced", s.commenced), ("repealed", s.repealed), ("notes", s.notes)]
    if on is None:
        status = None
    elif s.status == "proposed":
        status = "proposed"
    else:
        status = _status(s.commenced, end, on)
    return Entry("statute", s.id, s.title, _at(s.span), (), None, (), s.commenced, end, status, tuple(details),
                 tuple(ix.of("statute", k)) if ix else ())


def _entry(p: CompiledPolicy, kind: str, key: str, on: Optional[dt.date], ix: Optional[_Index]) -> Entry:
    if kind == "organisation":
        return _organisation(p, key, on, ix)
    if kind == "data":
        return _data(p, key, on, ix)
    if kind == "purpose":
        return _purpose(p, key, on, ix)
    if kind == "gateway":
        return _gateway(p, p.gateways[key], on, ix)
    if kind == "restriction":
        return _restriction(p, p.restrictions[key], on, ix)
    if kind == "agreement":
        return _agreement(p, p.agreements[key], on, ix)
    if kind == "statute":
        return _statute(p, key, on, ix)
    raise ValueError(f"not a kind: {kind!r}")


def _keys(p: CompiledPolicy, kind: str) -> list[str]:
    table: dict[str, Any] = {"organisation": p.orgs, "data": p.data, "purpose": p.purposes, "gateway": p.gateways,
                             "restriction": p.restrictions, "agreement": p.agreements, "statute": p.statutes}
    return sorted(table[kind])


def entries(policy: CompiledPolicy, kind: str, on: Optional[dt.date] = None, current_only: bool = False) -> list[Entry]:
    """Every declaration of `kind` (KINDS), sorted by id (any case). With `on`, each carries its status on
    that date; with `current_only` too, only those that exist or are in force on it (data categories and
    purposes have no dates: all of them)."""
    if kind not in KINDS:
        raise ValueError(f"not a kind: {kind!r}")
    out = [_entry(policy, kind, k, on, None) for k in _keys(policy, kind)]
    if on is not None and current_only:
        out = [e for e in out if e.status in ("exists", "in force", "declared")]
    out.sort(key=lambda e: (e.id.lower(), e.id))
    return out


def find(policy: CompiledPolicy, name: str, on: Optional[dt.date] = None) -> list[Entry]:
    """Every declaration called `name` — by id, alias or title, in any case — with what names it. Raises
    UnknownNameError (with suggestions from every id, alias and title) when nothing is."""
    p = policy
    key, title = name.strip().lower(), title_key(name)
    found: list[tuple[str, str]] = []
    for kind in KINDS:
        keys = _keys(p, kind)
        if key in keys:
            found.append((kind, key))
            continue
        if kind == "organisation" and key in p.org_alias:
            found.append((kind, p.org_alias[key]))
            continue
        titled = [k for k in keys if title_key(_entry_title(p, kind, k)) == title]
        found += [(kind, k) for k in titled]
    if not found:
        raise UnknownNameError("name", name, did_you_mean(name, _all_names(p)))
    ix = _Index(p)
    return [_entry(p, kind, k, on, ix) for kind, k in found]


def _entry_title(p: CompiledPolicy, kind: str, key: str) -> str:
    if kind == "organisation":
        return p.orgs[key].title
    if kind == "data":
        return p.data[key].title
    if kind == "purpose":
        return p.purposes[key].title
    if kind == "statute":
        return p.statutes[key].title
    rule = p.rule(key)
    return rule.model.title if rule is not None else key


def _all_names(p: CompiledPolicy) -> list[str]:
    out: list[str] = []
    for kind in KINDS:
        for k in _keys(p, kind):
            e = _entry(p, kind, k, None, None)
            out += [e.id, e.title, *e.aliases]
    return out


# ---- the timeline ------------------------------------------------------------------------------------


def events(policy: CompiledPolicy) -> list[Event]:
    """Every dated event of the bundle, by date (then kind order, then id)."""
    p = policy
    out: list[Event] = []
    for s in p.statutes.values():
        if s.status == "proposed":
            continue  # no date: it comes into force only when a question assumes it
        if s.commenced is not None:
            out.append(Event(s.commenced, "statute-commenced", s.id, s.title, _at(s.span)))
        if s.repealed is not None:
            out.append(Event(s.repealed, "statute-repealed", s.id, s.title, _at(s.span)))
    for k, o in p.orgs.items():
        if k in p.org_start and o.succeeds is not None:
            pred = p.org_key(o.succeeds.text)
            pm = p.orgs[pred]
            out.append(Event(p.org_start[k], "organisation-replaced", pm.id.text, pm.title, _at(pm.span),
                             (("successor", o.id.text), ("successor_title", o.title), ("successor_at", _at(o.span)))))
    # Continuity (issue 12): transfers of functions, renames, bodies that begin or simply cease.
    for t in p.transfers.values():
        first = p.orgs[t.sources[0]] if t.sources else None
        if first is None:
            continue
        names = ", ".join(p.org_name(k) for k in t.sources)
        out.append(Event(t.on, "organisation-transferred", names, first.title, _at(t.model.span),
                         (("successor", ", ".join(p.org_name(k) for k in t.targets)),
                          ("continues", t.model.continues))))
    for k, history in p.former.items():
        for name, until, title in history:
            if until is not None:
                out.append(Event(until, "organisation-renamed", name, title or p.orgs[k].title, _at(p.orgs[k].span),
                                 (("successor", p.orgs[k].id.text), ("successor_title", p.orgs[k].title))))
    for k, o in p.orgs.items():
        end = p.org_end.get(k)
        if end is not None and p.org_end_kind.get(k) == "ceases":
            out.append(Event(end[0], "organisation-ceased", o.id.text, o.title, _at(o.span)))
        if o.exists_from is not None and o.succeeds is None:
            out.append(Event(o.exists_from, "organisation-begins", o.id.text, o.title, _at(o.span)))
    for kind, rules in (("gateway", p.gateways.values()), ("restriction", p.restrictions.values()),
                        ("agreement", p.agreements.values())):
        for r in rules:
            valid = r.valid
            if valid is None:
                continue
            if valid.start is not None:
                out.append(Event(valid.start, f"{kind}-starts", r.id, r.model.title, _at(r.model.span)))
            if valid.end is not None:
                out.append(Event(valid.end + DAY, f"{kind}-ends", r.id, r.model.title, _at(r.model.span),
                                 (("last_day", valid.end),)))
    order = {k: i for i, k in enumerate(EVENT_KINDS)}
    out.sort(key=lambda e: (e.on, order.get(e.kind, 99), e.id.lower()))
    return out


def _flows_on(policy: CompiledPolicy, day: dt.date, cache: dict) -> dict[tuple[str, str, str, str], list[str]]:
    """{(source, recipient, data, purpose) names: [basis, …]} of the register of sharing on `day`."""
    from engine.eval.reach import lawful_flows

    hit = cache.get(day)
    if hit is None:
        hit = {}
        for row in lawful_flows(policy, on=day):
            basis = row.gateway + (f" / {row.agreement}" if row.agreement else "")
            bases = hit.setdefault((row.source, row.recipient, row.data, row.purpose), [])
            if basis not in bases:
                bases.append(basis)
        cache[day] = hit
    return hit


def _lawful(policy: CompiledPolicy, quad: tuple[str, str, str, str], day: dt.date) -> bool:
    from engine.eval.decide import allowed, normalise

    return allowed(policy, normalise(policy, *quad, day, ()))


def _changes(policy: CompiledPolicy, day: dt.date, cache: dict) -> tuple[list[FlowChange], list[FlowChange]]:
    before, after = _flows_on(policy, day - DAY, cache), _flows_on(policy, day, cache)
    # A same-body row (data and purpose `*`) has no one flow to decide: being in the register is its answer.
    whole = lambda q: "*" in q[2:]  # noqa: E731
    began = [FlowChange(*q, tuple(b)) for q, b in after.items()
             if q not in before and (whole(q) or not _lawful(policy, q, day - DAY))]
    ended = [FlowChange(*q, tuple(b)) for q, b in before.items()
             if q not in after and (whole(q) or not _lawful(policy, q, day))]
    order = lambda f: (f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower())  # noqa: E731
    return sorted(began, key=order), sorted(ended, key=order)


def timeline(policy: CompiledPolicy, start: Optional[dt.date] = None, end: Optional[dt.date] = None,
             max_days: int = MAX_TIMELINE_DAYS) -> Timeline:
    """The dated events from `start` to `end` (inclusive; None: no limit), one TimelineDay per date, each with
    the direct flows it made lawful (`began`) and unlawful (`ended`). Raises RequestError when the range holds
    more than `max_days` dates with events (each costs two registers of flows)."""
    if start is not None and end is not None and end < start:
        raise RequestError("bad-range", f"the range ends ({end.isoformat()}) before it starts ({start.isoformat()})",
                           "the first date must be on or before the last")
    chosen = [e for e in events(policy) if (start is None or e.on >= start) and (end is None or e.on <= end)
              and e.on > dt.date.min]
    by_day: dict[dt.date, list[Event]] = {}
    for e in chosen:
        by_day.setdefault(e.on, []).append(e)
    if len(by_day) > max_days:
        raise RequestError("limit-exceeded", f"the range holds events on {len(by_day):,} dates, more than the limit "
                           f"of {max_days:,}", "ask for a shorter range of dates")
    cache: dict = {}
    days = []
    for day in sorted(by_day):
        began, ended = _changes(policy, day, cache)
        days.append(TimelineDay(day, tuple(by_day[day]), tuple(began), tuple(ended)))
    return Timeline(start, end, tuple(days))
