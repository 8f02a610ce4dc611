"""Evaluating one flow (source, recipient, data, purpose, date) against a compiled policy.

The rules are those of LANGUAGE.md, "The decision", applied in order (each written once, in rules.py):
0. both organisations exist on the date;
1. no restriction blocks the flow (deny overrides), unless the gateway relied on names it in `overrides`;
2. a gateway in force allows it;
3. where the gateway `requires agreement`, an agreement in force relying on it covers the flow;
4. personal data has a lawful basis recorded (agreement or gateway), special-category an article-9 condition,
   criminal-offence an article-10 condition.
Anything not established is a DENY with the reason. One function, `evaluate`, gives the verdict for
`Policy.allowed` (`first_only`: stop at the first basis), for routes, fixes, reachability and the diff, and
the explained outcome for `Policy.decide` (`explain`), so no two callers can disagree. Reasons are data
(`Why` codes with arguments and spans); words are made in engine/render/words.py.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Hashable, Iterable, Optional

from engine.syntax import model as m
from engine.compile.compiled import CAgreement, CGateway, CompiledPolicy, CRestriction
from engine.base.source import Span
from engine.decision.answer import RuleRef
from engine.decision.shapes import ProvisionDatesDict
from engine.decision.reasons import STATUTE_REASONS, Why
from engine.eval.rules import (ANY_READING, agreement_covers, conditions_unmet, in_force, names_internal_flow,
                               org_absent, pair_via, party_miss, power_excluded, provenance_binds, received_onward,
                               restriction_check, same_body, sensitivity_gap, valid_on, when_keys, window_args)
from engine.errors import RequestError



@dataclass(frozen=True)  # (no slots: `question` gives a question its fields as one dict, see there)
class Question:
    """A question with every name resolved to its key."""

    source: str
    recipient: str
    data: str
    purpose: str
    on: dt.date
    assume: frozenset = frozenset()
    # issue 13
    given: frozenset = frozenset()  # condition keys the question asserts (`--given`)
    express_only: bool = False  # implied powers count as absent (`--express-only`)
    # provenance: where the source got the data (None and not own_data: every provenance it could hold it under)
    received_under: Optional[str] = None  # gateway key (`--received-under`)
    own_data: bool = False  # the source's own data, received under no gateway (`--own-data`)
    held_for: Optional[str] = None  # the function of the source it holds the data for (`--held-for`)
    received_from: Optional[str] = None  # who disclosed it under `received_under` (routes know; as-discloser)

    @property
    def provenance_stated(self) -> bool:
        return self.received_under is not None or self.own_data

    # The same question about other parties, data or purpose: what route search and fixes ask by the thousand
    # (`dataclasses.replace` costs several times as much: it walks the fields by name, then calls `__init__`).
    def between(self, source: str, recipient: str) -> "Question":
        return question(source, recipient, self.data, self.purpose, self.on, self.assume, self.given,
                        self.express_only, self.received_under, self.own_data, self.held_for, self.received_from)

    def between_unstated(self, source: str, recipient: str) -> "Question":
        """`between`, with no provenance stated (a disclosure the source could make of data of any origin)."""
        return question(source, recipient, self.data, self.purpose, self.on, self.assume, self.given,
                        self.express_only)

    def about(self, data: str, purpose: str) -> "Question":
        return question(self.source, self.recipient, data, purpose, self.on, self.assume, self.given,
                        self.express_only, self.received_under, self.own_data, self.held_for, self.received_from)


_NO_GIVEN: frozenset = frozenset()
_new = object.__new__
_set = object.__setattr__


def question(source: str, recipient: str, data: str, purpose: str, on: dt.date, assume: frozenset = frozenset(),
             given: frozenset = _NO_GIVEN, express_only: bool = False, received_under: Optional[str] = None,
             own_data: bool = False, held_for: Optional[str] = None, received_from: Optional[str] = None
             ) -> Question:
    """`Question(...)`, an equal object, its fields given whole as its dict: the generated `__init__` of a frozen
    dataclass sets each field by `object.__setattr__` (1.3 µs a question, made for every decision)."""
    q = _new(Question)
    _set(q, "__dict__", {"source": source, "recipient": recipient, "data": data, "purpose": purpose, "on": on,
                         "assume": assume, "given": given, "express_only": express_only,
                         "received_under": received_under, "own_data": own_data, "held_for": held_for,
                         "received_from": received_from})
    return q


NO_ASSUMPTIONS: frozenset = frozenset()  # shared by every question that assumes nothing


def normalise(policy: CompiledPolicy, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date],
              assume: Iterable[str], given: Iterable[str] = (), express_only: bool = False,
              received_under: Optional[str] = None, own_data: bool = False, held_for: Optional[str] = None
              ) -> Question:
    """Resolve names (case-insensitive, aliases) or raise UnknownNameError with suggestions.

    Arguments of the wrong type raise TypeError saying which (a string `assume` would otherwise be read as
    one statute per letter); a datetime counts as its date."""
    if not (isinstance(source, str) and isinstance(recipient, str) and isinstance(data, str)
            and isinstance(purpose, str)):  # one test on the hot path; the loop only to say which
        for what, value in (("source", source), ("recipient", recipient), ("data", data), ("purpose", purpose)):
            if not isinstance(value, str):
                raise TypeError(f"`{what}` must be a name (str), not {type(value).__name__}")
    if isinstance(on, dt.datetime):
        on = on.date()
    elif on is not None and not isinstance(on, dt.date):
        raise TypeError(f"`on` must be a datetime.date, not {type(on).__name__}")
    if isinstance(assume, (str, bytes)):
        raise TypeError("`assume` must be a list of statute ids, not a single string")
    src = policy.org_key(source)
    q = question(src, policy.org_key(recipient), policy.data_key(data), policy.purpose_key(purpose),
                 on or dt.date.today(),
                 frozenset([policy.statute_key(s) for s in assume]) if assume else NO_ASSUMPTIONS)
    if not (given or express_only or received_under is not None or own_data or held_for is not None):
        return q  # the common question: the fields of issue 13 keep their defaults (and cost nothing)
    if isinstance(given, (str, bytes)):
        raise TypeError("`given` must be a list of condition ids, not a single string")
    for what, named in (("received_under", received_under), ("held_for", held_for)):
        if named is not None and not isinstance(named, str):
            raise TypeError(f"`{what}` must be a name (str), not {type(named).__name__}")
    if received_under is not None and own_data:
        raise RequestError("bad-usage", "the data cannot be both received under a gateway and the source's own",
                           "give --received-under GATEWAY or --own-data, not both")
    return replace(
        q, given=frozenset(policy.condition_key(c) for c in given), express_only=bool(express_only),
        received_under=policy.gateway_key(received_under) if received_under is not None else None,
        own_data=bool(own_data), held_for=policy.function_key(src, held_for) if held_for is not None else None)


# ---- the evaluation ---------------------------------------------------------------------------------


@dataclass
class Considered:
    """A candidate that did not apply: which rule, why (a code), the reason's arguments, and where."""

    kind: str  # "gateway" | "agreement" | "restriction" | "organisation"
    key: str
    why: Why
    args: dict = field(default_factory=dict)
    span: Optional[Span] = None


