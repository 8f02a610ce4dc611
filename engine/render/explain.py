"""Decisions in words: the text a policy officer reads at a terminal (Markdown for pull requests is in report.py).

Pure functions from a Decision to text; colour is added by the caller only on a terminal. The labels are an
officer's words ("also looked at", "what they may do with it next", "what would make it lawful"; the glossary in
docs/user-guide.md), with no Markdown: the reasons and fixes come from words.py as they are, and the options
that ask again as a fix supposes (`--assume`, `--given`) are added here, the terminal being the only place
they mean something.
"""

from __future__ import annotations

from typing import Sequence

from engine.decision.answer import Decision, Fix
from engine.render import words
from engine.render.style import Style, plain




def fix_line(f: Fix) -> str:
    """A fix as the terminal says it: its words, then the options that ask again as it supposes, if any."""
    option = words.fix_option(f)
    return f.description + (f" (ask again with {option})" if option else "")


def _where(span) -> str:
    return f" [{span}]" if span else ""


def _in_regime(d: Decision, shown) -> str:
    """` — in Data Protection Act 1998: dpa1998-sch2-5 (Schedule 2 paragraph 5: …)` (issue 13)."""
    if d.regime is None or shown is None:
        return ""
    recorded, ident, title = shown
    if ident is None:
        return f" — in {d.regime.title}: no condition it matches"
    if ident.lower() == recorded.lower():
        return f" — {d.regime.title}: {title}"
    return f" — in {d.regime.title}: {ident} ({title})"


def explain(d: Decision, style: Style = plain, verbose: bool = True) -> str:
    """A headline, then the reasons with citations and file:line, conditions and what would make it lawful."""
    lines = [style(d.headline, "allow" if d.allowed else "deny")]
    formerly = dict(d.renamed)
    source, recipient = (words.renamed(n, formerly.get(n, ())) for n in (d.source, d.recipient))
    q = f"{source} → {recipient}: {d.data} for {d.purpose} on {d.on.isoformat()}"
    if d.assume:
        q += f", assuming {', '.join(d.assume)}"
    if d.given:
        q += f", given {', '.join(d.given)}"
    if d.express_only:
        q += ", express powers only"
    lines.append(style(q, "dim"))
    if d.provenance and (d.received_under or d.own_data or d.held_for or any(b.received_under or b.held_for
                                                                              for b in d.blocks)):
        lines.append(style(f"where the data came from: {d.provenance}", "dim"))
    if d.basis:
        g = d.basis.gateway
        cite = f" — {words.cites(g)}" if words.cites(g) else ""
        lines.append(f"  gateway   {g.id}: {g.title}{cite}{_where(g.span)}")
        if g.url:
            lines.append(f"            {g.url}")
        if d.basis.agreement:
            a = d.basis.agreement
            lines.append(f"  agreement {a.id}: {a.title}{_where(a.span)}")
        if d.basis.lawful_basis:
            shown = _in_regime(d, d.regime.lawful_basis if d.regime else None)
            lines.append(f"  lawful basis: {d.basis.lawful_basis}{shown}")
        if d.basis.article_9:
            lines.append(f"  article 9 condition: {d.basis.article_9}"
                         f"{_in_regime(d, d.regime.special_category if d.regime else None)}")
        if d.basis.article_10:
            lines.append(f"  article 10 condition: {d.basis.article_10}")
        lines.append(f"  what they may do with it next: {words.onward_words(d.basis.onward, d.recipient, d.source)}")
        if d.power == "implied":
            lines.append("  power: implied (reasonably incidental to the body's functions, or common law): "
                         "take legal advice")
    if d.same_body:
        lines.append(f"  same body {words.same_body(d.same_body)}: not a disclosure between bodies")
    for tr in d.transfers:
        lines.append(f"  transfer  {tr.text}{_where(tr.span)}")
    for cm in d.classes:
        lines.append(f"  class     {cm.organisation} is in the class {cm.class_} (as {cm.side} of {cm.kind} {cm.rule})")
    for b in d.blocks:
        r = b.restriction
        kind = "one-way legislative block" if b.one_way else "legislative block"
        cite = f" — {words.cites(r)}" if words.cites(r) else ""
        if b.overridden_by:
            lines.append(f"  lifted    {r.id} ({kind}){cite}: gateway {b.overridden_by} overrides it{_where(r.span)}")
        else:
            open_ = (b.received_under and not (d.received_under or d.own_data)) or (b.held_for and not d.held_for)
            reading = f" ({words.reading_words(b, d.source)})" if open_ else ""
            lines.append(f"  blocked   {r.id} ({kind}): {r.title}{cite}{reading}{_where(b.span or r.span)}")
            if r.url:
                lines.append(f"            {r.url}")
    if d.conditions_relied_on:
        lines.append("conditions relied on (given):")
        for u in d.conditions_relied_on:
            lines.append(f"  - {u.title} ({u.id}), for {u.kind} {u.rule}{_where(u.span)}")
    if d.conditions_missing:
        lines.append("conditions not given:")
        for u in d.conditions_missing:
            lines.append(f"  - {u.title} ({u.id}), for {u.kind} {u.rule}{_where(u.span)}")
    if d.conditions:
        lines.append("conditions the sender must meet:")
        for c in d.conditions:
            lines.append(f"  - {c.text} (agreement {c.agreement}){_where(c.span)}")
    if verbose and d.considered:
        lines.append("also looked at:")
        for cons in d.considered:
            # "the exception at FILE:L:C covers this flow [FILE:L:C]" would give the place twice
            reason = words.reason_without_place(cons) if cons.span else cons.reason
            lines.append(f"  - {cons.kind} {cons.id}: {reason}{_where(cons.span)}")
    if d.fixes:
        lines.append("what would make it lawful:")
        for f in d.fixes:
            lines.append(f"  - {fix_line(f)}")
    if d.routes:
        lines.append(style("no direct basis; lawful route" + ("s" if len(d.routes) > 1 else "") + ":", "bold"))
        for route in d.routes:
            via = "; ".join(f"{h.source}→{h.recipient} " + ("within one body" if h.same_body else f"under {h.gateway}")
                            + (f"/{h.agreement}" if h.agreement else "")
                            + (f" for {h.purpose}" if h.purpose and h.purpose != d.purpose else "")
                            + (f" as {h.data}" if h.data and h.data != d.data else "")
                            + (" (implied power)" if h.power == "implied" else "")
                            for h in route.hops)
            lines.append(f"  {route}  ({via})")
            if route.variants:
                lines.append(style("    also through parts of its intermediaries: "
                                   + "; ".join(str(v) for v in route.variants), "dim"))
    return "\n".join(lines)


