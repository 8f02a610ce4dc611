"""The rules of a decision, written once (LANGUAGE.md, "The decision"). Both the verdict alone
(`Policy.allowed`, the diff, routes, reachability, fixes) and the explained decision (`Policy.decide`) call
these through `evaluate`: there is no second implementation to keep in step.

Each rule answers with `None` (it holds) or a `Why` code (it does not, and which clause failed); the
arguments of a reason are looked up only when an explanation is wanted (`why_args`).
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import Mapping, Optional

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
        kind = policy.org_end_kind.get(key, "succeeds")
        return Why.ORG_CEASED if kind == "ceases" else Why.ORG_TRANSFERRED if kind == "transfer" else Why.ORG_SUCCEEDED
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
    elif w.periods is not None:
        if w.statute_key not in assume and w.provision_key not in assume:
            why = provision_in_force(w, on)
            if why is not None:
                return why
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


def provision_in_force(w: Window, on: dt.date) -> Optional[Why]:
    """A cited provision with its own dates (issue 12): in force on a day inside one of its windows (each from
    its commencement, inclusive, to its repeal, exclusive); a proposed or never-commenced provision never."""
    if w.proposed:
        return Why.STATUTE_PROPOSED
    periods = w.periods or ()
    if not periods:
        return Why.PROVISION_NOT_COMMENCED
    for start, end in periods:
        if start <= on and (end is None or on < end):
            return None
    if on < periods[0][0]:
        return Why.STATUTE_NOT_COMMENCED
    last_end = periods[-1][1]
    if last_end is not None and on >= last_end:
        return Why.STATUTE_REPEALED
    return Why.PROVISION_GAP


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
    if not (source in r.one_way or _forbids(r, source, recipient)):
        if not policy.inherits or restriction_via(policy, r, source, recipient, data, purpose, on) is None:
            return NO_MATCH
    elif r.dated and restriction_via(policy, r, source, recipient, data, purpose, on) is None:
        return NO_MATCH  # reached only through a class membership not in force on the date
    why = in_force(r.window, on, assume, statute_required=False)
    if why is not None:
        return False, why, None
    anonymised = "anonymised" in policy.sensitivity[data]
    wanting: Optional[m.Exception_] = None
    for anon_only, to, purposes, exc in r.exceptions:
        if anon_only and not anonymised:
            continue
        if to is not None and not member_on(to, recipient, on):
            continue
        if purposes is not None and purpose not in purposes:
            continue
        if exc.when and conditions_unmet(when_keys(exc), given):
            wanting = wanting or exc
            continue
        return False, Why.EXCEPTION, exc
    return FIRES if wanting is None else (True, Why.CONDITION_NOT_GIVEN, wanting)


def _forbids(r: CRestriction, source: str, recipient: str) -> bool:
    """A `forbids` pair of the restriction names the flow (on some date)."""
    for s, d in r.forbids:
        if (s is None or source in s) and (d is None or recipient in d):
            return True
    return False


# ---- rules 2-4: a gateway, its agreement, the lawful basis ---------------------------------------------

def agreement_covers(a: CAgreement, source: str, recipient: str) -> bool:
    for s, d in a.directions:  # (a loop, not any() over a generator: asked for every candidate agreement)
        if source in s and recipient in d:
            return True
    return False


def sensitivity_gap(policy: CompiledPolicy, data: str, g: CGateway, a: Optional[CAgreement],
                    on: Optional[dt.date] = None) -> Optional[Why]:
    """Personal data needs a lawful basis, special-category an article-9 condition, criminal-offence an
    article-10 condition, recorded on the agreement or on the gateway; with `on`, a basis (or article-9
    condition) that is a condition of a data-protection regime must hold in the regime of that date."""
    sens = policy.sensitivity[data]
    if not sens:
        return None
    gm, am = g.model, (a.model if a else None)
    if "personal" in sens and not ((am and am.lawful_basis) or gm.lawful_basis):
        return Why.NO_LAWFUL_BASIS
    if "special-category" in sens and not ((am and am.article9) or gm.article9):
        return Why.NO_ARTICLE_9
    if on is not None and policy.regime_conditions:
        basis = (am.lawful_basis if am and am.lawful_basis else gm.lawful_basis) if "personal" in sens else None
        article9 = (am.article9 if am and am.article9 else gm.article9) if "special-category" in sens else None
        for cited in (basis.text if basis else None, article9):
            if cited and regime_gap(policy, cited, on) is not None:
                return Why.BASIS_WRONG_REGIME
    if "criminal-offence" in sens and not ((am and am.article10) or gm.article10):
        return Why.NO_ARTICLE_10
    return None


# ---- the arguments of a reason, for the explanation ----------------------------------------------------

def window_args(why: Why, w: Optional[Window], valid: Optional[m.Validity], policy: CompiledPolicy,
                on: Optional[dt.date] = None) -> dict:
    """The dates (and statute) a not-in-force reason speaks of."""
    if why is Why.STATUTE_PROPOSED and w is not None and w.statute_key is not None:
        return {"statute": policy.assumed_name(w.provision_key or w.statute_key)}
    if (why is Why.PROVISION_NOT_COMMENCED and w is not None and w.provision_key is not None
            and w.statute_key is not None):
        return {"statute": policy.statutes[w.statute_key].id, "provision": policy.assumed_name(w.provision_key)}
    if why is Why.PROVISION_GAP and w is not None and w.periods and on is not None:
        day = on
        ended = max(e for _s, e in w.periods if e is not None and e <= day)
        resumes = min(s for s, _e in w.periods if s is not None and s > day)
        return {"ended": ended, "resumes": resumes}
    if why is Why.STATUTE_NOT_COMMENCED and w is not None:
        return {"until": w.commenced}
    if why is Why.STATUTE_REPEALED and w is not None:
        return {"on": w.repealed}
    if why is Why.NOT_YET_VALID:
        return {"until": w.valid_from if w is not None else valid.start if valid else None}
    if why is Why.EXPIRED:
        return {"on": w.valid_to if w is not None else valid.end if valid else None}
    return {}


# ---- continuity: who a rule's parties cover on a date (issue 12) -----------------------------------------

Via = tuple[str, ...]  # the transfers of functions (keys) through which a party is covered; () by name


def inside(policy: CompiledPolicy, scope: Optional[frozenset], org: str, data: str, purpose: str,
           on: dt.date) -> Optional[Via]:
    """Is `org` inside a rule's party scope for this flow? `()` when the scope names it (or a body it is part
    of); the chain of transfers when a body inside the scope transferred its functions to it (or to a body it
    is part of) on or before `on`, for this data and purpose; None otherwise."""
    if scope is None or member_on(scope, org, on):
        return ()
    for e in policy.inherits.get(org, ()):
        if member_on(scope, e.pred, on) and e.since <= on and (e.data is None or data in e.data) and \
                (e.purposes is None or purpose in e.purposes):
            return e.chain
    return None


_NO_WINDOWS: Mapping = MappingProxyType({})  # what a plain frozenset scope has of a `Scope`'s tables (read-only)


def member_on(scope: frozenset, org: str, on: dt.date) -> bool:
    """Inside a party scope on the date: named (or part of one named), a member of a named class on the date
    (memberships `from` and `until` are inclusive), and not excluded."""
    if org not in scope:
        return False
    windows = getattr(scope, "dated", _NO_WINDOWS).get(org)
    if windows is None:
        return True
    for s, e, _k in windows:  # (a loop, not any() over a generator: asked for every party of a dated scope)
        if (s is None or s <= on) and (e is None or on <= e):
            return True
    return False


def class_matched(scope: Optional[frozenset], org: str, on: dt.date) -> Optional[str]:
    """The class (key) through which `org` is inside a party scope on the date, when it is not named itself."""
    if scope is None or org not in scope:
        return None
    for s, e, k in getattr(scope, "dated", _NO_WINDOWS).get(org, ()):
        if (s is None or s <= on) and (e is None or on <= e):
            return k or getattr(scope, "via", _NO_WINDOWS).get(org)  # "": named itself, inside on these days
    return getattr(scope, "via", _NO_WINDOWS).get(org)


def pair_via(policy: CompiledPolicy, pairs, source: str, recipient: str, data: str, purpose: str,
             on: dt.date) -> Optional[Via]:
    """The first (sources, recipients) pair that covers the flow, with the transfers it relies on."""
    best: Optional[Via] = None
    for s, d in pairs:
        a = inside(policy, s, source, data, purpose, on)
        if a is None:
            continue
        b = inside(policy, d, recipient, data, purpose, on)
        if b is None:
            continue
        via = tuple(dict.fromkeys(a + b))
        if not via:
            return via
        if best is None:
            best = via
    return best


def restriction_via(policy: CompiledPolicy, r: CRestriction, source: str, recipient: str, data: str, purpose: str,
                    on: dt.date) -> Optional[Via]:
    """Whether a restriction's parties reach the flow, and through which transfers (a bar on the transferor's
    functions binds the transferee within the transfer's scope: the cautious reading)."""
    if r.one_way:
        via = inside(policy, r.one_way, source, data, purpose, on)
        if via is not None:
            return via
    return pair_via(policy, r.forbids, source, recipient, data, purpose, on)


