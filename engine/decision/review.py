"""The answers of the review tools as plain data: a diff between two bundles and a policy test run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from engine.base.diagnostics import Diagnostic
from engine.base.source import SourceFile, Span
from engine.decision.answer import Decision
from engine.syntax import model as m

SENSITIVE = ("special-category", "criminal-offence", "personal")


@dataclass(frozen=True)
class Delta:
    """One clause of a rule that changed, as data the renderer puts into words: a scope that widened or
    narrowed (the names added or taken away, each the top-most of its subtree), or a value that changed."""

    field: str  # data | purposes | sources | recipients | parties | one-way | forbids | valid | lawful-basis | …
    added: tuple[str, ...] = ()  # names now in scope that were not
    removed: tuple[str, ...] = ()  # names no longer in scope
    old: Optional[str] = None  # a value that changed (a window, a basis, a gateway relied on)
    new: Optional[str] = None
    flags: tuple[tuple[str, str], ...] = ()  # (name, loudest sensitivity) for data names that carry one

    def flag(self, name: str) -> str:
        return dict(self.flags).get(name, "")

    def to_dict(self) -> dict:
        return {"field": self.field, "added": list(self.added), "removed": list(self.removed), "old": self.old,
                "new": self.new, "flags": dict(self.flags)}


@dataclass(frozen=True)
class RuleChange:
    """One rule (or statute, or hierarchy node) that differs between the two sides."""

    kind: str  # gateway | restriction | agreement | statute | organisation | data | purpose | regime (issue 13)
    action: str  # added | removed | changed
    id: str
    title: str
    old_span: Optional[Span] = None
    new_span: Optional[Span] = None
    details: tuple[str, ...] = ()  # the clauses or fields that changed
    citation: Optional[str] = None  # statute title and provision
    url: Optional[str] = None
    deltas: tuple[Delta, ...] = ()  # what changed, clause by clause (for an added or removed rule: its scope)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id.lower()}"

    @property
    def label(self) -> str:
        kind = {"statute": "statute status", "organisation": "organisation (hierarchy)",
                "data": "data category (hierarchy)", "purpose": "purpose (hierarchy)"}.get(self.kind, self.kind)
        return f"{self.action} {kind} {self.id}"

    @property
    def where(self) -> Optional[Span]:
        return self.new_span or self.old_span

    @property
    def flag(self) -> str:
        """The loudest sensitivity of data this change brings into a rule's scope ('' when none)."""
        found = {f for d in self.deltas for _n, f in d.flags if d.field == "data" and _n in d.added}
        return next((s for s in SENSITIVE if s in found), "")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "action": self.action, "id": self.id, "title": self.title,
                "old_span": self.old_span.to_dict() if self.old_span else None,
                "new_span": self.new_span.to_dict() if self.new_span else None,
                "details": list(self.details), "citation": self.citation, "url": self.url,
                "deltas": [d.to_dict() for d in self.deltas]}


def period_text(start: Optional[dt.date], end: Optional[dt.date]) -> str:
    """A date range as a reviewer reads it: `from A to B`, `on A`, `until B`, `from A`, `on every date`."""
    if start is not None and end is not None:
        return f"on {start.isoformat()}" if start == end else f"from {start.isoformat()} to {end.isoformat()}"
    if start is not None:
        return f"from {start.isoformat()}"
    if end is not None:
        return f"until {end.isoformat()}"
    return "on every date"


def _flag_of(sensitivity) -> str:
    for s in SENSITIVE:
        if s in sensitivity:
            return s
    return ""


@dataclass(frozen=True)
class FlowChange:
    """One question whose verdict differs over one date range, with both sides' headlines (on the range's
    first date) and the changes that caused it."""

    source: str
    recipient: str
    data: str
    purpose: str
    old: str  # allow | deny
    new: str
    old_headline: str
    new_headline: str
    causes: tuple[str, ...]  # RuleChange keys
    sensitivity: tuple[str, ...]
    because: str  # the citation that decides the new verdict (basis, or the block, or the lost basis)
    start: Optional[dt.date] = None  # first date of the range (None: since ever)
    end: Optional[dt.date] = None  # last date of the range, inclusive (None: from then on)
    keys: tuple[str, str, str, str] = field(default=("", "", "", ""), compare=False, repr=False)

    @property
    def newly_allowed(self) -> bool:
        return self.new == "allow"

    @property
    def flag(self) -> str:
        """'special-category', 'criminal-offence', 'personal' or '' — the loudest sensitivity."""
        return _flag_of(self.sensitivity)

    @property
    def period(self) -> str:
        return period_text(self.start, self.end)

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "data": self.data, "purpose": self.purpose,
                "old": self.old, "new": self.new, "old_headline": self.old_headline, "new_headline": self.new_headline,
                "causes": list(self.causes), "sensitivity": list(self.sensitivity), "flag": self.flag,
                "because": self.because, "from": self.start.isoformat() if self.start else None,
                "until": self.end.isoformat() if self.end else None}


