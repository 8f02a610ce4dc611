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

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id.lower()}"

    @property
    def label(self) -> str:
        kind = {"statute": "statute status", "organisation": "organisation (hierarchy)", "data": "data category (hierarchy)",
                "purpose": "purpose (hierarchy)"}.get(self.kind, self.kind)
        return f"{self.action} {kind} {self.id}"

    @property
    def where(self) -> Optional[Span]:
        return self.new_span or self.old_span

    def to_dict(self) -> dict:
        return {"kind": self.kind, "action": self.action, "id": self.id, "title": self.title,
                "old_span": self.old_span.to_dict() if self.old_span else None,
                "new_span": self.new_span.to_dict() if self.new_span else None,
                "details": list(self.details), "citation": self.citation, "url": self.url}


@dataclass(frozen=True)
class FlowChange:
    """One question whose verdict differs, with both sides' headlines and the changes that caused it."""

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

    @property
    def newly_allowed(self) -> bool:
        return self.new == "allow"

    @property
    def flag(self) -> str:
        """'special-category', 'criminal-offence', 'personal' or '' — the loudest sensitivity."""
        for s in SENSITIVE:
            if s in self.sensitivity:
                return s
        return ""

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "data": self.data, "purpose": self.purpose,
                "old": self.old, "new": self.new, "old_headline": self.old_headline, "new_headline": self.new_headline,
                "causes": list(self.causes), "sensitivity": list(self.sensitivity), "flag": self.flag,
                "because": self.because}


@dataclass
class DiffResult:
    old_label: str
    new_label: str
    on: dt.date
    changes: list[RuleChange] = field(default_factory=list)
    flows: list[FlowChange] = field(default_factory=list)
    evaluated: int = 0  # questions evaluated on each side

    @property
    def newly_allowed(self) -> list[FlowChange]:
        return [f for f in self.flows if f.newly_allowed]

    @property
    def newly_denied(self) -> list[FlowChange]:
        return [f for f in self.flows if not f.newly_allowed]

    def change(self, key: str) -> Optional[RuleChange]:
        return next((c for c in self.changes if c.key == key), None)

    def groups(self) -> list[tuple[tuple[RuleChange, ...], list[FlowChange]]]:
        """Flows grouped by the rule change(s) that caused them; groups with newly allowed flows first."""
        by: dict[tuple[str, ...], list[FlowChange]] = {}
        for f in self.flows:
            by.setdefault(f.causes, []).append(f)
        out = []
        for causes, flows in by.items():
            out.append((tuple(c for c in (self.change(k) for k in causes) if c is not None), flows))
        out.sort(key=lambda g: (not any(f.newly_allowed for f in g[1]), [c.key for c in g[0]]))
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
            "old": self.old_label, "new": self.new_label, "on": self.on.isoformat(),
            "summary": {"newly_allowed": len(self.newly_allowed), "newly_denied": len(self.newly_denied),
                        "rule_changes": len(self.changes), "questions_evaluated": self.evaluated,
                        "newly_allowed_personal": sum(1 for f in self.newly_allowed if f.flag)},
            "changes": [c.to_dict() for c in self.changes],
            "flows": [f.to_dict() for f in self.flows],
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
    if e.because:
        parts.append("because " + ", ".join(n.text for n in e.because))
    return " ".join(parts)
