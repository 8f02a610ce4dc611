"""The nearest changes that would make a denied flow lawful — each verified by deciding again with the
change applied, never guessed. Each fix is data (a kind, the names it touches, `args` for its words);
engine/render/words.py says it. Deciding again is done by the rules the change can reach where that is provably
the whole decision (an agreement added under one gateway: that gateway; `_Check`), and a candidate that fails a
necessary condition of an ALLOW (rules 2-4 under none of the pair's gateways) is not decided again; the fixes are
exactly those of deciding every candidate again in full (tests/test_routes_fixes_equivalence.py, against
tests/oracles/fixes_full.py).

Candidates, cheapest first: renew an agreement that covers the flow but is out of its window; add the data or
purpose to an agreement in force between the same parties under a gateway that allows the flow; make an
agreement under a gateway that needs one; assume a proposed statute (with an agreement if its gateway needs
one); wait for a later date on which a gateway not yet in force commences (with an agreement if needed);
use the successor of an organisation that no longer exists; ask for a narrower (e.g. anonymised) data
category; ask for another purpose.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import replace
from functools import cached_property
from itertools import islice
from typing import Callable, Iterable, Optional

from engine.syntax import model as m
from engine.compile.compiled import CAgreement, Candidates, CGateway, CompiledPolicy
from engine.eval import memo
from engine.eval.decide import Outcome, Question, evaluate
from engine.eval.rules import (agreement_covers, conditions_unmet, could_have_received, in_force, org_absent,
                               pair_via, power_excluded, same_body, sensitivity_gap, valid_on)
from engine.decision.answer import Fix

MAX_FIXES = 6


def _hypothetical_agreement(policy: CompiledPolicy, q: Question, g: CGateway) -> CAgreement:
    sens = policy.sensitivity[q.data]
    basis = None
    if "personal" in sens and g.model.lawful_basis is None:
        basis = m.Name("public-task")
    model = m.Agreement(
        id=m.Name("(new agreement)"), title="hypothetical agreement",
        sources=(m.Name(policy.org_name(q.source)),), recipients=(m.Name(policy.org_name(q.recipient)),),
        data=(m.Name(policy.data_name(q.data)),), purposes=(m.Name(policy.purpose_name(q.purpose)),),
        under=g.model.id, lawful_basis=basis,
        article9="(condition to be recorded)" if "special-category" in sens else None,
        article10="(condition to be recorded)" if "criminal-offence" in sens else None,
        valid=m.Validity(q.on, None))
    return CAgreement(key="(new agreement)", model=model,
                      directions=((frozenset({q.source}), frozenset({q.recipient})),),
                      data=frozenset({q.data}), purposes=frozenset({q.purpose}), gateway=g.key,
                      valid=model.valid, hypothetical=True)


def _renewed(a: CAgreement, on: dt.date) -> CAgreement:
    v = a.valid or m.Validity()
    start = v.start if v.start is None or v.start <= on else on
    end = v.end if v.end is None or v.end >= on else on
    return replace(a, valid=m.Validity(start, end), hypothetical=True)


def _agreement_args(policy: CompiledPolicy, q: Question, g: CGateway) -> dict:
    """What the words of "make an agreement …" need."""
    return {"source": policy.org_name(q.source), "recipient": policy.org_name(q.recipient),
            "data": policy.data_name(q.data), "purpose": policy.purpose_name(q.purpose), "gateway": g.id,
            "sensitivity": sorted(policy.sensitivity[q.data])}


def _extend_agreement(policy: CompiledPolicy, q: Question, g: CGateway, check: "_Check") -> Optional[Fix]:
    """An agreement in force under `g` between the same parties that lacks only the data or the purpose asked
    for: the fix is to add them to it (its owner can), verified by deciding again with them added."""
    for a in _pair_agreements(policy, q, g):
        if a.hypothetical or (a.valid is not None and not a.valid.covers(q.on)):
            continue  # an agreement out of its window is the renew fix
        if not any(q.source in s and q.recipient in d for s, d in a.directions):
            continue
        add_data, add_purpose = q.data not in a.data, q.purpose not in a.purposes
        if not (add_data or add_purpose):
            continue
        if check.with_agreement(g, a, widened=True):  # `a` with the data and purpose added
            return Fix("extend-agreement", "", agreement=a.id, gateway=g.id,
                       args={"owner": a.model.owner, "add_data": policy.data_name(q.data) if add_data else None,
                             "add_purpose": policy.purpose_name(q.purpose) if add_purpose else None})
    return None


def _later_date(policy: CompiledPolicy, q: Question, g: CGateway, ok,
                possible: Optional[Callable[[dt.date], bool]] = None) -> Optional[Fix]:
    """The first date after the question's on which gateway `g` would make the flow lawful, verified. A day on
    which `possible` (a necessary condition of an ALLOW on that day) fails is not decided again."""
    starts: dict[dt.date, list[tuple[str, str]]] = {}  # date -> [(what starts, its id)]
    st = g.statute
    w = g.window
    if st is not None and w.periods is not None:  # a provision with its own dates: its next window
        if not w.proposed and w.statute_key not in q.assume and w.provision_key not in q.assume:
            later_starts = [s for s, _e in w.periods if s > q.on]
            if later_starts:
                starts.setdefault(min(later_starts), []).append(("statute", policy.assumed_name(w.provision_key or "")))
    elif (st is not None and st.status != "proposed" and st.id.lower() not in q.assume and st.commenced
          and st.commenced > q.on):
        if st.repealed is None or st.repealed > st.commenced:
            starts.setdefault(st.commenced, []).append(("statute", st.id))
    if g.valid is not None and g.valid.start is not None and g.valid.start > q.on:
        starts.setdefault(g.valid.start, []).append(("gateway", g.id))
    if not starts:
        return None  # the gateway itself is in force (or never will be): a later date is not the fix
    gate_open = max(starts)  # every one of the gateway's own conditions holds from here
    days, starting = _agreements_starting(policy, g)
    for start, a in starting[bisect.bisect_right(days, gate_open):]:  # by start, each day's in the gateway's order
        starts.setdefault(start, []).append(("agreement", a.id))
    def events(day: dt.date) -> list[tuple[dt.date, str, str]]:
        return [(d, what, ident) for d, ws in sorted(starts.items()) if d <= day for what, ident in ws]

    for day in sorted(d for d in starts if d >= gate_open):
        if possible is not None and not possible(day):
            continue  # the decision would deny it
        later = replace(q, on=day)
        if ok(later):
            return Fix("later-date", "", statute=st.id if st else None, gateway=g.id, on=day,
                       args={"events": events(day)})
    later = replace(q, on=gate_open)
    if g.requires_agreement or "personal" in policy.sensitivity[q.data]:
        if ok(later, (_hypothetical_agreement(policy, later, g),)):
            return Fix("later-date", "", statute=st.id if st else None, gateway=g.id, on=gate_open,
                       args={"events": events(gate_open), "with_agreement": True, **_agreement_args(policy, q, g)})
    return None


_Starting = tuple[list[dt.date], list[tuple[dt.date, CAgreement]]]


def _agreements_starting(policy: CompiledPolicy, g: CGateway) -> _Starting:
    """The agreements under `g` with a start date, by start date and, on one date, in the gateway's order (with
    their start dates, and those alone for bisection). Made once per gateway of a compiled policy (immutable): a
    later date looks at those that start after a day, not at every agreement of a gateway (thousands at 10x)."""
    table = memo.table(policy, "fixes:starting")
    hit = table.get(g.key)
    if hit is None:
        dated = sorted(((a.valid.start, i, a) for i, a in enumerate(policy.agreements_by_gateway.get(g.key, []))
                        if a.valid is not None and a.valid.start is not None), key=lambda t: (t[0], t[1]))
        hit = table[g.key] = ([t[0] for t in dated], [(t[0], t[2]) for t in dated])
    return hit


def _narrower_parts(policy: CompiledPolicy, data: str) -> list[str]:
    """The parts of `data` a narrower-data fix may offer, in the order they are tried (the largest first: the
    nearest the data asked for, then the one with most parts of its own), never one marked more sensitive than
    `data`; at most 50. The same for every question, so made once per category of a compiled policy."""
    table = memo.table(policy, "fixes:parts")
    hit = table.get(data)
    if hit is None:
        asked = _declared_sensitivity(policy, data)
        parts = [d for d in policy.data_tree.descendants.get(data, ())
                 if d != data and _declared_sensitivity(policy, d) <= asked]
        parts.sort(key=lambda d: (policy.data_tree.depth(d), -len(policy.data_tree.descendants.get(d, ())), d))
        hit = table[data] = parts[:50]
    return hit


SENSITIVE_MARKERS = frozenset({"personal", "special-category", "criminal-offence"})


def _declared_sensitivity(policy: CompiledPolicy, key: str) -> frozenset:
    """The sensitivity markers a category carries itself or inherits from the categories it is under (not
    those of its parts): how sensitive a part is compared with the whole asked for. Read from a table of every
    category made once per compiled policy (a narrower-data fix reads it for each part of the data asked for:
    hundreds at 10x the large bundle)."""
    hit = memo.whole(policy, "fixes:declared", lambda: {k: _declared(policy, k) for k in policy.data}).get(key)
    return hit if hit is not None else _declared(policy, key)


def _declared(policy: CompiledPolicy, key: str) -> frozenset:
    return frozenset(mk for a in policy.data_tree.ancestors.get(key, {key}) for mk in policy.data[a].markers
                     if mk in SENSITIVE_MARKERS)


class _Check:
    """Verifies a candidate fix: decides again the question of a DENY changed one way. `out` must be the
    outcome of evaluating `q` itself (explained or verdict alone, as `Policy.decide` passes it).

    The question unchanged but for an agreement added under one of its candidate gateways (renew, extend, a new
    agreement) is decided by that gateway alone, which is provably the whole decision again: the added agreement
    changes nothing before the gateways (organisations, restrictions, one body, the onward bar) nor any other
    gateway, none of which allowed the flow; and the gateway's own options before (its agreements in force, or
    none) all failed, so it allows the flow exactly when its own conditions hold (`gateway_open`) and the added
    agreement reaches the pair, covers the flow, is in force with its conditions given and leaves no lawful-basis
    gap. Every other change is decided again in full, once per distinct question."""

    def __init__(self, policy: CompiledPolicy, q: Question, out: Outcome) -> None:
        self.policy, self.q, self.out = policy, q, out
        self._open: dict[str, bool] = {}
        self._holds: dict[str, bool] = {}
        self._flow: Optional[list[tuple[CGateway, list[CAgreement]]]] = None
        self._fits: dict[str, list[tuple[CAgreement, bool]]] = {}
        self._seen: dict[Question, bool] = {}

    @cached_property
    def cand(self) -> Candidates:
        """The pair's candidate rules (looked up once: a DENY of an absent organisation never needs them)."""
        return self.policy.candidates(self.q.source, self.q.recipient)

    @cached_property
    def one_body(self) -> bool:
        return same_body(self.policy, self.q.source, self.q.recipient) is not None

    def __call__(self, question: Question, extra: tuple[CAgreement, ...] = ()) -> bool:
        if extra:
            return evaluate(self.policy, question, extra, first_only=True).allowed
        hit = self._seen.get(question)
        if hit is None:
            hit = self._seen[question] = evaluate(self.policy, question, first_only=True).allowed
        return hit

    def gateway_open(self, g: CGateway) -> bool:
        """Would gateway `g` allow the flow of q given an agreement that suits it: g is one of q's candidates
        (parties, data, purpose), in force, resting on a power that counts, with its conditions given, and
        lifting every restriction that fires; and nothing before the gateways already denies the flow."""
        hit = self._open.get(g.key)
        if hit is None:
            out = self.out
            hit = self._open[g.key] = (
                not out.missing_org and out.onward_bar is None and any(c is g for c in out.candidates)
                and self.gateway_holds(g) and all(r.key in g.overrides for r in out.firing))
        return hit

    def gateway_holds(self, g: CGateway) -> bool:
        """What gateway `g` needs on q's date whatever the data, purpose and agreements: in force, resting on a
        power that counts, with its conditions given (rules 2 and issue 13, as `evaluate` tests them)."""
        hit = self._holds.get(g.key)
        if hit is None:
            hit = self._holds[g.key] = self._gateway_stands(g, self.q.on)
        return hit

    def with_agreement(self, g: CGateway, a: CAgreement, renewed: bool = False, widened: bool = False) -> bool:
        """`evaluate(policy, q, (a2,), first_only=True).allowed` (see the class) for an agreement a2 under `g`:
        `a` itself, or `a` with its window stretched to q's date (`renewed`: `_renewed(a, q.on)`), or with q's
        data and purpose added (`widened`) — neither of which needs making to be tested."""
        policy, q = self.policy, self.q
        if self.out.allowed:  # not a DENY: the argument above does not hold; decide again in full
            wider = replace(a, data=a.data | {q.data}, purposes=a.purposes | {q.purpose}, hypothetical=True) \
                if widened else a
            return self(q, (_renewed(wider, q.on) if renewed else wider,))
        if a.gateway != g.key or not self.gateway_open(g):
            return False
        if f"agreement:{a.key}" not in self.cand.conditional:
            if not agreement_covers(a, q.source, q.recipient):
                return False
        elif pair_via(policy, a.directions, q.source, q.recipient, q.data, q.purpose, q.on) is None:
            return False
        if not widened and (q.data not in a.data or q.purpose not in a.purposes):
            return False
        if not renewed and valid_on(a.valid, q.on) is not None:
            return False
        if a.conditions and conditions_unmet(a.conditions, q.given):
            return False
        return sensitivity_gap(policy, q.data, g, a, q.on) is None  # reads the agreement's words, not its dates

    def could_allow_on(self, day: dt.date) -> bool:
        """A necessary condition for q asked on another day to be allowed: both organisations exist on it, and
        the pair is one body or rules 2-4 hold on it under one of the gateways of q's data and purpose."""
        policy, q = self.policy, self.q
        if org_absent(policy, q.source, day) is not None or org_absent(policy, q.recipient, day) is not None:
            return False
        if self.one_body:
            return True
        if self._flow is None:
            self._flow = [(g, c) for g, c in self.cand.gateways if q.data in g.data and q.purpose in g.purposes]
        return self.rules_hold(q.data, q.purpose, day, self._flow)

    def could_allow_provenance(self) -> bool:
        """A necessary condition for q with its provenance stated otherwise to be allowed: the pair is one body or
        rules 2-4 hold under one of its gateways (none of which reads the provenance; the restrictions that bind
        by it and the onward clause of the gateway received under are the decision's to test)."""
        return self.one_body or self.rules_hold(self.q.data, self.q.purpose, self.q.on, self.cand.gateways)

    def rules_hold(self, d: str, p: str, on: dt.date, gateways: Iterable[tuple[CGateway, list[CAgreement]]]) -> bool:
        """Rules 2-4 of the decision, as `evaluate` applies them, hold for the flow of q with data `d` and purpose
        `p` on `on` under one of `gateways` (the pair's candidates, or those of them that may hold): its data and
        purposes, its parties on the date, in force, its power and conditions, an agreement that fits if it needs
        one, no lawful-basis gap. A necessary condition of an ALLOW unless the pair is one body (the restrictions
        a gateway must lift are not tested: the decision made again tests them)."""
        policy, q, cand = self.policy, self.q, self.cand
        s, r = q.source, q.recipient
        for g, covering in gateways:
            if d not in g.data or p not in g.purposes:
                continue
            if g.key in cand.conditional and pair_via(policy, g.pairs, s, r, d, p, on) is None:
                continue
            if not self._gateway_stands(g, on):
                continue
            fitted = False
            for a, dated in self._pair_fit(g, covering):
                if d in a.data and p in a.purposes and valid_on(a.valid, on) is None and (
                        not dated or pair_via(policy, a.directions, s, r, d, p, on) is not None):
                    if sensitivity_gap(policy, d, g, a, on) is None:
                        return True
                    fitted = True
            if not fitted and not g.requires_agreement and sensitivity_gap(policy, d, g, None, on) is None:
                return True  # no agreement in force: the gateway's own record of the basis is the option
        return False

    def _gateway_stands(self, g: CGateway, on: dt.date) -> bool:
        """The gateway's own conditions on `on`: in force, its power not excluded, its conditions given."""
        q = self.q
        if in_force(g.window, on, q.assume) is not None or (g.implied and power_excluded(g, q.express_only)
                                                            is not None):
            return False
        return not (g.conditions and conditions_unmet(g.conditions, q.given))

    def purposes_admitted(self, d: str, on: dt.date, gateways: list[tuple[CGateway, list[CAgreement]]]) -> set[str]:
        """Every purpose p for which `rules_hold(d, p, on, gateways)`, each gateway's found at once: the purposes of
        its fitting agreements without a lawful-basis gap, and those no agreement fits if the gateway needs none
        and records the basis itself. A gateway or agreement that reaches the pair only on some dates (transfers,
        dated memberships; `pair_via` reads the purpose) is tested purpose by purpose."""
        policy, cand = self.policy, self.cand
        found: set[str] = set()
        for g, covering in gateways:
            if d not in g.data:
                continue
            one = [(g, covering)]
            if g.key in cand.conditional:
                found.update(p for p in g.purposes if self.rules_hold(d, p, on, one))
                continue
            if not self._gateway_stands(g, on):
                continue
            fits = [(a, dated) for a, dated in self._pair_fit(g, covering) if d in a.data and valid_on(a.valid, on)
                    is None]
            if any(dated for _a, dated in fits):
                found.update(p for p in g.purposes if self.rules_hold(d, p, on, one))
                continue
            fitted: set[str] = set()
            for a, _dated in fits:
                fitted |= a.purposes & g.purposes
                if sensitivity_gap(policy, d, g, a, on) is None:
                    found |= a.purposes & g.purposes
            if not g.requires_agreement and sensitivity_gap(policy, d, g, None, on) is None:
                found |= g.purposes - fitted
        return found

    def _pair_fit(self, g: CGateway, covering: list[CAgreement]) -> list[tuple[CAgreement, bool]]:
        """The agreements of `covering` (g's for the pair) that may reach the pair with their conditions given,
        whatever the data, purpose and date; with whether they reach it only on some dates (`pair_via`)."""
        hit = self._fits.get(g.key)
        if hit is None:
            q, conditional = self.q, self.cand.conditional
            hit = self._fits[g.key] = [
                (a, dated) for a in covering
                for dated in (f"agreement:{a.key}" in conditional,)
                if (dated or agreement_covers(a, q.source, q.recipient))
                and not (a.conditions and conditions_unmet(a.conditions, q.given))]
        return hit


