"""One explained decision: evaluate (engine/eval), assemble the answer as data (engine/decision) and give it
its words (engine/render/words.py). The only place a `Decision` is put together."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import importlib
import sys
from typing import Any, Mapping, NamedTuple, Optional

from engine.compile.compiled import CompiledPolicy
from engine.decision.answer import (FIELD_DEFAULTS, Basis, Block, ClassMatch, Condition, ConditionUse, Consideration,
                                    Decision, Fix, RegimeView, TransferRef)
from engine.decision.reasons import json_code
from engine.eval import decide as evaluation  # by module, so a fault injected into the evaluator reaches here
from engine.eval.decide import Bounded, ExplainCache, Question, deciding_clause, explain_cache, rule_ref
from engine.eval.rules import class_matched, in_regime, inside, member_on, restriction_via
from engine.render import words
from engine.syntax import model as m


def decide_question(policy: CompiledPolicy, q: Question, fixes: bool = True, routes: bool = True) -> Decision:
    """The full answer to a resolved question: verdict, basis or blocks, every candidate considered and why,
    conditions, and (on a DENY) verified fixes and lawful indirect routes."""
    out = evaluation.evaluate(policy, q, explain=True)
    allowed = out.allowed
    if allowed and out.basis is None and out.same_body is None:  # fail closed: an ALLOW must say what allows it
        raise RuntimeError("the evaluator allowed a flow without naming a basis")
    on = q.on
    cache = explain_cache(policy)
    blocks: tuple[Block, ...] = ()
    if out.firing:  # (most flows meet no restriction)
        overridden_by: dict[str, str] = {}
        if allowed and out.basis is not None:
            for r in out.overridden:
                overridden_by[r.key] = out.basis[0].id
        # a bar as the answer shows it depends on the restriction, the pair, what lifts it and the readings of
        # provenance under which it binds: made once for those
        memo = cache.parts
        blocks = tuple(memo.get_or(("block", r, q.source, q.recipient, overridden_by.get(r.key),
                                     out.readings.get(r.key, ())), _block, policy, r, q,
                                    overridden_by.get(r.key), out.readings.get(r.key, ()))
                       for r in sorted(out.firing, key=lambda r: (not (r.is_one_way and q.source in r.one_way),
                                                                   r.key)))
    considered = _considered(policy, cache, out.considered) if out.considered else ()
    former = policy.former  # (most bodies were never renamed: their one name, without the dated look-up)
    source, s_formerly = _name_on(policy, cache, q.source, on) if q.source in former else \
        (policy.orgs[q.source].id.text, ())
    recipient, r_formerly = _name_on(policy, cache, q.recipient, on) if q.recipient in former else \
        (policy.orgs[q.recipient].id.text, ())
    basis = None
    conditions: tuple[Condition, ...] = ()
    found_fixes: tuple[Fix, ...] = ()
    found_routes: tuple = ()
    # the transfers relied on: through a firing restriction, or the basis's own (most answers: none)
    relied = _transfers_relied_on(policy, q, out) if out.firing or (
        out.basis is not None and out.via.get((out.basis[0].key, out.basis[1].key if out.basis[1] else ""))) \
        else ()
    chain: tuple[str, ...] = ()
    if allowed and out.basis is not None:
        g, a = out.basis
        # what rests on the basis alone (the same for every question under (g, a) lifting the same
        # restrictions), but for its onward permission on a date when a clause's `to` names a class whose
        # membership is dated: one look-up
        key = ("allow", g, a, *out.overridden)
        parts = cache.parts.get(key)
        if parts is None or parts is _DATED:  # not made yet, or one for each date (a dated onward clause)
            parts = _allow_parts_on(policy, cache, key, parts, out, q.source, on)
        basis, conditions, headline, power = parts.basis, parts.conditions, parts.headline, parts.power
        relied_on = parts.relied_on if not out.excepted else _conditions_and_power(policy, out)[0]
        unmet: tuple[ConditionUse, ...] = ()
        if relied:
            headline += "; " + "; ".join(t.text for t in relied)
    else:
        if fixes and not allowed:
            found_fixes = tuple(_described(f, words.fix(f)) for f in _module("engine.eval.fixes").find_fixes(
                policy, q, out))
        if routes and not allowed:
            found_routes = tuple(_module("engine.eval.routes").find_routes(policy, q))
        relied_on, unmet, power = _conditions_and_power(policy, out)
        if allowed:  # within one legal person
            chain = tuple(policy.org_name_on(k, on) for k in out.same_body or ())
            headline = words.same_body_headline(chain)
        else:
            missing: Optional[tuple] = None
            if out.missing_org:
                org, when, successor = out.missing_org[0]
                missing = (policy.org_name(org), when, policy.org_name(successor) if successor else "",
                           policy.org_end_kind.get(org, "") if policy.org_end.get(org, (None,))[0] == when else "")
            headline = words.denied_headline(on, missing, blocks, considered, bool(out.candidates),
                                             source=policy.org_name(q.source) if blocks else "",
                                             stated=q.provenance_stated)  # (the source is named only by a bar)
    received_under = policy.gateways[q.received_under].id if q.received_under else None
    held_for = policy.function_names[q.held_for] if q.held_for else None
    sensitivity = cache.sensitivity[q.data]
    # the decision's fields, handed whole to the Decision (Decision.adopt: no copy, no keyword call): a copy of
    # every field at its default, then what this answer says (a copy and a few stores cost less than a display
    # of all 29, which Python builds key by key)
    values = FIELD_DEFAULTS.copy()
    values["verdict"] = "allow" if allowed else "deny"
    values["headline"] = headline
    values["source"] = source
    values["recipient"] = recipient
    values["data"] = policy.data_name(q.data)
    values["purpose"] = policy.purpose_name(q.purpose)
    values["on"] = on
    values["assume"] = tuple(sorted(policy.assumed_name(s) for s in q.assume)) if q.assume else ()
    values["basis"] = basis
    values["blocks"] = blocks
    values["considered"] = considered
    values["conditions"] = conditions
    values["fixes"] = found_fixes
    if found_routes:
        values["routes"] = found_routes
    values["sensitivity"] = sensitivity
    if relied:
        values["transfers"] = relied
    if s_formerly or r_formerly:  # (name on the date, former names) of each party known by another name before
        values["renamed"] = ((source, s_formerly),) if not r_formerly or q.recipient == q.source else \
            ((recipient, r_formerly),) if not s_formerly else ((source, s_formerly), (recipient, r_formerly))
    if policy.classes:
        values["classes"] = _classes_matched(policy, cache, q, out, source, recipient)
    if chain:
        values["same_body"] = chain
    if q.given:
        values["given"] = tuple(sorted(policy.condition_name(k) for k in q.given))
    values["express_only"] = q.express_only
    if relied_on:
        values["conditions_relied_on"] = relied_on
    if unmet:
        values["conditions_missing"] = unmet
    values["power"] = power
    values["received_under"] = received_under
    values["own_data"] = q.own_data
    values["held_for"] = held_for
    values["provenance"] = cache.parts.get_or(
        ("provenance", q.source, received_under, q.own_data, held_for), _provenance_words, policy, q.source,
        received_under, q.own_data, held_for) if received_under is not None or q.own_data or held_for is not None \
        else cache.provenance.get(q.source) or cache.provenance.get_or(q.source, _provenance_words, policy, q.source,
                                                                       None, False, None)
    values["regime"] = _regime(policy, cache, on, sensitivity, basis)
    return Decision.adopt_fields(values)


def _module(name: str) -> Any:
    """The module `name`, imported on its first use: an ALLOW needs neither the fixes nor the route search (nor
    `can-share` at start-up their imports). A `from … import` in the function would cost ~1 µs every DENY."""
    found = sys.modules.get(name)
    return found if found is not None else importlib.import_module(name)


def _described(f: Fix, description: str) -> Fix:
    """`dataclasses.replace(f, description=description)`, the same object, without the generated `__init__`'s
    walk over the fields by name (a Fix has no `__post_init__`: its fields are copied as they are)."""
    made = object.__new__(Fix)
    values = made.__dict__
    values.update(f.__dict__)
    if len(values) != len(_FIX_FIELDS):  # something kept on the object that is no field (a memo): not copied
        for k in values.keys() - _FIX_FIELDS:
            del values[k]
    values["description"] = description
    return made


_FIX_FIELDS = frozenset(f.name for f in dataclasses.fields(Fix))


def _block(policy: CompiledPolicy, r, q: Question, overridden_by: Optional[str], readings) -> Block:
    return Block(rule_ref(policy, r), r.is_one_way and q.source in r.one_way, overridden_by,
                 deciding_clause(policy, r, q), *_readings(policy, readings))


class _AllowParts(NamedTuple):
    """What an ALLOW says that rests on its basis alone (engine/policy/decide.py `_allow_parts`)."""

    basis: Basis
    conditions: tuple[Condition, ...]
    headline: str  # without the transfers relied on (those depend on the pair)
    power: Optional[str]
    relied_on: tuple[ConditionUse, ...]  # without the exceptions that lifted a restriction (those depend on it)


_DATED: Any = object()  # remembered under an ALLOW's key when its parts are remembered by date


def _allow_parts_on(policy: CompiledPolicy, cache: ExplainCache, key: tuple, seen: Any, out: evaluation.Outcome,
                    source: str, on: dt.date) -> _AllowParts:
    """The parts for the key's basis: remembered under the key itself, or when its onward permission in words
    depends on the date, under the key and the date (the key itself then holds `_DATED`)."""
    assert out.basis is not None
    if seen is None:
        if not _onward_dated(policy, cache, *out.basis):
            return cache.parts.get_or(key, _allow_parts, policy, out, source, on)
        cache.parts.get_or(key, lambda: _DATED)
    return cache.parts.get_or((*key, on), _allow_parts, policy, out, source, on)


def _allow_parts(policy: CompiledPolicy, out: evaluation.Outcome, source: str, on: dt.date) -> _AllowParts:
    assert out.basis is not None
    g, a = out.basis
    basis = _basis(policy, g, a, source, on)
    bare = out if not out.excepted else evaluation.Outcome(True, basis=out.basis)
    relied_on, _unmet, power = _conditions_and_power(policy, bare)
    return _AllowParts(basis, _conditions(a) if a else (),
                       _allowed_headline(basis, [r.id for r in out.overridden], power), power, relied_on)


def _considered(policy: CompiledPolicy, cache: ExplainCache, found: list[evaluation.Considered]
                ) -> tuple[Consideration, ...]:
    """Every candidate that did not apply, once for each (rule, reason), with its reason in words. One made
    for the same rule, reason, clause and arguments when they are all names or dates is remembered and shared
    by every decision that gives it (compared exactly: a datetime is not a date), as its JSON is
    (`Decision.to_dict(shared=True)`)."""
    parts = cache.parts
    if len(found) == 1:  # (most: one candidate, nothing to leave out as said already)
        return (_consideration_of(policy, cache, parts, found[0]),)
    considered: list[Consideration] = []
    seen = set()
    for c in found:
        one = _consideration_of(policy, cache, parts, c)
        k = (c.kind, c.key, one.code, one.reason)
        if k in seen:
            continue
        seen.add(k)
        considered.append(one)
    return tuple(considered)


def _consideration_of(policy: CompiledPolicy, cache: ExplainCache, parts: Bounded, c: evaluation.Considered
                      ) -> Consideration:
    args = c.args
    for v in args.values():
        if type(v) is not str and type(v) is not dt.date:
            return _consideration(policy, cache, c)
    key = ("considered", c.kind, c.key, c.why, c.span, *args.items())
    one = parts.get(key)  # (a dict's own `get` first: most are made already)
    return one if one is not None else parts.get_or(key, _consideration, policy, cache, c)


# where each kind of candidate is found by its key (for its id)
_KINDS = {"gateway": "gateways", "agreement": "agreements", "restriction": "restrictions", "organisation": "orgs"}


def _consideration(policy: CompiledPolicy, cache: ExplainCache, c: evaluation.Considered) -> Consideration:
    item = getattr(policy, _KINDS[c.kind]).get(c.key)  # None for a made-up agreement (a fix being verified)
    ident = c.key if item is None else item.id if isinstance(item.id, str) else item.id.text
    text, code = _reason(cache, c)
    return Consideration.made(c.kind, ident, code, text, c.span, c.why.value, dict(c.args))


def _provenance_words(policy: CompiledPolicy, source: str, received_under: Optional[str], own_data: bool,
                      held_for: Optional[str]) -> str:
    return words.provenance_assumed(policy.org_name(source), received_under, own_data, held_for)


def _reason(cache: ExplainCache, c: evaluation.Considered) -> tuple[str, str]:
    """(words, stable code) of a candidate that did not apply: made once for the same reason with the same
    arguments when they are all names or dates (`data not covered: x`; compared exactly: a datetime is not a
    date), else each time."""
    args = c.args
    for v in args.values():
        if type(v) is not str and type(v) is not dt.date:
            return words.reason(c.kind, c.why, args), json_code(c.kind, c.why)
    return cache.parts.get_or(("reason", c.kind, c.why, *args.items()), _reason_words, c.kind, c.why, args)


def _reason_words(kind: str, why, args) -> tuple[str, str]:
    return words.reason(kind, why, args), json_code(kind, why)


def _basis(policy: CompiledPolicy, g, a, source: str, on) -> Basis:
    from engine.eval.routes import onward_text

    gm, am = g.model, (a.model if a else None)
    return Basis(
        gateway=rule_ref(policy, g), agreement=rule_ref(policy, a) if a else None,
        lawful_basis=((am.lawful_basis if am and am.lawful_basis else gm.lawful_basis) or m.Name("")).text or None,
        article_9=(am.article9 if am and am.article9 else gm.article9),
        article_10=(am.article10 if am and am.article10 else gm.article10),
        onward=onward_text(policy, g, a, source, on))


def _onward_dated(policy: CompiledPolicy, cache: ExplainCache, g, a) -> bool:
    """Whether the onward permission of (g, a) in words may differ from date to date: only through an `onward
    to` whose parties include a class with dated members (engine/eval/routes.py `on_date`). The discloser
    never shows in the words (`as-discloser` says no more than that)."""
    def dated(clause) -> bool:
        return clause is not None and clause.kind == "to" and \
            bool(getattr(policy.party_scope(clause.targets, clause.excluded), "dated", None))

    return cache.parts.get_or(("onward-dated", g, a), lambda: dated(g.model.onward) or (
        a is not None and dated(a.model.onward)))


def _conditions(a) -> tuple[Condition, ...]:
    return tuple(Condition(text, a.id, dict(a.model.clause_spans).get("requires", a.model.span))
                 for text in a.model.requires)


def _allowed_headline(basis: Basis, lifted: list[str], power: Optional[str]) -> str:
    return words.allowed_headline(basis.gateway, basis.agreement.id if basis.agreement else None, lifted, power)


def _regime(policy: CompiledPolicy, cache: ExplainCache, on: dt.date, sensitivity: tuple[str, ...],
            basis: Optional[Basis]) -> Optional[RegimeView]:
    """Issue 13: the regime of the question's date, and the basis relied on shown in it."""
    now = cache.regime_on(on)
    if now is None:
        return None
    lawful_basis = basis.lawful_basis if basis and "personal" in sensitivity else None
    special = basis.article_9 if basis and "special-category" in sensitivity else None
    # the same for every date of one regime: keyed by the regime (its object: the cache's policy holds it)
    key = ("regime", id(now), lawful_basis, special)
    made = cache.parts.get(key)
    return made if made is not None else cache.parts.get_or(key, _regime_view, policy, now, on, lawful_basis, special)


