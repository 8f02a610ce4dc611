"""The rules of a decision, written once (LANGUAGE.md, "The decision"). Both the verdict alone
(`Policy.allowed`, the diff, routes, reachability, fixes) and the explained decision (`Policy.decide`) call
these through `evaluate`: there is no second implementation to keep in step.

Each rule answers with `None` (it holds) or a `Why` code (it does not, and which clause failed); the
arguments of a reason are looked up only when an explanation is wanted (`why_args`).
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from engine.compile.compiled import CAgreement, CGateway, CompiledPolicy, CRestriction, Window
from engine.decision.reasons import Why
from engine.syntax import model as m

# The three outcomes of `restriction_check`, allocated once: (fires, why it does not, the exception).
NO_MATCH: tuple[bool, Optional[Why], Optional[m.Exception_]] = (False, None, None)
FIRES: tuple[bool, Optional[Why], Optional[m.Exception_]] = (True, None, None)


# ---- rule 0: both organisations exist on the date --------------------------------------------------------

def org_absent(policy: CompiledPolicy, key: str, on: dt.date) -> Optional[Why]:
    end = policy.org_end.get(key)
    if end is not None and on >= end[0]:
        return Why.ORG_SUCCEEDED
    start = policy.org_start.get(key)
    if start is not None and on < start:
        return Why.ORG_NOT_YET
    return None


# ---- in force ----------------------------------------------------------------------------------------------

def in_force(w: Window, on: dt.date, assume: frozenset, statute_required: bool = True) -> Optional[Why]:
    """A gateway (statute required: citing none gives no power) or restriction (binds without one) in force?
    Commencement is inclusive, a repeal takes effect on its date, a proposed statute only when assumed; the
    rule's own `valid` window is inclusive at both ends."""
    if w.no_statute:
        if statute_required:
            return Why.NO_STATUTE
    elif w.statute_key not in assume:
        if w.proposed:
            return Why.STATUTE_PROPOSED
        if w.commenced is not None and on < w.commenced:
            return Why.STATUTE_NOT_COMMENCED
        if w.repealed is not None and on >= w.repealed:
            return Why.STATUTE_REPEALED
    if w.valid_from is not None and on < w.valid_from:
        return Why.NOT_YET_VALID
    if w.valid_to is not None and on > w.valid_to:
        return Why.EXPIRED
    return None


def valid_on(valid: Optional[m.Validity], on: dt.date) -> Optional[Why]:
    """An agreement's `valid FROM to UNTIL` (inclusive at both ends)."""
    if valid is None:
        return None
    if valid.start is not None and on < valid.start:
        return Why.NOT_YET_VALID
    if valid.end is not None and on > valid.end:
        return Why.EXPIRED
    return None


# ---- rule 1: restrictions (deny overrides) -----------------------------------------------------------------

def restriction_check(policy: CompiledPolicy, r: CRestriction, source: str, recipient: str, data: str,
                      purpose: str, on: dt.date, assume: frozenset, given: frozenset = frozenset()
                      ) -> tuple[bool, Optional[Why], Optional[m.Exception_]]:
    """(fires, why it does not, the exception that covers the flow). `NO_MATCH` when the flow is outside
    the restriction's parties, data or purposes (nothing to report). An exception that would cover the flow
    but for conditions the question does not give (`except … when C`) leaves the restriction firing, and is
    returned with `CONDITION_NOT_GIVEN` (what would lift it)."""
    if r.data is not None and data not in r.data:
        return NO_MATCH
    if r.purposes is not None and purpose not in r.purposes:
        return NO_MATCH
    if not (source in r.one_way or any((s is None or source in s) and (d is None or recipient in d)
                                       for s, d in r.forbids)):
        return NO_MATCH
    why = in_force(r.window, on, assume, statute_required=False)
    if why is not None:
        return False, why, None
    anonymised = "anonymised" in policy.sensitivity[data]
    wanting: Optional[m.Exception_] = None
    for anon_only, to, purposes, exc in r.exceptions:
        if anon_only and not anonymised:
            continue
        if to is not None and recipient not in to:
            continue
        if purposes is not None and purpose not in purposes:
            continue
        if exc.when and conditions_unmet(when_keys(exc), given):
            wanting = wanting or exc
            continue
        return False, Why.EXCEPTION, exc
    return FIRES if wanting is None else (True, Why.CONDITION_NOT_GIVEN, wanting)


# ---- rules 2-4: a gateway, its agreement, the lawful basis ---------------------------------------------

def agreement_covers(a: CAgreement, source: str, recipient: str) -> bool:
    return any(source in s and recipient in d for s, d in a.directions)


def sensitivity_gap(policy: CompiledPolicy, data: str, g: CGateway, a: Optional[CAgreement]) -> Optional[Why]:
    """Personal data needs a lawful basis, special-category an article-9 condition, criminal-offence an
    article-10 condition, recorded on the agreement or on the gateway."""
    sens = policy.sensitivity[data]
    if not sens:
        return None
    gm, am = g.model, (a.model if a else None)
    if "personal" in sens and not ((am and am.lawful_basis) or gm.lawful_basis):
        return Why.NO_LAWFUL_BASIS
    if "special-category" in sens and not ((am and am.article9) or gm.article9):
        return Why.NO_ARTICLE_9
    if "criminal-offence" in sens and not ((am and am.article10) or gm.article10):
        return Why.NO_ARTICLE_10
    return None


# ---- the arguments of a reason, for the explanation ----------------------------------------------------

def window_args(why: Why, w: Optional[Window], valid: Optional[m.Validity], policy: CompiledPolicy) -> dict:
    """The dates (and statute) a not-in-force reason speaks of."""
    if why is Why.STATUTE_PROPOSED and w is not None and w.statute_key is not None:
        return {"statute": policy.statutes[w.statute_key].id}
    if why is Why.STATUTE_NOT_COMMENCED and w is not None:
        return {"until": w.commenced}
    if why is Why.STATUTE_REPEALED and w is not None:
        return {"on": w.repealed}
    if why is Why.NOT_YET_VALID:
        return {"until": w.valid_from if w is not None else valid.start if valid else None}
    if why is Why.EXPIRED:
        return {"on": w.valid_to if w is not None else valid.end if valid else None}
    return {}


# ---- issue 13: conditions the engine cannot see, and the strength of a power ----------------------------

def when_keys(exc: m.Exception_) -> frozenset:
    """The conditions an `except … when C, …` clause needs."""
    return frozenset(n.key for n in exc.when)


def conditions_unmet(needed: frozenset, given: frozenset) -> frozenset:
    """What a rule needs that the question does not give: a fact only a person can establish is never presumed
    (fail closed); `given` asserts it."""
    return needed - given if needed else needed


def power_excluded(g: CGateway, express_only: bool) -> Optional[Why]:
    """`express_only`: a gateway resting on an implied power (`power implied`) counts as absent."""
    return Why.IMPLIED_POWER_EXCLUDED if express_only and g.implied else None
