"""Checks of the continuity of bodies (issue 12): renames, `exists from`, `ceases on` and transfers of functions.

- `stage_renames` (before the names are resolved): a rename is one legal person under a new name, so the
  former name's declaration is folded into the new one: the former name becomes a name of the same
  organisation (as an `aka` would), and whatever the former declaration said that the new one does not
  (`part-of`, `exists from`, `succeeds`, its aliases) carries over. The history of names is kept for answers
  ("TDA (formerly TTA)").
- `stage_continuity` (after the hierarchies): transfers name declared bodies, data and purposes; each body
  ends once, whether by a successor, a non-continuing transfer or `ceases on`; a transfer's parties exist on
  its date; a body does not cease before it exists.

`endings` is the one place the end of a body is gathered from all three (`successions` in checks.py gathers
the successions alone); engine/compile reads it.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple, Optional

from engine.base.diagnostics import did_you_mean, error
from engine.base.source import Span
from engine.check.checks import Checked, successions
from engine.check.incremental import items
from engine.syntax import model as m

MAX_RENAME_CHAIN = 64


class Former(NamedTuple):
    """A former name of an organisation and the day it stopped being used (the rename's date)."""

    name: m.Name
    until: dt.date
    title: str  # the former declaration's title, or "" when only the rename names it


class Ending(NamedTuple):
    """How and when a body ends: by a successor (`succeeds`), a transfer of its functions, or `ceases on`."""

    on: dt.date
    kind: str  # "succeeds" | "transfer" | "ceases"
    successor: str  # the successor's key ("" when it ceases); for a transfer, its first transferee by key
    transfer: Optional[m.Transfer] = None


# ---- renames -------------------------------------------------------------------------------------------


def stage_renames(c: Checked) -> None:
    renames: dict[str, tuple[str, m.Organisation]] = {}  # former key -> (new key, the declaration renaming it)
    for key, o in sorted(c.orgs.items()):
        if o.renames is None or o.renames_on is None:
            continue
        old = o.renames.key
        if old == key or c.org_alias.get(old) == key:
            c.diagnostics.append(error("bad-rename", f"`{o.id.text}` renames itself", o.renames.span,
                                       "name the body's former name"))
            continue
        if old in renames:
            first = renames[old][1]
            assert first.renames is not None
            c.diagnostics.append(error(
                "bad-rename", f"`{o.renames.text}` is renamed twice: as `{first.id.text}` and as `{o.id.text}`",
                o.renames.span, "a body has one name at a time; if its functions were split, write transfers",
                related=[(f"`{first.id.text}` renames it", first.renames.span)]))
            continue
        if old not in c.orgs and old in c.org_alias:
            other = c.orgs[c.org_alias[old]].id.text
            c.diagnostics.append(error(
                "bad-rename", f"`{o.renames.text}` is already another name of `{other}`", o.renames.span))
            continue
        renames[old] = (key, o)
    if not renames:
        return
    for old in sorted(renames):
        identity = _identity(c, renames, old)
        if identity is None:
            continue
        new_key, decl = renames[old]
        assert decl.renames is not None and decl.renames_on is not None  # only such declarations are kept
        former = c.orgs.pop(old, None)
        if former is not None:
            if former.ceases is not None:
                c.diagnostics.append(error(
                    "bad-rename", f"`{former.id.text}` ceases on {former.ceases.isoformat()} but `{decl.id.text}` "
                    f"renames it on {decl.renames_on.isoformat()}: a renamed body goes on existing", former.span,
                    "remove `ceases`, or write a transfer of functions (or `succeeds`) instead of `renames`",
                    related=[("renamed here", decl.renames.span)]))
            into = c.orgs[identity]
            # what the former declaration said that the new one does not carries over (one legal person)
            carried = {f: getattr(former, f) for f in ("parent", "exists_from", "succeeds", "succeeds_on")
                       if getattr(into, f) is None and getattr(former, f) is not None}
            if carried.get("succeeds") is None:
                carried.pop("succeeds_on", None)
            if former.member_of:
                carried["member_of"] = into.member_of + former.member_of
            if carried:
                c.orgs[identity] = m.replace(into, **carried)
            for alias, k in list(c.org_alias.items()):
                if k == old:
                    c.org_alias[alias] = identity
        c.org_alias[old] = identity
        c.renamed.setdefault(identity, []).append(
            Former(decl.renames, decl.renames_on, former.title if former is not None else ""))
    for identity, history in c.renamed.items():
        history.sort(key=lambda f: (f.until, f.name.key))
        start = c.orgs[identity].exists_from
        for f in history:
            if start is not None and f.until < start:
                c.diagnostics.append(error(
                    "bad-rename", f"`{f.name.text}` is renamed on {f.until.isoformat()}, before the body exists "
                    f"(from {start.isoformat()})", f.name.span))


def _identity(c: Checked, renames: dict[str, tuple[str, m.Organisation]], old: str) -> Optional[str]:
    """The key a former name ends at, following renames of renames; None (reported) on a loop."""
    seen = [old]
    key = renames[old][0]
    while key in renames:
        if key in seen or len(seen) > MAX_RENAME_CHAIN:
            decl = renames[old][1]
            assert decl.renames is not None
            c.diagnostics.append(error("bad-rename", f"renames form a loop through `{decl.renames.text}`",
                                       decl.renames.span, "each rename gives an older name a newer one"))
            return None
        seen.append(key)
        key = renames[key][0]
    return key if key in c.orgs else None


# ---- transfers and endings -----------------------------------------------------------------------------


def endings(c: Checked) -> dict[str, Ending]:
    """Body key -> how it ends: the earliest of its successions, its non-continuing transfers and its
    `ceases on` (ties: a succession first, then a transfer, then `ceases`), never depending on file order."""
    out: dict[str, list[Ending]] = {}
    for pred, succs in successions(c).items():
        if succs[0].succeeds_on is not None:
            out.setdefault(pred, []).append(Ending(succs[0].succeeds_on, "succeeds", succs[0].id.key))
    for t in c.transfers:
        if t.continues or t.on is None:
            continue
        targets = sorted(k for k in (c.org_key(n.text) for n in t.targets) if k is not None)
        for n in t.sources:
            k = c.org_key(n.text)
            if k is not None and targets:
                out.setdefault(k, []).append(Ending(t.on, "transfer", targets[0], t))
    for k, o in c.orgs.items():
        if o.ceases is not None:
            out.setdefault(k, []).append(Ending(o.ceases, "ceases", ""))
    rank = {"succeeds": 0, "transfer": 1, "ceases": 2}
    return {k: min(es, key=lambda e: (e.on, rank[e.kind], e.successor)) for k, es in out.items()}


def starts(c: Checked) -> dict[str, dt.date]:
    """Body key -> the day it comes into existence: its succession date or `exists from` (the later one)."""
    out: dict[str, dt.date] = {}
    for k, o in c.orgs.items():
        days = [d for d in (o.succeeds_on if o.succeeds is not None else None, o.exists_from) if d is not None]
        if days:
            out[k] = max(days)
    return out


def stage_continuity(c: Checked) -> None:
    classes_misused(c)
    _transfer_names(c)
    begin = starts(c)
    k: Optional[str]  # an organisation's key (None: a name that is not one)
    for k, o in sorted(c.orgs.items()):
        if o.ceases is not None and k in begin and o.ceases < begin[k]:
            c.diagnostics.append(error("bad-validity", f"`{o.id.text}` ceases on {o.ceases.isoformat()}, before it "
                                       f"exists (from {begin[k].isoformat()})", o.span))
    if c.unresolved:
        return
    # A body ends once: its successions (checked in checks.py), transfers and `ceases on` must agree.
    events: dict[str, list[tuple[dt.date, str, Optional[Span]]]] = {}
    for pred, succs in successions(c).items():
        first_succ = succs[0]
        assert first_succ.succeeds is not None and first_succ.succeeds_on is not None
        events.setdefault(pred, []).append((first_succ.succeeds_on, f"`{first_succ.id.text}` succeeds it",
                                            first_succ.succeeds.span))
    for t in c.transfers:
        if t.continues or t.on is None:
            continue
        for n in t.sources:
            k = c.org_key(n.text)
            if k is not None:
                events.setdefault(k, []).append((t.on, "its functions pass by a transfer", n.span))
    for k, o in c.orgs.items():
        if o.ceases is not None:
            events.setdefault(k, []).append((o.ceases, "it ceases", o.span))
    for k, evs in sorted(events.items()):
        days = sorted({d for d, _, _ in evs})
        if len(days) > 1:
            evs.sort(key=lambda e: e[0])
            first, later = evs[0], next(e for e in evs if e[0] != evs[0][0])
            c.diagnostics.append(error(
                "conflicting-succession",
                f"`{c.orgs[k].id.text}` ends on two dates: {first[1]} on {first[0].isoformat()} and {later[1]} on "
                f"{later[0].isoformat()}; a body ceases once", later[2],
                "give every ending the same date, or write `continues` on a transfer that leaves the body in being",
                related=[(f"{first[1]} on {first[0].isoformat()}", first[2])]))
    ends = endings(c)
    for t in c.transfers:
        if t.on is None:
            continue
        sources = {c.org_key(n.text) for n in t.sources}
        for n in t.targets:
            k = c.org_key(n.text)
            if k is None:  # cannot happen: an unknown name made the bundle unresolved (returned above)
                continue
            if k in sources:
                c.diagnostics.append(error("bad-transfer", f"`{n.text}` transfers functions to itself", n.span))
                continue
            if k in begin and begin[k] > t.on:
                c.diagnostics.append(error(
                    "bad-transfer", f"`{n.text}` receives functions on {t.on.isoformat()} but exists only from "
                    f"{begin[k].isoformat()}", n.span, f"give `{n.text}` `exists from {t.on.isoformat()}` or earlier"))
            elif k in ends and ends[k].on <= t.on:
                c.diagnostics.append(error(
                    "bad-transfer", f"`{n.text}` receives functions on {t.on.isoformat()} but no longer exists from "
                    f"{ends[k].on.isoformat()}", n.span))
        for n in t.sources:
            k = c.org_key(n.text)
            if k is None:  # cannot happen, as above
                continue
            if k in begin and begin[k] > t.on:
                c.diagnostics.append(error(
                    "bad-transfer", f"`{n.text}` transfers functions on {t.on.isoformat()} but exists only from "
                    f"{begin[k].isoformat()}", n.span))
            elif k in ends and ends[k].on < t.on:
                c.diagnostics.append(error(
                    "bad-transfer", f"`{n.text}` transfers functions on {t.on.isoformat()} but no longer exists from "
                    f"{ends[k].on.isoformat()}", n.span))


def _transfer_names(c: Checked) -> None:
    """Every name a transfer uses is declared (organisations, data, purposes, the statute)."""
    orgs = lambda: [o.id.text for o in c.orgs.values()]  # noqa: E731
    for t in c.transfers:
        for kind, names, known, candidates in (
                ("organisation", t.sources + t.targets, lambda k: c.org_key(k) is not None, orgs),
                ("data category", t.data, lambda k: k in c.data, lambda: [d.id.text for d in c.data.values()]),
                ("purpose", t.purposes, lambda k: k in c.purposes, lambda: [p.id.text for p in c.purposes.values()])):
            for n in names:
                if known(n.key):
                    continue
                c.unresolved = True
                sugg = did_you_mean(n.text, candidates())
                c.diagnostics.append(error("unknown-name", f"unknown {kind} `{n.text}`", n.span,
                                           f"did you mean {', '.join(f'`{s}`' for s in sugg)}?" if sugg else None))
        if t.statute is not None and t.statute.id.key not in c.statutes:
            c.unresolved = True
            c.diagnostics.append(error("unknown-statute", f"statute `{t.statute.id.text}` is not in gateways.yaml",
                                       t.statute.id.span, "register it under `statutes:` in gateways.yaml"))


def transfer_edges(c: Checked) -> list[tuple[m.Transfer, str, str]]:
    """(transfer, transferor key, transferee key) for every pair a transfer names, in a stable order."""
    out = []
    for t in c.transfers:
        for s in t.sources:
            for d in t.targets:
                sk, dk = c.org_key(s.text), c.org_key(d.text)
                if sk is not None and dk is not None and sk != dk and t.on is not None:
                    out.append((t, sk, dk))
    out.sort(key=lambda e: (e[0].on, e[1], e[2], e[0].title))
    return out


def inheritors(c: Checked, keys: list[str]) -> list[str]:
    """Every body that received functions (directly or along a chain of transfers) from one of `keys`, on
    any date: what a static check lets a rule naming them reach."""
    edges: dict[str, set[str]] = {}
    for _t, s, d in transfer_edges(c):
        edges.setdefault(s, set()).add(d)
    out: list[str] = []
    todo = [k for k in keys if k in edges]
    seen = set(keys)
    while todo:
        k = todo.pop()
        for d in sorted(edges.get(k, ())):
            if d not in seen:
                seen.add(d)
                out.append(d)
                todo.append(d)
    return out


# ---- classes of bodies ----------------------------------------------------------------------------------


def stage_classes(c: Checked) -> None:
    """Classes: declared once, not named like an organisation; each membership names a class, with a sane
    window; a class's statute is registered."""
    for cl in sorted(items(c.files, m.BodyClass), key=lambda i: (i.span.file, i.span.line, i.span.column)):
        key = cl.id.key
        if key in c.classes:
            first = c.classes[key].id
            c.diagnostics.append(error("duplicate-id", f"class `{cl.id.text}` is declared twice", cl.id.span,
                                       "identifiers are case-insensitive; rename one of them",
                                       related=[(f"`{first.text}` first declared", first.span)]))
            continue
        if c.org_key(cl.id.text) is not None:
            other = c.orgs[c.org_key(cl.id.text) or ""]
            c.diagnostics.append(error("duplicate-id", f"`{cl.id.text}` names both an organisation and a class",
                                       cl.id.span, "organisations and classes share one namespace in party lists",
                                       related=[("the organisation", other.span)]))
            continue
        c.classes[key] = cl
        if cl.statute is not None and cl.statute.id.key not in c.statutes:
            c.diagnostics.append(error("unknown-statute", f"statute `{cl.statute.id.text}` is not in gateways.yaml",
                                       cl.statute.id.span, "register it under `statutes:` in gateways.yaml"))
    for key, o in sorted(c.orgs.items()):
        for ms in o.member_of:
            if ms.start is not None and ms.end is not None and ms.end < ms.start:
                c.diagnostics.append(error("bad-validity", f"`{o.id.text}` is `{ms.name.text}` until {ms.end} before "
                                           f"it is from {ms.start}", ms.name.span))
            if ms.name.key in c.classes:
                c.members.setdefault(ms.name.key, []).append((key, ms))
                continue
            c.unresolved = True
            if c.org_key(ms.name.text) is not None:
                c.diagnostics.append(error("wrong-kind", f"`{ms.name.text}` is an organisation, not a class",
                                           ms.name.span,
                                           "declare the class with `class NAME \"…\"`, or use `part-of`"))
                continue
            sugg = did_you_mean(ms.name.text, [k.id.text for k in c.classes.values()])
            c.diagnostics.append(error("unknown-name", f"unknown class `{ms.name.text}`", ms.name.span,
                                       f"did you mean {', '.join(f'`{s}`' for s in sugg)}?" if sugg else
                                       f"declare it with `class {ms.name.text} \"…\"`"))


def classes_misused(c: Checked) -> None:
    """`part-of`, `succeeds`, `renames` and transfers name organisations, not classes."""
    for o in c.orgs.values():
        for n in (o.parent, o.succeeds):
            if n is not None and n.key in c.classes and c.org_key(n.text) is None:
                c.unresolved = True
                c.diagnostics.append(error("wrong-kind", f"`{n.text}` is a class, not an organisation", n.span,
                                           "a body is part of, or succeeds, an organisation"))
