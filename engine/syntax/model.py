"""The typed model of a policy bundle: frozen dataclasses, one per construct of the language.

Spans are kept on every node but excluded from equality and hashing, so two parses of the same text in
different files (or after formatting) compare equal. Names keep their declared spelling; lookups elsewhere
are case-insensitive.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Optional, Union

from engine.base.source import Span

NO_SPAN = Span("", 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Name:
    """An identifier as written, with where it was written."""

    text: str
    span: Span = _span()

    @property
    def key(self) -> str:
        return self.text.lower()

    def __str__(self) -> str:
        return self.text


ANY = "*"  # the wildcard party of `forbids A -> *`

# ---- vocabulary --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    id: Name
    title: str
    parent: Optional[Name] = None
    aliases: tuple[str, ...] = ()
    succeeds: Optional[Name] = None
    succeeds_on: Optional[dt.date] = None
    span: Span = _span()
    functions: tuple[Name, ...] = ()  # issue 13: `functions F, …`, what it holds data for (its parts inherit them)


MARKERS = ("personal", "special-category", "criminal-offence", "anonymised")


@dataclass(frozen=True)
class DataCategory:
    id: Name
    title: str
    parent: Optional[Name] = None
    markers: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Purpose:
    id: Name
    title: str
    parent: Optional[Name] = None
    span: Span = _span()


# ---- clauses shared by blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parties:
    """`A, B -> C, D`; either side may be the wildcard `*` (an empty tuple with `any_*` set)."""

    sources: tuple[Name, ...]
    recipients: tuple[Name, ...]
    any_source: bool = False
    any_recipient: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Onward:
    kind: str  # "none" | "to" | "only-for" | "as-discloser"; issue 13: "for" | "as" | "lawful"
    targets: tuple[Name, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Validity:
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None
    span: Span = _span()

    def covers(self, day: dt.date) -> bool:
        """Inclusive at both ends."""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Exception_:
    """One `except` clause of a restriction; every condition it names must hold for it to apply."""

    anonymised: bool = False
    to: tuple[Name, ...] = ()
    purposes: tuple[Name, ...] = ()
    span: Span = _span()
    when: tuple[Name, ...] = ()  # `when CONDITION, …`: the exception holds only when the question gives these


@dataclass(frozen=True)
class StatuteRef:
    id: Name
    provision: Optional[str] = None
    span: Span = _span()


# ---- blocks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gateway:
    id: Name
    title: str
    statute: Optional[StatuteRef] = None
    allows: tuple[Parties, ...] = ()
    data: tuple[Name, ...] = ()
    purposes: tuple[Name, ...] = ()
    requires_agreement: bool = False
    lawful_basis: Optional[Name] = None
    article9: Optional[str] = None
    article10: Optional[str] = None
    onward: Optional[Onward] = None
    overrides: tuple[Name, ...] = ()
    valid: Optional[Validity] = None
    notes: tuple[str, ...] = ()
    span: Span = _span()
    clause_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)
    # issue 13
    conditions: tuple[Name, ...] = ()  # `requires CONDITION, …`: flows need the question to give each
    power: Optional[str] = None  # `power express|implied`; absent: express


@dataclass(frozen=True)
class Restriction:
    id: Name
    title: str
    statute: Optional[StatuteRef] = None
    one_way: tuple[Name, ...] = ()
    forbids: tuple[Parties, ...] = ()
    data: tuple[Name, ...] = ()
    purposes: tuple[Name, ...] = ()
    exceptions: tuple[Exception_, ...] = ()
    valid: Optional[Validity] = None
    notes: tuple[str, ...] = ()
    span: Span = _span()
    clause_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)
    # issue 13: bars that bind by provenance
    received_under: tuple[Name, ...] = ()  # `data received-under G, …`: data the source received under these gateways
    held_for: tuple[Name, ...] = ()  # `data held-for F, …`: data the source holds for these functions


@dataclass(frozen=True)
class Agreement:
    id: Name
    title: str
    sources: tuple[Name, ...] = ()
    recipients: tuple[Name, ...] = ()
    both_ways: bool = False  # `between A and B`
    data: tuple[Name, ...] = ()
    purposes: tuple[Name, ...] = ()
    under: Optional[Name] = None
    lawful_basis: Optional[Name] = None
    article9: Optional[str] = None
    article10: Optional[str] = None
    valid: Optional[Validity] = None
    review: Optional[dt.date] = None
    owner: Optional[str] = None
    onward: Optional[Onward] = None
    requires: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    span: Span = _span()
    clause_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)
    # issue 13
    conditions: tuple[Name, ...] = ()  # `requires CONDITION, …`: flows need the question to give each


# ---- policy tests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    verdict: str  # "allow" | "deny"
    source: Name
    recipient: Name
    data: Name
    purpose: Optional[Name] = None
    on: Optional[dt.date] = None
    assuming: tuple[Name, ...] = ()
    because: tuple[Name, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class PolicyTest:
    name: str
    expectations: tuple[Expectation, ...] = ()
    span: Span = _span()
    clause_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)


# ---- conditions (issue 13) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionDecl:
    """`condition ID "title"`: a fact the engine cannot see (a court order, the Commissioners' authority),
    declared once and named by id in `requires` and `except … when`; a question asserts it with `given`."""

    id: Name
    title: str
    notes: tuple[str, ...] = ()
    span: Span = _span()


Declaration = Union[Organisation, DataCategory, Purpose, Gateway, Restriction, Agreement, PolicyTest, ConditionDecl]


@dataclass(frozen=True)
class PolicyFile:
    path: str
    items: tuple[Declaration, ...] = ()

    def of(self, kind: type) -> tuple:
        return tuple(i for i in self.items if isinstance(i, kind))


# ---- the statute register (gateways.yaml) ------------------------------------------------------------


@dataclass(frozen=True)
class Statute:
    id: str
    title: str
    status: str  # "in-force" | "proposed" | "repealed"
    citation: Optional[str] = None
    url: Optional[str] = None
    commenced: Optional[dt.date] = None
    repealed: Optional[dt.date] = None
    notes: Optional[str] = None
    span: Span = _span()

    def in_force_on(self, day: dt.date, assumed: bool = False) -> bool:
        """Commencement is inclusive; a repeal takes effect on its date (not in force from that day on).

        A proposed statute is in force only when the question assumes it, and then on every date.
        """
        if assumed:
            return True
        if self.status == "proposed":
            return False
        if self.commenced is not None and day < self.commenced:
            return False
        if self.repealed is not None and day >= self.repealed:
            return False
        return True

    def why_not_in_force(self, day: dt.date) -> str:
        if self.status == "proposed":
            return f"statute `{self.id}` is proposed, not enacted"
        if self.commenced is not None and day < self.commenced:
            return f"not in force until {self.commenced.isoformat()}"
        if self.repealed is not None and day >= self.repealed:
            return f"repealed on {self.repealed.isoformat()}"
        return "in force"


_ACT_URL = re.compile(r"^https://www\.legislation\.gov\.uk/[a-z]+/[0-9]{4}/[0-9]+$")
_SECTION = re.compile(r"^\s*(?:section|s\.)\s*([0-9]+[A-Z]*)", re.IGNORECASE)
_SCHEDULE = re.compile(r"^\s*(?:schedule|sch\.?)\s*([0-9]+[A-Z]*)(?:[,\s]*(?:paragraph|para\.?)\s*([0-9]+[A-Z]*))?",
                       re.IGNORECASE)


def provision_url(act_url: Optional[str], provision: Optional[str]) -> Optional[str]:
    """The page of one provision on legislation.gov.uk ("section 123" -> …/section/123; "Schedule 5 paragraph
    10" -> …/schedule/5/paragraph/10) when the register gives the Act's own page; otherwise the URL as given."""
    if not act_url or not provision or not _ACT_URL.match(act_url):
        return act_url
    m = _SECTION.match(provision)
    if m:
        return f"{act_url}/section/{m.group(1)}"
    m = _SCHEDULE.match(provision)
    if m:
        return f"{act_url}/schedule/{m.group(1)}" + (f"/paragraph/{m.group(2)}" if m.group(2) else "")
    return act_url


@dataclass(frozen=True)
class RegimeCondition:
    """A lawful-basis or special-category condition of a data-protection regime (issue 13)."""

    id: str
    title: str
    equivalent: Optional[str] = None  # the regime-neutral lawful basis it matches (`public-task`, …)
    span: Span = _span()


@dataclass(frozen=True)
class Regime:
    """A data-protection regime of the register (issue 13): in force from `start` until the next regime's start
    (or its own `until`), with the ids of its lawful-basis and special-category conditions."""

    id: str
    title: str
    start: dt.date
    until: Optional[dt.date] = None
    citation: Optional[str] = None
    url: Optional[str] = None
    notes: Optional[str] = None
    lawful_bases: tuple[RegimeCondition, ...] = ()
    special: tuple[RegimeCondition, ...] = ()
    span: Span = _span()


def regime_end(regimes: tuple[Regime, ...], r: Regime) -> Optional[dt.date]:
    """The first day a regime is no longer in force: its own `until`, else the next regime's start."""
    later = [x.start for x in regimes if x.start > r.start]
    ends = [d for d in (r.until, min(later) if later else None) if d is not None]
    return min(ends) if ends else None


def regime_on(regimes: tuple[Regime, ...], day: dt.date) -> Optional[Regime]:
    """The regime in force on `day`: the latest to have started, unless it has ended."""
    started = [r for r in regimes if r.start <= day]
    if not started:
        return None
    r = max(started, key=lambda x: (x.start, x.id.lower()))
    end = regime_end(regimes, r)
    return r if end is None or day < end else None


@dataclass(frozen=True)
class Register:
    statutes: tuple[Statute, ...] = ()
    path: str = "gateways.yaml"
    regimes: tuple[Regime, ...] = ()  # issue 13

    def get(self, statute_id: str) -> Optional[Statute]:
        key = statute_id.lower()
        for s in self.statutes:
            if s.id.lower() == key:
                return s
        return None


@dataclass(frozen=True)
class Bundle:
    """Everything read from one bundle folder, before checking."""

    files: tuple[PolicyFile, ...]
    register: Register
    root: str = ""

    def items(self, kind: type) -> list:
        return [i for f in self.files for i in f.items if isinstance(i, kind)]
