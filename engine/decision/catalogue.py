"""What a bundle declares, as plain data: one `Entry` per organisation, data category, purpose, gateway,
restriction, agreement and statute (for `lawful list`, `lawful show` and `GET /v1/names`), and the dated
events of a `Timeline` with the flows each one made lawful or unlawful (`lawful timeline`, `GET
/v1/timeline`). Computed in engine/eval/catalogue.py, put into words in engine/render/catalogue.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

from engine.decision.answer import plain_value

# The kinds, in the order a listing of everything gives them, with the word `lawful list` takes for each.
KINDS = ("organisation", "data", "purpose", "gateway", "restriction", "agreement", "statute")
LIST_WORDS = {"orgs": "organisation", "organisations": "organisation", "data": "data", "purposes": "purpose",
              "gateways": "gateway", "restrictions": "restriction", "agreements": "agreement", "statutes": "statute"}


@dataclass(frozen=True)
class Ref:
    """Another declaration an entry is linked to, and how (`role`, e.g. "source", "recipient", "cites")."""

    kind: str
    id: str
    title: str
    role: str
    at: Optional[str] = None  # file:line

    def to_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "title": self.title, "role": self.role, "at": self.at}


@dataclass(frozen=True)
class Entry:
    """One declaration. `start` and `end` are the first and last day it exists or is in force (inclusive;
    None: no limit); `status` is its state on the date asked about, when one was (`in force`, `not yet`,
    `ended`, `proposed`, `exists`, …); `details` are the facts of its kind, in order, as JSON values."""

    kind: str
    id: str
    title: str
    at: Optional[str] = None
    aliases: tuple[str, ...] = ()
    parent: Optional[str] = None
    sensitivity: tuple[str, ...] = ()
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None
    status: Optional[str] = None
    details: tuple[tuple[str, Any], ...] = ()
    related: tuple[Ref, ...] = ()

    def detail(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self.details if k == key), default)

    def to_dict(self, related: bool = True) -> dict:
        out: dict[str, Any] = {"kind": self.kind, "id": self.id, "title": self.title, "at": self.at,
               "aliases": list(self.aliases), "parent": self.parent, "sensitivity": list(self.sensitivity),
               "start": self.start.isoformat() if self.start else None,
               "end": self.end.isoformat() if self.end else None, "status": self.status,
               "details": {k: plain_value(v) for k, v in self.details}}
        if related:
            out["related"] = [r.to_dict() for r in self.related]
        return out


# ---- the timeline ------------------------------------------------------------------------------------

# What can happen on a date, in the order the events of one date are listed. An agreement or rule "ends" on
# the first day it is no longer in force (the day after the last day of its `valid` clause), so every event is
# dated when the flows change.
EVENT_KINDS = ("statute-repealed", "statute-commenced", "organisation-replaced", "organisation-transferred",
               "organisation-renamed", "organisation-ceased", "organisation-begins", "gateway-ends", "gateway-starts",
               "restriction-ends", "restriction-starts", "agreement-ends", "agreement-starts")


@dataclass(frozen=True)
class Event:
    """One dated change: `kind` (EVENT_KINDS), the declaration it is about, and the arguments of its words
    (`successor`, `successor_title` for a replaced organisation; `last_day` for an ending)."""

    on: dt.date
    kind: str
    id: str
    title: str
    at: Optional[str] = None
    args: tuple[tuple[str, Any], ...] = ()

    def arg(self, key: str, default: Any = None) -> Any:
        return next((v for k, v in self.args if k == key), default)

    def to_dict(self) -> dict:
        return {"on": self.on.isoformat(), "kind": self.kind, "id": self.id, "title": self.title, "at": self.at,
                "args": {k: plain_value(v) for k, v in self.args}}


@dataclass(frozen=True)
class FlowChange:
    """A direct flow that became lawful or stopped being lawful on a date, with its basis (the gateway and
    agreement that allow it on the day it is lawful)."""

    source: str
    recipient: str
    data: str
    purpose: str
    bases: tuple[str, ...]  # "GATEWAY" or "GATEWAY / AGREEMENT"

    def to_dict(self) -> dict:
        return {"source": self.source, "recipient": self.recipient, "data": self.data, "purpose": self.purpose,
                "bases": list(self.bases)}


@dataclass(frozen=True)
class TimelineDay:
    """The events of one date, and the flows lawful the day before but not on it (`ended`) and lawful on it
    but not the day before (`began`)."""

    on: dt.date
    events: tuple[Event, ...]
    began: tuple[FlowChange, ...]
    ended: tuple[FlowChange, ...]

    def to_dict(self) -> dict:
        return {"on": self.on.isoformat(), "events": [e.to_dict() for e in self.events],
                "began": [f.to_dict() for f in self.began], "ended": [f.to_dict() for f in self.ended]}


@dataclass(frozen=True)
class Timeline:
    start: Optional[dt.date]  # as asked (None: from the first event)
    end: Optional[dt.date]  # as asked (None: to the last event)
    days: tuple[TimelineDay, ...]

    def to_dict(self) -> dict:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None, "days": [d.to_dict() for d in self.days]}
