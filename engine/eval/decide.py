"""Deciding one flow (source, recipient, data, purpose, date) against a compiled Policy.

The rules are those of LANGUAGE.md, "The decision", applied in order:
0. both organisations exist on the date;
1. no restriction blocks the flow (deny overrides), unless the gateway relied on names it in `overrides`;
2. a gateway in force allows it;
3. where the gateway `requires agreement`, an agreement in force relying on it covers the flow;
4. personal data has a lawful basis recorded (agreement or gateway), special-category an article-9 condition,
   criminal-offence an article-10 condition.
Anything not established is a DENY with the reason. One function, `evaluate`, gives the verdict both for
`Policy.allowed` (no explanation) and for `decide` (with explanation), so the two can never disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Iterable, Optional

from engine.syntax import model as m
from engine.compile.compiled import CAgreement, CGateway, CRestriction, Policy
from engine.base.source import Span
from engine.decision.answer import RuleRef, Block, Consideration, Condition, Fix, Basis, Decision



@dataclass(frozen=True)
class Question:
    """A question with every name resolved to its key."""

    source: str
    recipient: str
    data: str
    purpose: str
    on: dt.date
    assume: frozenset = frozenset()


def normalise(policy: Policy, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date],
              assume: Iterable[str]) -> Question:
    """Resolve names (case-insensitive, aliases) or raise UnknownNameError with suggestions.

    Arguments of the wrong type raise TypeError saying which (a string `assume` would otherwise be read as
    one statute per letter); a datetime counts as its date."""
    for what, value in (("source", source), ("recipient", recipient), ("data", data), ("purpose", purpose)):
        if not isinstance(value, str):
            raise TypeError(f"`{what}` must be a name (str), not {type(value).__name__}")
    if isinstance(on, dt.datetime):
        on = on.date()
    elif on is not None and not isinstance(on, dt.date):
        raise TypeError(f"`on` must be a datetime.date, not {type(on).__name__}")
    if isinstance(assume, (str, bytes)):
        raise TypeError("`assume` must be a list of statute ids, not a single string")
    return Question(
        source=policy.org_key(source), recipient=policy.org_key(recipient), data=policy.data_key(data),
        purpose=policy.purpose_key(purpose), on=on or dt.date.today(),
        assume=frozenset(policy.statute_key(s) for s in assume))


# ---- the evaluation ---------------------------------------------------------------------------------


@dataclass
class Considered:
    kind: str  # "gateway" | "agreement" | "restriction" | "organisation"
    key: str
    reason: str
    code: str  # stable: not-in-force, data-not-covered, purpose-not-covered, expired, no-agreement, …
    span: Optional[Span] = None


@dataclass
class Outcome:
    allowed: bool
    basis: Optional[tuple[CGateway, Optional[CAgreement]]] = None
    firing: list[CRestriction] = field(default_factory=list)
    overridden: list[CRestriction] = field(default_factory=list)
    considered: list[Considered] = field(default_factory=list)
    missing_org: list[tuple[str, dt.date, str]] = field(default_factory=list)  # (org, ended on, successor)
    candidates: list[CGateway] = field(default_factory=list)  # gateways whose parties match the flow
    bases: list[tuple[CGateway, Optional[CAgreement]]] = field(default_factory=list)  # every allowing basis, preferred first


def statute_status(statute: Optional[m.Statute], q: Question) -> Optional[str]:
    """None when in force on the question's date (or assumed); else why not."""
    if statute is None:
        return "it cites no statute"
    if statute.id.lower() in q.assume:
        return None
    if statute.in_force_on(q.on):
        return None
    return statute.why_not_in_force(q.on)


def window_status(valid: Optional[m.Validity], on: dt.date, what: str = "valid") -> Optional[str]:
    if valid is None or valid.covers(on):
        return None
    if valid.start is not None and on < valid.start:
        return f"not {what} until {valid.start.isoformat()}"
    return f"expired on {valid.end.isoformat()}"


def restriction_applies(policy: Policy, r: CRestriction, q: Question) -> tuple[bool, Optional[str]]:
    """(fires, why it does not) for a restriction whose source bucket matched."""
    if r.data is not None and q.data not in r.data:
        return False, None
    if r.purposes is not None and q.purpose not in r.purposes:
        return False, None
    party = q.source in r.one_way or any(
        (s is None or q.source in s) and (d is None or q.recipient in d) for s, d in r.forbids)
    if not party:
        return False, None
    why = statute_status(r.statute, q) if r.statute is not None else None
    if why:  # "not in force until …" already says so; "repealed on …", "… is proposed" get the prefix
        return False, why if why.startswith("not in force") else f"not in force: {why}"
    why = window_status(r.valid, q.on)
    if why:
        return False, f"not in force: {why}"
    sens = policy.sensitivity[q.data]
    for anonymised, to, purposes, exc in r.exceptions:
        if anonymised and "anonymised" not in sens:
            continue
        if to is not None and q.recipient not in to:
            continue
        if purposes is not None and q.purpose not in purposes:
            continue
        return False, f"the exception at {exc.span} covers this flow"
    return True, None


