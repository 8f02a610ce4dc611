"""Why no one may receive (or send) a category of data: the reasons behind an empty `recipients` or `sources`
answer, for the web page's "who can we share X with" view.

The flows looked at are those some gateway — in force or not, proposed included — could ever allow with the
organisation on the asked side: each is decided (without fixes or routes) and the decisions are grouped by
their headline. One-way restrictions in force that bind the organisation come first: they stop every
disclosure whatever the recipient. When no gateway names the organisation for the data at all, that is the
reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Optional

from engine.compile.compiled import CompiledPolicy
from engine.eval.decide import normalise, rule_ref
from engine.eval.routes import related
from engine.eval.rules import in_force, org_absent
from engine.policy.decide import decide_question
from engine.decision.reasons import Why
from engine.render import words

MAX_PAIRS = 40  # flows decided to find the reasons (the first, by name)


def why_no_one(policy: CompiledPolicy, kind: str, anchor: str, data: str, purpose: Optional[str] = None,
               on: Optional[dt.date] = None, assume: Iterable[str] = ()) -> list[dict]:
    """[{"reason": words, "flows": ["A → B for p", …]}, …], most telling first. `kind`: recipients (anchor is
    the source) or sources (anchor is the recipient)."""
    p = policy
    day = on or dt.date.today()
    a, d = p.org_key(anchor), p.data_key(data)
    assumed = frozenset(p.statute_key(s) for s in assume)
    purposes = [p.purpose_key(purpose)] if purpose else sorted(p.purposes)
    out: list[dict] = []
    absent = org_absent(p, a, day)
    if absent is not None:
        args: dict = {"organisation": p.org_name(a), "date": day}
        if absent is Why.ORG_NOT_YET:
            args["start"] = p.org_start[a]
        else:  # replaced, ceased, or its functions passed on
            end, successor = p.org_end[a]
            args.update(on=end, successor=p.org_name(successor) if successor else "")
        return [{"reason": words.reason("organisation", absent, args), "flows": []}]
    if kind == "recipients":
        for rule in p.restrictions.values():
            if a in rule.one_way and (rule.data is None or d in rule.data) and \
                    in_force(rule.window, day, assumed, statute_required=False) is None:
                title = cites_rule(p, rule)
                out.append({"reason": words.bound_one_way(p.org_name(a), title, rule.id), "flows": []})
    pairs: dict[tuple[str, str], set[str]] = {}
    for g in p.gateways.values():
        covered = set(purposes) & g.purposes
        if d not in g.data or not covered:
            continue
        for srcs, dsts in g.pairs:
            mine = srcs if kind == "recipients" else dsts
            theirs = dsts if kind == "recipients" else srcs
            if mine is not None and a not in mine:
                continue
            for o in sorted(theirs if theirs is not None else p.orgs):
                pair = (a, o) if kind == "recipients" else (o, a)
                if o != a and not related(p, *pair):
                    pairs.setdefault(pair, set()).update(covered)
    if not pairs:
        out.append({"reason": words.no_gateway(p.org_name(a), kind, p.data_name(d),
                                               p.purpose_name(purposes[0]) if purpose else None), "flows": []})
        return out
    grouped: dict[str, list[str]] = {}
    for s, r in sorted(pairs, key=lambda x: (p.org_name(x[0]).lower(), p.org_name(x[1]).lower()))[:MAX_PAIRS]:
        for pu in sorted(pairs[(s, r)]):
            q = normalise(p, s, r, d, pu, day, [p.statutes[x].id for x in assumed])
            decision = decide_question(p, q, fixes=False, routes=False)
            if decision.allowed:
                continue  # lawful directly, yet not reached: cannot happen, but never claim a reason for it
            reason = decision.headline.removeprefix("DENIED — ")
            grouped.setdefault(reason, []).append(f"{p.org_name(s)} → {p.org_name(r)} for {p.purpose_name(pu)}")
    for reason, flows in sorted(grouped.items(), key=lambda x: (-len(x[1]), x[0])):
        out.append({"reason": reason, "flows": flows})
    return out


def cites_rule(policy: CompiledPolicy, r) -> str:
    """`Social Security Administration Act 1992 s.123` for a compiled restriction (its title without a statute)."""
    return words.cites(rule_ref(policy, r)) or r.model.title