@dataclass(slots=True)  # made for every verdict: slots make it cheaper to build
class Outcome:
    allowed: bool
    basis: Optional[tuple[CGateway, Optional[CAgreement]]] = None
    firing: list[CRestriction] = field(default_factory=list)
    overridden: list[CRestriction] = field(default_factory=list)
    considered: list[Considered] = field(default_factory=list)
    missing_org: list[tuple[str, dt.date, str]] = field(default_factory=list)  # (org, ended/starts on, successor)
    candidates: list[CGateway] = field(default_factory=list)  # gateways whose parties, data and purpose match
    # every allowing basis, preferred first
    bases: list[tuple[CGateway, Optional[CAgreement]]] = field(default_factory=list)
    # the transfers of functions (keys) each basis relies on, by (gateway key, agreement key or ""): issue 12
    via: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # allowed within one legal person: the `part-of` chain from the part up to the body (issue 12)
    same_body: Optional[tuple[str, ...]] = None
    # issue 13: conditions the candidates needed and the question did not give ((kind, key, conditions, span)),
    # and the exceptions that lifted a restriction only because the question gave their conditions
    unmet: list[tuple[str, str, frozenset, Optional[Span]]] = field(default_factory=list)
    excepted: list[tuple[CRestriction, m.Exception_]] = field(default_factory=list)
    # issue 13: the readings of provenance under which each firing provenance-bound restriction binds, and the
    # onward clause of the gateway the data was received under, when it bars the flow
    readings: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    onward_bar: "Optional[Considered]" = None


