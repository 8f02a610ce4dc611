"""Shared pieces of the fuzz and differential tests (issue 7).

- `fuzz_examples`: how many examples a property runs — modest by default, `LAWFUL_FUZZ=N` for a long run.
- `time_limit`: bounds one case in wall-clock time with SIGALRM, so a hang fails the test instead of
  stalling it.
- `bundle_specs`: a hypothesis strategy for random *valid* bundles, as plain Python data (`Spec`), rendered to
  policy text and gateways.yaml by `render`.
- `reference_decide`: a small, independent evaluator of docs/language.md "The decision" (the rules, and the
  cautious readings it documents), written plainly over the `Spec` — it shares no code
  with the engine, so agreeing with it means something.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from hypothesis import strategies as st

FUZZ_TOTAL = int(os.environ.get("LAWFUL_FUZZ", "0") or 0)


def fuzz_examples(share: float, default: int) -> int:
    """Examples for one property: its share of LAWFUL_FUZZ when set, else the small CI default."""
    return max(default, int(FUZZ_TOTAL * share)) if FUZZ_TOTAL else default


def record_run(prop: str, cases: int, seconds: float) -> None:
    """Append a property's case count to $LAWFUL_FUZZ_REPORT (JSON lines), for the record in docs/operations.md."""
    path = os.environ.get("LAWFUL_FUZZ_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"property": prop, "cases": cases, "seconds": round(seconds, 1),
                             "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}) + "\n")


class CaseTimeout(Exception):
    """One generated case ran longer than its bound: a hang, as far as the property is concerned."""


@contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise CaseTimeout(f"case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Counter:
    def __init__(self, prop: str):
        self.prop = prop
        self.cases = 0
        self.start = time.perf_counter()

    def done(self) -> None:
        record_run(self.prop, self.cases, time.perf_counter() - self.start)


# ---- random valid bundles --------------------------------------------------------------------------

MARKERS = ("personal", "special-category", "criminal-offence", "anonymised")
BASES = ("public-task", "consent", "legal-obligation")
DATES = [dt.date(2001, 1, 1), dt.date(2003, 6, 30), dt.date(2005, 1, 1), dt.date(2005, 6, 23), dt.date(2008, 12, 31)]


@dataclass
class Spec:
    """A bundle as plain data. Names are declared in upper case; `parent` maps a name to its parent."""

    orgs: list[str]
    org_parent: dict[str, Optional[str]]
    aliases: dict[str, str]  # org -> alias
    succeeds: dict[str, tuple[str, dt.date]]  # successor -> (predecessor, date)
    data: list[str]
    data_parent: dict[str, Optional[str]]
    markers: dict[str, tuple[str, ...]]
    purposes: list[str]
    purpose_parent: dict[str, Optional[str]]
    statutes: dict[str, dict]  # id -> {status, commenced, repealed}
    gateways: list[dict]
    restrictions: list[dict]
    agreements: list[dict]
    files: int = 1
    seed: int = 0


def _tree(rnd: random.Random, names: list[str]) -> dict[str, Optional[str]]:
    parent: dict[str, Optional[str]] = {}
    for i, n in enumerate(names):
        parent[n] = rnd.choice(([None] + names[:i])) if i else None
    return parent


def _subset(rnd: random.Random, items: list, lo: int = 1, hi: int = 2) -> list:
    return rnd.sample(list(items), rnd.randint(min(lo, len(items)), min(hi, len(items))))


def _window(rnd: random.Random) -> Optional[tuple[Optional[dt.date], Optional[dt.date]]]:
    if not (rnd.random() < 0.5):
        return None
    a, b = sorted([rnd.choice(DATES), rnd.choice(DATES)])
    kind = rnd.choice((["range", "from", "until"]))
    return (a, b) if kind == "range" else (a, None) if kind == "from" else (None, b)


def _descendants(parent: dict[str, Optional[str]], name: str) -> list[str]:
    return [n for n in parent if name in _up(parent, n)]


def _up(parent: dict[str, Optional[str]], name: str) -> list[str]:
    out = []
    cur: Optional[str] = name
    while cur is not None:
        out.append(cur)
        cur = parent.get(cur)
    return out


def make_spec(rnd: random.Random) -> Spec:
    """A random valid bundle (plain `random`, seeded: hypothesis draws only the seed, which keeps a case cheap)."""
    orgs = [f"O{i}" for i in range(rnd.randint(2, 6))]
    org_parent = _tree(rnd, orgs)
    aliases = {o: f"Alias{o}" for o in orgs if rnd.randint(0, 3) == 0}
    succeeds: dict[str, tuple[str, dt.date]] = {}
    for i, o in enumerate(orgs[1:], 1):
        if rnd.randint(0, 5) == 0:
            pred = rnd.choice((orgs[:i]))
            # One successor per body, never one inside it (successor-part-of-predecessor).
            if pred not in {p for p, _ in succeeds.values()} and pred not in _up(org_parent, o):
                succeeds[o] = (pred, rnd.choice((DATES)))
    data = [f"D{i}" for i in range(rnd.randint(1, 5))]
    data_parent = _tree(rnd, data)
    markers = {d: tuple(rnd.sample(MARKERS, rnd.randint(0, 2))) if rnd.randint(0, 2) == 0 else ()
               for d in data}
    purposes = [f"P{i}" for i in range(rnd.randint(1, 4))]
    purpose_parent = _tree(rnd, purposes)
    statutes = {}
    for i in range(rnd.randint(1, 3)):
        status = rnd.choice((["in-force", "in-force", "proposed", "repealed"]))
        rec = {"status": status}
        if status in ("in-force", "repealed") or (rnd.random() < 0.5):
            rec["commenced"] = rnd.choice((DATES))
        if status == "repealed" or (status == "in-force" and rnd.randint(0, 3) == 0):
            rec["repealed"] = rnd.choice(([d for d in DATES if d >= rec.get("commenced", DATES[0])]))
        statutes[f"S{i}"] = rec
    restrictions = []
    for i in range(rnd.randint(0, 3)):
        r = {"id": f"R{i}", "statute": rnd.choice(([None] + list(statutes))), "one_way": [], "forbids": [],
             "data": _subset(rnd, data) if (rnd.random() < 0.5) else [],
             "purposes": _subset(rnd, purposes) if rnd.randint(0, 2) == 0 else [],
             "exceptions": [], "valid": _window(rnd)}
        if (rnd.random() < 0.5):
            r["one_way"] = _subset(rnd, orgs)
        else:
            for _ in range(rnd.randint(1, 2)):
                r["forbids"].append((_party(rnd, orgs), _party(rnd, orgs)))
        for _ in range(rnd.randint(0, 2)):
            kind = rnd.choice((["anonymised", "to", "to-for", "for"]))
            r["exceptions"].append({
                "anonymised": kind == "anonymised",
                "to": _subset(rnd, orgs) if kind in ("to", "to-for") else [],
                "purposes": _subset(rnd, purposes) if kind in ("to-for", "for") else [],
            })
        restrictions.append(r)
    gateways = []
    for i in range(rnd.randint(1, 4)):
        gateways.append({
            "id": f"G{i}", "statute": rnd.choice((list(statutes))),
            "allows": [(_party(rnd, orgs, 6), _party(rnd, orgs, 6)) for _ in range(rnd.randint(1, 2))],
            "data": _subset(rnd, data), "purposes": _subset(rnd, purposes),
            "requires_agreement": (rnd.random() < 0.5),
            "lawful_basis": rnd.choice(([None, None] + list(BASES))),
            "article9": rnd.choice(([None, "DPA 2018 Sch 1 para 6"])),
            "article10": rnd.choice(([None, None, "DPA 2018 Sch 1 para 33"])),
            "overrides": _subset(rnd, [r["id"] for r in restrictions], 0, 2) if restrictions else [],
            "valid": _window(rnd),
        })
    agreements = []
    for i in range(rnd.randint(0, 4)):
        g = rnd.choice((gateways))
        srcs, dsts = rnd.choice((g["allows"]))
        src_pool = orgs if srcs is None else sorted({d for s in srcs for d in _descendants(org_parent, s)})
        dst_pool = orgs if dsts is None else sorted({d for s in dsts for d in _descendants(org_parent, s)})
        between = rnd.randint(0, 3) == 0
        a_src = _subset(rnd, src_pool, 1, 1 if between else 2)
        a_dst = _subset(rnd, dst_pool, 1, 1 if between else 2)
        if between:
            g["allows"].append((list(a_dst), list(a_src)))  # `between` needs the gateway both ways
        a_data = _subset(rnd, sorted({d for x in g["data"] for d in _descendants(data_parent, x)}))
        a_purp = _subset(rnd, sorted({p for x in g["purposes"] for p in _descendants(purpose_parent, x)}))
        agreements.append({
            "id": f"A{i}", "under": g["id"], "sources": a_src, "recipients": a_dst, "between": between,
            "data": a_data, "purposes": a_purp,
            "lawful_basis": rnd.choice(([None] + list(BASES))),
            "article9": rnd.choice(([None, "DPA 2018 Sch 1 para 6"])),
            "article10": rnd.choice(([None, "DPA 2018 Sch 1 para 33"])),
            "valid": _window(rnd), "requires": rnd.choice(([[], ["pseudonymised before transfer"]])),
        })
    return Spec(orgs, org_parent, aliases, succeeds, data, data_parent, markers, purposes, purpose_parent, statutes,
                gateways, restrictions, agreements, files=rnd.randint(1, 3), seed=rnd.randint(0, 2**16))


def _party(rnd: random.Random, orgs: list[str], wildcard_odds: int = 5) -> Optional[list[str]]:
    """A side of `A, B -> C`; None is the wildcard `*`."""
    if rnd.randint(0, wildcard_odds) == 0:
        return None
    return _subset(rnd, orgs)


bundle_specs = st.integers(0, 2**63 - 1).map(lambda seed: make_spec(random.Random(seed)))


# ---- rendering -------------------------------------------------------------------------------------


def render(spec: Spec) -> tuple[dict[str, str], str]:
    """The spec as policy files (items spread over `spec.files` files in a seeded order) and gateways.yaml.
    References are written in random case, and organisations sometimes by alias, to exercise lookups."""
    rnd = random.Random(spec.seed)

    def ref(name: str, org: bool = False) -> str:
        if org and name in spec.aliases and rnd.random() < 0.3:
            name = spec.aliases[name]
        return name.lower() if rnd.random() < 0.3 else name

    def refs(names, org=False) -> str:
        return ", ".join(ref(n, org) for n in names)

    def side(names) -> str:
        return "*" if names is None else refs(names, True)

    def window(w) -> str:
        a, b = w
        return f"valid {a} to {b}" if a and b else f"valid from {a}" if a else f"valid until {b}"

    items = []
    for o in spec.orgs:
        line = f'organisation {o} "Organisation {o}"'
        if spec.org_parent[o]:
            line += f" part-of {ref(spec.org_parent[o], True)}"
        if o in spec.aliases:
            line += f' aka "{spec.aliases[o]}"'
        if o in spec.succeeds:
            pred, when = spec.succeeds[o]
            line += f" succeeds {ref(pred, True)} on {when}"
        items.append(line)
    for d in spec.data:
        line = f'data {d} "Data {d}"'
        if spec.data_parent[d]:
            line += f" under {ref(spec.data_parent[d])}"
        line += "".join(f" {m}" for m in spec.markers[d])
        items.append(line)
    for p in spec.purposes:
        line = f'purpose {p} "Purpose {p}"'
        if spec.purpose_parent[p]:
            line += f" under {ref(spec.purpose_parent[p])}"
        items.append(line)
    for g in spec.gateways:
        body = [f'statute {ref(g["statute"])} "section 1"']
        body += [f"allows {side(s)} -> {side(d)}" for s, d in g["allows"]]
        body += [f"data {refs(g['data'])}", f"for {refs(g['purposes'])}"]
        if g["requires_agreement"]:
            body.append("requires agreement")
        if g["lawful_basis"]:
            body.append(f"lawful-basis {g['lawful_basis']}")
        if g["article9"]:
            body.append(f'article-9 "{g["article9"]}"')
        if g["article10"]:
            body.append(f'article-10 "{g["article10"]}"')
        if g["overrides"]:
            body.append(f"overrides {refs(g['overrides'])}")
        if g["valid"]:
            body.append(window(g["valid"]))
        rnd.shuffle(body)  # clause order never matters
        items.append(f'gateway {g["id"]} "Gateway {g["id"]}" {{\n  ' + "\n  ".join(body) + "\n}")
    for r in spec.restrictions:
        body = []
        if r["statute"]:
            body.append(f'statute {ref(r["statute"])} "section 2"')
        if r["one_way"]:
            body.append(f"one-way {refs(r['one_way'], True)}")
        body += [f"forbids {side(s)} -> {side(d)}" for s, d in r["forbids"]]
        if r["data"]:
            body.append(f"data {refs(r['data'])}")
        if r["purposes"]:
            body.append(f"for {refs(r['purposes'])}")
        for e in r["exceptions"]:
            if e["anonymised"]:
                body.append("except anonymised")
            elif e["to"]:
                body.append(f"except to {refs(e['to'], True)}"
                            + (f" for {refs(e['purposes'])}" if e["purposes"] else ""))
            else:
                body.append(f"except for {refs(e['purposes'])}")
        if r["valid"]:
            body.append(window(r["valid"]))
        items.append(f'restriction {r["id"]} "Restriction {r["id"]}" {{\n  ' + "\n  ".join(body) + "\n}")
    for a in spec.agreements:
        if a["between"]:
            body = [f"between {ref(a['sources'][0], True)} and {ref(a['recipients'][0], True)}"]
        else:
            body = [f"from {refs(a['sources'], True)} to {refs(a['recipients'], True)}"]
        body += [f"data {refs(a['data'])}", f"for {refs(a['purposes'])}", f"under {ref(a['under'])}",
                 'owner "Data Sharing Lead"']
        if a["lawful_basis"]:
            body.append(f"lawful-basis {a['lawful_basis']}")
        if a["article9"]:
            body.append(f'article-9 "{a["article9"]}"')
        if a["article10"]:
            body.append(f'article-10 "{a["article10"]}"')
        if a["valid"]:
            body.append(window(a["valid"]))
        body += [f'requires "{t}"' for t in a["requires"]]
        items.append(f'agreement {a["id"]} "Agreement {a["id"]}" {{\n  ' + "\n  ".join(body) + "\n}")
    rnd.shuffle(items)  # declaration order never matters either
    files: dict[str, list[str]] = {}
    for item in items:
        files.setdefault(f"policies/f{rnd.randrange(spec.files)}.policy", []).append(item)
    policies = {name: "\n\n".join(chunk) + "\n" for name, chunk in files.items()}
    reg = ["statutes:"]
    for sid, rec in spec.statutes.items():
        reg += [f"  {sid}:", f"    title: Statute {sid}", f"    status: {rec['status']}"]
        for key in ("commenced", "repealed"):
            if key in rec:
                reg.append(f"    {key}: {rec[key]}")
    return policies, "\n".join(reg) + "\n"


# ---- the reference evaluator -----------------------------------------------------------------------


@dataclass
class RefAnswer:
    allowed: bool
    firing: set[str] = field(default_factory=set)  # lower-case ids of restrictions that block
    basis: Optional[tuple[str, Optional[str]]] = None  # (gateway id, agreement id), lower case


def _within(parent: dict[str, Optional[str]], name: str, scope) -> bool:
    """`name` is one of `scope` or below one of them (None scope: the wildcard `*`)."""
    return scope is None or any(s in scope for s in _up(parent, name))


def _overlaps(parent: dict[str, Optional[str]], name: str, scope: list[str]) -> bool:
    """Inside one of `scope`, or containing one of them."""
    return any(s in _up(parent, name) or name in _up(parent, s) for s in scope)


def _statute_in_force(spec: Spec, sid: Optional[str], on: dt.date, assume: set[str]) -> bool:
    if sid is None:
        return True
    if sid in assume:
        return True  # an assumed statute is in force on every date
    rec = spec.statutes[sid]
    if rec["status"] == "proposed":
        return False
    if "commenced" in rec and on < rec["commenced"]:
        return False
    if "repealed" in rec and on >= rec["repealed"]:
        return False  # a repeal takes effect on its date
    return True


def _in_window(w, on: dt.date) -> bool:
    if w is None:
        return True
    a, b = w
    return (a is None or a <= on) and (b is None or on <= b)


def _flow_markers(spec: Spec, d: str) -> set[str]:
    """The sensitivity a flow of `d` carries (docs/language.md, "Cautious readings": Sensitivity): each part's own
    markers come from the nearest declaration walking up — an `anonymised` category with no explicit
    sensitive marker at or below it is not personal, an explicit sensitive marker beats an inherited
    `anonymised`; asking for a category includes all its parts; special/criminal imply personal."""
    sensitive = {"personal", "special-category", "criminal-offence"}

    def own(x: str) -> set[str]:
        found: set[str] = set()
        for y in _up(spec.data_parent, x):
            marks = set(spec.markers[y])
            if "anonymised" in marks and not found and not (marks & sensitive):
                return set()
            found |= marks & sensitive
        return found

    out = {m for x in _descendants(spec.data_parent, d) for m in own(x)}
    if out & {"special-category", "criminal-offence"}:
        out.add("personal")
    inherited = {m for y in _up(spec.data_parent, d) for m in spec.markers[y]}
    if "anonymised" in inherited and not out:
        out.add("anonymised")
    return out


def _exists(spec: Spec, org: str, on: dt.date) -> bool:
    if org in spec.succeeds and on < spec.succeeds[org][1]:
        return False  # a successor exists from its succession date
    for _succ, (pred, when) in spec.succeeds.items():
        if pred == org and on >= when:
            return False  # the predecessor ceases on that date
    return True


def reference_decide(spec: Spec, src: str, dst: str, data: str, purpose: str, on: dt.date,
                     assume: set[str]) -> RefAnswer:
    """docs/language.md "The decision", steps 0–4, over canonical (declared) names."""
    # 0. both organisations exist (checked after the restrictions: a decision still names every bar)
    exists = _exists(spec, src, on) and _exists(spec, dst, on)
    op, dp, pp = spec.org_parent, spec.data_parent, spec.purpose_parent
    sens = _flow_markers(spec, data)
    # 1. restrictions that block (before any gateway lifts them)
    firing = set()
    for r in spec.restrictions:
        source_hit = any(o in _up(op, src) for o in r["one_way"]) or any(
            _within(op, src, s) and _within(op, dst, d) for s, d in r["forbids"])
        if not source_hit:
            continue
        if r["data"] and not _overlaps(dp, data, r["data"]):
            continue
        if r["purposes"] and not _overlaps(pp, purpose, r["purposes"]):
            continue
        if not (_statute_in_force(spec, r["statute"], on, assume) and _in_window(r["valid"], on)):
            continue
        excepted = False
        for e in r["exceptions"]:
            conds = []
            if e["anonymised"]:
                conds.append("anonymised" in sens)
            if e["to"]:
                conds.append(_within(op, dst, e["to"]))
            if e["purposes"]:
                conds.append(_within(pp, purpose, e["purposes"]))
            if all(conds):
                excepted = True
        if not excepted:
            firing.add(r["id"].lower())
    if not exists:
        return RefAnswer(False, firing)
    # 1b. within one legal person (one part of the other): allowed unless a `forbids` naming both by
    # organisation (no `*`) catches it; only such bars apply there
    if src != dst and (dst in _up(op, src) or src in _up(op, dst)):
        firing = {r["id"].lower() for r in spec.restrictions if r["id"].lower() in firing and any(
            s is not None and d is not None and _within(op, src, s) and _within(op, dst, d) for s, d in r["forbids"])}
        if not firing:
            return RefAnswer(True, firing, None)
    # 2–4. gateways in force, their agreements, the lawful basis; then overrides
    bases = []
    for g in spec.gateways:
        if not any(_within(op, src, s) and _within(op, dst, d) for s, d in g["allows"]):
            continue
        if not (_within(dp, data, g["data"]) and _within(pp, purpose, g["purposes"])):
            continue
        if not (_statute_in_force(spec, g["statute"], on, assume) and _in_window(g["valid"], on)):
            continue
        in_force = []
        for a in spec.agreements:
            if a["under"] != g["id"]:
                continue
            dirs = [(a["sources"], a["recipients"])] + ([(a["recipients"], a["sources"])] if a["between"] else [])
            if not any(_within(op, src, s) and _within(op, dst, d) for s, d in dirs):
                continue
            if _within(dp, data, a["data"]) and _within(pp, purpose, a["purposes"]) and _in_window(a["valid"], on):
                in_force.append(a)
        if g["requires_agreement"] and not in_force:
            continue
        # an agreement in force relying on the gateway is always the one cited
        for a in (in_force or [None]):
            def has(key, a=a, g=g):
                return bool((a and a[key]) or g[key])
            if "personal" in sens and not has("lawful_basis"):
                continue
            if "special-category" in sens and not has("article9"):
                continue
            if "criminal-offence" in sens and not has("article10"):
                continue
            lifted = {x.lower() for x in g["overrides"]}
            if firing - lifted:
                continue
            bases.append((bool(firing & lifted), g["id"].lower(), a["id"].lower() if a else ""))
    if not bases:
        return RefAnswer(False, firing)
    _lifts, gid, aid = min(bases)  # prefer a basis that lifts nothing, then by gateway id, agreement id
    return RefAnswer(True, firing, (gid, aid or None))


def question_dates(spec: Spec) -> list[dt.date]:
    """Every date the bundle mentions, and the days either side: where the boundaries are."""
    days = set(DATES)
    for rec in spec.statutes.values():
        days.update(v for k, v in rec.items() if isinstance(v, dt.date))
    for _pred, when in spec.succeeds.values():
        days.add(when)
    for item in spec.gateways + spec.restrictions + spec.agreements:
        if item["valid"]:
            days.update(d for d in item["valid"] if d)
    out = set()
    for d in days:
        out.update({d - dt.timedelta(days=1), d, d + dt.timedelta(days=1)})
    return sorted(out)


DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent
