"""Translate a compiled lawful `Policy` into each peer's language, from one neutral intermediate form.

The intermediate form (`IR`) keeps what a peer needs to decide a question (source, recipient, data,
purpose, date) exactly as `engine.eval.decide.evaluate` does, with names as they were written (scopes are left
to each peer's own hierarchy support: Cedar's `in`, Casbin's role links, Rego data), and every "in force
on a date" reduced to an inclusive window of day numbers (`date.toordinal()`):

- organisations exist from their succession date (inclusive) until their successor's (exclusive);
- a gateway is in force where its statute is (commenced inclusive, repealed exclusive; a proposed statute
  never, since the compared questions carry no `--assume`) and its own `valid` window covers the date;
- a restriction likewise (one without a statute only by its window); it fires when its data scope overlaps
  the question's category (inside or containing), its purposes overlap, its parties match and no `except`
  clause covers the flow;
- a flow is allowed through gateway g when g is in force, its parties, data and purposes cover the flow,
  every firing restriction is one g `overrides`, and either an agreement in force under g covers the flow
  with the lawful basis / article-9 / article-10 the data needs (from the agreement or the gateway), or
  g does not require an agreement and itself records what the data needs.
  (When g does not require one, an agreement in force that lacks a condition the gateway has still passes,
  since the gateway's condition counts; so "g alone, or any agreement" is the same verdict as `evaluate`'s
  "the agreements in force, else g alone".)

Agreements are checked against their gateway's parties, data and purposes when the bundle is loaded
(`unsupported-agreement`), so an agreement's own scopes imply the gateway's and the peers need not repeat them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Optional

MIN_DAY = 1
MAX_DAY = dt.date(9999, 12, 31).toordinal()


def day(d: Optional[dt.date], default: int) -> int:
    return default if d is None else d.toordinal()


@dataclass
class Flags:
    basis: bool
    art9: bool
    art10: bool

    def union(self, other: "Flags") -> "Flags":
        return Flags(self.basis or other.basis, self.art9 or other.art9, self.art10 or other.art10)


@dataclass
class Permit:
    """One way a flow can be allowed: a gateway alone (agreement None) or a gateway with one agreement."""

    gateway: str
    agreement: Optional[str]
    pairs: list[tuple[Optional[list[str]], Optional[list[str]]]]  # None = `*`
    data: list[str]
    purposes: list[str]
    lo: int
    hi: int
    flags: Flags  # what is recorded (agreement's or gateway's)
    overrides: list[str]


@dataclass
class Exception_:
    anonymised: bool
    to: Optional[list[str]]
    purposes: Optional[list[str]]


@dataclass
class Restriction:
    key: str
    one_way: list[str]
    forbids: list[tuple[Optional[list[str]], Optional[list[str]]]]
    data: Optional[list[str]]
    purposes: Optional[list[str]]
    lo: int
    hi: int
    exceptions: list[Exception_]
    overridable: bool = False  # some gateway lifts it


@dataclass
class IR:
    org_parent: dict[str, Optional[str]]
    org_life: dict[str, tuple[int, int]]  # [start, end) day numbers
    data_parent: dict[str, Optional[str]]
    purpose_parent: dict[str, Optional[str]]
    sens: dict[str, tuple[bool, bool, bool, bool]]  # personal, special-category, criminal-offence, anonymised
    permits: list[Permit] = field(default_factory=list)
    restrictions: list[Restriction] = field(default_factory=list)


def _statute_window(statute) -> Optional[tuple[int, int]]:
    if statute is None:
        return None
    if statute.status == "proposed":
        return None
    return day(statute.commenced, MIN_DAY), day(statute.repealed, MAX_DAY + 1) - 1


def _window(statute_window: Optional[tuple[int, int]], valid) -> tuple[int, int]:
    lo, hi = statute_window
    if valid is not None:
        lo = max(lo, day(valid.start, MIN_DAY))
        hi = min(hi, day(valid.end, MAX_DAY))
    return lo, hi


class Untranslatable(Exception):
    """The policy uses a construct the neutral form does not encode: no peer could be given the same policy."""


def untranslatable(policy) -> Optional[str]:
    """What in the policy the neutral form does not encode (None: nothing). The form predates the language of
    issues 12 and 13: classes of organisations, renames and transfers of functions, party exclusions, declared
    conditions, provenance bars, implied powers and data-protection regimes are decided by lawful alone."""
    found = []
    if policy.inherits or policy.former:
        found.append("renames or transfers of functions")
    if policy.has_dated:
        found.append("classes with dated members")
    if policy.conditions:
        found.append("declared conditions")
    if policy.provenance_matters:
        found.append("bars by provenance")
    return ", ".join(found) or None


def build_ir(policy) -> IR:
    """The neutral form of a compiled Policy (see the module docstring for the rules it encodes)."""
    reason = untranslatable(policy)
    if reason:
        raise Untranslatable(reason)
    org = policy.org_key
    ir = IR(
        org_parent={k: policy.org_tree.parent(k) for k in policy.orgs},
        org_life={k: (day(policy.org_start.get(k), MIN_DAY),
                      policy.org_end[k][0].toordinal() if k in policy.org_end else MAX_DAY + 1) for k in policy.orgs},
        data_parent={k: policy.data_tree.parent(k) for k in policy.data},
        purpose_parent={k: policy.purpose_tree.parent(k) for k in policy.purposes},
        sens={k: ("personal" in s, "special-category" in s, "criminal-offence" in s, "anonymised" in s)
              for k, s in policy.sensitivity.items()},
    )

    def parties(ps) -> list:
        return [(None if p.any_source else sorted({org(n.text) for n in p.sources}),
                 None if p.any_recipient else sorted({org(n.text) for n in p.recipients})) for p in ps]

    def flags(model) -> Flags:
        return Flags(bool(model.lawful_basis), bool(model.article9), bool(model.article10))

    overridable = set()
    for g in policy.gateways.values():
        sw = _statute_window(g.statute)
        overridable |= set(g.overrides)
        if sw is None:
            continue  # a proposed statute (or none): never in force for the compared questions
        lo, hi = _window(sw, g.valid)
        if lo > hi:
            continue
        gm = g.model
        gflags = flags(gm)
        if not g.requires_agreement:
            ir.permits.append(Permit(g.key, None, parties(gm.allows), sorted({n.key for n in gm.data}),
                                     sorted({n.key for n in gm.purposes}), lo, hi, gflags, sorted(g.overrides)))
        for a in policy.agreements_by_gateway.get(g.key, []):
            am = a.model
            alo, ahi = lo, hi
            if am.valid is not None:
                alo = max(alo, day(am.valid.start, MIN_DAY))
                ahi = min(ahi, day(am.valid.end, MAX_DAY))
            if alo > ahi:
                continue
            srcs = sorted({org(n.text) for n in am.sources})
            dsts = sorted({org(n.text) for n in am.recipients})
            pairs = [(srcs, dsts)] + ([(dsts, srcs)] if am.both_ways else [])
            ir.permits.append(Permit(g.key, a.key, pairs, sorted({n.key for n in am.data}),
                                     sorted({n.key for n in am.purposes}), alo, ahi, flags(am).union(gflags),
                                     sorted(g.overrides)))
    for r in policy.restrictions.values():
        rm = r.model
        if r.statute is not None:
            sw = _statute_window(r.statute)
            if sw is None:
                continue  # proposed: never binds without an assumption
        else:
            sw = (MIN_DAY, MAX_DAY)
        lo, hi = _window(sw, r.valid)
        if lo > hi:
            continue
        ir.restrictions.append(Restriction(
            key=r.key, one_way=sorted({org(n.text) for n in rm.one_way}), forbids=parties(rm.forbids),
            data=sorted({n.key for n in rm.data}) or None, purposes=sorted({n.key for n in rm.purposes}) or None,
            lo=lo, hi=hi,
            exceptions=[Exception_(e.anonymised, sorted({org(n.text) for n in e.to}) or None,
                                   sorted({n.key for n in e.purposes}) or None) for e in rm.exceptions],
            overridable=r.key in overridable))
    return ir


def ancestors(parent: dict[str, Optional[str]]) -> dict[str, frozenset]:
    out: dict[str, frozenset] = {}
    for n in parent:
        chain, cur = [], n
        while cur is not None and cur not in out:
            chain.append(cur)
            cur = parent.get(cur)
        base = out[cur] if cur is not None else frozenset()
        for c in reversed(chain):
            base = base | {c}
            out[c] = base
    return out


def descendants(parent: dict[str, Optional[str]]) -> dict[str, frozenset]:
    anc = ancestors(parent)
    out: dict[str, set] = {n: set() for n in parent}
    for n, ups in anc.items():
        for a in ups:
            out[a].add(n)
    return {k: frozenset(v) for k, v in out.items()}


# ---- the plain-dict floor -------------------------------------------------------------------------------


class Floor:
    """Plain Python over precomputed ancestor sets: permits bucketed by the (source, recipient) names they
    were written with, looked up for every pair of ancestors of the question's parties. Not a policy engine:
    the practical floor of a dict/set look-up in Python, answering the same questions with the same rules."""

    def __init__(self, ir: IR):
        self.org_anc = ancestors(ir.org_parent)
        self.data_anc = ancestors(ir.data_parent)
        self.data_desc = descendants(ir.data_parent)
        self.purpose_anc = ancestors(ir.purpose_parent)
        self.purpose_desc = descendants(ir.purpose_parent)
        self.life = ir.org_life
        self.sens = ir.sens
        self.by_pair: dict[tuple, list] = {}
        for p in ir.permits:
            entry = (frozenset(p.data), frozenset(p.purposes), p.lo, p.hi, p.flags.basis, p.flags.art9, p.flags.art10,
                     frozenset(p.overrides))
            for srcs, dsts in p.pairs:
                for s in (srcs or [None]):
                    for d in (dsts or [None]):
                        self.by_pair.setdefault((s, d), []).append(entry)
        self.restrictions = [
            (frozenset(r.one_way),
             [(None if s is None else frozenset(s), None if d is None else frozenset(d)) for s, d in r.forbids],
             None if r.data is None else frozenset(r.data), None if r.purposes is None else frozenset(r.purposes),
             r.lo, r.hi, [(e.anonymised, None if e.to is None else frozenset(e.to),
                           None if e.purposes is None else frozenset(e.purposes)) for e in r.exceptions], r.key)
            for r in ir.restrictions]

    def decide(self, q) -> bool:
        s, r, d, p, on = q
        life = self.life
        if not (life[s][0] <= on < life[s][1] and life[r][0] <= on < life[r][1]):
            return False
        sa, ra, da, pa = self.org_anc[s], self.org_anc[r], self.data_anc[d], self.purpose_anc[p]
        personal, special, criminal, anonymised = self.sens[d]
        firing = set()
        # within one legal person (issue 12): a body and its part, unless a `forbids` naming both bars it
        same_body = s != r and (r in sa or s in ra)
        for one_way, forbids, rdata, rpurp, lo, hi, excs, key in self.restrictions:
            if not lo <= on <= hi:
                continue
            if rdata is not None and rdata.isdisjoint(da) and rdata.isdisjoint(self.data_desc[d]):
                continue
            if rpurp is not None and rpurp.isdisjoint(pa) and rpurp.isdisjoint(self.purpose_desc[p]):
                continue
            if one_way.isdisjoint(sa) and not any((fs is None or not fs.isdisjoint(sa))
                                                  and (fd is None or not fd.isdisjoint(ra)) for fs, fd in forbids):
                continue
            if any((not an or anonymised) and (to is None or not to.isdisjoint(ra))
                   and (ps is None or not ps.isdisjoint(pa)) for an, to, ps in excs):
                continue
            if same_body and not any(fs is not None and fd is not None and not fs.isdisjoint(sa)
                                     and not fd.isdisjoint(ra) for fs, fd in forbids):
                continue
            firing.add(key)
        if same_body and not firing:
            return True
        by_pair = self.by_pair
        for sn in (*sa, None):
            for rn in (*ra, None):
                for pdata, ppurp, lo, hi, basis, a9, a10, overrides in by_pair.get((sn, rn), ()):
                    if (lo <= on <= hi and not pdata.isdisjoint(da) and not ppurp.isdisjoint(pa)
                            and (not personal or basis) and (not special or a9) and (not criminal or a10)
                            and firing <= overrides):
                        return True
        return False


def ir_summary(ir: IR) -> dict:
    return {"organisations": len(ir.org_parent), "data": len(ir.data_parent), "purposes": len(ir.purpose_parent),
            "permits": len(ir.permits), "restrictions": len(ir.restrictions),
            "overridable_restrictions": sum(r.overridable for r in ir.restrictions)}


# ---- Cedar ----------------------------------------------------------------------------------------------


def _q(s: str) -> str:
    return json.dumps(s)


def _cedar_set(kind: str, names: list[str]) -> str:
    return "[" + ", ".join(f"{kind}::{_q(n)}" for n in names) + "]"


def _cedar_restriction(r: Restriction) -> str:
    conds = [f"context.on >= {r.lo}", f"context.on <= {r.hi}"]
    if r.data is not None:
        conds.append("(" + " || ".join(f"resource in Data::{_q(n)} || Data::{_q(n)} in resource" for n in r.data) + ")")
    if r.purposes is not None:
        conds.append("(" + " || ".join(f"context.purpose in Purpose::{_q(n)} || Purpose::{_q(n)} in context.purpose"
                                       for n in r.purposes) + ")")
    party = []
    if r.one_way:
        party.append(f"principal in {_cedar_set('Org', r.one_way)}")
    for s, d in r.forbids:
        bits = []
        if s is not None:
            bits.append(f"principal in {_cedar_set('Org', s)}")
        if d is not None:
            bits.append(f"context.recipient in {_cedar_set('Org', d)}")
        party.append("(" + (" && ".join(bits) or "true") + ")")
    conds.append("(" + " || ".join(party) + ")")
    for e in r.exceptions:
        bits = []
        if e.anonymised:
            bits.append("resource.anonymised")
        if e.to is not None:
            bits.append(f"context.recipient in {_cedar_set('Org', e.to)}")
        if e.purposes is not None:
            bits.append(f"context.purpose in {_cedar_set('Purpose', e.purposes)}")
        conds.append("!(" + " && ".join(bits) + ")")
    return " && ".join(conds)


class _Relations:
    """"Can a question be inside both scopes?" for names in one tree: only when one name is inside the other."""

    def __init__(self, parent: dict[str, Optional[str]]):
        self.anc = ancestors(parent)

    def related(self, a: Optional[str], b: Optional[str]) -> bool:
        return a is None or b is None or a in self.anc.get(b, ()) or b in self.anc.get(a, ())

    def any_related(self, xs: Optional[list], ys: Optional[list]) -> bool:
        return xs is None or ys is None or any(self.related(x, y) for x in xs for y in ys)


def _may_fire_on(r: Restriction, p: Permit, orgs: _Relations, data: _Relations, purposes: _Relations) -> bool:
    """Whether some question the permit covers could also be one the restriction reaches (windows, data,
    purposes and parties overlap). Exceptions are ignored: keeping a restriction that cannot fire is safe."""
    if r.lo > p.hi or p.lo > r.hi:
        return False
    if not data.any_related(r.data, p.data) or not purposes.any_related(r.purposes, p.purposes):
        return False
    for srcs, dsts in p.pairs:
        if r.one_way and orgs.any_related(srcs, r.one_way):
            return True
        for fs, fd in r.forbids:
            if orgs.any_related(srcs, fs) and orgs.any_related(dsts, fd):
                return True
    return False


def cedar_policies(ir: IR) -> str:
    """One `permit` per gateway/agreement, one `forbid` per restriction no gateway lifts; a restriction some
    gateway lifts becomes an `unless` on the permits of the gateways that do not (Cedar has no way for a
    permit to override one particular forbid) — on those permits whose questions it can reach — and one
    `forbid` for organisations that do not exist yet/any more."""
    out = ['@id("organisations-exist")\nforbid(principal, action, resource) when { principal.start > context.on || '
           'principal.end <= context.on || context.recipient.start > context.on || '
           'context.recipient.end <= context.on };']
    overridable = {r.key: r for r in ir.restrictions if r.overridable}
    rel = (_Relations(ir.org_parent), _Relations(ir.data_parent), _Relations(ir.purpose_parent))
    for r in ir.restrictions:
        if not r.overridable:
            out.append(f'@id({_q(r.key)})\nforbid(principal, action, resource) when {{ {_cedar_restriction(r)} }};')
    for i, p in enumerate(ir.permits):
        party = []
        for s, d in p.pairs:
            bits = []
            if s is not None:
                bits.append(f"principal in {_cedar_set('Org', s)}")
            if d is not None:
                bits.append(f"context.recipient in {_cedar_set('Org', d)}")
            party.append("(" + (" && ".join(bits) or "true") + ")")
        conds = ["(" + " || ".join(party) + ")", f"resource in {_cedar_set('Data', p.data)}",
                 f"context.purpose in {_cedar_set('Purpose', p.purposes)}", f"context.on >= {p.lo}",
                 f"context.on <= {p.hi}"]
        if not p.flags.basis:
            conds.append("!resource.personal")
        if not p.flags.art9:
            conds.append("!resource.special")
        if not p.flags.art10:
            conds.append("!resource.criminal")
        # Only the lifted-elsewhere restrictions that can reach a question this permit covers (pruned when
        # the translation is compiled; inlining all of them in 20,000 permits makes gigabytes of policy).
        unless = [f"({_cedar_restriction(r)})" for k, r in sorted(overridable.items())
                  if k not in p.overrides and _may_fire_on(r, p, *rel)]
        ident = p.agreement or p.gateway
        text = (f'@id({_q(f"{i}:{ident}")})\npermit(principal, action == Action::"disclose", resource) '
                f'when {{ {" && ".join(conds)} }}')
        if unless:
            text += f' unless {{ {" || ".join(unless)} }}'
        out.append(text + ";")
    return "\n".join(out) + "\n"


def cedar_entities(ir: IR) -> list[dict]:
    ents = []
    for k, parent in ir.org_parent.items():
        start, end = ir.org_life[k]
        ents.append({"uid": {"type": "Org", "id": k}, "attrs": {"start": start, "end": end},
                     "parents": [] if parent is None else [{"type": "Org", "id": parent}]})
    for k, parent in ir.data_parent.items():
        personal, special, criminal, anonymised = ir.sens[k]
        ents.append({"uid": {"type": "Data", "id": k},
                     "attrs": {"personal": personal, "special": special, "criminal": criminal,
                               "anonymised": anonymised},
                     "parents": [] if parent is None else [{"type": "Data", "id": parent}]})
    for k, parent in ir.purpose_parent.items():
        ents.append({"uid": {"type": "Purpose", "id": k}, "attrs": {},
                     "parents": [] if parent is None else [{"type": "Purpose", "id": parent}]})
    ents.append({"uid": {"type": "Action", "id": "disclose"}, "attrs": {}, "parents": []})
    return ents


# ---- Rego (OPA) -------------------------------------------------------------------------------------------

REGO_MODULE = r'''package lawful

import rego.v1

# Data-driven: the permits and restrictions come from the compiled lawful Policy (benchmarks/translate.py);
# ancestor and descendant sets (objects used as sets) are precomputed, and permits are indexed by the
# (source, recipient) names they were written with ("*" for anyone), as an OPA user would ship them.
# Rules read `input` so that OPA evaluates each once per query (`firing` is a partial set); no
# comprehension inside a function (rego-cpp 1.5 mis-binds function arguments there).

src_anc := data.org_anc[input.source]
dst_anc := data.org_anc[input.recipient]
data_anc := data.data_anc[input.data]
data_desc := data.data_desc[input.data]
purpose_anc := data.purpose_anc[input.purpose]
purpose_desc := data.purpose_desc[input.purpose]
sens := data.sens[input.data]

exists if {
	ls := data.life[input.source]
	ls[0] <= input.on
	input.on < ls[1]
	lr := data.life[input.recipient]
	lr[0] <= input.on
	input.on < lr[1]
}

side_ok(anc, names) if names == null
side_ok(anc, names) if {
	some n in names
	anc[n]
}

overlaps(anc, desc, names) if names == null
overlaps(anc, desc, names) if {
	some n in names
	anc[n]
}
overlaps(anc, desc, names) if {
	some n in names
	desc[n]
}

anon_ok(required) if required == false
anon_ok(required) if sens[3] == true

excepted(r) if {
	some e in r.exceptions
	anon_ok(e.anonymised)
	side_ok(dst_anc, e.to)
	side_ok(purpose_anc, e.purposes)
}

party(r) if {
	some n in r.one_way
	src_anc[n]
}
party(r) if {
	some pr in r.forbids
	side_ok(src_anc, pr[0])
	side_ok(dst_anc, pr[1])
}

firing contains r.key if {
	some r in data.restrictions
	r.lo <= input.on
	input.on <= r.hi
	overlaps(data_anc, data_desc, r.data)
	overlaps(purpose_anc, purpose_desc, r.purposes)
	party(r)
	not excepted(r)
}

flag_ok(need, have) if need == false
flag_ok(need, have) if have == true

blocked(overrides) if {
	some k in firing
	not overrides[k]
}

permit_ok(p) if {
	p.lo <= input.on
	input.on <= p.hi
	some d in p.data
	data_anc[d]
	some u in p.purposes
	purpose_anc[u]
	flag_ok(sens[0], p.flags[0])
	flag_ok(sens[1], p.flags[1])
	flag_ok(sens[2], p.flags[2])
	not blocked(p.overrides)
}

src_keys contains s if some s, _ in src_anc
src_keys contains "*"
dst_keys contains r if some r, _ in dst_anc
dst_keys contains "*"

permitted if {
	some s in src_keys
	some r in dst_keys
	some p in data.permits[s][r]
	permit_ok(p)
}

default allow := false

allow if {
	exists
	permitted
}
'''


def rego_data(ir: IR) -> dict:
    def as_set(fs) -> dict:
        return {k: True for k in sorted(fs)}

    permits: dict[str, dict[str, list]] = {}
    for p in ir.permits:
        entry = {"lo": p.lo, "hi": p.hi, "data": p.data, "purposes": p.purposes,
                 "flags": [p.flags.basis, p.flags.art9, p.flags.art10], "overrides": as_set(p.overrides),
                 "id": p.agreement or p.gateway}
        keys = set()
        for srcs, dsts in p.pairs:
            keys |= {(s, d) for s in (srcs or ["*"]) for d in (dsts or ["*"])}
        for s, d in sorted(keys):
            permits.setdefault(s, {}).setdefault(d, []).append(entry)
    return {
        "life": {k: list(v) for k, v in ir.org_life.items()},
        "org_anc": {k: as_set(v) for k, v in ancestors(ir.org_parent).items()},
        "data_anc": {k: as_set(v) for k, v in ancestors(ir.data_parent).items()},
        "data_desc": {k: as_set(v) for k, v in descendants(ir.data_parent).items()},
        "purpose_anc": {k: as_set(v) for k, v in ancestors(ir.purpose_parent).items()},
        "purpose_desc": {k: as_set(v) for k, v in descendants(ir.purpose_parent).items()},
        "sens": {k: list(v) for k, v in ir.sens.items()},
        "permits": permits,
        "restrictions": [{"key": r.key, "lo": r.lo, "hi": r.hi, "one_way": r.one_way,
                          "forbids": [[s, d] for s, d in r.forbids], "data": r.data, "purposes": r.purposes,
                          "exceptions": [{"anonymised": e.anonymised, "to": e.to, "purposes": e.purposes}
                                         for e in r.exceptions]} for r in ir.restrictions],
    }


# ---- Casbin -----------------------------------------------------------------------------------------------

CASBIN_EXCEPTION_SLOTS = 4

CASBIN_MODEL = """[request_definition]
r = src, dst, data, purpose, on