def _start() -> Outcome:
    """`Outcome(False)`: what every evaluation starts from (routes and fixes make thousands per question),
    without the generated `__init__`, which tests each of the ten default factories' sentinels."""
    out = object.__new__(Outcome)
    out.allowed = False
    out.basis = None
    out.firing = []
    out.overridden = []
    out.considered = []
    out.missing_org = []
    out.candidates = []
    out.bases = []
    out.via = {}
    out.same_body = None
    out.unmet = []
    out.excepted = []
    out.readings = {}
    out.onward_bar = None
    return out


def _conditions_missing(policy: CompiledPolicy, out: Outcome, note, kind: str, rule: CGateway | CAgreement,
                        given: frozenset) -> bool:
    """A gateway or agreement needing declared conditions the question does not give cannot apply: record
    what is missing (for the answer's `conditions_missing` and its fix) and say why. True when it cannot."""
    unmet = conditions_unmet(rule.conditions, given)
    if not unmet:
        return False
    span = clause_span(rule.model, "requires condition")
    out.unmet.append((kind, rule.key, unmet, span))
    if note:
        note(Considered(kind, rule.key, Why.CONDITION_NOT_GIVEN, condition_args(policy, unmet), span))
    return True


def clause_span(model, clause: str) -> Optional[Span]:
    """The span of a block's clause (the first one written), else the block's own span."""
    for name, span in getattr(model, "clause_spans", ()):
        if name == clause:
            return span
    return model.span


def _rule_miss(kind: str, rule, why: Why, policy: CompiledPolicy, on: Optional[dt.date] = None) -> Considered:
    """A gateway or restriction not in force (statute or window), with its dates and the deciding clause."""
    w = getattr(rule, "window", None)
    span = clause_span(rule.model, "statute" if why in STATUTE_REASONS else "valid")
    return Considered(kind, rule.key, why, window_args(why, w, rule.valid, policy, on), span)