def find_fixes(policy: CompiledPolicy, q: Question, out: Outcome) -> list[Fix]:
    """The fixes of the DENY `out`, which must be the outcome of evaluating `q` (`evaluate(policy, q, explain=True)`,
    as `Policy.decide` makes it)."""
    fixes: list[Fix] = []
    data = policy.data_name(q.data)
    ok = check = _Check(policy, q, out)

    if out.missing_org:
        for k, _when, successor in out.missing_org:
            if successor:
                alt = replace(q, source=successor if q.source == k else q.source,
                              recipient=successor if q.recipient == k else q.recipient)
                if ok(alt):
                    fixes.append(Fix("successor", "", organisation=policy.org_name(successor),
                                     args={"replaced": policy.org_name(k)}))
        return fixes

    # Renew an agreement that would cover the flow but for its dates.
    for g in out.candidates:
        if not check.gateway_open(g):
            continue  # no agreement under it can make the flow lawful
        for a in _pair_agreements(policy, q, g):
            if a.valid is None or a.valid.covers(q.on):
                continue
            if not any(q.source in s and q.recipient in d for s, d in a.directions):
                continue
            if q.data not in a.data or q.purpose not in a.purposes:
                continue
            if check.with_agreement(g, a, renewed=True):
                # not begun yet: nothing to renew; it would have to start earlier
                expired = a.valid.end is not None and a.valid.end < q.on
                fixes.append(Fix("renew-agreement", "", agreement=a.id, gateway=g.id,
                                 args={"expired": expired, "date": q.on, "end": a.valid.end, "start": a.valid.start,
                                       "owner": a.model.owner}))

    # A new agreement under a candidate gateway; with the statute assumed when it is only proposed.
    for g in out.candidates:
        statute = g.statute
        # what an assumption names: the statute, or the provision with its own dates that the gateway cites
        assume_key = (g.window.provision_key or g.window.statute_key) if statute is not None else None
        never = g.window.periods == ()  # a provision never commenced: assuming it is the fix, as for a proposal
        proposed = statute is not None and (g.window.proposed or never) and statute.id.lower() not in q.assume \
            and assume_key not in q.assume
        if proposed:
            q2 = replace(q, assume=q.assume | {assume_key} if assume_key is not None else q.assume)
            if statute is not None and ok(q2):
                fixes.append(Fix("assume-statute", "", statute=policy.assumed_name(assume_key or ""), gateway=g.id,
                                 args={"statute_title": statute.title, "not_commenced": never}))
                continue
        elif not check.gateway_open(g):
            continue  # the question as it is: no agreement under g, extended or new, can make it lawful
        else:
            extended = _extend_agreement(policy, q, g, check)
            if extended is not None:  # its owner adds what is missing: nearer than a new agreement
                fixes.append(extended)
                continue
        if g.requires_agreement or "personal" in policy.sensitivity[q.data]:
            hypo = _hypothetical_agreement(policy, q, g)
            if ok(q2, (hypo,)) if proposed else check.with_agreement(g, hypo):
                fixes.append(Fix("assume-statute" if proposed else "new-agreement", "",
                                 statute=policy.assumed_name(assume_key or "") if statute is not None and proposed
                                 else None, gateway=g.id,
                                 args={"with_agreement": True, "not_commenced": never,
                                       **_agreement_args(policy, q, g)}))

    # A later date: a candidate gateway not yet in force (statute not commenced, validity not begun); an
    # agreement not yet begun is the renew fix above. The flow is decided again on each such start date, first as
    # the bundle stands, then with an agreement if the gateway needs one; only a date that really allows it is offered.
    for g in out.candidates:
        fix = _later_date(policy, q, g, ok, check.could_allow_on)
        if fix is not None:
            fixes.append(fix)

    # Only a gateway for which rules 2-4 of the decision hold (data, purpose, parties, in force, power,
    # conditions, agreement, lawful basis) can be a flow's basis, else the pair must be one body (1b): a narrower
    # part or another purpose for which no gateway does is not decided again — the decision would deny it.
    covers, other_purposes = _could_cover(policy, q, check)

    # A narrower data category (for example the anonymised part) that is lawful: the largest such part (the
    # nearest the data asked for, then the one with most parts of its own), and never one marked more
    # sensitive than the data asked for — a fix must not steer towards special-category or criminal data.
    for d in _narrower_parts(policy, q.data):
        if covers(d, q.purpose) and ok(q.about(d, q.purpose)):
            fixes.append(Fix("narrower-data", "", data=policy.data_name(d), args={"inside": data}))
            break

    # Conditions only a person can establish (issue 13): the flow decided again with them given.
    fixes += _given_conditions(policy, q, out, ok)
    # Where the data came from (issue 13), when a bar binds only under some readings of it.
    fixes += _state_provenance(policy, q, out, ok, check.could_allow_provenance)

    # Another purpose for which the same flow is lawful.
    others = [p for p in sorted(other_purposes) if p != q.purpose and ok(q.about(q.data, p))]
    if others:
        fixes.append(Fix("other-purpose", "", purpose=policy.purpose_name(others[0]),
                         args={"purposes": [policy.purpose_name(p) for p in others[:3]]}))
    order = {"given-conditions": -1, "state-provenance": -1,
             "renew-agreement": 0, "extend-agreement": 1, "new-agreement": 1, "assume-statute": 2, "later-date": 3,
             "successor": 4, "narrower-data": 5, "other-purpose": 6}
    fixes.sort(key=lambda f: order[f.kind])
    return fixes[:MAX_FIXES]