[policy_definition]
p = kind, src, dst, data, purpose, lo, hi, nb, n9, n10, e1a, e1t, e1p, e2a, e2t, e2p, e3a, e3t, e3p, e4a, e4t, e4p, eft

[role_definition]
g = _, _
g2 = _, _
g3 = _, _
g4 = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.kind == "gone" && (r.src == p.src || r.dst == p.src) && (r.on < p.lo || r.on >= p.hi)) || \
 (p.kind == "permit" && r.on >= p.lo && r.on <= p.hi && (p.src == "*" || g(r.src, p.src)) && \
(p.dst == "*" || g(r.dst, p.dst)) && g2(r.data, p.data) && g3(r.purpose, p.purpose) && \
(p.nb == "0" || !g4(r.data, "tag.personal")) && (p.n9 == "0" || !g4(r.data, "tag.special")) && \
(p.n10 == "0" || !g4(r.data, "tag.criminal"))) || \
 (p.kind == "forbid" && r.on >= p.lo && r.on <= p.hi && (p.src == "*" || g(r.src, p.src)) && \
(p.dst == "*" || g(r.dst, p.dst)) && (p.data == "*" || g2(r.data, p.data) || g2(p.data, r.data)) && \
(p.purpose == "*" || g3(r.purpose, p.purpose) || g3(p.purpose, r.purpose)) && \
  !(p.e1a != "-" && (p.e1a == "0" || g4(r.data, "tag.anonymised")) && (p.e1t == "*" || g(r.dst, p.e1t)) && \
(p.e1p == "*" || g3(r.purpose, p.e1p))) && \
  !(p.e2a != "-" && (p.e2a == "0" || g4(r.data, "tag.anonymised")) && (p.e2t == "*" || g(r.dst, p.e2t)) && \
(p.e2p == "*" || g3(r.purpose, p.e2p))) && \
  !(p.e3a != "-" && (p.e3a == "0" || g4(r.data, "tag.anonymised")) && (p.e3t == "*" || g(r.dst, p.e3t)) && \
(p.e3p == "*" || g3(r.purpose, p.e3p))) && \
  !(p.e4a != "-" && (p.e4a == "0" || g4(r.data, "tag.anonymised")) && (p.e4t == "*" || g(r.dst, p.e4t)) && \
(p.e4p == "*" || g3(r.purpose, p.e4p))))
"""


def casbin_policy(ir: IR) -> tuple[list[list[str]], list[list[str]], list[list[str]], list[list[str]], list[list[str]]]:
    """(p rules, g org links, g2 data links, g3 purpose links, g4 sensitivity tags), lists expanded into one
    line per (party, data, purpose) the casbin way; multi-name `except to`/`for` become synthetic groups.

    Casbin's effect (`some allow && !some deny`) cannot tie a permit to the particular forbids its gateway
    lifts, so overrides are not expressed: every restriction is a deny line. Its answers are compared only on
    the questions where no restriction that some gateway lifts fires (the fragment; see RESULTS.md)."""
    blank = ["-", "*", "*"] * CASBIN_EXCEPTION_SLOTS
    rules: list[list[str]] = []
    g = [[k, p] for k, p in ir.org_parent.items() if p is not None]
    g2 = [[k, p] for k, p in ir.data_parent.items() if p is not None]
    g3 = [[k, p] for k, p in ir.purpose_parent.items() if p is not None]
    g4 = []
    for k, (personal, special, criminal, anonymised) in ir.sens.items():
        for flag, tag in ((personal, "tag.personal"), (special, "tag.special"), (criminal, "tag.criminal"),
                          (anonymised, "tag.anonymised")):
            if flag:
                g4.append([k, tag])
    for k, (lo, hi) in ir.org_life.items():
        if lo != MIN_DAY or hi != MAX_DAY + 1:
            rules.append(["gone", k, "*", "*", "*", str(lo), str(hi), "0", "0", "0", *blank, "deny"])
    for p in ir.permits:
        flags = ["0" if p.flags.basis else "1", "0" if p.flags.art9 else "1", "0" if p.flags.art10 else "1"]
        for srcs, dsts in p.pairs:
            for s in (srcs or ["*"]):
                for d in (dsts or ["*"]):
                    for dc in p.data:
                        for pc in p.purposes:
                            rules.append(["permit", s, d, dc, pc, f"{p.lo:07d}", f"{p.hi:07d}", *flags, *blank,
                                          "allow"])
    groups = 0
    for r in ir.restrictions:
        if len(r.exceptions) > CASBIN_EXCEPTION_SLOTS:
            raise ValueError(f"restriction {r.key} has more than {CASBIN_EXCEPTION_SLOTS} exceptions")
        exc: list[str] = []
        for e in r.exceptions:
            to = pur = "*"
            if e.to is not None:
                groups += 1
                to = f"group.exc{groups}"
                g += [[n, to] for n in e.to]
            if e.purposes is not None:
                groups += 1
                pur = f"group.exc{groups}"
                g3 += [[n, pur] for n in e.purposes]
            exc += ["1" if e.anonymised else "0", to, pur]
        exc += blank[len(exc):]
        parties = [(n, "*") for n in r.one_way] + [(s, d) for ss, dd in r.forbids for s in (ss or ["*"])
                                                   for d in (dd or ["*"])]
        for s, d in parties:
            for dc in (r.data or ["*"]):
                for pc in (r.purposes or ["*"]):
                    rules.append(["forbid", s, d, dc, pc, f"{r.lo:07d}", f"{r.hi:07d}", "0", "0", "0", *exc, "deny"])
    # Day numbers are zero-padded to 7 digits so that casbin's string comparison orders them.
    for rule in rules:
        if rule[0] == "gone":
            rule[5], rule[6] = f"{int(rule[5]):07d}", f"{int(rule[6]):07d}"
    return rules, g, g2, g3, g4
