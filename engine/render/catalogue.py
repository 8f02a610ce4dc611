"""What a bundle declares, and what changed when, in words and as CSV: `lawful list`, `lawful show`,
`lawful timeline`. Pure functions from the plain data of engine/decision/catalogue.py to text; colour is added
by the caller's Style only on a terminal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Optional, Sequence

from engine.decision.catalogue import Entry, Event, FlowChange, Timeline, TimelineDay
from engine.render.style import Style, plain
from engine.render.words import onward_words

KIND_WORDS = {"organisation": "organisation", "data": "data category", "purpose": "purpose", "gateway": "gateway",
              "restriction": "restriction", "agreement": "agreement", "statute": "statute"}
PLURAL = {"organisation": "Organisations", "data": "Data categories", "purpose": "Purposes", "gateway": "Gateways",
          "restriction": "Restrictions", "agreement": "Agreements", "statute": "Statutes"}

# The label of each detail, in the words of an officer (`--format json` keeps the field names).
LABELS = {
    "succeeds": "replaced", "succeeds_on": "from", "replaced_by": "replaced by", "replaced_on": "on",
    "parts": "parts", "markers": "marked", "statute": "statute", "statute_title": "statute title",
    "provision": "provision", "url": "link", "allows": "allows", "data": "data", "purposes": "purposes",
    "requires_agreement": "needs an agreement", "lawful_basis": "lawful basis", "article_9": "article 9 condition",
    "article_10": "article 10 condition", "onward": "what the recipient may do with it next",
    "overrides": "lifts", "notes": "notes", "one_way": "one-way for", "forbids": "forbids",
    "exceptions": "except", "from": "from", "to": "to", "both_ways": "both ways", "under": "under gateway",
    "owner": "owner", "review": "review due", "conditions": "conditions", "status": "status",
    "citation": "citation", "commenced": "commenced", "repealed": "repealed",
    "one_way_except": "leaving out", "from_except": "leaving out of from", "to_except": "leaving out of to",
}

CSV_COLUMNS = ["kind", "id", "title", "aliases", "parent", "sensitivity", "start", "end", "status", "at"]


def _d(value: Optional[dt.date]) -> str:
    return value.isoformat() if value else ""


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return ", ".join(_value(x) for x in v)
    return str(v)


def _dates(e: Entry) -> str:
    if e.start is None and e.end is None:
        return ""
    if e.end is None:
        return f"from {_d(e.start)}"
    if e.start is None:
        return f"until {_d(e.end)}"
    return f"{_d(e.start)} to {_d(e.end)}"


def _summary(e: Entry) -> str:
    """The short line of a listing after the id and title."""
    bits = []
    if e.aliases:
        bits.append("also " + ", ".join(f'"{a}"' for a in e.aliases))
    if e.parent:
        bits.append(f"part of {e.parent}" if e.kind == "organisation" else f"under {e.parent}")
    if e.sensitivity:
        bits.append(", ".join(e.sensitivity))
    if e.kind in ("gateway", "restriction") and e.detail("statute"):
        bits.append(e.detail("statute") + (f" {e.detail('provision')}" if e.detail("provision") else ""))
    if e.kind == "agreement":
        bits.append(f"{_value(e.detail('from'))} → {_value(e.detail('to'))}")
        if e.detail("owner"):
            bits.append(f"owner: {e.detail('owner')}")
    if e.kind == "statute" and e.detail("status") == "proposed":
        bits.append("proposed")
    if _dates(e):
        bits.append(_dates(e))
    if e.status and e.status not in ("exists", "in force", "declared"):
        bits.append(e.status)
    return "; ".join(bits)


def list_text(kind: str, items: Sequence[Entry], on: Optional[dt.date], style: Style = plain) -> str:
    head = f"{PLURAL[kind]}: {len(items)}" + (f" (existing or in force on {on.isoformat()})" if on else "")
    lines = [style(head, "bold")]
    width = min(max((len(e.id) for e in items), default=0), 32)
    for e in items:
        rest = _summary(e)
        lines.append(f"  {e.id.ljust(width)}  {e.title}" + (style(f"  ({rest})", "dim") if rest else ""))
    return "\n".join(lines)


def list_csv(items: Sequence[Entry]) -> str:
    """CSV with a header; lists joined with `; `; no cell a spreadsheet would run as a formula."""
    from engine.render.report import csv_cell

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in items:
        d = e.to_dict(related=False)
        w.writerow([csv_cell("; ".join(v) if isinstance(v, list) else "" if v is None else str(v))
                    for v in (d[c] for c in CSV_COLUMNS)])
    return out.getvalue()


def show_text(found: Sequence[Entry], style: Style = plain) -> str:
    """Everything known about each declaration, with where it is written."""
    blocks = []
    for e in found:
        lines = [style(f"{KIND_WORDS[e.kind]} {e.id}", "bold") + f" — {e.title}"]
        if e.at:
            lines.append(f"  written at {e.at}")
        if e.aliases:
            lines.append(f"  also called: {', '.join(e.aliases)}")
        if e.parent:
            lines.append(f"  {'part of' if e.kind == 'organisation' else 'under'}: {e.parent}")
        if e.sensitivity:
            lines.append(f"  sensitivity: {', '.join(e.sensitivity)}")
        if _dates(e):
            lines.append(f"  {'exists' if e.kind == 'organisation' else 'in force'}: {_dates(e)}")
        if e.status:
            lines.append(f"  on the date asked: {e.status}")
        if e.detail("succeeds"):
            lines.append(f"  replaced {e.detail('succeeds')} on {_value(e.detail('succeeds_on'))}")
        if e.detail("replaced_by"):
            lines.append(f"  replaced by {e.detail('replaced_by')} on {_value(e.detail('replaced_on'))}")
        for k, v in e.details:
            if k in ("succeeds", "succeeds_on", "replaced_by", "replaced_on"):
                continue
            if v is None or v == [] or v == "" or (k == "both_ways" and v is False) or k == "markers":
                continue
            if k == "notes":
                for note in ([v] if isinstance(v, str) else v):
                    lines.append(f"  note: {' '.join(str(note).split())}")
                continue
            shown = onward_words(v) if k == "onward" and isinstance(v, str) else _value(v)
            lines.append(f"  {LABELS.get(k, k)}: {shown}")
        if e.related:
            lines.append("  named by:" if e.kind in ("organisation", "data", "purpose", "statute") else "  related:")
            for r in e.related:
                lines.append(f"    {KIND_WORDS[r.kind]} {r.id} ({r.role}) — {r.title}"
                             + (f"  [{r.at}]" if r.at else ""))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# ---- the timeline ------------------------------------------------------------------------------------


def event_text(e: Event) -> str:
    """One event in words: `ALI ceased (Adult Learning Inspectorate); OFSTED-2007 replaced it`."""
    if e.kind == "statute-commenced":
        return f"{e.title} ({e.id}) came into force"
    if e.kind == "statute-repealed":
        return f"{e.title} ({e.id}) was repealed"
    if e.kind == "organisation-replaced":
        return f"{e.id} ({e.title}) ceased; {e.arg('successor')} ({e.arg('successor_title')}) replaced it"
    if e.kind == "organisation-transferred":
        they, go = ("they", "go") if ", " in e.id else ("it", "goes")
        goes_on = f"; {they} {go} on existing" if e.arg("continues") else f" and {they} ceased"
        return f"{e.id}'s functions passed to {e.arg('successor')}{goes_on}"
    if e.kind == "organisation-renamed":
        return f"{e.id} ({e.title}) was renamed {e.arg('successor')} ({e.arg('successor_title')}): the same body"
    if e.kind == "organisation-ceased":
        return f"{e.id} ({e.title}) ceased"
    if e.kind == "organisation-begins":
        return f"{e.id} ({e.title}) began"
    what, _, change = e.kind.rpartition("-")
    if change == "starts":
        return f"{what} {e.id} ({e.title}) began"
    return f"{what} {e.id} ({e.title}) ended (its last day was {_value(e.arg('last_day'))})"


def _flow(f: FlowChange) -> str:
    return f"{f.source} → {f.recipient}: {f.data} for {f.purpose} ({'; '.join(f.bases)})"


def _count(n: int, began: bool) -> str:
    return f"{n} flow{'s' if n != 1 else ''} {'began' if began else 'ended'}"


def day_headline(day: TimelineDay) -> str:
    """`2007-04-01: ALI ceased …; 11 flows ended, 0 began`."""
    said = "; ".join(event_text(e) for e in day.events)
    return f"{day.on.isoformat()}: {said}; {_count(len(day.ended), False)}, {len(day.began)} began"


def timeline_text(t: Timeline, style: Style = plain, flows: bool = True) -> str:
    span = (f" from {t.start.isoformat()}" if t.start else "") + (f" to {t.end.isoformat()}" if t.end else "")
    lines = [style(f"What changed{span}: {len(t.days)} date{'s' if len(t.days) != 1 else ''} with events", "bold")]
    for day in t.days:
        lines.append("")
        lines.append(style(day_headline(day), "bold"))
        for e in day.events:
            lines.append(f"  - {event_text(e)}" + (f"  [{e.at}]" if e.at else ""))
        if flows:
            for f in day.ended:
                lines.append(style(f"  ended:  {_flow(f)}", "deny"))
            for f in day.began:
                lines.append(style(f"  began:  {_flow(f)}", "allow"))
    return "\n".join(lines)


TIMELINE_CSV_COLUMNS = ["on", "change", "source", "recipient", "data", "purpose", "bases", "events"]


def timeline_csv(t: Timeline) -> str:
    """One row per flow that began or ended, with the events of its date; a date with events but no change
    of flow gets one row with the flow cells empty."""
    from engine.render.report import csv_cell

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(TIMELINE_CSV_COLUMNS)
    for day in t.days:
        said = "; ".join(event_text(e) for e in day.events)
        rows = [("ended", f) for f in day.ended] + [("began", f) for f in day.began]
        if not rows:
            w.writerow([day.on.isoformat(), "", "", "", "", "", "", csv_cell(said)])
        for change, f in rows:
            w.writerow([day.on.isoformat(), change] + [csv_cell(x) for x in (f.source, f.recipient, f.data, f.purpose,
                                                                              "; ".join(f.bases), said)])
    return out.getvalue()


def why_no_one_text(reasons: Sequence[dict], style: Style = plain, examples: int = 3) -> str:
    """The reasons no organisation may receive (or send) the data, as `why:` lines with a few example flows."""
    lines = []
    for r in reasons:
        lines.append(style("why: ", "bold") + r["reason"])
        flows = r.get("flows") or []
        for f in flows[:examples]:
            lines.append(f"  e.g. {f}")
        if len(flows) > examples:
            lines.append(f"  … and {len(flows) - examples} more")
    return "\n".join(lines)
