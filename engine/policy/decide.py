"""One explained decision: evaluate (engine/eval), assemble the answer as data (engine/decision) and give it
its words (engine/render/words.py). The only place a `Decision` is put together."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Mapping, Optional

from engine.compile.compiled import CompiledPolicy
from engine.decision.answer import (Basis, Block, ClassMatch, Condition, ConditionUse, Consideration, Decision, Fix,
                                    RegimeView, TransferRef)
from engine.decision.reasons import json_code
from engine.eval import decide as evaluation  # by module, so a fault injected into the evaluator reaches here
from engine.eval.decide import ExplainCache, Question, deciding_clause, explain_cache, rule_ref
from engine.render import words
from engine.syntax import model as m


def decide_question(policy: CompiledPolicy, q: Question, fixes: bool = True, routes: bool = True) -> Decision:
    """The full answer to a resolved question: verdict, basis or blocks, every candidate considered and why,
    conditions, and (on a DENY) verified fixes and lawful indirect routes."""
    out = evaluation.evaluate(policy, q, explain=True)
    if out.allowed and out.basis is None and out.same_body is None:  # fail closed: an ALLOW must say what allows it
        raise RuntimeError("the evaluator allowed a flow without naming a basis")
    blocks: list[Block] = []
    if out.firing:  # (most flows meet no restriction)
        overridden_by: dict[str, str] = {}
        if out.allowed and out.basis is not None:
            for r in out.overridden:
                overridden_by[r.key] = out.basis[0].id
        blocks = [Block(rule_ref(policy, r), r.is_one_way and q.source in r.one_way, overridden_by.get(r.key),
                        deciding_clause(policy, r, q), *_readings(policy, out.readings.get(r.key, ())))
                  for r in sorted(out.firing, key=lambda r: (not (r.is_one_way and q.source in r.one_way), r.key))]
    considered: list[Consideration] = []
    seen = set()
    cache = explain_cache(policy)
    made = Consideration.made
    lookup: dict[str, Mapping[str, Any]] = {"gateway": policy.gateways, "agreement": policy.agreements,
                                            "restriction": policy.restrictions, "organisation": policy.orgs} \
        if out.considered else {}
    for c in out.considered:
        item = lookup[c.kind].get(c.key)  # None for a made-up agreement (a fix being verified)
        ident = c.key if item is None else item.id if isinstance(item.id, str) else item.id.text
        text, code = _reason(cache, c)
        k = (c.kind, c.key, code, text)
        if k in seen:
            continue
        seen.add(k)
        considered.append(made(c.kind, ident, code, text, c.span, c.why.value, dict(c.args)))
    basis = None
    conditions: tuple[Condition, ...] = ()
    if out.allowed and out.basis is not None:
        g, a = out.basis
        # the basis is the same for every question under (g, a), but for its onward permission on a date when
        # a clause's `to` names a class whose membership is dated
        basis = cache.parts.get_or(("basis", g, a, q.on if _onward_dated(policy, cache, g, a) else None),
                                   _basis, policy, g, a, q.source, q.on)
        if a:
            conditions = cache.parts.get_or(("conditions", a), _conditions, a)
    found_fixes: tuple[Fix, ...] = ()
    if fixes and not out.allowed:
        from engine.eval.fixes import find_fixes

        found_fixes = tuple(dataclasses.replace(f, description=words.fix(f)) for f in find_fixes(policy, q, out))
    found_routes: tuple = ()
    if routes and not out.allowed:
        from engine.eval.routes import find_routes

        found_routes = tuple(find_routes(policy, q))
    relied = _transfers_relied_on(policy, q, out)
    if out.allowed and out.basis is not None and not out.excepted:  # what it rests on: the same for (g, a)
        relied_on, unmet, power = cache.parts.get_or(("relied", *(out.basis or ())), _conditions_and_power, policy,
                                                     out)
    else:
        relied_on, unmet, power = _conditions_and_power(policy, out)
    chain = tuple(policy.org_name_on(k, q.on) for k in out.same_body) if out.allowed and out.same_body else ()
    if chain:
        headline = words.same_body_headline(chain)
    elif basis is not None:
        headline = cache.parts.get_or(("headline", *(out.basis or ()), tuple(r.key for r in out.overridden), power),
                                      _allowed_headline, basis, [r.id for r in out.overridden], power)
        if relied:
            headline += "; " + "; ".join(t.text for t in relied)
    else:
        missing: Optional[tuple] = None
        if out.missing_org:
            org, when, successor = out.missing_org[0]
            missing = (policy.org_name(org), when, policy.org_name(successor) if successor else "",
                       policy.org_end_kind.get(org, "") if policy.org_end.get(org, (None,))[0] == when else "")
        headline = words.denied_headline(q.on, missing, blocks, considered, bool(out.candidates),
                                         source=policy.org_name(q.source), stated=q.provenance_stated)
    received_under = policy.gateways[q.received_under].id if q.received_under else None
    held_for = policy.function_names[q.held_for] if q.held_for else None
    return Decision.made(
        verdict="allow" if out.allowed else "deny",
        headline=headline,
        source=policy.org_name_on(q.source, q.on), recipient=policy.org_name_on(q.recipient, q.on),
        data=policy.data_name(q.data),
        purpose=policy.purpose_name(q.purpose), on=q.on,
        assume=tuple(sorted(policy.assumed_name(s) for s in q.assume)) if q.assume else (),
        basis=basis, blocks=tuple(blocks), considered=tuple(considered), conditions=conditions,
        fixes=found_fixes, routes=found_routes,
        sensitivity=cache.parts.get_or(("sensitivity", q.data), _sensitivity, policy, q.data),
        transfers=relied, renamed=_renamed(policy, q), classes=_classes_matched(policy, cache, q, out), same_body=chain,
        given=tuple(sorted(policy.condition_name(k) for k in q.given)) if q.given else (),
        express_only=q.express_only, conditions_relied_on=relied_on, conditions_missing=unmet, power=power,
        received_under=received_under, own_data=q.own_data, held_for=held_for,
        provenance=cache.parts.get_or(("provenance", q.source, received_under, q.own_data, held_for),
                                      _provenance_words, policy, q.source, received_under, q.own_data, held_for),
        regime=_regime(policy, cache, q, basis))


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


def _sensitivity(policy: CompiledPolicy, data: str) -> tuple[str, ...]:
    return tuple(sorted(policy.sensitivity[data]))


def _regime(policy: CompiledPolicy, cache: ExplainCache, q: Question, basis: Optional[Basis]
            ) -> Optional[RegimeView]:
    """Issue 13: the regime of the question's date, and the basis relied on shown in it."""
    now = cache.regime_on(q.on)
    if now is None:
        return None
    sens = policy.sensitivity[q.data]
    lawful_basis = basis.lawful_basis if basis and "personal" in sens else None
    special = basis.article_9 if basis and "special-category" in sens else None
    # the same for every date of one regime: keyed by the regime (its object: the cache's policy holds it)
    return cache.parts.get_or(("regime", id(now), lawful_basis, special), _regime_view, policy, now, q.on,
                              lawful_basis, special)


