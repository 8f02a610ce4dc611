"""The nearest changes that would make a denied flow lawful — each verified by deciding again with the
change applied, never guessed.

Candidates, cheapest first: renew an agreement that covers the flow but is out of its window; make an
agreement under a gateway that needs one; assume a proposed statute (with an agreement if its gateway needs
one); wait for a later date on which a gateway not yet in force commences (with an agreement if needed);
use the successor of an organisation that no longer exists; ask for a narrower (e.g. anonymised) data
category; ask for another purpose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Optional

from engine.syntax import model as m
from engine.compile.compiled import CAgreement, CGateway, Policy
from engine.eval.decide import Outcome, Question, evaluate
from engine.decision.answer import Fix

MAX_FIXES = 6


def _hypothetical_agreement(policy: Policy, q: Question, g: CGateway) -> CAgreement:
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


def _sensitive_words(policy: Policy, q: Question) -> str:
    sens = policy.sensitivity[q.data]
    extra = []
    if "personal" in sens:
        extra.append("a lawful basis")
    if "special-category" in sens:
        extra.append("an article-9 condition")
    if "criminal-offence" in sens:
        extra.append("an article-10 condition")
    return f", recording {' and '.join(extra)}" if extra else ""


def _later_date(policy: Policy, q: Question, g: CGateway, ok) -> Optional[Fix]:
    """The first date after the question's on which gateway `g` would make the flow lawful, verified."""
    starts: dict[dt.date, list[str]] = {}
    st = g.statute
    if st is not None and st.status != "proposed" and st.id.lower() not in q.assume and st.commenced and st.commenced > q.on:
        if st.repealed is None or st.repealed > st.commenced:
            starts.setdefault(st.commenced, []).append(f"{st.id} commences")
    if g.valid is not None and g.valid.start is not None and g.valid.start > q.on:
        starts.setdefault(g.valid.start, []).append(f"gateway `{g.id}` becomes valid")
    if not starts:
        return None  # the gateway itself is in force (or never will be): a later date is not the fix
    gate_open = max(starts)  # every one of the gateway's own conditions holds from here
    for a in policy.agreements_by_gateway.get(g.key, []):
        if a.valid is not None and a.valid.start is not None and a.valid.start > gate_open:
            starts.setdefault(a.valid.start, []).append(f"agreement `{a.id}` begins")
    def when(day: dt.date) -> str:
        events = [(d, w) for d, ws in sorted(starts.items()) if d <= day for w in ws]
        if len(events) == 1:
            return events[0][1]
        return " and ".join(f"{w} ({d.isoformat()})" for d, w in events)

    for day in sorted(d for d in starts if d >= gate_open):
        later = replace(q, on=day)
        if ok(later):
            return Fix("later-date", f"lawful from {day.isoformat()}, when {when(day)}", statute=st.id if st else None,
                       gateway=g.id, on=day)
    later = replace(q, on=gate_open)
    if g.requires_agreement or "personal" in policy.sensitivity[q.data]:
        if ok(later, (_hypothetical_agreement(policy, later, g),)):
            return Fix("later-date", f"lawful from {gate_open.isoformat()}, when {when(gate_open)}, with an agreement from "
                       f"`{policy.org_name(q.source)}` to `{policy.org_name(q.recipient)}` for "
                       f"`{policy.data_name(q.data)}` for `{policy.purpose_name(q.purpose)}` under gateway `{g.id}`"
                       f"{_sensitive_words(policy, q)}", statute=st.id if st else None, gateway=g.id, on=gate_open)
    return None


def find_fixes(policy: Policy, q: Question, out: Outcome) -> list[Fix]:
    fixes: list[Fix] = []
    src, dst = policy.org_name(q.source), policy.org_name(q.recipient)
    data, purpose = policy.data_name(q.data), policy.purpose_name(q.purpose)

    def ok(question: Question, extra: tuple[CAgreement, ...] = ()) -> bool:
        return evaluate(policy, question, extra).allowed

    if out.missing_org:
        for k, _when, successor in out.missing_org:
            if successor:
                alt = replace(q, source=successor if q.source == k else q.source,
                              recipient=successor if q.recipient == k else q.recipient)
                if ok(alt):
                    fixes.append(Fix("successor", f"ask for `{policy.org_name(successor)}`, which replaced "
                                     f"`{policy.org_name(k)}`", organisation=policy.org_name(successor)))
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
                expired = a.valid.end is not None and a.valid.end < q.on
                words = (f"renew agreement `{a.id}` to cover {q.on.isoformat()} (it expired on {a.valid.end.isoformat()})"
                         if expired else  # not begun yet: nothing to renew; it would have to start earlier
                         f"bring the start of agreement `{a.id}` forward to {q.on.isoformat()} (it starts on "
                         f"{a.valid.start.isoformat()})")
                fixes.append(Fix("renew-agreement", words, agreement=a.id, gateway=g.id))

    # A new agreement under a candidate gateway; with the statute assumed when it is only proposed.
    for g in out.candidates:
        proposed = g.statute is not None and g.statute.status == "proposed" and g.statute.id.lower() not in q.assume
        assumed = q.assume | {g.statute.id.lower()} if proposed else q.assume
        q2 = replace(q, assume=assumed)
        if proposed and ok(q2):
            fixes.append(Fix("assume-statute", f"enact the proposed statute `{g.statute.id}` ({g.statute.title}): "
                             f"gateway `{g.id}` would then allow the flow",
                             statute=g.statute.id, gateway=g.id))
            continue
        if g.requires_agreement or "personal" in policy.sensitivity[q.data]:
            hypo = _hypothetical_agreement(policy, q, g)
            if ok(q2, (hypo,)):
                lead = f"enact the proposed statute `{g.statute.id}` and make " if proposed else "make "
                fixes.append(Fix("assume-statute" if proposed else "new-agreement",
                                 f"{lead}an agreement from `{src}` to `{dst}` for `{data}` for `{purpose}` "
                                 f"under gateway `{g.id}`{_sensitive_words(policy, q)}",
                                 statute=g.statute.id if proposed else None, gateway=g.id))

    # A later date: a candidate gateway not yet in force (statute not commenced, validity not begun); an
    # agreement not yet begun is the renew fix above. The flow is decided again on each such start date, first as the bundle
    # stands, then with an agreement if the gateway needs one; only a date that really allows it is offered.
    for g in out.candidates:
        fix = _later_date(policy, q, g, ok)
        if fix is not None:
            fixes.append(fix)

    # A narrower data category (for example the anonymised part) that is lawful.
    for d in sorted(policy.data_tree.descendants.get(q.data, ()))[:50]:
        if d != q.data and ok(replace(q, data=d)):
            fixes.append(Fix("narrower-data", f"share only `{policy.data_name(d)}` (inside `{data}`), which is lawful",
                             data=policy.data_name(d)))
            break

    # Another purpose for which the same flow is lawful.
    others = [p for p in sorted(policy.purposes) if p != q.purpose and ok(replace(q, purpose=p))]
    if others:
        names = ", ".join(f"`{policy.purpose_name(p)}`" for p in others[:3])
        fixes.append(Fix("other-purpose", f"ask for another purpose: the same flow is lawful for {names}",
                         purpose=policy.purpose_name(others[0])))
    order = {"renew-agreement": 0, "new-agreement": 1, "assume-statute": 2, "later-date": 3, "successor": 4,
             "narrower-data": 5, "other-purpose": 6}
    fixes.sort(key=lambda f: order[f.kind])
    return fixes[:MAX_FIXES]
