# Test oracle: the fixes of engine/eval/fixes.py as they were before verification was made cheap (issue 18):
# every candidate verified by a full re-evaluation. `find_fixes`, `_extend_agreement`, `_later_date` and
# `_state_provenance` (those the changes touched) are kept verbatim for tests/test_routes_fixes_equivalence.py;
# the helpers the changes left as they were are the engine's own, imported. Not part of the engine.

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Optional

from engine.compile.compiled import CAgreement, CGateway, CompiledPolicy
from engine.decision.answer import Fix
from engine.eval.decide import Outcome, Question, evaluate
from engine.eval.fixes import (MAX_FIXES, _agreement_args, _declared_sensitivity, _given_conditions,
                               _hypothetical_agreement, _renewed)
from engine.eval.rules import could_have_received


def _extend_agreement(policy: CompiledPolicy, q: Question, g: CGateway, ok) -> Optional[Fix]:
    """An agreement in force under `g` between the same parties that lacks only the data or the purpose asked
    for: the fix is to add them to it (its owner can), verified by deciding again with them added."""
    for a in policy.agreements_by_gateway.get(g.key, []):
        if a.hypothetical or (a.valid is not None and not a.valid.covers(q.on)):
            continue  # an agreement out of its window is the renew fix
        if not any(q.source in s and q.recipient in d for s, d in a.directions):
            continue
        add_data, add_purpose = q.data not in a.data, q.purpose not in a.purposes
        if not (add_data or add_purpose):
            continue
        wider = replace(a, data=a.data | {q.data}, purposes=a.purposes | {q.purpose}, hypothetical=True)
        if ok(q, (wider,)):
            return Fix("extend-agreement", "", agreement=a.id, gateway=g.id,
                       args={"owner": a.model.owner, "add_data": policy.data_name(q.data) if add_data else None,
                             "add_purpose": policy.purpose_name(q.purpose) if add_purpose else None})
    return None


def _later_date(policy: CompiledPolicy, q: Question, g: CGateway, ok) -> Optional[Fix]:
    """The first date after the question's on which gateway `g` would make the flow lawful, verified."""
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
    for a in policy.agreements_by_gateway.get(g.key, []):
        if a.valid is not None and a.valid.start is not None and a.valid.start > gate_open:
            starts.setdefault(a.valid.start, []).append(("agreement", a.id))
    def events(day: dt.date) -> list[tuple[dt.date, str, str]]:
        return [(d, what, ident) for d, ws in sorted(starts.items()) if d <= day for what, ident in ws]

    for day in sorted(d for d in starts if d >= gate_open):
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


def find_fixes(policy: CompiledPolicy, q: Question, out: Outcome) -> list[Fix]:
    fixes: list[Fix] = []
    data = policy.data_name(q.data)

    def ok(question: Question, extra: tuple[CAgreement, ...] = ()) -> bool:
        return evaluate(policy, question, extra, first_only=True).allowed

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
        for a in policy.agreements_by_gateway.get(g.key, []):
            if a.valid is None or a.valid.covers(q.on):
                continue
            if not any(q.source in s and q.recipient in d for s, d in a.directions):
                continue
            if q.data not in a.data or q.purpose not in a.purposes:
                continue
            if ok(q, (_renewed(a, q.on),)):
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
        assumed = q.assume | {assume_key} if assume_key is not None and proposed else q.assume
        q2 = replace(q, assume=assumed)
        if statute is not None and proposed and ok(q2):
            fixes.append(Fix("assume-statute", "", statute=policy.assumed_name(assume_key or ""), gateway=g.id,
                             args={"statute_title": statute.title, "not_commenced": never}))
            continue
        if not proposed:
            extended = _extend_agreement(policy, q, g, ok)
            if extended is not None:  # its owner adds what is missing: nearer than a new agreement
                fixes.append(extended)
                continue
        if g.requires_agreement or "personal" in policy.sensitivity[q.data]:
            hypo = _hypothetical_agreement(policy, q, g)
            if ok(q2, (hypo,)):
                fixes.append(Fix("assume-statute" if proposed else "new-agreement", "",
                                 statute=policy.assumed_name(assume_key or "") if statute is not None and proposed
                                 else None, gateway=g.id,
                                 args={"with_agreement": True, "not_commenced": never,
                                       **_agreement_args(policy, q, g)}))

    # A later date: a candidate gateway not yet in force (statute not commenced, validity not begun); an
    # agreement not yet begun is the renew fix above. The flow is decided again on each such start date, first as
    # the bundle stands, then with an agreement if the gateway needs one; only a date that really allows it is offered.
    for g in out.candidates:
        fix = _later_date(policy, q, g, ok)
        if fix is not None:
            fixes.append(fix)

    # A narrower data category (for example the anonymised part) that is lawful: the largest such part (the
    # nearest the data asked for, then the one with most parts of its own), and never one marked more
    # sensitive than the data asked for — a fix must not steer towards special-category or criminal data.
    asked = _declared_sensitivity(policy, q.data)
    parts = [d for d in policy.data_tree.descendants.get(q.data, ())
             if d != q.data and _declared_sensitivity(policy, d) <= asked]
    parts.sort(key=lambda d: (policy.data_tree.depth(d), -len(policy.data_tree.descendants.get(d, ())), d))
    for d in parts[:50]:
        if ok(replace(q, data=d)):
            fixes.append(Fix("narrower-data", "", data=policy.data_name(d), args={"inside": data}))
            break

    # Conditions only a person can establish (issue 13): the flow decided again with them given.
    fixes += _given_conditions(policy, q, out, ok)
    # Where the data came from (issue 13), when a bar binds only under some readings of it.
    fixes += _state_provenance(policy, q, out, ok)

    # Another purpose for which the same flow is lawful.
    others = [p for p in sorted(policy.purposes) if p != q.purpose and ok(replace(q, purpose=p))]
    if others:
        fixes.append(Fix("other-purpose", "", purpose=policy.purpose_name(others[0]),
                         args={"purposes": [policy.purpose_name(p) for p in others[:3]]}))
    order = {"given-conditions": -1, "state-provenance": -1,
             "renew-agreement": 0, "extend-agreement": 1, "new-agreement": 1, "assume-statute": 2, "later-date": 3,
             "successor": 4, "narrower-data": 5, "other-purpose": 6}
    fixes.sort(key=lambda f: order[f.kind])
    return fixes[:MAX_FIXES]


def _state_provenance(policy: CompiledPolicy, q: Question, out: Outcome, ok) -> list[Fix]:
    """When a bar that binds by provenance is what denies the flow, the statements of provenance that would
    make it lawful (its own data; the function it holds it for; a gateway it received it under), fewest
    statements first, each verified by deciding again; at most two."""
    if not out.readings:
        return []
    functions = sorted(policy.functions.get(q.source, ())) if q.held_for is None else [q.held_for]
    options: list[dict] = []
    if not q.provenance_stated:
        options.append({"own_data": True})
    options += [{"held_for": f} for f in functions if q.held_for is None]
    if not q.provenance_stated:
        options += [{"own_data": True, "held_for": f} for f in functions if q.held_for is None]
        options += [{"received_under": k} for k in sorted(policy.gateways)
                    if could_have_received(policy, policy.gateways[k], q.source, q.data, q.on, q.assume)][:20]
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