def transfer_miss(policy: CompiledPolicy, pairs, source: str, recipient: str, data: str, purpose: str,
                  on: dt.date) -> tuple[Why, dict]:
    """Why a rule whose parties name a transferor does not cover its transferee for this flow: the transfer
    takes effect later, or its scope leaves out the data or purpose."""
    for org in (source, recipient):
        for e in policy.inherits.get(org, ()):
            if not any(s is not None and e.pred in s or d is not None and e.pred in d for s, d in pairs):
                continue
            args = {"organisation": policy.org_name(e.pred), "to": policy.org_name(org), "on": e.since}
            if e.since > on:
                return Why.TRANSFER_NOT_YET, args
            if e.data is not None and data not in e.data:
                return Why.TRANSFER_OUT_OF_SCOPE, {**args, "data": policy.data_name(data)}
            if e.purposes is not None and purpose not in e.purposes:
                return Why.TRANSFER_OUT_OF_SCOPE, {**args, "purpose": policy.purpose_name(purpose)}
    return Why.TRANSFER_NOT_YET, {"organisation": "", "to": policy.org_name(source), "on": on}


def party_miss(policy: CompiledPolicy, pairs, source: str, recipient: str, data: str, purpose: str,
               on: dt.date) -> tuple[Why, dict]:
    """Why a rule whose parties reach the pair only on some dates or for some flows does not cover this one:
    a class membership not in force on the date, or a transfer of functions (`transfer_miss`)."""
    for org in (source, recipient):
        for s, d in pairs:
            for scope in (s, d):
                windows = getattr(scope, "dated", {}).get(org) if scope is not None else None
                if windows and not member_on(scope, org, on):
                    for start, end, k in getattr(scope, "left_out", {}).get(org, ()):
                        if (start is None or start <= on) and (end is None or on <= end):  # an exclusion's class
                            return Why.NOT_A_MEMBER, {"organisation": policy.org_name(org), "excluded": True,
                                                      "class": policy.classes[k].id.text, "start": start, "end": end}
                    start, end, k = min(windows, key=lambda w: (w[0] or dt.date.min))
                    return Why.NOT_A_MEMBER, {"organisation": policy.org_name(org),
                                              "class": policy.classes[k].id.text if k else "",
                                              "start": start, "end": end}
    return transfer_miss(policy, pairs, source, recipient, data, purpose, on)