def evaluate(policy: CompiledPolicy, q: Question, extra_agreements: tuple[CAgreement, ...] = (),
             explain: bool = False, first_only: bool = False) -> Outcome:
    """Apply the rules to one question. `explain` records every candidate that did not apply and why;
    `first_only` (the verdict alone) stops at the first basis found instead of collecting them all."""
    out = _start()
    note = out.considered.append if explain else None
    on, assume, data, purpose = q.on, q.assume, q.data, q.purpose

    # 0. both organisations exist on the date
    dated = policy.org_end, policy.org_start
    for k in (q.source, q.recipient):
        if k not in dated[0] and k not in dated[1]:  # most organisations exist at every date: skip the call
            continue
        why = org_absent(policy, k, on)
        if why is None:
            continue
        if why is Why.ORG_SUCCEEDED or why is Why.ORG_TRANSFERRED:
            end, successor = policy.org_end[k]
            out.missing_org.append((k, end, successor))
            args = {"organisation": policy.org_name(k), "successor": policy.org_name(successor), "on": end, "date": on}
        elif why is Why.ORG_CEASED:
            end = policy.org_end[k][0]
            out.missing_org.append((k, end, ""))
            args = {"organisation": policy.org_name(k), "on": end, "date": on}
        else:
            out.missing_org.append((k, policy.org_start[k], ""))
            args = {"organisation": policy.org_name(k), "start": policy.org_start[k]}
        if note:
            note(Considered("organisation", k, why, args, policy.orgs[k].span))
    if out.missing_org and first_only:
        return out

    # 1. restrictions (deny overrides). Evaluated even when an organisation is missing, so the decision
    # still reports every bar the flow meets (the verdict is DENY either way).
    cand = policy.candidates(q.source, q.recipient)
    for r in cand.restrictions:
        readings = ANY_READING if not r.by_provenance else provenance_binds(
            policy, r, q.source, data, on, assume, q.received_under, q.own_data, q.held_for)
        if not readings:
            continue  # it binds data of another provenance than any this question leaves open
        fires, why, exc = restriction_check(policy, r, q.source, q.recipient, data, purpose, on, assume, q.given)
        if fires:
            out.firing.append(r)
            if r.by_provenance:
                out.readings[r.key] = readings
            if why is Why.CONDITION_NOT_GIVEN and exc is not None:
                out.unmet.append(("restriction", r.key, conditions_unmet(when_keys(exc), q.given), exc.span))
        elif why is Why.EXCEPTION and exc is not None and exc.when:
            out.excepted.append((r, exc))
        if not fires and why is not None and note:
            if why is Why.EXCEPTION and exc is not None:
                note(Considered("restriction", r.key, why, {"at": exc.span}, exc.span))
            else:
                note(_rule_miss("restriction", r, why, policy, on))
    if out.missing_org:
        return out

    # 1b. within one legal person: not a disclosure between bodies, unless a `forbids` names this flow
    ancestors = policy.org_tree.ancestors  # (neither is part of the other, most pairs: no call)
    chain = same_body(policy, q.source, q.recipient) if q.recipient in ancestors.get(q.source, ()) or \
        q.source in ancestors.get(q.recipient, ()) else None
    if chain is not None:
        barring = [r for r in out.firing if names_internal_flow(policy, r, q.source, q.recipient)]
        if note:
            names = {"part": policy.org_name(chain[0]), "body": policy.org_name(chain[-1])}
            for r in out.firing:
                if r not in barring:
                    note(Considered("restriction", r.key, Why.WITHIN_BODY, names, r.model.span))
        if not barring:
            out.firing, out.allowed, out.same_body = [], True, chain
            return out
        out.firing = barring
    # 1b. data received under a gateway carries that gateway's onward clause (issue 13)
    if q.received_under is not None:
        bar = received_onward(policy, q.received_under, q.received_from, q.source, q.recipient, data, purpose,
                              lambda d, r: d != r and allowed(policy, q.between_unstated(d, r)),
                              on)
        if bar is not None:
            g = policy.gateways[q.received_under]
            out.onward_bar = Considered("gateway", g.key, Why.RECEIVED_ONWARD, bar, clause_span(g.model, "onward"))
            if note:
                note(out.onward_bar)
            if first_only:
                return out

    # 2–4. gateways, agreements, lawful basis
    extra_by_gateway: dict[str, list[CAgreement]] = {}
    for a in extra_agreements:
        extra_by_gateway.setdefault(a.gateway, []).append(a)
    conditional = cand.conditional
    bases: list[tuple[CGateway, Optional[CAgreement], list[CRestriction]]] = []
    for g, covering in cand.gateways:  # only gateways whose parties match, in key order
        if data not in g.data:
            if note:
                note(Considered("gateway", g.key, Why.DATA_NOT_COVERED, {"data": policy.data_name(data)},
                                clause_span(g.model, "data")))
            continue
        if purpose not in g.purposes:
            if note:
                note(Considered("gateway", g.key, Why.PURPOSE_NOT_COVERED, {"purpose": policy.purpose_name(purpose)},
                                clause_span(g.model, "for")))
            continue
        g_via: tuple[str, ...] = ()
        if g.key in cand.conditional:  # its parties reach the pair only through a transfer of functions
            found = pair_via(policy, g.pairs, q.source, q.recipient, data, purpose, on)
            if found is None:
                if note:
                    why, args = party_miss(policy, g.pairs, q.source, q.recipient, data, purpose, on)
                    note(Considered("gateway", g.key, why, args, clause_span(g.model, "allows")))
                continue
            g_via = found
        out.candidates.append(g)
        why = in_force(g.window, on, assume)
        if why is not None:
            if note:
                note(_rule_miss("gateway", g, why, policy, on))
            continue
        why = power_excluded(g, q.express_only) if g.implied else None
        if why is not None:
            if note:
                note(Considered("gateway", g.key, why, {}, clause_span(g.model, "power")))
            continue
        if g.conditions and _conditions_missing(policy, out, note, "gateway", g, q.given):
            continue
        in_force_agreements: list[Optional[CAgreement]] = []
        a_via: dict[str, tuple[str, ...]] = {}
        for a in covering if not extra_by_gateway else covering + extra_by_gateway.get(g.key, []):
            if not conditional or f"agreement:{a.key}" not in conditional:
                if not agreement_covers(a, q.source, q.recipient):
                    continue
            else:  # it reaches the pair only through a transfer or a dated class membership: decide on the date
                found = pair_via(policy, a.directions, q.source, q.recipient, data, purpose, on)
                if found is None:
                    if note:
                        why, args = party_miss(policy, a.directions, q.source, q.recipient, data, purpose, on)
                        note(Considered("agreement", a.key, why, args, clause_span(a.model, "from")))
                    continue
                a_via[a.key] = found
            if data not in a.data:
                if note:
                    note(Considered("agreement", a.key, Why.DATA_NOT_COVERED, {"data": policy.data_name(data)},
                                    clause_span(a.model, "data")))
                continue
            if purpose not in a.purposes:
                if note:
                    note(Considered("agreement", a.key, Why.PURPOSE_NOT_COVERED,
                                    {"purpose": policy.purpose_name(purpose)}, clause_span(a.model, "for")))
                continue
            why = valid_on(a.valid, on)
            if why is not None:
                if note:
                    note(Considered("agreement", a.key, why, window_args(why, None, a.valid, policy),
                                    clause_span(a.model, "valid")))
                continue
            if a.conditions and _conditions_missing(policy, out, note, "agreement", a, q.given):
                continue
            in_force_agreements.append(a)
        if g.requires_agreement and not in_force_agreements:
            if note:
                note(Considered("gateway", g.key, Why.NO_AGREEMENT, {}, clause_span(g.model, "requires agreement")))
            continue
        usable: list[Optional[CAgreement]] = []
        for option in (in_force_agreements or [None]):
            gap = sensitivity_gap(policy, data, g, option, on)
            if gap is not None:
                if note:
                    where = (("agreement", option.key, option.model.span) if option is not None
                             else ("gateway", g.key, g.model.span))
                    args = regime_args(policy, g, option, on) if gap is Why.BASIS_WRONG_REGIME else {}
                    note(Considered(where[0], where[1], gap, args, where[2]))
                continue
            usable.append(option)
        if not usable:
            continue
        lifted: list[CRestriction] = []
        if out.firing:  # (most flows meet no restriction)
            remaining = [r for r in out.firing if r.key not in g.overrides]
            if remaining:
                if note:
                    note(Considered("gateway", g.key, Why.BLOCKED, {"restrictions": [r.id for r in remaining]},
                                    g.model.span))
                continue
            lifted = [r for r in out.firing if r.key in g.overrides]
        if first_only:
            out.allowed, out.basis, out.overridden = True, (g, usable[0]), lifted
            out.bases = [out.basis]
            ak = usable[0].key if usable[0] else ""
            out.via[(g.key, ak)] = tuple(dict.fromkeys(g_via + a_via.get(ak, ()))) if g_via or ak in a_via else ()
            return out
        for option in usable:
            bases.append((g, option, lifted))
            ak = option.key if option else ""
            out.via[(g.key, ak)] = tuple(dict.fromkeys(g_via + a_via.get(ak, ()))) if g_via or ak in a_via else ()
    if bases and out.onward_bar is None:  # the received data may not go on: no basis helps
        # preferred: lifting no restriction, then resting on an express power, then by ids
        if len(bases) > 1:
            bases.sort(key=lambda b: (bool(b[2]), b[0].implied, b[0].key, b[1].key if b[1] else ""))
        out.bases = [(b[0], b[1]) for b in bases] if len(bases) > 1 else [(bases[0][0], bases[0][1])]
        out.allowed = True
        out.basis = out.bases[0]
        out.overridden = bases[0][2]
    return out


