"""Lint: review-time warnings about a bundle that checks cleanly, run by `lawful check` after the checks.

They need the compiled policy (a lint question is "can this rule ever take effect?"), so they run as named
stages over a compiled `Policy`, after `checks.STAGES` (which already report `unsupported-agreement`,
`statute-proposed`, `statute-repealed`, `no-owner` and `succeeded-organisation`). Each has a stable code with
a paragraph in `diagnostics.CODES`:

- `agreement-expiring`: the agreement's window ends within `expiring_within` days of the check date;
- `no-review-date`: the agreement records no review date;
- `dead-agreement`: every flow the agreement covers is blocked by a restriction its gateway does not lift;
- `overlapping-agreements`: two agreements under the same gateway cover some of the same flows at once;
- `unusable-exception`: a restriction's `except` clause covers no flow that any gateway allows;
- `isolated-organisation`: no gateway (with an agreement, where one is required) lets it send or receive;
- `confusable-name`: an organisation's id or alias looks like another's (engine/review/confusable.py).
- `implied-power` (info): flows that a gateway resting on an implied power allows and no express power does;
- `unbound-provenance`: a restriction's `data received-under G` / `data held-for F` can never bind: G delivers
  to none of the bodies it bars, or none of them holds data for F;
- `unusable-onward`: an `onward for P` / `onward as C` clause lets the data change into a purpose (category) no
  gateway lets its recipients disclose for (as), so the change can never be used.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from typing import TYPE_CHECKING, Any, Callable, Optional

from engine.syntax import model as m
from engine.compile.compiled import CAgreement, CompiledPolicy, CRestriction
from engine.eval.rules import provenance_binds, restriction_check
from engine.base.diagnostics import Diagnostic, Severity, warning
from engine.base.text import escape
from engine.errors import RequestError

if TYPE_CHECKING:  # pragma: no cover
    from engine.review.config import Config

DEFAULT_EXPIRING_WITHIN = 90
MAX_FLOWS_PER_AGREEMENT = 50_000  # dead-agreement enumerates concrete flows; larger agreements are skipped

LintStage = Callable[[CompiledPolicy, dt.date, int], list[Diagnostic]]


def _clamp(on: dt.date, valid: Optional[m.Validity]) -> dt.date:
    """The check date moved into the agreement's window (its flows are judged while it is in force)."""
    if valid is None:
        return on
    if valid.start is not None and on < valid.start:
        return valid.start
    if valid.end is not None and on > valid.end:
        return valid.end
    return on


def expiry_horizon(on: dt.date, days: int) -> dt.date:
    """`on` plus `days`; a RequestError (`bad-date`) past the last date a calendar date can hold (9999-12-31),
    rather than an OverflowError."""
    if days < 0 or days > (dt.date.max - on).days:
        raise RequestError("bad-date", f"{on.isoformat()} plus {days:,} days is past {dt.date.max.isoformat()}, the "
                           "last date the engine can represent", "give an earlier --on or a smaller --expiring-within")
    return on + dt.timedelta(days=days)