def clause_span(model, clause: str) -> Optional[Span]:
    """The span of a block's clause (the first one written), else the block's own span."""
    for name, span in getattr(model, "clause_spans", ()):
        if name == clause:
            return span
    return model.span


def _restriction_miss_span(r: CRestriction, why: str) -> Optional[Span]:
    """Where a restriction that did not fire was decided: the exception, the statute or the window."""
    if "exception at " in why:
        for *_scopes, exc in r.exceptions:
            if f"exception at {exc.span} " in why:
                return exc.span
    if why.startswith("not in force: not valid") or why.startswith("not in force: expired"):
        return clause_span(r.model, "valid")
    return clause_span(r.model, "statute")


def deciding_clause(policy: Policy, r: CRestriction, q: Question) -> Optional[Span]:
    """The clause of a firing restriction that catches the flow: the `one-way` clause naming the source's
    organisation, or the `forbids` clause whose parties match."""
    if q.source in r.one_way:
        for n in r.model.one_way:
            k = policy.org_alias.get(n.key, n.key)
            if k in policy.org_tree.ancestors.get(q.source, ()):
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


def _agreement_covers(a: CAgreement, q: Question) -> bool:
    return any(q.source in s and q.recipient in d for s, d in a.directions)


def _sensitivity_gap(policy: Policy, q: Question, g: CGateway, a: Optional[CAgreement]) -> Optional[tuple[str, str]]:
    sens = policy.sensitivity[q.data]
    gm, am = g.model, (a.model if a else None)
    if "personal" in sens and not ((am and am.lawful_basis) or gm.lawful_basis):
        return "no-lawful-basis", "the data is personal and no lawful basis is recorded"
    if "special-category" in sens and not ((am and am.article9) or gm.article9):
        return "no-article-9", "the data is special-category and no article-9 condition is recorded"
    if "criminal-offence" in sens and not ((am and am.article10) or gm.article10):
        return "no-article-10", "the data is criminal-offence data and no article-10 condition is recorded"
    return None