def explain_grouped(decisions: Sequence[Decision], style: Style = plain, verbose: bool = False) -> str:
    """Per-purpose answers: 'allowed for …; denied for …', then one line per distinct reason with the
    purposes it answers (every decision in full with `verbose`)."""
    if not decisions:
        return "no purposes are declared"
    allowed = [d.purpose for d in decisions if d.allowed]
    denied = [d.purpose for d in decisions if not d.allowed]
    head = []
    if allowed:
        head.append(style(f"allowed for {', '.join(allowed)}", "allow"))
    if denied:
        head.append(style(f"denied for {', '.join(denied)}", "deny"))
    first = decisions[0]
    parts = [f"{first.source} → {first.recipient}: {first.data} on {first.on.isoformat()}", "; ".join(head)]
    if verbose:
        for d in decisions:
            parts += ["", style(f"— for {d.purpose}", "bold"), explain(d, style, verbose=True)]
        return "\n".join(parts)
    # One group per distinct answer: the same headline AND the same fixes and routes, so a fix listed under a
    # group holds for every purpose named with it (a fix found for `inspection` is not offered for `funding`).
    groups: dict[tuple, list[Decision]] = {}
    for d in decisions:
        key = (d.headline, tuple(d.fixes), tuple(str(r) for r in d.routes))  # nearest first
        groups.setdefault(key, []).append(d)
    for (headline, fixes, routes), ds in groups.items():
        parts.append(f"  {style(headline, 'allow' if ds[0].allowed else 'deny')}")
        purposes = [d.purpose for d in ds]
        if purposes not in (allowed, denied):  # the line above already names exactly these purposes
            parts.append(f"    for {', '.join(purposes)}")
        for f in fixes[:3]:
            parts.append(f"    to make it lawful: {fix_line(f)}")
        for r in routes[:3]:
            parts.append(f"    lawful route: {r}")
    parts.append(style("(ask with --purpose P for the full reasons of one answer, or add --verbose)", "dim"))
    return "\n".join(parts)