def _pair_agreements(policy: CompiledPolicy, q: Question, g: CGateway) -> list[CAgreement]:
    """The agreements under g that may name the pair (`CompiledPolicy.candidates`: every one whose parties
    include both, in the gateway's order; a superset the callers filter as before), not all of g's."""
    for cg, agreements in policy.candidates(q.source, q.recipient).gateways:
        if cg is g:
            return agreements
    return policy.agreements_by_gateway.get(g.key, [])  # not among the pair's candidates: every one, as before


def _could_cover(policy: CompiledPolicy, q: Question, check: "_Check"
                 ) -> tuple[Callable[[str, str], bool], Iterable[str]]:
    """A necessary condition for the flow of q with another data category or purpose to be lawful (not a
    sufficient one: the decision is made again where it holds): rules 2-4 hold for one of the pair's candidate
    gateways (`_Check.rules_hold`), or the pair is one legal person. With it, the declared purposes for which it
    holds with q's own data (every one within one legal person): the other purposes worth deciding again, found
    without testing each declared one."""
    if check.one_body:
        return (lambda _d, _p: True), policy.purposes
    cand = check.cand
    # the fixes vary the data or the purpose, one at a time: the gateways that may cover the other one asked
    gateways = [(g, covering) for g, covering in cand.gateways if check.gateway_holds(g)]
    for_data = [(g, covering) for g, covering in gateways if q.data in g.data]
    for_purpose = [(g, covering) for g, covering in gateways if q.purpose in g.purposes]

    def covers(d: str, p: str) -> bool:
        return check.rules_hold(d, p, q.on, for_data if d == q.data else for_purpose if p == q.purpose else gateways)

    purposes = check.purposes_admitted(q.data, q.on, for_data)  # those `covers(q.data, p)` holds for, at once
    return covers, [p for p in purposes if p in policy.purposes]