def evaluate(policy: Policy, q: Question, extra_agreements: tuple[CAgreement, ...] = (),
             explain: bool = False) -> Outcome:
    out = Outcome(allowed=False)
    note = out.considered.append if explain else (lambda _c: None)

    # 0. both organisations exist on the date
    for k in (q.source, q.recipient):
        if not policy.org_exists(k, q.on):
            end = policy.org_end.get(k)
            if end is not None and q.on >= end[0]:
                out.missing_org.append((k, end[0], end[1]))
                note(Considered("organisation", k, f"`{policy.org_name(k)}` no longer exists on {q.on.isoformat()}: "
                                f"`{policy.org_name(end[1])}` replaced it on {end[0].isoformat()}", "succeeded",
                                policy.orgs[k].span))
            else:
                start = policy.org_start[k]
                out.missing_org.append((k, start, ""))
                note(Considered("organisation", k, f"`{policy.org_name(k)}` does not exist until {start.isoformat()}",
                                "not-yet-existing", policy.orgs[k].span))

    # 1. restrictions (deny overrides). Evaluated even when an organisation is missing, so the decision
    # still reports every bar the flow meets (the verdict is DENY either way). Candidates come from the
    # index's (source, recipient) bucket.
    pair = policy.index.pair(q.source, q.recipient)
    for r in pair.restrictions:
        fires, why = restriction_applies(policy, r, q)
        if fires:
            out.firing.append(r)
        elif why:
            note(Considered("restriction", r.key, why, "exception" if "exception" in why else "not-in-force",
                            _restriction_miss_span(r, why)))
    if out.missing_org:
        return out

    # 2–4. gateways, agreements, lawful basis
    extra_by_gateway: dict[str, list[CAgreement]] = {}
    for a in extra_agreements:
        extra_by_gateway.setdefault(a.gateway, []).append(a)
    bases: list[tuple[CGateway, Optional[CAgreement], list[CRestriction]]] = []
    for g, covering in pair.gateways:  # only gateways whose parties match, in key order
        if q.data not in g.data:
            note(Considered("gateway", g.key, f"data `{policy.data_name(q.data)}` not covered", "data-not-covered",
                            clause_span(g.model, "data")))
            continue
        if q.purpose not in g.purposes:
            note(Considered("gateway", g.key, f"purpose `{policy.purpose_name(q.purpose)}` not covered",
                            "purpose-not-covered", clause_span(g.model, "for")))
            continue
        out.candidates.append(g)
        why = statute_status(g.statute, q)
        if why:
            note(Considered("gateway", g.key, why,
                            "proposed" if "proposed" in why else "repealed" if "repealed" in why else "not-in-force",
                            clause_span(g.model, "statute")))
            continue
        why = window_status(g.valid, q.on)
        if why:
            note(Considered("gateway", g.key, why, "not-in-force", clause_span(g.model, "valid")))
            continue
        in_force: list[CAgreement] = []
        for a in covering + extra_by_gateway.get(g.key, []):
            if not _agreement_covers(a, q):
                continue
            if q.data not in a.data:
                note(Considered("agreement", a.key, f"data `{policy.data_name(q.data)}` not covered", "data-not-covered",
                                clause_span(a.model, "data")))
                continue
            if q.purpose not in a.purposes:
                note(Considered("agreement", a.key, f"purpose `{policy.purpose_name(q.purpose)}` not covered",
                                "purpose-not-covered", clause_span(a.model, "for")))
                continue
            why = window_status(a.valid, q.on, "in force")
            if why:
                note(Considered("agreement", a.key, why, "expired" if why.startswith("expired") else "not-in-force",
                                clause_span(a.model, "valid")))
                continue
            in_force.append(a)
        if g.requires_agreement and not in_force:
            note(Considered("gateway", g.key, "no agreement in force relies on it", "no-agreement",
                            clause_span(g.model, "requires agreement")))
            continue
        options: list[Optional[CAgreement]] = list(in_force) if in_force else [None]
        usable = []
        for a in options:
            gap = _sensitivity_gap(policy, q, g, a)
            if gap:
                code, text = gap
                where = (a.key, "agreement", a.model.span) if a else (g.key, "gateway", g.model.span)
                note(Considered(where[1], where[0], text, code, where[2]))
                continue
            usable.append(a)
        if not usable:
            continue
        remaining = [r for r in out.firing if r.key not in g.overrides]
        if remaining:
            note(Considered("gateway", g.key, "blocked by " + ", ".join(f"`{r.id}`" for r in remaining), "blocked",
                            g.model.span))
            continue
        for a in usable:
            bases.append((g, a, [r for r in out.firing if r.key in g.overrides]))
    if bases:
        bases.sort(key=lambda b: (bool(b[2]), b[0].key, b[1].key if b[1] else ""))
        g, a, overridden = bases[0]
        out.bases = [(b[0], b[1]) for b in bases]
        out.allowed = True
        out.basis = (g, a)
        out.overridden = overridden
    return out


def rule_ref(policy: Policy, rule) -> RuleRef:
    if isinstance(rule, CAgreement):
        return RuleRef("agreement", rule.id, rule.model.title, rule.model.span if not rule.hypothetical else None)
    kind = "gateway" if isinstance(rule, CGateway) else "restriction"
    s = rule.statute
    return RuleRef(kind, rule.id, rule.model.title, rule.model.span, statute=s.id if s else None,
                   statute_title=s.title if s else None, citation=s.citation if s else None,
                   provision=rule.provision, url=m.provision_url(s.url, rule.provision) if s else None)


def _onward_text(policy: Policy, q: Question, g: CGateway, a: Optional[CAgreement]) -> str:
    """The effective onward permission: the intersection of the gateway's and the agreement's clauses."""
    from engine.eval.routes import onward_text
    return onward_text(policy, g, a, q.source)