def classes_of(policy: CompiledPolicy, pairs, source: str, recipient: str, data: str, purpose: str,
               on: dt.date) -> tuple[tuple[str, str], ...]:
    """(side, class id) for each party of the first pair covering the flow that matched through a class."""
    for s, d in pairs:
        if inside(policy, s, source, data, purpose, on) is None or \
                inside(policy, d, recipient, data, purpose, on) is None:
            continue
        out = []
        for side, scope, org in (("source", s, source), ("recipient", d, recipient)):
            k = class_matched(scope, org, on)
            if k is not None:
                out.append((side, policy.classes[k].id.text))
        return tuple(out)
    return ()


# ---- within one legal person (issue 12) ---------------------------------------------------------------


def same_body(policy: CompiledPolicy, source: str, recipient: str) -> Optional[tuple[str, ...]]:
    """When one of the two is part of the other (an executive agency and its department): the `part-of`
    chain from the part up to the body. Passing data between them is not a disclosure between bodies.
    Two parts of one body are not the same body here (the cautious reading), nor is a body and itself."""
    if source == recipient:
        return None
    tree = policy.org_tree
    if recipient in tree.ancestors.get(source, ()):
        lower, upper = source, recipient
    elif source in tree.ancestors.get(recipient, ()):
        lower, upper = recipient, source
    else:
        return None
    chain = [lower]
    while chain[-1] != upper and len(chain) <= len(policy.orgs):
        parent = tree.parent(chain[-1])
        if parent is None:
            return None
        chain.append(parent)
    return tuple(chain)