def _regime_view(policy: CompiledPolicy, now, on, lawful_basis: Optional[str], special: Optional[str]
                 ) -> RegimeView:
    def shown(cited: Optional[str], free_text: bool = False) -> Optional[tuple[str, Optional[str], Optional[str]]]:
        if not cited or (free_text and cited.lower() not in policy.regime_conditions):
            return None  # an article-9 text that names no condition of a regime is shown as written
        _now, cond = in_regime(policy, cited, on)
        return (cited, cond.id if cond else None, cond.title if cond else None)

    return RegimeView(now.id, now.title, shown(lawful_basis), shown(special, free_text=True))


def _readings(policy: CompiledPolicy, readings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A provenance-bound bar's readings as (gateway ids, function names)."""
    return (tuple(policy.gateways[k].id for kind, k in readings if kind == "received-under"),
            tuple(policy.function_names.get(k, k) for kind, k in readings if kind == "held-for"))


def _conditions_and_power(policy: CompiledPolicy, out: evaluation.Outcome
                          ) -> tuple[tuple[ConditionUse, ...], tuple[ConditionUse, ...], Optional[str]]:
    """Issue 13. On an ALLOW: every condition it rests on (the basis's `requires`, and the `except … when` that
    lifted a restriction the flow met) and the strength of its power ("implied" only when every basis rests on
    an implied power: the preferred basis is express whenever one is). On a DENY: the conditions candidates
    needed that the question did not give."""
    def use(kind: str, rule_id: str, keys, span) -> list[ConditionUse]:
        return [ConditionUse(policy.condition_name(k), policy.conditions[k].title, kind, rule_id, span)
                for k in sorted(keys)]

    if out.allowed and out.basis is not None:
        g, a = out.basis
        relied = use("gateway", g.id, g.conditions, evaluation.clause_span(g.model, "requires condition"))
        if a is not None:
            relied += use("agreement", a.id, a.conditions, evaluation.clause_span(a.model, "requires condition"))
        for r, exc in out.excepted:
            relied += use("restriction", r.id, [n.key for n in exc.when], exc.span)
        return tuple(dict.fromkeys(relied)), (), "implied" if g.implied else "express"
    if not out.unmet:  # (most denials: no condition wanting)
        return (), (), None
    ids: dict[str, Mapping[str, Any]] = {"gateway": policy.gateways, "agreement": policy.agreements,
                                         "restriction": policy.restrictions}
    missing: list[ConditionUse] = []
    for kind, key, keys, span in out.unmet:
        rule = ids[kind].get(key)
        missing += use(kind, rule.id if rule is not None else key, keys, span)
    return (), tuple(dict.fromkeys(missing)), None


# ---- continuity (issue 12) -----------------------------------------------------------------------------


def _transfers_relied_on(policy: CompiledPolicy, q: Question, out) -> tuple[TransferRef, ...]:
    """The transfers of functions the answer relied on: those the basis needs, then those through which a
    firing restriction binds the flow."""
    if not policy.transfers:
        return ()
    keys: list[str] = []
    if out.allowed and out.basis is not None:
        g, a = out.basis
        keys += out.via.get((g.key, a.key if a else ""), ())
    for r in out.firing:
        keys += restriction_via(policy, r, q.source, q.recipient, q.data, q.purpose, q.on) or ()
    if not keys:  # (most answers rely on none)
        return ()
    parts = explain_cache(policy).parts
    return tuple(parts.get_or(("transfer", t), transfer_ref, policy, t)
                 for t in (policy.transfers[k] for k in dict.fromkeys(keys)))


def transfer_ref(policy: CompiledPolicy, t) -> TransferRef:
    s = t.statute
    ref = TransferRef(t.key, tuple(policy.org_name(k) for k in t.sources), tuple(policy.org_name(k) for k in t.targets),
                      t.on, statute=s.id if s else None, statute_title=s.title if s else None, provision=t.provision,
                      data=tuple(n.text for n in t.model.data), purposes=tuple(n.text for n in t.model.purposes),
                      continues=t.model.continues, span=t.model.span)
    return dataclasses.replace(ref, text=words.transfer(ref.to_dict()))


def _name_on(policy: CompiledPolicy, cache: ExplainCache, k: str, on: dt.date) -> tuple[str, tuple[str, ...]]:
    """(`policy.org_name_on(k, on)`, `policy.formerly_on(k, on)`) of a renamed body: both change only on the days
    its names were given up, so they are found by bisection over those days (made once per body)."""
    names = cache.parts.get(("names", k))
    if names is None:
        names = cache.parts.get_or(("names", k), _names_of, policy, k)
    if names is _UNSORTED:
        return policy.org_name_on(k, on), policy.formerly_on(k, on)
    i = bisect.bisect_right(names[0], on)  # the names given up on or before the date
    return names[1][i], names[2][i]


_UNSORTED: Any = object()


def _names_of(policy: CompiledPolicy, k: str) -> Any:
    """(the days a renamed body gave up each of its names, its name after i of them, its names given up
    after i of them, latest first); `org_name_on` and `formerly_on` read the names in the order of those days."""
    history = policy.former[k]
    days = tuple(until for _name, until, _title in history)
    if any(a > b for a, b in zip(days, days[1:])):
        return _UNSORTED
    names = [name for name, _until, _title in history]
    return (days, tuple(names) + (policy.org_name(k),),
            tuple(tuple(reversed(names[:i])) for i in range(len(names) + 1)))


def _classes_matched(policy: CompiledPolicy, cache: ExplainCache, q: Question, out, source: str,
                     recipient: str) -> tuple[ClassMatch, ...]:
    """The classes through which the question's parties matched the basis's gateway and agreement, and the
    restrictions that block it (issue 12). `source`, `recipient`: the parties' names on the question's date.
    Remembered per (rules, pair, names); where a party is inside these rules' scopes only on some dates, per
    (rules, pair, names, the span of days between two changes of its memberships); where a party is inside
    through a transfer of functions, worked out for the question's date, data and purpose each time."""
    key = ("classes", out.allowed, tuple(out.firing), out.basis if out.allowed else None, q.source, q.recipient,
           source, recipient)
    plan = cache.parts.get(key)
    if plan is None:
        plan = cache.parts.get_or(key, _classes_plan, policy, cache, q, out)
    if type(plan) is _ByDays:  # the same classes between two of its days: the question's span of them
        return cache.parts.get_or((key, bisect.bisect_right(plan.days, q.on)), _classes_of, policy, q, out)
    return _classes_of(policy, q, out) if plan is _EACH_TIME else plan


_EACH_TIME: Any = object()  # a plan: work the classes out for each question


class _ByDays(NamedTuple):
    """A plan: the classes change only on these days (sorted): the first day of a membership of either party
    in one of the rules' scopes and the day after its last."""

    days: tuple[dt.date, ...]


def _classes_plan(policy: CompiledPolicy, cache: ExplainCache, q: Question, out) -> Any:
    rules = list(out.firing)
    if out.allowed and out.basis is not None:
        rules += [b for b in out.basis if b is not None]
    scopes = [cache.parts.get_or(("class-scopes", r), _class_scopes, r) for r in rules]
    if all(classless for classless, _dated in scopes):
        return ()  # no party scope of these rules goes through a class: nothing to say
    s, d = q.source, q.recipient
    if s in policy.inherits or d in policy.inherits:
        return _EACH_TIME
    if any(s in dated or d in dated for _classless, dated in scopes):
        # `inside` and `class_matched` (engine/eval/rules.py) read a party's windows `(from, until)`, both
        # inclusive, on the date: the answer can change only on a `from` or the day after an `until`
        days: set[dt.date] = set()
        for r in rules:
            for scope in _party_scopes(r):
                for org in (s, d):
                    for start, end, _k in getattr(scope, "dated", {}).get(org, ()):
                        if start is not None:
                            days.add(start)
                        if end is not None and end < dt.date.max:
                            days.add(end + dt.timedelta(days=1))
        return _ByDays(tuple(sorted(days)))
    # neither party is inside these rules' scopes only on some dates, nor through a transfer of functions: the
    # same classes for every date, data and purpose but for the names a renamed body is shown by on the date
    return _classes_of(policy, q, out)


def _party_scopes(rule) -> list:
    """Every party scope of a gateway, agreement or restriction (those `_classes_of` reads)."""
    scopes = [x for pair in getattr(rule, "pairs", None) or getattr(rule, "directions", None) or () for x in pair]
    scopes += [x for pair in getattr(rule, "forbids", ()) for x in pair]
    scopes.append(getattr(rule, "one_way", None))
    return [x for x in scopes if x is not None]


def _class_scopes(rule) -> tuple[bool, frozenset]:
    """(no party scope of the rule says through which class a body is inside it, the bodies inside one of its
    scopes only on some dates)."""
    scopes = _party_scopes(rule)
    classless = not any(hasattr(x, "dated") or hasattr(x, "via") for x in scopes)
    return classless, frozenset(k for x in scopes for k in getattr(x, "dated", ()))


def _classes_of(policy: CompiledPolicy, q: Question, out) -> tuple[ClassMatch, ...]:
    found: list[ClassMatch] = []

    def match(kind: str, rule_id: str, pairs) -> None:
        for s, d in pairs:
            if inside(policy, s, q.source, q.data, q.purpose, q.on) is None or \
                    inside(policy, d, q.recipient, q.data, q.purpose, q.on) is None:
                continue
            for side, scope, org in (("source", s, q.source), ("recipient", d, q.recipient)):
                k = class_matched(scope, org, q.on)
                if k is not None:
                    found.append(ClassMatch(kind, rule_id, side, policy.org_name_on(org, q.on),
                                            policy.classes[k].id.text))
            return

    if out.allowed and out.basis is not None:
        g, a = out.basis
        match("gateway", g.id, g.pairs)
        if a is not None:
            match("agreement", a.id, a.directions)
    for r in out.firing:
        if r.one_way and member_on(r.one_way, q.source, q.on):
            k = class_matched(r.one_way, q.source, q.on)
            if k is not None:
                found.append(ClassMatch("restriction", r.id, "source", policy.org_name_on(q.source, q.on),
                                        policy.classes[k].id.text))
        else:
            match("restriction", r.id, r.forbids)
    return tuple(found)