def allowed(policy: CompiledPolicy, q: Question) -> bool:
    """The verdict alone: the same rules, stopping at the first basis."""
    return evaluate(policy, q, first_only=True).allowed


def deciding_clause(policy: CompiledPolicy, r: CRestriction, q: Question) -> Optional[Span]:
    """The clause of a firing restriction that catches the flow: the `one-way` clause naming the source's
    organisation, or the `forbids` clause whose parties match."""
    if q.source in r.one_way:
        for n in r.model.one_way:
            k = policy.org_alias.get(n.key, n.key)
            if k in policy.org_tree.ancestors.get(q.source, ()) and q.source not in policy.scope_cut.get(k, ()):
                for name, span in r.model.clause_spans:
                    if name == "one-way" and _contains(span, n.span):
                        return span
                return n.span
    for (s, d), parties in zip(r.forbids, r.model.forbids):
        if (s is None or q.source in s) and (d is None or q.recipient in d):
            return parties.span
    return r.model.span


def _contains(outer: Span, inner: Span) -> bool:
    return (outer.file == inner.file and (outer.line, outer.column) <= (inner.line, inner.column)
            and (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column))


def rule_ref(policy: CompiledPolicy, rule) -> RuleRef:
    """The reference a decision gives to a rule (kind, id, title, statute and provision, where). The same for
    every question, so made once per rule of a policy (a made-up agreement of a fix is made each time)."""
    if isinstance(rule, CAgreement) and rule.hypothetical:
        return _rule_ref(rule)
    return explain_cache(policy).refs.get_or(rule, _rule_ref, rule)