def _headline(policy: Policy, q: Question, out: Outcome, blocks: list[Block], considered: list[Consideration]) -> str:
    if out.allowed:
        g, a = out.basis
        ref = rule_ref(policy, g)
        cite = f" ({ref.cites()})" if ref.cites() else ""
        under = f" and agreement {a.id}" if a else ""
        lifted = f", lifting {', '.join(r.id for r in out.overridden)}" if out.overridden else ""
        return f"ALLOWED — under gateway {g.id}{cite}{under}{lifted}"
    if out.missing_org:
        k, when, succ = out.missing_org[0]
        if succ:
            return f"DENIED — {policy.org_name(k)} no longer exists on {q.on.isoformat()} (replaced by {policy.org_name(succ)} on {when.isoformat()})"
        return f"DENIED — {policy.org_name(k)} does not exist until {when.isoformat()}"
    live = [b for b in blocks if b.overridden_by is None]
    one_way = [b for b in live if b.one_way]
    if one_way:
        r = one_way[0].restriction
        return f"DENIED — one-way legislative block: {r.cites() or r.title} ({r.id})"
    if live:
        r = live[0].restriction
        return f"DENIED — legislative block: {r.cites() or r.title} ({r.id})"
    codes = {c.code for c in considered if c.kind == "gateway"}
    expired = [c for c in considered if c.kind == "agreement" and c.code == "expired"]
    if not out.candidates:
        return "DENIED — no legal gateway allows this flow"
    if "no-agreement" in codes and expired:
        return f"DENIED — agreement {expired[0].id} {expired[0].reason}; no other agreement in force covers it"
    if "no-agreement" in codes:
        return "DENIED — no agreement in force under the gateway that would allow it"
    if codes == {"proposed"}:
        return "DENIED — the only gateway is in a proposed statute, not enacted"
    if codes & {"not-in-force", "repealed", "proposed"}:
        return "DENIED — no gateway in force on this date allows it"
    if codes & {"no-lawful-basis", "no-article-9", "no-article-10"} or any(
            c.code in ("no-lawful-basis", "no-article-9", "no-article-10") for c in considered):
        return "DENIED — no lawful basis recorded for this personal data"
    return "DENIED — no legal gateway and agreement together allow this flow"


def decide(policy: Policy, source: str, recipient: str, data: str, purpose: str, on: Optional[dt.date] = None,
           assume: Iterable[str] = (), fixes: bool = True, routes: bool = True) -> Decision:
    q = normalise(policy, source, recipient, data, purpose, on, assume)
    return decide_question(policy, q, fixes=fixes, routes=routes)


def decide_question(policy: Policy, q: Question, fixes: bool = True, routes: bool = True) -> Decision:
    out = evaluate(policy, q, explain=True)
    overridden_by = {}
    if out.allowed:
        for r in out.overridden:
            overridden_by[r.key] = out.basis[0].id
    blocks = [Block(rule_ref(policy, r), r.is_one_way and q.source in r.one_way, overridden_by.get(r.key),
                    deciding_clause(policy, r, q))
              for r in sorted(out.firing, key=lambda r: (not (r.is_one_way and q.source in r.one_way), r.key))]
    lookup = {"gateway": policy.gateways, "agreement": policy.agreements, "restriction": policy.restrictions,
              "organisation": policy.orgs}
    considered = []
    seen = set()
    for c in out.considered:
        item = lookup[c.kind].get(c.key)
        ident = item.id if hasattr(item, "id") and isinstance(item.id, str) else (item.id.text if item else c.key)
        k = (c.kind, c.key, c.code, c.reason)
        if k in seen:
            continue
        seen.add(k)
        considered.append(Consideration(c.kind, ident, c.code, c.reason, c.span))
    basis = None
    conditions: list[Condition] = []
    if out.allowed:
        g, a = out.basis
        gm, am = g.model, (a.model if a else None)
        basis = Basis(
            gateway=rule_ref(policy, g), agreement=rule_ref(policy, a) if a else None,
            lawful_basis=((am.lawful_basis if am and am.lawful_basis else gm.lawful_basis) or m.Name("")).text or None,
            article_9=(am.article9 if am and am.article9 else gm.article9),
            article_10=(am.article10 if am and am.article10 else gm.article10),
            onward=_onward_text(policy, q, g, a))
        if a:
            conditions = [Condition(text, a.id, dict(a.model.clause_spans).get("requires", a.model.span))
                          for text in a.model.requires]
    found_fixes: tuple[Fix, ...] = ()
    if fixes and not out.allowed:
        from engine.eval.fixes import find_fixes
        found_fixes = tuple(find_fixes(policy, q, out))
    found_routes: tuple = ()
    if routes and not out.allowed:
        from engine.eval.routes import find_routes
        found_routes = tuple(find_routes(policy, q))
    return Decision(
        verdict="allow" if out.allowed else "deny",
        headline=_headline(policy, q, out, blocks, considered),
        source=policy.org_name(q.source), recipient=policy.org_name(q.recipient), data=policy.data_name(q.data),
        purpose=policy.purpose_name(q.purpose), on=q.on, assume=tuple(sorted(policy.statutes[s].id for s in q.assume)),
        basis=basis, blocks=tuple(blocks), considered=tuple(considered), conditions=tuple(conditions),
        fixes=found_fixes, routes=found_routes, sensitivity=tuple(sorted(policy.sensitivity[q.data])))


def with_assumptions(q: Question, extra: Iterable[str]) -> Question:
    return replace(q, assume=q.assume | frozenset(extra))
