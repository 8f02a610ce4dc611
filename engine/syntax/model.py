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
    # continuity (issue 12): a new name for the same legal person, and when the body exists
    renames: Optional[Name] = None
    renames_on: Optional[dt.date] = None
    exists_from: Optional[dt.date] = None
    ceases: Optional[dt.date] = None
    member_of: tuple["Membership", ...] = ()  # classes (issue 12): `is local-authority from 2018-05-01, …`
    functions: tuple[Name, ...] = ()  # issue 13: `functions F, …`, what it holds data for (its parts inherit them)


@dataclass(frozen=True)
class Membership:
    """One class an organisation belongs to, from and until a date (both inclusive; None: unbounded)."""

    name: Name
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None

    def covers(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class BodyClass:
    """`class local-authority "Local authorities in England" [statute X "…"]`: a name for every organisation
    that declares itself a member (`is local-authority`), usable wherever a party list names organisations."""

    id: Name
    title: str
    statute: Optional["StatuteRef"] = None
    span: Span = _span()


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
    except_sources: tuple[Name, ...] = ()  # `A except B -> C`: bodies left out of a side (issue 12)
    except_recipients: tuple[Name, ...] = ()


@dataclass(frozen=True)
class Onward:
    kind: str  # "none" | "to" | "only-for" | "as-discloser"; issue 13: "for" | "as" | "lawful"
    targets: tuple[Name, ...] = ()
    span: Span = _span()
    excluded: tuple[Name, ...] = ()  # `onward to public-authority except HMRC`: bodies left out of `to` (issue 12)


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
    to_except: tuple[Name, ...] = ()  # `except to local-authority except Leeds-CC`: left out of `to` (issue 12)


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
    # issue 12: `one-way public-authority except HMRC`: bodies left out of the one-way scope. The `one-way`
    # clauses of a restriction are one list written over several lines, so the exclusions apply to all of them.
    one_way_except: tuple[Name, ...] = ()


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
    # issue 12: `from public-authority except HMRC to …`, `between A except B and C`: bodies left out of a side
    except_sources: tuple[Name, ...] = ()
    except_recipients: tuple[Name, ...] = ()


# ---- continuity of bodies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """`transfer A, B to C on DATE [under STATUTE "provision"] [data …] [for …] [continues]`: from the date,
    rules naming A or B cover C for the data and purposes in scope; A and B cease unless `continues`."""

    sources: tuple[Name, ...] = ()
    targets: tuple[Name, ...] = ()
    on: Optional[dt.date] = None
    statute: Optional[StatuteRef] = None
    data: tuple[Name, ...] = ()
    purposes: tuple[Name, ...] = ()
    continues: bool = False
    span: Span = _span()
    clause_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)

    @property
    def id(self) -> Name:
        """How messages name it: its transferors (a transfer has no identifier of its own)."""
        return Name(", ".join(n.text for n in self.sources), self.sources[0].span if self.sources else self.span)

    @property
    def title(self) -> str:
        """What it says, in one line: `ALI to OfSTED-2007 on 2007-04-01`, with its scope."""
        text = f"{', '.join(n.text for n in self.sources)} to {', '.join(n.text for n in self.targets)}"
        text += f" on {self.on.isoformat()}" if self.on else ""
        text += f" data {', '.join(n.text for n in self.data)}" if self.data else ""
        text += f" for {', '.join(n.text for n in self.purposes)}" if self.purposes else ""
        return text


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
    # What the question states, as `can-share` does: --given, --express-only, --received-under/--own-data, --held-for
    given: tuple[Name, ...] = ()
    express_only: bool = False
    received_under: Optional[Name] = None
    own_data: bool = False
    held_for: Optional[Name] = None
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


Declaration = Union[Organisation, DataCategory, Purpose, Gateway, Restriction, Agreement, PolicyTest, Transfer,
                    BodyClass, ConditionDecl]


@dataclass(frozen=True)
class PolicyFile:
    path: str
    items: tuple[Declaration, ...] = ()

    def of(self, kind: type) -> tuple:
        return tuple(i for i in self.items if isinstance(i, kind))


# ---- the statute register (gateways.yaml) ------------------------------------------------------------


def provision_slug(text: str) -> str:
    """How a provision is keyed and assumed: "Section 15" and "section-15" are both `section-15`."""
    return re.sub(r"[\s_-]+", "-", text.strip().lower())


@dataclass(frozen=True)
class ProvisionWindow:
    """One period a provision is in force: from `commenced` (inclusive) until `repealed` (exclusive)."""

    commenced: dt.date
    repealed: Optional[dt.date] = None
    commenced_by: Optional[str] = None
    extent: Optional[str] = None  # what it was commenced for ("for specified purposes")

    def covers(self, day: dt.date) -> bool:
        return self.commenced <= day and (self.repealed is None or day < self.repealed)


@dataclass(frozen=True)
class Provision:
    """A provision of a statute with its own dates (gateways.yaml `provisions:`)."""

    text: str  # as the register writes it ("section 15")
    status: str  # "in-force" | "not-commenced" | "repealed" | "proposed"
    commenced: Optional[dt.date] = None
    repealed: Optional[dt.date] = None
    commenced_by: Optional[str] = None
    url: Optional[str] = None
    windows: tuple[ProvisionWindow, ...] = ()
    notes: Optional[str] = None
    span: Span = _span()

    @property
    def slug(self) -> str:
        return provision_slug(self.text)

    def periods(self) -> tuple[ProvisionWindow, ...]:
        """When it is in force, earliest first: its windows, or the one window of `commenced`/`repealed`;
        none when it has not commenced or is only proposed."""
        if self.windows:
            return tuple(sorted(self.windows, key=lambda w: w.commenced))
        if self.status in ("not-commenced", "proposed") or self.commenced is None and self.status != "repealed":
            return ()
        return (ProvisionWindow(self.commenced or dt.date.min, self.repealed, self.commenced_by),)


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
    provisions: tuple[Provision, ...] = ()

    def provision(self, text: Optional[str]) -> Optional[Provision]:
        """The register's record of a provision cited as `text`, if it lists it."""
        if text is None:
            return None
        slug = provision_slug(text)
        return next((p for p in self.provisions if p.slug == slug), None)

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
