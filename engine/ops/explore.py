"""The service's read-only views of a bundle, for people and for the web page (issue 15):

    GET /v1/names      every organisation, data category, purpose, gateway, restriction, agreement and statute
    GET /v1/timeline   dated events from..to and the flows each made lawful or unlawful
    GET /v1/reach      who may receive (or send) a category of data, and why no one when no one may
    GET /v1/flows      the register of sharing on a date
    GET /v1/graph      the sharing network on a date, as SVG (or DOT)

Each answers from the Policy being served (read once per request) and is bounded: a timeline by the number of
dates with events, reach by the decision budget, every answer by the response size cap. Pictures and
timelines are kept in a small cache keyed by the bundle's digest, so a reload never serves a stale one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from enum import Enum
from typing import Annotated, Any, Callable, Optional

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from engine.errors import RequestError, UnknownNameError

MAX_TIMELINE_DAYS = 100  # dates with events in one timeline request (each costs two registers of flows)
CACHE_ENTRIES = 32


def _iso_day(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError("write dates as YYYY-MM-DD, for example 2005-06-23")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"`{value}` is not a real date") from None


QDay = Annotated[Optional[dt.date], BeforeValidator(_iso_day)]
QName = Annotated[str, Field(min_length=1, max_length=200)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class EntryOut(_Open):
    kind: str
    id: str
    title: str
    at: Optional[str] = Field(description="file:line where it is declared")
    aliases: list[str]
    parent: Optional[str]
    sensitivity: list[str]
    start: Optional[str] = Field(description="First day it exists or is in force (YYYY-MM-DD); null: no limit")
    end: Optional[str] = Field(description="Last day it exists or is in force (inclusive); null: no limit")
    status: Optional[str] = Field(description="On the date asked (`on`): exists, in force, not yet, ended, proposed, "
                                              "declared; null without `on`")
    details: dict[str, Any]


class Names(BaseModel):
    on: Optional[str]
    organisations: list[EntryOut]
    data: list[EntryOut]
    purposes: list[EntryOut]
    gateways: list[EntryOut]
    restrictions: list[EntryOut]
    agreements: list[EntryOut]
    statutes: list[EntryOut]


class EventOut(_Open):
    on: str
    kind: str = Field(description="statute-commenced, statute-repealed, organisation-replaced, "
                                  "organisation-transferred, organisation-renamed, organisation-ceased, "
                                  "organisation-begins, gateway-starts, "
                                  "gateway-ends, restriction-starts, restriction-ends, agreement-starts, "
                                  "agreement-ends")
    id: str
    title: str
    at: Optional[str]
    args: dict[str, Any]
    text: str = Field(description="The event in words")


class FlowChangeOut(_Open):
    source: str
    recipient: str
    data: str
    purpose: str
    bases: list[str]


class DayOut(_Open):
    on: str
    headline: str
    events: list[EventOut]
    began: list[FlowChangeOut]
    ended: list[FlowChangeOut]


class TimelineOut(BaseModel):
    from_: Optional[str] = Field(alias="from")
    to: Optional[str]
    days: list[DayOut]


class ReachOut(_Open):
    kind: str
    data: str
    purposes: list[str]
    on: str
    found: list[dict[str, Any]] = Field(description="Organisations reached, each for one purpose, "
                                                    "directly or by routes")
    why_no_one: list[dict[str, Any]] = Field(description="When none is found: the reasons, most telling first")


class FlowsOut(_Open):
    on: str
    flows: list[dict[str, Any]]


class NameKind(str, Enum):
    organisation = "organisation"
    data = "data"
    purpose = "purpose"
    gateway = "gateway"
    restriction = "restriction"
    agreement = "agreement"
    statute = "statute"


class ReachKind(str, Enum):
    recipients = "recipients"
    sources = "sources"


class GraphFormat(str, Enum):
    svg = "svg"
    dot = "dot"


_PLURAL = {"organisation": "organisations", "data": "data", "purpose": "purposes", "gateway": "gateways",
           "restriction": "restrictions", "agreement": "agreements", "statute": "statutes"}


class _Cache:
    """A small LRU of answers by key (the bundle's digest is part of every key)."""

    def __init__(self, size: int = CACHE_ENTRIES):
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def add_routes(app: FastAPI, holder: Any, errors: Callable[[int, list], JSONResponse],
               unknown: Callable[[UnknownNameError, Optional[int]], dict], to_json: Callable[[Any], bytes],
               too_large: Callable[[int], JSONResponse], max_decisions: int, max_response_bytes: int,
               responses: dict, max_timeline_days: int = MAX_TIMELINE_DAYS) -> None:
    """Add the read-only views to `app` (create_app passes its own error helpers and limits)."""
    cache = _Cache()

    def answer(content: Any) -> Response:
        body = to_json(content)
        if len(body) > max_response_bytes:
            return too_large(max_response_bytes)
        return Response(body, media_type="application/json")

    def refused(exc: RequestError) -> JSONResponse:
        status = 413 if exc.code == "limit-exceeded" else 503 if exc.code.startswith("graphviz") else 422
        return errors(status, [{"code": exc.code, "message": exc.message, "help": exc.help}])

    @app.get("/v1/names", response_model=Names, responses=responses, tags=["names"],
             summary="Every name the bundle declares")
    def names(on: Annotated[QDay, Query(description="Say the status of each on this date, YYYY-MM-DD")] = None,
              kind: Annotated[Optional[NameKind], Query(description="Only this kind")] = None):
        """Organisations, data categories, purposes, gateways, restrictions, agreements and statutes, with
        titles, other names, sensitivity, dates and where each is declared (`lawful list`)."""
        from engine.eval.catalogue import entries

        cur = holder.current
        out: dict[str, Any] = {"on": on.isoformat() if on else None}
        for k, plural in _PLURAL.items():
            out[plural] = [] if kind is not None and kind.value != k else \
                [e.to_dict(related=False) for e in entries(cur.policy, k, on)]
        return answer(out)

    @app.get("/v1/timeline", response_model=TimelineOut, responses=responses, tags=["names"],
             summary="What changed when")
    def timeline(start: Annotated[QDay, Query(alias="from", description="First date, YYYY-MM-DD")] = None,
                 end: Annotated[QDay, Query(alias="to", description="Last date, YYYY-MM-DD")] = None):
        """The dated events from `from` to `to` (inclusive) — statutes commenced or repealed, organisations
        replaced, agreements and rules beginning or ending — and, for each date, the direct flows that began
        or ended that day (`lawful timeline`)."""
        from engine.eval.catalogue import timeline as compute
        from engine.render.catalogue import day_headline, event_text

        cur = holder.current

        def make() -> dict:
            t = compute(cur.policy, start, end, max_days=max_timeline_days)
            days = []
            for day in t.days:
                d = day.to_dict()
                d["headline"] = day_headline(day)
                for e, obj in zip(d["events"], day.events):
                    e["text"] = event_text(obj)
                days.append(d)
            return {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                    "days": days}

        try:
            return answer(cache.get(("timeline", cur.digest, start, end), make))
        except RequestError as exc:
            return refused(exc)

    @app.get("/v1/reach", response_model=ReachOut, responses=responses, tags=["decisions"],
             summary="Who may receive, or send, a category of data")
    def reach(kind: Annotated[ReachKind, Query(description="recipients: who may receive from `organisation`; "
                                                          "sources: who may send to it")],
              organisation: Annotated[QName, Query()], data: Annotated[QName, Query()],
              purpose: Annotated[Optional[QName], Query(description="Absent: every declared purpose")] = None,
              on: Annotated[QDay, Query(description="YYYY-MM-DD; absent: today")] = None,
              max_hops: Annotated[int, Query(ge=1, le=8)] = 4):
        """`lawful recipients` / `lawful sources`, with the reasons when no organisation is found."""
        from engine.eval import reach as reachability
        from engine.policy.nobody import why_no_one

        policy = holder.current.policy
        planned = 1 if purpose is not None else len(policy.purposes)
        if planned > max_decisions:
            return errors(413, [{"code": "decision-budget", "message": f"the request asks about {planned:,} "
                                 f"purposes; this server answers at most {max_decisions:,}", "help": "name a purpose"}])
        try:
            find = reachability.recipients if kind is ReachKind.recipients else reachability.sources
            result = find(policy, organisation, data, purpose, on=on, max_hops=max_hops)
            out = result.to_dict()
            found = out.pop(kind.value)
            out.pop("source", None)
            out.pop("recipient", None)
            out.update({"organisation": result.anchor, "found": found,
                        # no body but its own (a part, or the body it is part of: not a disclosure) counts as no one
                        "why_no_one": [] if any(not x.same_body for x in result.found) else why_no_one(
                            policy, kind.value, organisation, data, purpose, on)})
        except UnknownNameError as exc:
            return errors(422, [unknown(exc, None)])
        except RequestError as exc:
            return refused(exc)
        return answer(out)

    @app.get("/v1/flows", response_model=FlowsOut, responses=responses, tags=["decisions"],
             summary="The register of sharing on a date")
    def flows(on: Annotated[QDay, Query(description="YYYY-MM-DD; absent: today")] = None,
              data: Annotated[Optional[QName], Query()] = None, purpose: Annotated[Optional[QName], Query()] = None):
        """Every lawful direct flow on the date with its basis (`lawful flows`)."""
        from engine.eval.reach import lawful_flows

        policy = holder.current.policy
        day = on or dt.date.today()
        try:
            rows = lawful_flows(policy, data, purpose, on=day)
        except UnknownNameError as exc:
            return errors(422, [unknown(exc, None)])
        return answer({"on": day.isoformat(), "flows": [r.to_dict() for r in rows]})

    @app.get("/v1/graph", tags=["decisions"], summary="The sharing network as a picture",
             responses={**responses, 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}},
                                                       "text/vnd.graphviz": {"schema": {"type": "string"}}},
                                           "description": "The picture (SVG) or its DOT source"},
                        503: {"model": None, "description": "No renderer for SVG on the server"}},
             response_class=Response)
    def graph_view(on: Annotated[QDay, Query(description="YYYY-MM-DD; absent: today")] = None,
                   data: Annotated[Optional[QName], Query()] = None,
                   purpose: Annotated[Optional[QName], Query()] = None,
                   format: Annotated[GraphFormat, Query()] = GraphFormat.svg):  # noqa: A002 — the query's name
        """`lawful graph`: organisations, lawful flows (green), blocked flows (dashed red), one-way bodies
        (red), bodies that do not exist on the date (grey)."""
        from engine.render import graph

        cur = holder.current
        day = on or dt.date.today()

        def make() -> bytes:
            pic = graph.build(cur.policy, data, purpose, on=day)
            dot = graph.to_dot(cur.policy, pic)
            return graph.render(dot, "svg") if format is GraphFormat.svg else dot.encode("utf-8")

        try:
            body = cache.get(("graph", cur.digest, day, data, purpose, format.value), make)
        except UnknownNameError as exc:
            return errors(422, [unknown(exc, None)])
        except RequestError as exc:
            return refused(exc)
        if len(body) > max_response_bytes:
            return too_large(max_response_bytes)
        media = "image/svg+xml" if format is GraphFormat.svg else "text/vnd.graphviz; charset=utf-8"
        return Response(body, media_type=media)
