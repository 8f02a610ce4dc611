"""Reachability results in words and as CSV: recipients, sources, the register of sharing, blocked flows.

Pure functions from the plain data of engine.eval.reach to text; colour is added by the caller only on a terminal.
"""

from __future__ import annotations

import csv
import io
from typing import Optional, Sequence

from engine.eval.reach import BlockedRow, FlowRow, Reach, Reached
from engine.decision.answer import Hop, Route
from engine.render.style import Style, plain
from engine.render.words import onward_words




def _basis(gateway: str, agreement) -> str:
    return gateway + (f" / {agreement}" if agreement else "")


def _route_text(r: Route) -> str:
    return f"{r}  ({'; '.join(_basis(h.gateway, h.agreement) for h in r.hops)})"


def _describe(x: Reached) -> list[str]:
    if x.same_body:
        return ["same body: not a disclosure between bodies"]
    if x.direct:
        h = x.direct.hops[0]
        via = f" (as {', '.join(f'{side} {k}' for side, k in x.classes)})" if x.classes else ""
        return [f"directly under {_basis(h.gateway, h.agreement)}{via}; what they may do with it next: "
                f"{onward_words(h.onward, h.recipient, h.source)}"]
    lines = []
    for i, r in enumerate(x.routes):
        lines.append(("by route " if i == 0 else "or by route ") + _route_text(r))
        if r.variants:
            lines.append("  also through parts of its intermediaries: " + "; ".join(str(v) for v in r.variants))
    return lines


def reach_text(result: Reach, style: Style = plain) -> str:
    """Recipients (or sources), one block per organisation; purposes with the same answer share a line."""
    who = "Recipients" if result.kind == "recipients" else "Sources"
    prep = "from" if result.kind == "recipients" else "to"
    purposes = result.purposes[0] if len(result.purposes) == 1 else "each declared purpose"
    head = (f"{who} of {result.data} {prep} {result.anchor} on {result.on.isoformat()}, for {purposes}"
            f" (routes of up to {result.max_hops} hops)")
    if result.assume:
        head += f", assuming {', '.join(result.assume)}"
    lines = [style(head, "bold")]
    by_org: dict[str, list[Reached]] = {}
    for x in result.found:
        by_org.setdefault(x.organisation, []).append(x)
    described: dict[str, dict[tuple[str, ...], list[str]]] = {}
    for org, entries in by_org.items():
        groups: dict[tuple[str, ...], list[str]] = {}
        for x in entries:
            groups.setdefault(tuple(_describe(x)), []).append(x.purpose)
        described[org] = groups
    # A part with the same answer as the body it is part of is folded into that body's entry.
    folded: dict[str, list[str]] = {}
    for org, entries in by_org.items():
        parent = entries[0].part_of
        if parent in described and described[parent] == described[org]:
            folded.setdefault(parent, []).append(org)
    hidden = {o for parts in folded.values() for o in parts}
    for org, groups in described.items():
        if org in hidden:
            continue
        parts = f" (and its parts {', '.join(folded[org])})" if org in folded else ""
        lines.append(f"  {style(org, 'allow')}{parts}")
        for desc, ps in groups.items():
            if len(result.purposes) > 1:
                lines.append(f"    for {', '.join(ps)}:")
                pad = "      "
            else:
                pad = "    "
            lines += [pad + d for d in desc]
    # A part of the same legal person is listed, but it is not a disclosure: counted apart, never as a recipient.
    same = [org for org, entries in by_org.items() if all(x.same_body for x in entries)]
    n = len(by_org) - len(same)
    inside = f"; within the same body (not a disclosure): {', '.join(same)}" if same else ""
    if n == 0:
        what = "may lawfully receive it" if result.kind == "recipients" else "may lawfully send it"
        lines.append(style(f"no {'other ' if same else ''}organisation {what}{inside}", "deny"))
    else:
        lines.append(style(f"{n} organisation{'s' if n != 1 else ''}{inside}", "dim"))
    if result.truncated:
        lines.append(style("warning: the route search stopped at its limit; some routes may be missing", "warning"))
    return "\n".join(lines)


def flows_text(rows: Sequence[FlowRow], on: str, style: Style = plain) -> str:
    """The register of sharing: flows with the same parties and basis share a block."""
    head = f"Register of sharing on {on}: {len(rows)} lawful direct flow{'s' if len(rows) != 1 else ''}"
    lines = [style(head, "bold")]
    groups: dict[tuple, list[FlowRow]] = {}
    for r in rows:
        groups.setdefault((r.source, r.recipient, r.gateway, r.agreement), []).append(r)
    for (src, dst, g, a), rs in groups.items():
        first = rs[0]
        if first.same_body:
            lines.append(f"{style(f'{src} → {dst}', 'allow')}  same body: not a disclosure between bodies")
            if any(r.data != "*" for r in rs):
                lines.append("    " + "; ".join(f"{r.data} for {r.purpose}" for r in rs))
            continue
        lines.append(f"{style(f'{src} → {dst}', 'allow')}  under {_basis(g, a)}")
        if first.statute:
            lines.append(f"    {first.statute}" + (f"  {first.url}" if first.url else ""))
        lines.append("    " + "; ".join(f"{r.data} for {r.purpose}" for r in rs))
        lines.append(f"    what they may do with it next: {onward_words(first.onward, dst, src)}")
        if first.classes:
            lines.append(f"    through the class{'es' if len(first.classes) > 1 else ''}: {', '.join(first.classes)}")
        lifted = sorted({x for r in rs for x in r.lifted})
        if lifted:
            lines.append(f"    lifts: {', '.join(lifted)}")
        for c in first.conditions:
            lines.append(f"    condition: {c}")
        where = [x for x in (first.gateway_at, first.agreement_at) if x]
        if where:
            lines.append(style(f"    [{', '.join(where)}]", "dim"))
    if not rows:
        lines.append("no lawful direct flow on this date")
    return "\n".join(lines)