def _given_conditions(policy: CompiledPolicy, q: Question, out: Outcome, ok) -> list[Fix]:
    """The smallest sets of conditions the candidates asked for that, given, make the flow lawful (each rule's
    own set first, then all of them together), verified by deciding again; at most two."""
    sets = sorted({frozenset(c) for _kind, _key, c, _span in out.unmet}, key=lambda c: (len(c), sorted(c)))
    if len(sets) > 1:
        sets.append(frozenset().union(*sets))
    found: list[tuple[frozenset, Fix]] = []
    for needed in sets:
        if any(keys <= needed for keys, _ in found):
            continue  # a smaller set already does it
        if ok(replace(q, given=q.given | needed)):
            keys = sorted(needed)
            found.append((needed, Fix("given-conditions", "", args={
                "conditions": [policy.condition_name(k) for k in keys],
                "titles": [policy.conditions[k].title for k in keys]})))
        if len(found) == 2:
            break
    return [f for _, f in found]


def _sorted_gateways(policy: CompiledPolicy) -> list[str]:
    """The policy's gateway keys in order, sorted once per compiled policy."""
    return memo.whole(policy, "fixes:sorted-gateways", lambda: sorted(policy.gateways))


def _state_provenance(policy: CompiledPolicy, q: Question, out: Outcome, ok,
                      possible: Callable[[], bool] = lambda: True) -> list[Fix]:
    """When a bar that binds by provenance is what denies the flow, the statements of provenance that would
    make it lawful (its own data; the function it holds it for; a gateway it received it under), fewest
    statements first, each verified by deciding again; at most two."""
    if not out.readings or not possible():  # no bar by provenance, or no statement of it could do
        return []
    functions = sorted(policy.functions.get(q.source, ())) if q.held_for is None else [q.held_for]
    options: list[dict] = []
    if not q.provenance_stated:
        options.append({"own_data": True})
    options += [{"held_for": f} for f in functions if q.held_for is None]
    if not q.provenance_stated:
        options += [{"own_data": True, "held_for": f} for f in functions if q.held_for is None]
        options += [{"received_under": k} for k in islice(
            (k for k in _sorted_gateways(policy)
             if could_have_received(policy, policy.gateways[k], q.source, q.data, q.on, q.assume)), 20)]
    found: list[Fix] = []
    done: list[dict] = []
    for option in options:
        if any(d.items() <= option.items() for d in done):
            continue  # a statement already offered suffices
        if ok(replace(q, **option)):
            done.append(option)
            args = {"source": policy.org_name(q.source), **option}
            if "held_for" in option:
                args["held_for"] = policy.function_names[option["held_for"]]
            if "received_under" in option:
                args["received_under"] = policy.gateways[option["received_under"]].id
            found.append(Fix("state-provenance", "", gateway=args.get("received_under"), args=args))
            if len(found) == 2:
                break
    return found