def _rule_ref(rule) -> RuleRef:
    if isinstance(rule, CAgreement):
        return RuleRef("agreement", rule.id, rule.model.title, rule.model.span if not rule.hypothetical else None)
    kind = "gateway" if isinstance(rule, CGateway) else "restriction"
    s = rule.statute
    listed = s.provision(rule.provision) if s else None
    url = (listed.url if listed is not None and listed.url else m.provision_url(s.url, rule.provision)) if s else None
    return RuleRef(kind, rule.id, rule.model.title, rule.model.span, statute=s.id if s else None,
                   statute_title=s.title if s else None, citation=s.citation if s else None,
                   provision=rule.provision, url=url, provision_dates=provision_dates(listed))


# ---- what an explanation says that is the same for every question (per policy) ----------------------------


class Bounded(dict):
    """A memo that is emptied whole when full (so bounded whatever the questions). Reads take no lock: a value
    is computed from immutable inputs, so two threads computing it at once store equal values."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def get_or(self, key: Hashable, make: Callable[..., Any], *args: Any) -> Any:
        hit = self.get(key, _MISSING)
        if hit is _MISSING:
            hit = make(*args)
            if len(self) >= self.limit:
                self.clear()
            self[key] = hit
        return hit


_MISSING = object()


class ExplainCache:
    """Per compiled policy (which is immutable): the parts of explanations that depend on the rules relied on
    and not on the question's parties — rule references, onward permissions in words, the regime of a date,
    bases, headlines. Keys hold the compiled rule objects themselves (compared by identity), never names, so a
    reloaded bundle (a new policy, a new cache) cannot see another's entries."""

    LIMIT = 50_000

    def __init__(self, policy: CompiledPolicy) -> None:
        self.refs = Bounded(self.LIMIT)  # rule -> RuleRef
        self.parts = Bounded(self.LIMIT)  # (what, ...) -> a part of an explanation (engine/policy/decide.py)
        self.provenance = Bounded(self.LIMIT)  # source -> the provenance assumed in words, when none is stated
        # data category -> its sensitivity markers as an answer shows them (sorted)
        self.sensitivity = {k: tuple(sorted(v)) for k, v in policy.sensitivity.items()}
        # the regime in force: constant between the starts and ends of the regimes, so found by bisection
        regimes = policy.regimes
        cuts = sorted({d for r in regimes for d in (r.start, m.regime_end(regimes, r)) if d is not None})
        self._cuts = cuts
        self._regimes = [m.regime_on(regimes, dt.date.min)] + [m.regime_on(regimes, d) for d in cuts]

    def regime_on(self, day: dt.date) -> Optional[m.Regime]:
        """`policy.regime_on(day)`, by bisection over the days on which it changes."""
        return self._regimes[bisect.bisect_right(self._cuts, day)]