@dataclass(frozen=True)
class RolledFlow:
    """Flow changes rolled up to the highest level that holds (as `lawful flows` reports them): one row stands
    for every change with the same causes, verdict and date range whose source, recipient, data or purpose
    lies under the row's; rows that differ only in purpose are one row with several purposes."""

    source: str
    recipient: str
    data: str
    purposes: tuple[str, ...]
    new: str
    causes: tuple[str, ...]
    flag: str  # the loudest sensitivity of any flow the row stands for
    because: str
    start: Optional[dt.date]
    end: Optional[dt.date]
    covers: int  # how many flow changes the row stands for

    @property
    def newly_allowed(self) -> bool:
        return self.new == "allow"

    @property
    def period(self) -> str:
        return period_text(self.start, self.end)

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "data": self.data, "purposes": list(self.purposes),
                "new": self.new, "causes": list(self.causes), "flag": self.flag, "because": self.because,
                "from": self.start.isoformat() if self.start else None,
                "until": self.end.isoformat() if self.end else None, "covers": self.covers}


FLAG_RANK = {"special-category": 0, "criminal-offence": 0, "personal": 1, "": 2}


@dataclass
class DiffResult:
    old_label: str
    new_label: str
    on: Optional[dt.date]  # the one date compared (`--on`), or None: every boundary date of either side
    changes: list[RuleChange] = field(default_factory=list)
    flows: list[FlowChange] = field(default_factory=list)
    evaluated: int = 0  # questions evaluated on each side, on each date
    dates: list[dt.date] = field(default_factory=list)  # the dates compared (one per range between boundaries)
    boundaries: list[dt.date] = field(default_factory=list)  # every date a rule, body or window starts or ends
    rows: list[RolledFlow] = field(default_factory=list)  # the flows rolled up, sensitive and newly allowed first
    path_prefix: str = ""  # where the bundle's files sit in the repository (for links), "" at its root

    @property
    def newly_allowed(self) -> list[FlowChange]:
        return [f for f in self.flows if f.newly_allowed]

    @property
    def newly_denied(self) -> list[FlowChange]:
        return [f for f in self.flows if not f.newly_allowed]

    def change(self, key: str) -> Optional[RuleChange]:
        return next((c for c in self.changes if c.key == key), None)

    def effects(self, key: str) -> dict[str, list[FlowChange]]:
        """The flow changes a rule change takes part in: {"allow": newly allowed, "deny": newly denied}."""
        out: dict[str, list[FlowChange]] = {"allow": [], "deny": []}
        for f in self.flows:
            if key in f.causes:
                out[f.new].append(f)
        return out

    def groups(self) -> list[tuple[tuple[RuleChange, ...], list[FlowChange]]]:
        """Flows grouped by the rule change(s) that caused them; groups with newly allowed flows first."""
        by: dict[tuple[str, ...], list[FlowChange]] = {}
        for f in self.flows:
            by.setdefault(f.causes, []).append(f)
        return self._ordered(by)

    def row_groups(self) -> list[tuple[tuple[RuleChange, ...], list[RolledFlow]]]:
        """The rolled-up rows grouped by the rule change(s) that caused them, in the same order as `groups`."""
        by: dict[tuple[str, ...], list[RolledFlow]] = {}
        for r in self.rows:
            by.setdefault(r.causes, []).append(r)
        return self._ordered(by)

    def _ordered(self, by: dict) -> list:
        order = {c.key: i for i, c in enumerate(self.changes)}
        out = []
        for causes, items in by.items():
            found = [c for c in (self.change(k) for k in causes) if c is not None]
            out.append((tuple(sorted(found, key=lambda c: order[c.key])), items))
        out.sort(key=lambda g: (not any(x.newly_allowed for x in g[1]),
                                min(FLAG_RANK[x.flag] for x in g[1]),
                                sorted(order.get(c.key, len(order)) for c in g[0])))
        return out

    def pairs(self) -> list[tuple[str, str, int, int, tuple[str, ...]]]:
        """Per organisation pair: (source, recipient, newly allowed, newly denied, flags)."""
        acc: dict[tuple[str, str], list] = {}
        for f in self.flows:
            row = acc.setdefault((f.source, f.recipient), [0, 0, set()])
            row[0 if f.newly_allowed else 1] += 1
            if f.flag and f.newly_allowed:
                row[2].add(f.flag)
        return sorted(((s, r, a, d, tuple(sorted(fl))) for (s, r), (a, d, fl) in acc.items()),
                      key=lambda x: (-x[2], x[0].lower(), x[1].lower()))

    def to_dict(self) -> dict:
        return {
            "old": self.old_label, "new": self.new_label, "on": self.on.isoformat() if self.on else None,
            "dates": [d.isoformat() for d in self.dates],
            "boundaries": [d.isoformat() for d in self.boundaries],
            "summary": {"newly_allowed": len(self.newly_allowed), "newly_denied": len(self.newly_denied),
                        "rule_changes": len(self.changes), "questions_evaluated": self.evaluated,
                        "dates_compared": len(self.dates),
                        "newly_allowed_personal": sum(1 for f in self.newly_allowed if f.flag),
                        "newly_allowed_special": sum(1 for f in self.newly_allowed
                                                     if f.flag in ("special-category", "criminal-offence")),
                        "rolled_up_rows": len(self.rows)},
            "changes": [c.to_dict() for c in self.changes],
            "flows": [f.to_dict() for f in self.flows],
            "rolled_up": [r.to_dict() for r in self.rows],
            "pairs": [{"source": s, "recipient": r, "newly_allowed": a, "newly_denied": d, "flags": list(fl)}
                      for s, r, a, d, fl in self.pairs()],
        }


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one `expect` line."""

    test: str
    expectation: m.Expectation
    status: str  # "passed" | "failed" | "error"
    message: str  # one line: why it failed (empty when passed)
    details: str = ""  # the decision's full explanation, or the diagnostic
    decisions: tuple[Decision, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def span(self) -> Span:
        return self.expectation.span

    @property
    def name(self) -> str:
        return expectation_text(self.expectation)

    def to_dict(self) -> dict:
        return {
            "test": self.test, "expectation": self.name, "status": self.status, "message": self.message,
            "details": self.details, "span": self.span.to_dict(),
            "decisions": [d.to_dict() for d in self.decisions],
        }


@dataclass
class TestRun:
    """Every expectation's result, and the diagnostics of files that could not be read."""

    results: list[ExpectationResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return not self.diagnostics and all(r.passed for r in self.results)

    @property
    def has_errors(self) -> bool:
        return bool(self.diagnostics) or any(r.status == "error" for r in self.results)

    def to_dict(self) -> dict:
        return {
            "summary": {"expectations": len(self.results), "passed": self.count("passed"),
                        "failed": self.count("failed"), "errors": self.count("error") + len(self.diagnostics),
                        "files": list(self.files)},
            "results": [r.to_dict() for r in self.results],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


def expectation_text(e: m.Expectation) -> str:
    """The expectation as it would be written (canonical spacing)."""
    parts = [f"expect {e.verdict} {e.source.text} -> {e.recipient.text} {e.data.text}"]
    if e.purpose is not None:
        parts.append(f"for {e.purpose.text}")
    if e.on is not None:
        parts.append(f"on {e.on.isoformat()}")
    if e.assuming:
        parts.append("assuming " + ", ".join(n.text for n in e.assuming))
    if e.given:
        parts.append("given " + ", ".join(n.text for n in e.given))
    if e.express_only:
        parts.append("express-only")
    if e.received_under is not None:
        parts.append(f"received-under {e.received_under.text}")
    if e.own_data:
        parts.append("own-data")
    if e.held_for is not None:
        parts.append(f"held-for {e.held_for.text}")
    if e.because:
        parts.append("because " + ", ".join(n.text for n in e.because))
    return " ".join(parts)