FLOW_COLUMNS = ["source", "recipient", "data", "purpose", "gateway", "agreement", "statute", "url", "onward",
                "lifted", "conditions", "gateway_at", "agreement_at", "classes", "same_body"]
BLOCKED_COLUMNS = ["source", "recipient", "data", "purpose", "gateway", "agreement", "restrictions", "one_way",
                   "needs_agreement", "citations", "restriction_at", "same_body"]


def rows_csv(rows: Sequence, columns: list[str]) -> str:
    """CSV with a header; list values joined with `; `, booleans as true/false; no cell a spreadsheet would
    run as a formula."""
    from engine.render.report import csv_cell

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        d = r.to_dict()
        w.writerow([csv_cell("; ".join(v) if isinstance(v, list)
                             else ("true" if v is True else "false" if v is False else "" if v is None else v))
                    for v in (d[c] for c in columns)])
    return out.getvalue()


def blocked_text(rows: Sequence[BlockedRow], on: str, style: Style = plain) -> str:
    head = (f"Flows blocked by legislation on {on}: {len(rows)} "
            f"(flows a gateway in force would allow but a restriction blocks; one-way blocks first)")
    lines = [style(head, "bold")]
    for r in rows:
        kind = "one-way block" if r.one_way else "block"
        lines.append(f"{style(f'{r.source} → {r.recipient}', 'deny')}  {r.data} for {r.purpose}")
        paper = " (and no agreement in force covers it)" if r.needs_agreement else ""
        if r.same_body:  # issue 12: within one legal person, no gateway needed
            lines.append("    within one body: not a disclosure between bodies, but a restriction names it")
        else:
            lines.append(f"    gateway {_basis(r.gateway, r.agreement)} would allow it{paper}")
        cites = f" — {'; '.join(r.citations)}" if r.citations else ""
        lines.append(f"    {kind}: {', '.join(r.restrictions)}{cites}")
        if r.restriction_at:
            lines.append(style(f"    [{', '.join(r.restriction_at)}]", "dim"))
    if not rows:
        lines.append("no flow that a gateway in force would allow is blocked by a restriction on this date")
    return "\n".join(lines)


def _what_changed(before: Optional[Hop], hop: Hop) -> str:
    """Which of the data and the purpose a hop carries differently from the hop before, in words."""
    if before is None:
        return "what it carries"
    changed = [word for word, old, new in (("the data", before.data, hop.data), ("the purpose", before.purpose,
                                                                               hop.purpose)) if old != new]
    return " and ".join(changed) or "what it carries"


def routes_text(question: dict, routes: Sequence[Route], style: Style = plain,
                same_body: Sequence[str] = ()) -> str:
    """`lawful routes`: each route, then each hop with its basis, the data and purpose it carries, and (issue 13)
    the clause that allowed a change of data or purpose from the hop before. `same_body`: the question's two
    bodies are one legal person (issue 12), so no route is needed."""
    from engine.render.words import same_body as part_of

    head = (f"{question['source']} → {question['recipient']}: {question['data']} for {question['purpose']} "
            f"on {question['on']}")
    if not routes and same_body:
        return "\n".join([style(head, "dim"), style(f"same body: {part_of(same_body)}", "allow")
                          + " (not a disclosure between bodies: no route is needed)"])
    if not routes:
        return "\n".join([style(head, "dim"), style("no lawful route", "deny")])
    lines = [style(head, "dim")]
    for r in routes:
        lines.append(style(str(r), "bold"))
        before = None
        for h in r.hops:
            if h.same_body:  # issue 12: within one legal person, no gateway
                lines.append(f"  {h.source} → {h.recipient}: {h.data} for {h.purpose} within one body "
                             f"({part_of(h.same_body)}): not a disclosure")
                before = h
                continue
            implied = " (an implied power: take legal advice)" if h.power == "implied" else ""
            lines.append(f"  {h.source} → {h.recipient}: {h.data} for {h.purpose} "
                         f"under {_basis(h.gateway, h.agreement)}{implied}; what they may do with it next: "
                         f"{onward_words(h.onward, h.recipient, h.source)}")
            if h.changed_by:
                lines.append(style(f"    {_what_changed(before, h)} changes here, as allowed by {h.changed_by}", "dim"))
            before = h
        if r.variants:
            lines.append(style("  also through parts of its intermediaries: " + "; ".join(str(v) for v in r.variants),
                               "dim"))
    return "\n".join(lines)