def lint_expiring(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    out = []
    horizon = expiry_horizon(on, days)
    for a in policy.agreements.values():
        v = a.model.valid
        if v is None or v.end is None:
            continue
        if on <= v.end <= horizon:
            left = (v.end - on).days
            out.append(warning("agreement-expiring",
                               f"agreement `{a.id}` expires on {v.end.isoformat()}, "
                               f"{left} day{'s' if left != 1 else ''} after {on.isoformat()}",
                               v.span or a.model.id.span,
                               "renew it (a new `valid` window) before it lapses, or plan for the flows to stop"))
    return out


def lint_review_date(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    return [warning("no-review-date", f"agreement `{a.id}` records no review date", a.model.id.span,
                    "add `review YYYY-MM-DD`: the ICO Data Sharing Code expects agreements to be reviewed")
            for a in policy.agreements.values() if a.model.review is None]


def _blocking(policy: CompiledPolicy, a: CAgreement, on: dt.date) -> Optional[dict[str, int]]:
    """For each restriction, how many of the agreement's flows it blocks (restrictions its gateway overrides
    do not count); None when some flow is not blocked, or the agreement is too wide to enumerate."""
    g = policy.gateways.get(a.gateway)
    lifted = g.overrides if g else frozenset()
    day = _clamp(on, a.valid)
    flows = 0
    counts: dict[str, int] = {}
    for src_scope, dst_scope in a.directions:
        size = len(src_scope) * len(dst_scope) * len(a.data) * len(a.purposes)
        flows += size
        if flows > MAX_FLOWS_PER_AGREEMENT:
            return None
        for s, r, d, p in itertools.product(sorted(src_scope), sorted(dst_scope), sorted(a.data), sorted(a.purposes)):
            if s == r:
                continue
            firing = [x for x in _restrictions_for(policy, s)
                      if x.key not in lifted and _binds(policy, x, s, d, day)
                      and restriction_check(policy, x, s, r, d, p, day, frozenset())[0]]
            if not firing:
                return None
            for x in firing:
                counts[x.key] = counts.get(x.key, 0) + 1
    return counts if counts else None


def _binds(policy: CompiledPolicy, r: CRestriction, source: str, data: str, day: dt.date) -> bool:
    """Whether a bar can bind the source's data under some provenance (issue 13; the decision's own rule)."""
    return not r.by_provenance or bool(provenance_binds(policy, r, source, data, day, frozenset(), None, False, None))


def _restrictions_for(policy: CompiledPolicy, source: str) -> list[CRestriction]:
    return policy.restrictions_by_source.get(source, []) + policy.restrictions_any_source


def lint_dead_agreements(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    out = []
    for a in policy.agreements.values():
        counts = _blocking(policy, a, on)
        if not counts:
            continue
        names = sorted(counts, key=lambda k: (-counts[k], k))
        rs = [policy.restrictions[k] for k in names]
        out.append(warning(
            "dead-agreement",
            f"every flow agreement `{a.id}` covers is blocked by {', '.join(f'restriction `{r.id}`' for r in rs)}",
            a.model.id.span,
            f"rely on a gateway that overrides `{rs[0].id}` (lawful authority notwithstanding it), "
            "or remove the agreement",
            related=[(f"restriction `{r.id}` declared", r.model.span) for r in rs]))
    return out


def _intersects(a: frozenset, b: frozenset) -> bool:
    return not a.isdisjoint(b)


def _windows_meet(x: Optional[m.Validity], y: Optional[m.Validity]) -> bool:
    lo_x = x.start if x and x.start else dt.date.min
    hi_x = x.end if x and x.end else dt.date.max
    lo_y = y.start if y and y.start else dt.date.min
    hi_y = y.end if y and y.end else dt.date.max
    return lo_x <= hi_y and lo_y <= hi_x


def _shared_flow(policy: CompiledPolicy, a: CAgreement, b: CAgreement) -> Optional[tuple[str, str, str, str]]:
    if not (_intersects(a.data, b.data) and _intersects(a.purposes, b.purposes)):
        return None
    for (s1, r1), (s2, r2) in itertools.product(a.directions, b.directions):
        ss, rr = s1 & s2, r1 & r2
        for s in sorted(ss):
            for r in sorted(rr):
                if s != r:
                    return s, r, min(a.data & b.data), min(a.purposes & b.purposes)
    return None


def lint_overlapping(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    out = []
    for gkey, agreements in sorted(policy.agreements_by_gateway.items()):
        ordered = sorted(agreements, key=lambda x: x.key)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                if not _windows_meet(a.valid, b.valid):
                    continue
                flow = _shared_flow(policy, a, b)
                if flow is None:
                    continue
                s, r, d, p = flow
                first, second = sorted((a, b), key=lambda x: (x.model.span.file, x.model.span.line, x.key))
                out.append(warning(
                    "overlapping-agreements",
                    f"agreements `{first.id}` and `{second.id}` both cover flows under gateway "
                    f"`{policy.gateways[gkey].id if gkey in policy.gateways else gkey}` "
                    f"(for example {policy.org_name(s)} -> {policy.org_name(r)} {policy.data_name(d)} "
                    f"for {policy.purpose_name(p)})",
                    second.model.id.span,
                    "merge them, or narrow one so each flow has one agreement (and one owner)",
                    related=[(f"agreement `{first.id}` declared", first.model.span)]))
    return out


def _exception_usable(policy: CompiledPolicy, r: CRestriction, exc) -> bool:
    anonymised, to, purposes, _model = exc
    all_orgs = frozenset(policy.orgs)
    all_purposes = frozenset(policy.purposes)
    # The restriction's own (source, recipient) boxes.
    boxes: list[tuple[frozenset, frozenset]] = []
    if r.one_way:
        boxes.append((r.one_way, all_orgs))
    for s, d in r.forbids:
        boxes.append((all_orgs if s is None else s, all_orgs if d is None else d))
    data = frozenset(policy.data) if r.data is None else r.data
    if anonymised:
        data = frozenset(k for k in data if "anonymised" in policy.sensitivity[k])
    purp = all_purposes if r.purposes is None else r.purposes
    if purposes is not None:
        purp = purp & purposes
    if not data or not purp:
        return False
    for g in policy.gateways.values():
        if not (_intersects(g.data, data) and _intersects(g.purposes, purp)):
            continue
        for gs, gr in g.pairs:
            gs = all_orgs if gs is None else gs
            gr = all_orgs if gr is None else gr
            for bs, br in boxes:
                recipients = gr & br
                if to is not None:
                    recipients = recipients & to
                sources = gs & bs
                if sources and recipients and (len(sources) > 1 or len(recipients) > 1 or sources != recipients):
                    return True
    return False


def _exception_text(e: m.Exception_) -> str:
    parts = []
    if e.anonymised:
        parts.append("anonymised")
    if e.to:
        parts.append("to " + ", ".join(n.text for n in e.to))
    if e.to_except:
        parts.append("except " + ", ".join(n.text for n in e.to_except))
    if e.purposes:
        parts.append("for " + ", ".join(n.text for n in e.purposes))
    return "except " + " ".join(parts)


def lint_unusable_exceptions(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    out = []
    for r in policy.restrictions.values():
        for exc in r.exceptions:
            if _exception_usable(policy, r, exc):
                continue
            e = exc[3]
            out.append(warning(
                "unusable-exception",
                f"`{_exception_text(e)}` in restriction `{r.id}` covers no flow that any gateway allows",
                e.span or r.model.span,
                "no gateway lets the restricted party send that data for that purpose, so the exception never takes "
                "effect; check its scope, or add the gateway it anticipates"))
    return out


def lint_isolated(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    connected: set[str] = set()
    all_orgs = frozenset(policy.orgs)
    for g in policy.gateways.values():
        if not g.requires_agreement:
            for s, r in g.pairs:
                connected |= all_orgs if s is None else s
                connected |= all_orgs if r is None else r
            continue
        for a in policy.agreements_by_gateway.get(g.key, []):
            for s_scope, r_scope in a.directions:
                for gs, gr in g.pairs:
                    ss = s_scope if gs is None else s_scope & gs
                    rr = r_scope if gr is None else r_scope & gr
                    if ss and rr:
                        connected |= ss | rr
    out = []
    for k, o in sorted(policy.orgs.items()):
        if k in connected:
            continue
        out.append(Diagnostic(
            "isolated-organisation",
            f"organisation `{o.id.text}` has no lawful flow in or out: no gateway lets it send or receive anything "
            "(with an agreement in place where the gateway requires one)", o.id.span, Severity.INFO,
            "expected for a body the bundle declares only to test denials; otherwise add the gateway or agreement"))
    return out


def lint_confusable_names(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    """Organisation ids and aliases that look like another organisation's, or that are not what they look
    like on their own (mixed scripts, invisible characters, stray spaces)."""
    from engine.review.confusable import confusable_groups, lone_problem

    out: list[Diagnostic] = []
    names = []
    for key, o in sorted(policy.orgs.items()):
        for name in (o.id.text, *o.aliases):
            names.append((key, name))
            problem = lone_problem(name)
            if problem is not None:
                what = "id" if name == o.id.text else "alias"
                out.append(warning("confusable-name", f"the {what} `{escape(name)}` of organisation `{o.id.text}` "
                                   f"{problem}", o.id.span, "write it in one script, without invisible characters "
                                   "or stray spaces"))
    for group in confusable_groups(names):
        (first_key, first), *rest = sorted(group, key=lambda kn: (policy.orgs[kn[0]].id.span, kn[1]))
        for key, name in rest:
            if key == first_key:
                continue
            org, other = policy.orgs[key], policy.orgs[first_key]
            out.append(warning(
                "confusable-name", f"`{escape(name)}` (organisation `{org.id.text}`) looks like `{escape(first)}` "
                f"(organisation `{other.id.text}`)", org.id.span,
                "rename one of them: a reader could take one organisation for the other",
                related=[(f"`{other.id.text}` is declared", other.id.span)]))
    return out


# ---- continuity of bodies (issue 12) ---------------------------------------------------------------------


def _key(policy: CompiledPolicy, name: m.Name) -> Optional[str]:
    k = name.key
    return k if k in policy.orgs else policy.org_alias.get(k)


def _gone(policy: CompiledPolicy, key: Optional[str], on: dt.date) -> Optional[tuple[dt.date, str]]:
    """(the day it ended, how) when the body has ended by `on` without passing its functions on."""
    end = policy.org_end.get(key or "")
    if end is None or end[0] > on or policy.org_end_kind.get(key or "") == "transfer":
        return None
    return end[0], policy.org_end_kind.get(key or "", "succeeds")


def _dead_side(policy: CompiledPolicy, names: tuple[m.Name, ...], on: dt.date) -> Optional[list[str]]:
    """The named bodies of one side, when every one of them has ended without a transfer."""
    if not names:
        return None
    said = []
    for n in names:
        gone = _gone(policy, _key(policy, n), on)
        if gone is None:
            return None
        said.append(f"`{n.text}` ({'ceased' if gone[1] == 'ceases' else 'succeeded'} on {gone[0].isoformat()})")
    return said


def lint_dead_rules(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    """`dead-rule`: a gateway or agreement every one of whose senders (or recipients) has ceased or been
    succeeded by the check date, with no transfer passing its functions on: it can never apply again."""
    out = []
    rules: list[tuple[str, Any, list[tuple[tuple[m.Name, ...], tuple[m.Name, ...]]]]] = []
    for g in policy.gateways.values():
        rules.append(("gateway", g, [(p.sources, p.recipients) for p in g.model.allows]))
    for a in policy.agreements.values():
        if a.valid is None or a.valid.end is None or a.valid.end >= on:  # an expired one is reported as such
            rules.append(("agreement", a, [(a.model.sources, a.model.recipients)]))
    for kind, rule, sides in rules:
        dead = []
        for sources, recipients in sides:
            found = _dead_side(policy, sources, on) or _dead_side(policy, recipients, on)
            if found is None:
                break
            dead += found
        else:
            if not dead:
                continue
            out.append(warning(
                "dead-rule", f"{kind} `{rule.id}` can no longer apply: {', '.join(dict.fromkeys(dead))} and no "
                "transfer passed the functions on", rule.model.id.span,
                "remove it, or record where the functions went (`transfer A to B on DATE`), or name the successor"))
    return out


def lint_resign(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    """`re-sign-agreement` (info): an agreement that goes on covering a body only through a transfer of
    functions or under a former name: re-sign it under the name in use."""
    out = []
    for a in policy.agreements.values():
        for n in a.model.sources + a.model.recipients:
            k = _key(policy, n)
            if k is None:
                continue
            end = policy.org_end.get(k)
            if end is not None and end[0] <= on and policy.org_end_kind.get(k) == "transfer":
                to = sorted({policy.org_name(t) for t in policy.transferees.get(k, ())
                             if any(e.pred == k and e.since == end[0] for e in policy.inherits.get(t, ()))})
                out.append(Diagnostic(
                    "re-sign-agreement", f"agreement `{a.id}` names `{n.text}`, whose functions passed to "
                    f"{', '.join(f'`{x}`' for x in to) or 'another body'} on {end[0].isoformat()}: it continues only "
                    "through the transfer", n.span, Severity.INFO, "re-sign it under the new name"))
            elif n.key != k and any(name.lower() == n.key and until <= on
                                    for name, until, _t in policy.former.get(k, ())):
                out.append(Diagnostic(
                    "re-sign-agreement", f"agreement `{a.id}` names `{n.text}`, now `{policy.org_name_on(k, on)}`",
                    n.span, Severity.INFO, "re-sign it under the new name"))
    return out


MAX_IMPLIED_EXAMPLES = 3


def implied_only_flows(policy: CompiledPolicy, g, on: dt.date) -> Optional[list[tuple[str, str, str, str]]]:
    """Every flow gateway `g` (`power implied`) lets through on `on` that is denied once implied powers count
    as absent (`express_only`): the ALLOWs that rest only on an implied power. Each is decided twice by the
    one evaluator. None when the gateway's scopes are too wide to enumerate."""
    from engine.eval.decide import Question, allowed
    from engine.eval.routes import related

    all_orgs = frozenset(policy.orgs)
    flows = 0
    out = []
    for src, dst in g.pairs:
        src = all_orgs if src is None else src
        dst = all_orgs if dst is None else dst
        flows += len(src) * len(dst) * len(g.data) * len(g.purposes)
        if flows > MAX_FLOWS_PER_AGREEMENT:
            return None
        for s, r, d, p in itertools.product(sorted(src), sorted(dst), sorted(g.data), sorted(g.purposes)):
            if related(policy, s, r):
                continue
            q = Question(s, r, d, p, on)
            if allowed(policy, q) and not allowed(policy, Question(s, r, d, p, on, express_only=True)):
                out.append((s, r, d, p))
    return sorted(set(out))


def lint_implied_powers(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    """Issue 13: list the ALLOWs that rest only on an implied power (one diagnostic per such gateway)."""
    out = []
    for g in policy.gateways.values():
        if not g.implied:
            continue
        found = implied_only_flows(policy, g, on)
        if found is None:
            out.append(Diagnostic("implied-power", f"gateway `{g.id}` rests on an implied power; its scope is too "
                                  "wide to list the flows that rest on it alone", g.model.id.span, Severity.INFO))
            continue
        if not found:
            continue
        shown = "; ".join(f"{policy.org_name(s)} -> {policy.org_name(r)} {policy.data_name(d)} for "
                          f"{policy.purpose_name(p)}" for s, r, d, p in found[:MAX_IMPLIED_EXAMPLES])
        more = f" and {len(found) - MAX_IMPLIED_EXAMPLES} more" if len(found) > MAX_IMPLIED_EXAMPLES else ""
        out.append(Diagnostic(
            "implied-power",
            f"{len(found)} flow{'s' if len(found) != 1 else ''} on {on.isoformat()} "
            f"rest{'s' if len(found) == 1 else ''} only on the implied power of gateway `{g.id}`: {shown}{more}",
            g.model.id.span, Severity.INFO,
            "a lawyer reads an implied or common-law power differently from an express gateway: take advice, or "
            "cite the express power if there is one (`can-share --express-only` shows the flows without it)"))
    return out


def lint_unbound_provenance(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    """Issue 13: a bar that binds by provenance only where some body it bars could hold such data."""
    out = []
    all_orgs = frozenset(policy.orgs)
    for r in policy.restrictions.values():
        if not r.by_provenance:
            continue
        barred = set(r.one_way)
        for s, _d in r.forbids:
            barred |= all_orgs if s is None else s
        if r.received_under is not None:
            for k in sorted(r.received_under):
                g = policy.gateways.get(k)
                if g is None:
                    continue
                reaches = set().union(*((all_orgs if d is None else d) for _s, d in g.pairs))
                if not reaches & barred:
                    out.append(warning(
                        "unbound-provenance",
                        f"restriction `{r.id}` binds data received under gateway `{g.id}`, which delivers to none "
                        "of the bodies it bars", r.model.span,
                        "check the gateway named in `received-under`, or the restriction's parties",
                        related=[(f"gateway `{g.id}` declared", g.model.span)]))
        if r.held_for is not None:
            for f in sorted(r.held_for):
                if not any(f in policy.functions.get(k, ()) for k in barred):
                    out.append(warning(
                        "unbound-provenance",
                        f"restriction `{r.id}` binds data held for `{policy.function_names.get(f, f)}`, a function "
                        "none of the bodies it bars holds data for", r.model.span,
                        "declare the function on the bodies that have it (`functions …`), or check the restriction"))
    return out


def lint_unusable_onward(policy: CompiledPolicy, on: dt.date, days: int) -> list[Diagnostic]:
    """Issue 13: a clause that changes purpose or data is worth something only if the recipient may then
    disclose for the new purpose (as the new category) under some gateway."""
    out = []
    all_orgs = frozenset(policy.orgs)
    for g in policy.gateways.values():
        o = g.model.onward
        if o is None or o.kind not in ("for", "as"):
            continue
        recipients = set().union(*((all_orgs if d is None else d) for _s, d in g.pairs))
        into = (policy.purpose_tree.expand(n.key for n in o.targets) if o.kind == "for"
                else policy.data_tree.expand(n.key for n in o.targets))
        usable = any(not (h.purposes if o.kind == "for" else h.data).isdisjoint(into)
                     and any(s is None or not s.isdisjoint(recipients) for s, _d in h.pairs)
                     for h in policy.gateways.values())
        if not usable:
            what = "purpose" if o.kind == "for" else "data category"
            names = ", ".join(n.text for n in o.targets)
            out.append(warning(
                "unusable-onward",
                f"`onward {o.kind} {names}` in gateway `{g.id}` lets the data change to a {what} for which no gateway "
                "lets its recipients disclose it", o.span or g.model.span,
                "add the gateway the change anticipates, or correct the clause"))
    return out


LINT_STAGES: list[tuple[str, LintStage]] = [
    ("agreement-expiring", lint_expiring),
    ("no-review-date", lint_review_date),
    ("dead-agreement", lint_dead_agreements),
    ("overlapping-agreements", lint_overlapping),
    ("unusable-exception", lint_unusable_exceptions),
    ("isolated-organisation", lint_isolated),
    ("confusable-name", lint_confusable_names),
    ("dead-rule", lint_dead_rules),
    ("re-sign-agreement", lint_resign),
    ("implied-power", lint_implied_powers),
    ("unbound-provenance", lint_unbound_provenance),
    ("unusable-onward", lint_unusable_onward),
]


def lint(policy: CompiledPolicy, on: Optional[dt.date] = None,
         expiring_within: int = DEFAULT_EXPIRING_WITHIN) -> list[Diagnostic]:
    """Every lint diagnostic for a compiled policy, judged on `on` (default today)."""
    day = on or dt.date.today()
    out: list[Diagnostic] = []
    for _name, stage in LINT_STAGES:
        out.extend(stage(policy, day, expiring_within))
    return out


def check_and_lint(path: Optional[str | os.PathLike] = None, on: Optional[dt.date] = None,
                   expiring_within: int = DEFAULT_EXPIRING_WITHIN, config: Optional["Config"] = None
                   ) -> tuple[list[Diagnostic], dict]:
    """What `lawful check` reports: every check diagnostic, then (when the bundle has no errors) the lint, as the
    bundle's configuration says (`config`; None: read lawful.toml / [tool.lawful] from the bundle root, which
    raises DiagnosticsError `bad-config` when it is not accepted). Judged on `on`, else the configuration's
    `as-of`, else today."""
    from engine.policy.load import _finish
    from engine.bundle.read import read_bundle, resolve_bundle
    from engine.compile.compiled import compile_policy
    from engine.review.config import apply, load_config

    root = resolve_bundle(path)
    if config is None:
        config = load_config(root if root.is_dir() else None)
    day = on or config.as_of
    expiry_horizon(day or dt.date.today(), expiring_within)  # refuse an impossible horizon before any work
    result = read_bundle(root)
    checked, diags = _finish(result, day)
    complete = checked is not None and not any(d.severity is Severity.ERROR for d in diags)
    if complete and checked is not None:
        policy = compile_policy(checked, result.sources, diags)
        diags = diags + lint(policy, day, expiring_within)
    files = result.bundle.files if result.bundle is not None else ()
    return apply(diags, config, result.sources, files, complete), dict(result.sources)