_CACHES: "weakref.WeakKeyDictionary[CompiledPolicy, ExplainCache]" = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()
# the last policy asked about and its cache (both weakly): a service asks one policy thousands of times in a row
_LAST: tuple[Callable[[], Optional[CompiledPolicy]], Callable[[], Optional[ExplainCache]]] = (
    lambda: None, lambda: None)


def explain_cache(policy: CompiledPolicy) -> ExplainCache:
    """The policy's ExplainCache, made on first use; it goes with the policy (weakly held)."""
    global _LAST
    last, cache = _LAST
    if last() is policy:
        found = cache()
        if found is not None:
            return found
    hit = _CACHES.get(policy)
    if hit is None:
        with _CACHES_LOCK:
            hit = _CACHES.get(policy)
            if hit is None:
                hit = _CACHES[policy] = ExplainCache(policy)
    _LAST = (weakref.ref(policy), weakref.ref(hit))  # swapped whole: a thread reads a pair that belongs together
    return hit


def provision_dates(p: Optional[m.Provision]) -> Optional[ProvisionDatesDict]:
    """The register's record of a provision as the decision JSON shows it."""
    if p is None:
        return None
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {"provision": p.text, "status": p.status, "commenced": iso(p.commenced), "repealed": iso(p.repealed),
            "commenced_by": p.commenced_by, "url": p.url,
            "windows": [{"commenced": w.commenced.isoformat(), "repealed": iso(w.repealed),
                         "commenced_by": w.commenced_by, "extent": w.extent} for w in p.periods() if p.windows]}


def regime_args(policy: CompiledPolicy, g: CGateway, a: Optional[CAgreement], on: dt.date) -> dict:
    """What a wrong-regime reason says: the basis recorded, its regime, and the regime of the date."""
    from engine.eval.rules import regime_gap

    am, gm = (a.model if a else None), g.model
    basis = am.lawful_basis if am and am.lawful_basis else gm.lawful_basis
    for cited in (basis.text if basis else None, am.article9 if am and am.article9 else gm.article9):
        if cited and regime_gap(policy, cited, on) is not None:
            recorded = policy.regime_conditions[cited.lower()][0]
            now = policy.regime_on(on)
            return {"basis": cited, "regime": recorded.title, "now": now.title if now else None}
    return {}


def condition_args(policy: CompiledPolicy, keys: Iterable[str]) -> dict:
    """The arguments of a condition reason: ids and titles, in id order."""
    ordered = sorted(keys)
    return {"conditions": [policy.condition_name(k) for k in ordered],
            "titles": [policy.conditions[k].title for k in ordered]}