def names_internal_flow(policy: CompiledPolicy, r: CRestriction, source: str, recipient: str) -> bool:
    """Does a restriction bar this flow within one body? Only a `forbids` that names it explicitly: both
    sides by organisation (not `*`, not a class), the source inside a named sender and the recipient inside
    a named recipient. `one-way` and `*` bar disclosures between bodies."""
    tree = policy.org_tree

    def keys(names) -> list[str]:
        return [k for k in (n.key if n.key in policy.orgs else policy.org_alias.get(n.key) for n in names)
                if k is not None]

    for parties in r.model.forbids:
        if parties.any_source or parties.any_recipient:
            continue
        if tree.within(source, keys(parties.sources)) and tree.within(recipient, keys(parties.recipients)) \
                and not tree.within(source, keys(parties.except_sources)) \
                and not tree.within(recipient, keys(parties.except_recipients)):
            return True
    return False
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


# ---- issue 13: provenance --------------------------------------------------------------------------------
# Where the source got the data: received under a gateway, or its own data; and the functions it holds it for.
# A question may say (`received_under`, `own_data`, `held_for`); otherwise every provenance the source could
# hold the data under is a reading, and a bar that binds under any reading binds (fail closed).

ANY_READING: tuple[tuple[str, str], ...] = (("any", ""),)  # a bar that binds whatever the provenance


def could_have_received(policy: CompiledPolicy, g: CGateway, holder: str, data: str, on: dt.date,
                        assume: frozenset) -> bool:
    """Could `holder` hold this data having received it under gateway `g` by `on`? It is among g's recipients,
    g delivers some of the data, and g was in force on some day up to `on` (a repealed gateway's data is still
    held; a gateway not yet commenced, or proposed and not assumed, delivered nothing)."""
    if not any(d is None or holder in d for _s, d in g.pairs):
        return False
    if data not in g.data and g.data.isdisjoint(policy.data_tree.descendants.get(data, (data,))):
        return False
    w = g.window
    if w.no_statute:
        return False
    if w.statute_key not in assume and (w.proposed or (w.commenced is not None and on < w.commenced)):
        return False
    return w.valid_from is None or w.valid_from <= on


def provenance_binds(policy: CompiledPolicy, r: CRestriction, holder: str, data: str, on: dt.date, assume: frozenset,
                     received_under: Optional[str], own_data: bool, held_for: Optional[str]
                     ) -> tuple[tuple[str, str], ...]:
    """The readings under which restriction `r` binds the data at `holder`: ("received-under", gateway key) and
    ("held-for", function key) pairs; () when no reading the question leaves open makes it bind. A restriction
    that does not bind by provenance binds under any reading (`ANY_READING`)."""
    if not r.by_provenance:
        return ANY_READING
    out: list[tuple[str, str]] = []
    if r.received_under is not None:
        if received_under is not None:
            received = {received_under} & r.received_under
        elif own_data:
            received = set()
        else:
            received = {k for k in r.received_under if k in policy.gateways
                        and could_have_received(policy, policy.gateways[k], holder, data, on, assume)}
        if not received:
            return ()
        out += [("received-under", k) for k in sorted(received)]
    if r.held_for is not None:
        functions = {held_for} if held_for is not None else policy.functions.get(holder, frozenset())
        held = r.held_for & functions
        if not held:
            return ()
        out += [("held-for", k) for k in sorted(held)]
    return tuple(out)