def _regime_view(policy: CompiledPolicy, now, on, lawful_basis: Optional[str], special: Optional[str]
                 ) -> RegimeView:
    from engine.eval.rules import in_regime

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
    from engine.eval.rules import restriction_via

    if not policy.transfers:
        return ()
    keys: list[str] = []
    if out.allowed and out.basis is not None:
        g, a = out.basis
        keys += out.via.get((g.key, a.key if a else ""), ())
    for r in out.firing:
        keys += restriction_via(policy, r, q.source, q.recipient, q.data, q.purpose, q.on) or ()
    return tuple(transfer_ref(policy, policy.transfers[k]) for k in dict.fromkeys(keys))


def transfer_ref(policy: CompiledPolicy, t) -> TransferRef:
    s = t.statute
    ref = TransferRef(t.key, tuple(policy.org_name(k) for k in t.sources), tuple(policy.org_name(k) for k in t.targets),
                      t.on, statute=s.id if s else None, statute_title=s.title if s else None, provision=t.provision,
                      data=tuple(n.text for n in t.model.data), purposes=tuple(n.text for n in t.model.purposes),
                      continues=t.model.continues, span=t.model.span)
    return dataclasses.replace(ref, text=words.transfer(ref.to_dict()))


def _renamed(policy: CompiledPolicy, q: Question) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for k in dict.fromkeys((q.source, q.recipient)):
        if k not in policy.former:  # never renamed (most bodies)
            continue
        formerly = policy.formerly_on(k, q.on)
        if formerly:
            out.append((policy.org_name_on(k, q.on), formerly))
    return tuple(out)



def _classes_matched(policy: CompiledPolicy, cache: ExplainCache, q: Question, out) -> tuple[ClassMatch, ...]:
    """The classes through which the question's parties matched the basis's gateway and agreement, and the
    restrictions that block it (issue 12)."""
    if not policy.classes:
        return ()
    rules = list(out.firing)
    if out.allowed and out.basis is not None:
        rules += [b for b in out.basis if b is not None]
    scopes = [cache.parts.get_or(("class-scopes", r), _class_scopes, r) for r in rules]
    if all(classless for classless, _dated in scopes):
        return ()  # no party scope of these rules goes through a class: nothing to say
    s, d = q.source, q.recipient
    if s in policy.former or d in policy.former or s in policy.inherits or d in policy.inherits or \
            any(s in dated or d in dated for _classless, dated in scopes):
        return _classes_of(policy, q, out)
    # neither party is inside these rules' scopes only on some dates, nor through a transfer of functions, nor
    # known by another name on some dates: the same classes for every date, data and purpose
    return cache.parts.get_or(("classes", out.allowed, *rules, "", s, d), _classes_of, policy, q, out)


def _class_scopes(rule) -> tuple[bool, frozenset]:
    """(no party scope of the rule says through which class a body is inside it, the bodies inside one of its
    scopes only on some dates)."""
    scopes = [x for pair in getattr(rule, "pairs", None) or getattr(rule, "directions", None) or () for x in pair]
    scopes += [x for pair in getattr(rule, "forbids", ()) for x in pair]
    scopes.append(getattr(rule, "one_way", None))
    scopes = [x for x in scopes if x is not None]
    classless = not any(hasattr(x, "dated") or hasattr(x, "via") for x in scopes)
    return classless, frozenset(k for x in scopes for k in getattr(x, "dated", ()))


def _classes_of(policy: CompiledPolicy, q: Question, out) -> tuple[ClassMatch, ...]:
    from engine.eval.rules import class_matched, inside, member_on

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