def received_onward(policy: CompiledPolicy, received_under: str, received_from: Optional[str], holder: str,
                    recipient: str, data: str, purpose: str, could, on: Optional[dt.date] = None) -> Optional[dict]:
    """Data received under a gateway carries that gateway's onward clause: may `holder` pass it on to `recipient`
    for `purpose`? None when it may; else the arguments of `Why.RECEIVED_ONWARD` (the gateway, its clause, and
    which test failed). `could(discloser, recipient)` is the direct test of `as-discloser`; a discloser that is
    not known cannot pass it (fail closed)."""
    from engine.eval.routes import clause_permission

    g = policy.gateways[received_under]
    perm = clause_permission(policy, g.model.onward, received_from or "", f"gateway {g.id}", on)
    args = {"gateway": g.id, "onward": perm.describe(policy),
            "discloser": policy.org_name(received_from) if received_from else None}
    if not any(d is None or holder in d for _s, d in g.pairs):
        return {**args, "test": "recipient", "holder": policy.org_name(holder)}
    if data not in g.data and (perm.change_data is None or data not in perm.change_data):  # `onward as C`
        return {**args, "test": "data", "data": policy.data_name(data)}
    if perm.is_closed:
        return {**args, "test": "closed"}
    if perm.recipients is not None and recipient not in perm.recipients:
        return {**args, "test": "to"}
    if perm.purposes is not None and purpose not in perm.purposes:
        return {**args, "test": "only-for"}
    if purpose not in g.purposes and (perm.change_purposes is None or purpose not in perm.change_purposes):
        return {**args, "test": "purpose", "purpose": policy.purpose_name(purpose)}
    if perm.disclosers and (received_from is None or not could(received_from, recipient)):
        return {**args, "test": "as-discloser"}
    return None


# ---- issue 13: the data-protection regime of the date -------------------------------------------------------

def in_regime(policy: CompiledPolicy, cited: str, on: dt.date
              ) -> tuple[Optional[m.Regime], Optional[m.RegimeCondition]]:
    """A recorded lawful basis (or article-9 condition) shown in the regime of `on`: (that regime, the
    condition it is there), the condition None when it has none there. A regime-neutral word (`public-task`)
    is the regime's condition with that `equivalent`; a condition of another regime, the one with its
    `equivalent`."""
    now = policy.regime_on(on)
    if now is None:
        return None, None
    found = policy.regime_conditions.get(cited.lower())
    if found is not None:
        regime, cond, kind = found
        if regime is now:
            return now, cond
        word = cond.equivalent
        pool = now.lawful_bases if kind == "lawful-basis" else now.special
    else:
        word, pool = cited.lower(), now.lawful_bases
    return now, next((c for c in pool if word is not None and c.equivalent == word), None)


def regime_gap(policy: CompiledPolicy, cited: str, on: dt.date) -> Optional[Why]:
    """A condition of one regime cited on a date another regime governs, with nothing it matches there: no
    lawful basis on that date (fail closed). A regime-neutral word never has a gap."""
    found = policy.regime_conditions.get(cited.lower())
    if found is None:
        return None
    now = policy.regime_on(on)
    if now is None or now is found[0]:
        return None
    # `in_regime`'s match in the regime of the date, without looking the citation up again
    word = found[1].equivalent
    if word is not None:
        for c in now.lawful_bases if found[2] == "lawful-basis" else now.special:
            if c.equivalent == word:
                return None
    return Why.BASIS_WRONG_REGIME
