"""The HTTP decision service: an ASGI app (FastAPI) over a compiled Policy that reloads safely.

    POST /v1/decide   one question, or {"questions": [...]}   -> {"decisions": [Decision.to_dict(), …]}
    POST /v1/routes   one question                            -> {"question": …, "routes": [Route.to_dict(), …]}
    GET  /v1/health                                           -> {"status": "ok", "bundle": digest, …}
    GET  /v1/bundle                                           -> digest, path, load time, counts, last reload

Bodies and answers are the JSON of the CLI (`can-share --format json`) and the library (`Decision.to_dict()`).
Errors are `{"errors": [{"code", "message", "help", …}]}`: 422 for a bad question (an unknown name comes with
`suggestions`), 413 for a body over the size limit or a batch over the cap.

The bundle is held by a `BundleHolder`. On SIGHUP, or when a file in the bundle changes (polled by mtime and
size), a new Policy is compiled beside the old one and swapped in — one reference assignment, atomic for
the requests in flight, which keep the Policy they started with — only if it compiles without errors. A
broken bundle never replaces a good one: its diagnostics are logged and shown in `GET /v1/bundle`. Each load
has a deadline (a FIFO or a stalled file system must not block the reloader for ever); past it the reload is
reported as failed and the last good bundle keeps answering.

Hostile clients (docs/operations.md): a connection must send a whole request head within `header_timeout`
and its body within `body_timeout`; at most `max_pending` connections may be part-way through sending a request
(or idle between requests) — beyond that the one that has been at it longest is closed — and at most
`max_connections` may be open. A request may cause at most `max_decisions` decisions (refused with 413 before
any is made) and an answer of at most `max_response_bytes` (the request stops, with 413, as soon as it would
go over).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional, Union

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from engine.base.version import __version__
from engine.policy.load import load
from engine.bundle.files import list_bundle_files
from engine.bundle.read import resolve_bundle
from engine.policy.facade import Policy
from engine.render.diagnostics import render
from engine.errors import DiagnosticsError, RequestError, ServiceError, UnknownNameError
from engine.ops.transfers import bundle_digest

log = logging.getLogger("lawful.serve")

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH = 1000  # the schema's limit; a server may be started with a lower cap
NAME_MAX = 200
MAX_DECISIONS = 1000  # per request: a full batch of questions that each name a purpose
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # per answer: ~6x a full batch of typical decisions
RELOAD_TIMEOUT = 60.0  # seconds one load of the bundle may take (the 20,000-agreement bundle loads in a few)
MAX_STUCK_LOADS = 4  # loads past their deadline still blocked (threads cannot be killed); no more are started
HEADER_TIMEOUT = 10.0  # seconds to send a whole request head (from connecting, or from the previous answer)
BODY_TIMEOUT = 20.0  # seconds to send a whole body, from the end of its head (1 MiB at ~50 KiB/s)
MAX_HEADER_BYTES = 64 * 1024
MAX_PENDING = 512  # connections part-way through sending a request, or idle between requests
MAX_CONNECTIONS = 1024



# ---- the bundle, held and reloaded -------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """One compiled bundle and what the service says about it."""

    policy: Policy
    digest: str
    path: str
    loaded_at: dt.datetime
    load_seconds: float

    def counts(self) -> dict:
        p = self.policy
        return {"organisations": len(p.orgs), "data": len(p.data), "purposes": len(p.purposes),
                "statutes": len(p.statutes), "gateways": len(p.gateways), "restrictions": len(p.restrictions),
                "agreements": len(p.agreements), "tests": len(p.tests), "warnings": len(p.warnings)}


def fingerprint(root: Path) -> tuple:
    """What the watcher compares: path, mtime and size of every bundle file, as the loader lists them
    (engine.bundle.files), and what the listing could not read. Cheap (no reading); an unreadable folder or
    file changes the fingerprint too, so the reload that follows reports it (and keeps the last good bundle)."""
    listing = list_bundle_files(root)
    out: list[tuple] = [tuple(d.headline() for d in listing.diagnostics)]
    for f in listing.files:
        try:
            st = f.path.stat()
            out.append((f.name, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f.name, None, None))
    return tuple(out)


_STUCK_HELP = ("a file in the bundle may be a FIFO or a device, or on a stalled file system "
               "(see docs/operations.md, \"a bundle load that never ends\")")


class BundleHolder:
    """The current bundle, and a safe way to replace it."""

    def __init__(self, path: Optional[str | os.PathLike] = None, reload_timeout: float = RELOAD_TIMEOUT):
        if not reload_timeout > 0:
            raise ValueError("reload_timeout must be positive")
        self.root = resolve_bundle(path)
        self.reload_timeout = reload_timeout
        self._reload_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._stuck: list[threading.Thread] = []
        self.last_reload: Optional[dict] = None
        self._fingerprint = fingerprint(self.root)
        self.current: Loaded = self._compile_within()  # at start, a broken or stuck bundle is an error (raises)

    def _compile(self) -> Loaded:
        started = time.monotonic()
        policy = load(self.root)
        return Loaded(policy, bundle_digest(policy), str(self.root), dt.datetime.now(dt.timezone.utc),
                      time.monotonic() - started)

    def _compile_within(self) -> Loaded:
        """`_compile` in a daemon thread, waited for at most `reload_timeout` seconds. A blocking read (a FIFO
        with no writer, a hung network file system) cannot be interrupted, so a load past its deadline is left
        running and its result, if it ever comes, is thrown away (it describes the files as they were)."""
        self._stuck = [t for t in self._stuck if t.is_alive()]
        if len(self._stuck) >= MAX_STUCK_LOADS:
            raise ServiceError("reload-timeout", f"{len(self._stuck)} earlier loads of {self.root} are still blocked; "
                               "not starting another", _STUCK_HELP)
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["loaded"] = self._compile()
            except BaseException as exc:  # noqa: BLE001 — handed to the waiting thread, which re-raises it
                box["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=work, name="lawful-bundle-load", daemon=True)
        worker.start()
        if not done.wait(self.reload_timeout):
            self._stuck.append(worker)
            raise ServiceError("reload-timeout", f"loading the bundle at {self.root} did not finish within "
                               f"{self.reload_timeout:g} s", _STUCK_HELP)
        if "error" in box:
            raise box["error"]
        return box["loaded"]

    def reload(self, reason: str = "requested") -> bool:
        """Compile the bundle again; swap it in only if it compiles clean. True when swapped."""
        with self._reload_lock:
            self._fingerprint = fingerprint(self.root)
            at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            try:
                new = self._compile_within()
            except ServiceError as exc:
                log.error("reload (%s) failed: %s; still serving %s", reason, exc.message, self.current.digest[:12])
                self.last_reload = {"at": at, "reason": reason, "ok": False, "diagnostics": [
                    {"code": exc.code, "severity": "error", "message": exc.message, "span": None, "help": exc.help,
                     "related": []}]}
                return False
            except DiagnosticsError as exc:
                log.error("reload (%s) refused: the bundle at %s has errors; still serving %s\n%s", reason,
                          self.root, self.current.digest[:12], render(exc.diagnostics, exc.sources))
                self.last_reload = {"at": at, "reason": reason, "ok": False,
                                    "diagnostics": [d.to_dict() for d in exc.diagnostics]}
                return False
            except Exception as exc:  # noqa: BLE001 — keep serving the good bundle whatever went wrong
                log.exception("reload (%s) failed unexpectedly; still serving %s", reason, self.current.digest[:12])
                self.last_reload = {"at": at, "reason": reason, "ok": False, "diagnostics": [
                    {"code": "internal-error", "severity": "error", "message": f"{type(exc).__name__}: {exc}",
                     "span": None, "help": None, "related": []}]}
                return False
            changed = new.digest != self.current.digest
            if changed:
                self.current = new  # one reference assignment: requests see the old or the new, never a mix
            log.info("reload (%s): %s %s", reason, "now serving" if changed else "unchanged,", new.digest[:12])
            self.last_reload = {"at": at, "reason": reason, "ok": True, "diagnostics": []}
            return changed

    def request_reload(self) -> None:
        """Ask the watcher to reload soon (safe from a signal handler: it only sets an event)."""
        self._wake.set()

    def watch(self, interval: float = 1.0) -> None:
        """Start a daemon thread that reloads on request and, when interval > 0, when a file changes."""
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.is_set():
                asked = self._wake.wait(interval if interval > 0 else None)
                if self._stop.is_set():
                    return
                self._wake.clear()
                if asked:
                    self.reload("signal")
                elif interval > 0 and fingerprint(self.root) != self._fingerprint:
                    self.reload("file change")

        self._thread = threading.Thread(target=run, name="lawful-bundle-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def install_sighup(self) -> bool:
        """Reload on SIGHUP (only possible from the main thread, and where the platform has SIGHUP)."""
        if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
            return False
        signal.signal(signal.SIGHUP, lambda _sig, _frame: self.request_reload())
        return True


# ---- request and response bodies (the OpenAPI document is generated from these) ---------------------

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]


def _iso_day(value: Any) -> Any:
    """Dates travel as `YYYY-MM-DD` strings only (no timestamps, no other spellings)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError("write dates as YYYY-MM-DD, for example 2005-06-23")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"`{value}` is not a real date") from None


Day = Annotated[dt.date, BeforeValidator(_iso_day)]


class Question(BaseModel):
    """A question, as `can-share` takes it. Without `purpose`: one decision per declared purpose."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"source": "JCP", "recipient": "ALI", "data": "provider-data", "purpose": "inspection", "on": "2005-06-23"}]})
    source: Name = Field(description="The organisation that would disclose (id or alias, any case).")
    recipient: Name = Field(description="The organisation that would receive.")
    data: Name = Field(description="The data category.")
    purpose: Optional[Name] = Field(None, description="The purpose; absent: one decision per declared purpose.")
    on: Optional[Day] = Field(None, description="Date of the disclosure, YYYY-MM-DD; absent: today.")
    assume: list[Name] = Field(default_factory=list, max_length=20,
                               description="Proposed statutes to treat as in force.")
    fixes: bool = Field(True, description="On a DENY, find the nearest verified changes that would make it lawful.")
    routes: bool = Field(True, description="On a DENY, find lawful indirect routes.")
    given: list[Name] = Field(default_factory=list, max_length=50,
                              description="Declared conditions (facts only a person can establish) to treat as "
                                          "established.")
    express_only: bool = Field(False, description="Treat gateways resting on an implied power as absent.")
    received_under: Optional[Name] = Field(None, description="The gateway the source received the data under.")
    own_data: bool = Field(False, description="The data is the source's own, received under no gateway.")
    held_for: Optional[Name] = Field(None, description="The function of the source it holds the data for.")


class Batch(BaseModel):
    """Several questions, answered in order (each contributes one decision, or one per purpose)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    questions: list[Question] = Field(min_length=1, max_length=MAX_BATCH)


def _body_kind(value: Any) -> str:
    """A body with `questions` is a batch; anything else is read as one question."""
    if isinstance(value, Batch) or (isinstance(value, dict) and "questions" in value):
        return "batch"
    return "question"


DecideBody = Annotated[Union[Annotated[Question, Tag("question")], Annotated[Batch, Tag("batch")]],
                       Discriminator(_body_kind)]


class RoutesQuestion(BaseModel):
    """A question for lawful indirect routes from source to recipient."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"source": "DfES", "recipient": "ALI", "data": "learner-record", "purpose": "inspection",
         "on": "2005-06-23"}]})
    source: Name
    recipient: Name
    data: Name
    purpose: Name
    on: Optional[Day] = None
    assume: list[Name] = Field(default_factory=list, max_length=20)
    max_hops: int = Field(4, ge=1, le=8)
    given: list[Name] = Field(default_factory=list, max_length=50)
    express_only: bool = False
    received_under: Optional[Name] = None
    own_data: bool = False
    held_for: Optional[Name] = None


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SpanOut(_Open):
    file: str
    line: int
    column: int
    end_line: int
    end_column: int


class StatuteOut(_Open):
    id: str
    title: Optional[str]
    citation: Optional[str]
    provision: Optional[str]
    url: Optional[str]


class RuleOut(_Open):
    kind: str
    id: str
    title: str
    statute: Optional[StatuteOut]
    span: Optional[SpanOut]


class BlockOut(_Open):
    restriction: RuleOut
    one_way: bool
    overridden_by: Optional[str]


class ConsideredOut(_Open):
    kind: str
    id: str
    code: str
    reason: str
    span: Optional[SpanOut]


class ConditionOut(_Open):
    text: str
    agreement: str
    span: Optional[SpanOut]


class ConditionUseOut(_Open):
    id: str
    title: str
    kind: str
    rule: str
    span: Optional[SpanOut]


class FixOut(_Open):
    kind: str
    description: str
    verified: bool


class BasisOut(_Open):
    gateway: RuleOut
    agreement: Optional[RuleOut]
    lawful_basis: Optional[str]
    article_9: Optional[str]
    article_10: Optional[str]
    onward: str


class HopOut(_Open):
    source: str
    recipient: str
    gateway: str
    agreement: Optional[str]
    onward: str


class RouteOut(_Open):
    path: list[str]
    hops: list[HopOut]


class QuestionOut(_Open):
    source: str
    recipient: str
    data: str
    purpose: str
    on: str
    assume: list[str]
    given: list[str] = Field(default_factory=list)
    express_only: bool = False
    received_under: Optional[str] = None
    own_data: bool = False
    held_for: Optional[str] = None


class DecisionOut(_Open):
    """`Decision.to_dict()`: the stable JSON shape of a decision."""

    schema_version: int
    verdict: str = Field(pattern="^(allow|deny)$")
    headline: str
    question: QuestionOut
    sensitivity: list[str]
    basis: Optional[BasisOut]
    blocks: list[BlockOut]
    considered: list[ConsideredOut]
    conditions: list[ConditionOut]
    fixes: list[FixOut]
    routes: list[RouteOut]
    conditions_relied_on: list[ConditionUseOut] = Field(
        default_factory=list, description="On an allow: every given condition it rests on.")
    conditions_missing: list[ConditionUseOut] = Field(
        default_factory=list, description="On a deny: conditions the candidates needed that were not given.")
    power: Optional[str] = Field(None, description="On an allow: `express`, or `implied` when it rests only on "
                                                   "implied powers (take legal advice). Null on a deny, and on an "
                                                   "allow within one legal person.")
    provenance: Optional[dict[str, Any]] = Field(None, description="The provenance the decision assumed: "
                                                 "`stated` by the question or not, and in words.")
    regime: Optional[dict[str, Any]] = Field(None, description="The data-protection regime of the date and the "
                                             "basis relied on shown in it.")


class RecordOut(_Open):
    seq: int = Field(description="The record's place in the decision log")
    hash: str = Field(description="sha256 of the record's line: what the next record chains to, and what "
                                  "`lawful log verify --anchor` takes")


class Decisions(BaseModel):
    decisions: list[DecisionOut]
    records: Optional[list[RecordOut]] = Field(None, description="When the service keeps a decision log "
                                               "(`lawful serve --audit-log FILE`): the record of each decision, "
                                               "in order")


class Routes(BaseModel):
    question: QuestionOut
    routes: list[RouteOut]


class ErrorItem(_Open):
    code: str
    message: str
    help: Optional[str] = None
    index: Optional[int] = Field(None, description="Which question of a batch.")
    kind: Optional[str] = Field(None, description="unknown-name: organisation, data category, purpose or statute.")
    name: Optional[str] = None
    suggestions: list[str] = Field(default_factory=list, description="unknown-name: close declared names.")


class Errors(BaseModel):
    errors: list[ErrorItem]


class Health(BaseModel):
    status: str = Field(description="`ok`, or `degraded` when the last reload failed (the bundle served is then "
                                    "the last good one, not the one on disk).")
    version: str
    bundle: str = Field(description="sha256 of the bundle being served.")
    last_reload: Optional[dict[str, Any]] = Field(None, description="When the last reload failed: when, why, and "
                                                                    "the code of its first diagnostic.")


class BundleInfo(BaseModel):
    digest: str
    path: str
    loaded_at: str
    load_seconds: float
    counts: dict[str, int]
    last_reload: Optional[dict[str, Any]]
    limits: dict[str, Union[int, float]]
    connections: Optional[dict[str, Any]] = Field(None, description="Under `lawful serve`: connections open and "
                                                  "pending now, those cut since the start by reason, and the limits.")


# ---- the app -----------------------------------------------------------------------------------------


def _errors(status: int, items: list[dict]) -> JSONResponse:
    return JSONResponse({"errors": items}, status_code=status)


def _json(content: Any) -> bytes:
    """JSON as JSONResponse writes it (so an answer built from parts is the same bytes)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


def _too_large(cap: int) -> JSONResponse:
    return _errors(413, [{"code": "response-too-large", "message": f"the answer would be over {cap:,} bytes",
                          "help": "ask fewer questions per request, or turn off `fixes` and `routes`"}])


def _unknown(exc: UnknownNameError, index: Optional[int]) -> dict:
    d = exc.to_diagnostic()
    return {"code": "unknown-name", "message": d.message, "help": d.help, "index": index, "kind": exc.kind,
            "name": exc.name, "suggestions": list(exc.suggestions)}


class BodyLimit:
    """ASGI middleware: read the whole request body before the app sees it — at most `limit` bytes (413,
    whether it declares its length or streams it) within `timeout` seconds of the request head (408, and the
    connection is closed: a client that trickles its body must not hold a request open)."""

    def __init__(self, app, limit: int, timeout: float = BODY_TIMEOUT):
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
                if declared > self.limit or declared < 0:
                    return await self._too_big(scope, receive, send)
                break
        body = bytearray()
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            try:
                message = await _before(deadline, receive())
            except asyncio.TimeoutError:
                slow = _errors(408, [{"code": "body-timeout", "message": f"the request body did not arrive within "
                                      f"{self.timeout:g} s", "help": "send the whole body at once"}])
                slow.headers["connection"] = "close"
                return await slow(scope, receive, send)
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                return await self._too_big(scope, receive, send)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_big(self, scope, receive, send) -> None:
        await _errors(413, [{"code": "body-too-large", "message": f"the request body is over {self.limit:,} bytes",
                             "help": "send fewer questions per request"}])(scope, receive, send)


async def _before(deadline: float, awaitable):
    """Await `awaitable`, raising asyncio.TimeoutError at the loop time `deadline`."""
    remaining = deadline - asyncio.get_running_loop().time()
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(max(remaining, 0)):  # no extra task, unlike wait_for
            return await awaitable
    return await asyncio.wait_for(awaitable, max(remaining, 0))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Errors, "description": "The body could not be read (not JSON text)."},
    408: {"model": Errors, "description": "The body did not arrive in time (the connection is then closed)."},
    413: {"model": Errors, "description": "The body is over the size limit, the batch over the cap, the decisions "
                                          "it asks for over the budget, or the answer over the size cap."},
    422: {"model": Errors, "description": "The question is malformed or names something the bundle does not "
                                          "declare (with suggestions)."},
    401: {"model": Errors, "description": "The service needs an access token (`--token-file`) or a sign-on "
                                          "proxy's header (`--trust-proxy-auth`), and the request has neither."},
}


def create_app(holder: BundleHolder, max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH,
               max_decisions: int = MAX_DECISIONS, max_response_bytes: int = MAX_RESPONSE_BYTES,
               body_timeout: float = BODY_TIMEOUT, guard: Optional["ConnectionGuard"] = None,
               audit_log: Optional[Any] = None, auth: Optional[Any] = None) -> FastAPI:
    """The ASGI app answering from `holder.current` (read once per request); `guard`: the server's connection
    guard, reported in `GET /v1/bundle`; `audit_log`: an engine.ops.decision_log.AuditLog every decision is
    recorded in before it is given; `auth`: an engine.ops.auth.Auth every request (but the page's own files
    and the health probe) must satisfy."""
    from engine.ops import explore
    from engine.ops.auth import Guard
    from engine.ops.web import add_page

    max_batch = max(1, min(max_batch, MAX_BATCH))
    max_decisions = max(1, max_decisions)
    app = FastAPI(title="lawful decision service", version=__version__, docs_url=None, redoc_url=None,
                  description="May this data lawfully move from one organisation to another, and why? The same "
                              "decisions as `lawful can-share` and `engine.Policy.decide`, over HTTP.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad-request", 404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return JSONResponse({"errors": [{"code": code, "message": str(exc.detail).lower(), "help": None}]},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        bad_json = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if bad_json:  # unreadable, not malformed: 400, as documented (FastAPI reports it as a validation error)
            why = (bad_json[0].get("ctx") or {}).get("error") or bad_json[0].get("msg", "invalid")
            return _errors(400, [{"code": "bad-request", "message": f"the body is not JSON text ({why})",
                                  "help": "send a JSON object with content-type application/json", "index": None,
                                  "suggestions": []}])
        items: list[dict[str, Any]] = []
        for e in exc.errors()[:20]:
            loc = [str(x) for x in e.get("loc", ()) if x != "body"]
            items.append({"code": "bad-request", "message": f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}",
                          "help": None, "index": None, "suggestions": []})
        return _errors(422, items or [{"code": "bad-request", "message": "the request is malformed"}])

    def decide_one(policy: Policy, q: Question) -> list[Any]:
        kw: dict[str, Any] = dict(on=q.on, assume=q.assume, fixes=q.fixes, routes=q.routes, given=q.given,
                                  express_only=q.express_only, received_under=q.received_under, own_data=q.own_data,
                                  held_for=q.held_for)
        if q.purpose is None:
            return policy.decide_all_purposes(q.source, q.recipient, q.data, **kw)
        return [policy.decide(q.source, q.recipient, q.data, q.purpose, **kw)]

    @app.post("/v1/decide", response_model=Decisions, responses=ERROR_RESPONSES, tags=["decisions"],
              summary="Decide one question or a batch")
    def decide(body: Annotated[DecideBody, Body()]):
        """Answer each question with its Decision (the JSON of `can-share --format json`)."""
        questions = body.questions if isinstance(body, Batch) else [body]
        if len(questions) > max_batch:
            return _errors(413, [{"code": "batch-too-large", "message": f"{len(questions)} questions; "
                                  f"this server answers at most {max_batch} per request", "help": "split the batch"}])
        cur = holder.current
        policy = cur.policy  # one Policy for the whole request, even across a reload
        # The budget is counted from the question alone, before any decision is made: a question without a
        # purpose is one decision per declared purpose.
        planned = sum(1 if q.purpose is not None else len(policy.purposes) for q in questions)
        if planned > max_decisions:
            return _errors(413, [{"code": "decision-budget", "message": f"the request asks for {planned:,} decisions; "
                                  f"this server makes at most {max_decisions:,} per request",
                                  "help": f"name a purpose (a question without one is {len(policy.purposes)} "
                                          "decisions, one per declared purpose) or split the batch"}])
        parts: list[bytes] = []
        made: list = []
        size = len(b'{"decisions":[]}')
        problems: list[dict] = []
        for i, q in enumerate(questions):
            try:
                decided = decide_one(policy, q)
            except UnknownNameError as exc:
                problems.append(_unknown(exc, i if isinstance(body, Batch) else None))
                continue
            except RequestError as exc:  # a question refused as asked (both received-under and own-data)
                problems.append({"code": exc.code, "message": exc.message, "help": exc.help,
                                 "index": i if isinstance(body, Batch) else None, "suggestions": []})
                continue
            if problems:
                continue  # the answer will be a 422: no need to keep what would have been said
            for d in decided:
                made.append(d)
                parts.append(_json(d.to_dict()))
                size += len(parts[-1]) + 1
                if size > max_response_bytes:  # stop here: the rest of the work is not done
                    return _too_large(max_response_bytes)
        if problems:
            return _errors(422, problems)
        if audit_log is None:
            return Response(b'{"decisions":[' + b",".join(parts) + b"]}", media_type="application/json")
        from engine.errors import AuditLogError
        from engine.ops.decision_log import canonical, line_hash

        try:  # recorded before it is given: a decision that cannot be recorded is not given
            records = audit_log.record_all(made, "sha256:" + cur.digest)
        except AuditLogError as exc:
            log.error("decision log: %s", exc)
            return _errors(503, [{"code": "audit-log", "message": "the decision could not be recorded, so it is "
                                  "not given", "help": "the operator must look at the decision log"}])
        kept = _json([{"seq": r["seq"], "hash": line_hash(canonical(r))} for r in records])
        return Response(b'{"decisions":[' + b",".join(parts) + b'],"records":' + kept + b"}",
                        media_type="application/json")

    @app.post("/v1/routes", response_model=Routes, responses=ERROR_RESPONSES, tags=["decisions"],
              summary="Lawful indirect routes")
    def routes(body: RoutesQuestion):
        """Routes A → X → … → B along which the data may lawfully travel, shortest first."""
        policy = holder.current.policy
        try:
            found = policy.routes(body.source, body.recipient, body.data, body.purpose, on=body.on,
                                  assume=body.assume, max_hops=body.max_hops, given=body.given,
                                  express_only=body.express_only, received_under=body.received_under,
                                  own_data=body.own_data, held_for=body.held_for)
        except UnknownNameError as exc:
            return _errors(422, [_unknown(exc, None)])
        except RequestError as exc:
            return _errors(422, [{"code": exc.code, "message": exc.message, "help": exc.help, "suggestions": []}])
        question = {"source": policy.org_name(policy.org_key(body.source)),
                    "recipient": policy.org_name(policy.org_key(body.recipient)),
                    "data": policy.data_name(policy.data_key(body.data)),
                    "purpose": policy.purpose_name(policy.purpose_key(body.purpose)),
                    "on": (body.on or dt.date.today()).isoformat(),
                    "assume": sorted(policy.assumed_name(policy.statute_key(s)) for s in body.assume),
                    "given": sorted(policy.condition_name(policy.condition_key(c)) for c in body.given),
                    "express_only": body.express_only,
                    "received_under": (policy.gateways[policy.gateway_key(body.received_under)].id
                                       if body.received_under else None),
                    "own_data": body.own_data, "held_for": body.held_for}
        answer = _json({"question": question, "routes": [r.to_dict() for r in found]})
        if len(answer) > max_response_bytes:
            return _too_large(max_response_bytes)
        return Response(answer, media_type="application/json")

    @app.get("/v1/health", response_model=Health, tags=["service"], summary="Liveness")
    def health():
        last = holder.last_reload
        if last is None or last["ok"]:
            return {"status": "ok", "version": __version__, "bundle": holder.current.digest}
        first = (last.get("diagnostics") or [{}])[0]
        return {"status": "degraded", "version": __version__, "bundle": holder.current.digest,
                "last_reload": {"at": last["at"], "reason": last["reason"], "ok": False, "code": first.get("code")}}

    @app.get("/v1/bundle", response_model=BundleInfo, tags=["service"], summary="The bundle being served")
    def bundle():
        cur = holder.current
        return {"digest": cur.digest, "path": cur.path, "loaded_at": cur.loaded_at.isoformat(timespec="seconds"),
                "load_seconds": round(cur.load_seconds, 4), "counts": cur.counts(), "last_reload": holder.last_reload,
                "limits": {"max_body_bytes": max_body_bytes, "max_batch": max_batch, "max_decisions": max_decisions,
                           "max_response_bytes": max_response_bytes, "body_timeout": body_timeout,
                           "reload_timeout": holder.reload_timeout},
                "connections": guard.report() if guard is not None else None}

    explore.add_routes(app, holder, _errors, _unknown, _json, _too_large, max_decisions, max_response_bytes,
                       ERROR_RESPONSES)
    add_page(app)
    app.add_middleware(BodyLimit, limit=max_body_bytes, timeout=body_timeout)
    app.add_middleware(Guard, auth=auth)  # outermost: headers on every answer, and who may ask at all
    return app



def openapi_document(app: Optional[FastAPI] = None) -> str:
    """The OpenAPI document as committed in docs/openapi.json (stable key order, trailing newline)."""
    if app is None:
        app = create_app(_SchemaOnly())  # type: ignore[arg-type]  # the document does not depend on the bundle
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _SchemaOnly:
    """Stands in for a BundleHolder when only the OpenAPI document is wanted."""

    current = None
    last_reload = None
    reload_timeout = RELOAD_TIMEOUT


# ---- hostile clients: deadlines and caps per connection ---------------------------------------------------


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, how large its head may be, and how many connections may
    be open, or pending (part-way through sending a request, or idle between requests), at once."""

    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_header_bytes: int = MAX_HEADER_BYTES
    max_pending: int = MAX_PENDING
    max_connections: int = MAX_CONNECTIONS

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "max_header_bytes", "max_pending", "max_connections"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


BODY_GRACE = 1.0  # the app answers a slow body with 408 at body_timeout; the connection is cut this much later


class ConnectionGuard:
    """The connections of one server and the pending ones, longest-pending first. Only the event loop's thread
    touches it (protocol callbacks), so it needs no lock."""

    def __init__(self, limits: ConnectionLimits):
        self.limits = limits
        self.open: set[Any] = set()
        self.pending: OrderedDict[Any, None] = OrderedDict()
        self.cut: Counter[str] = Counter()  # connections cut since the start, by reason
        self._unlogged: Counter[str] = Counter()
        self._logged_at = -1e9

    def opened(self, conn: Any) -> None:
        """A new connection: over max_connections, the longest-pending one is cut (or, if every other
        connection is busy being answered, this one)."""
        self.open.add(conn)
        if len(self.open) > self.limits.max_connections:
            oldest = next((c for c in self.pending if c is not conn), None)
            if oldest is not None:
                oldest.cut("evicted")
            else:
                conn.cut("refused")

    def entered(self, conn: Any) -> None:
        """`conn` began a pending phase. Over max_pending, the longest-pending connections are cut: a slow
        client is always older than a prompt one, so prompt clients keep getting through."""
        self.pending[conn] = None
        self.pending.move_to_end(conn)
        while len(self.pending) > self.limits.max_pending:
            next(iter(self.pending)).cut("evicted")

    def left(self, conn: Any) -> None:
        self.pending.pop(conn, None)

    def forget(self, conn: Any) -> None:
        self.open.discard(conn)
        self.pending.pop(conn, None)

    def report(self) -> dict[str, Any]:
        """For GET /v1/bundle (read from a worker thread: copies only, no iteration over live containers)."""
        return {"open": len(self.open), "pending": len(self.pending), "cut": dict(self.cut.copy()),
                "limits": {"header_timeout": self.limits.header_timeout, "body_timeout": self.limits.body_timeout,
                           "max_header_bytes": self.limits.max_header_bytes, "max_pending": self.limits.max_pending,
                           "max_connections": self.limits.max_connections}}

    def note(self, reason: str) -> None:
        """Count a cut connection; log a summary at most every 10 s (one line per cut would be a flood)."""
        self.cut[reason] += 1
        self._unlogged[reason] += 1
        now = time.monotonic()
        if now - self._logged_at >= 10:
            log.warning("closed connections: %s (see docs/operations.md)",
                        ", ".join(f"{n} {r}" for r, n in sorted(self._unlogged.items())))
            self._unlogged.clear()
            self._logged_at = now


_GUARDED_BASE: Optional[type] = None


def guarded_protocol(guard: ConnectionGuard) -> type:
    """A uvicorn HTTP protocol class (httptools) whose connections `guard` holds to its limits; give it to
    `uvicorn.Config(http=...)`. uvicorn itself has no deadline for a request head or body."""
    return type("GuardedHttpToolsProtocol", (_guarded_base(),), {"guard": guard})


def _guarded_base() -> type:
    global _GUARDED_BASE
    if _GUARDED_BASE is not None:
        return _GUARDED_BASE
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, told by the parser's own callbacks which phase a connection is in:
        `head` (from connecting, or from the previous answer, to the end of a request head), `body` (to the end
        of the body) or `busy` (the app is answering). `head` and `body` are pending: each has a deadline, and
        they count against max_pending. A head still incomplete past max_header_bytes is cut too."""

        guard: ConnectionGuard

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._phase: Optional[str] = None
            self._timer: Optional[asyncio.TimerHandle] = None
            self._head_bytes = 0
            self._in_message = False
            self._head_done = False
            self._started = 0
            self._answered = 0
            self._gone = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.guard.opened(self)
            self._update()

        def connection_lost(self, exc: Optional[Exception]) -> None:
            self._forget()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._gone:
                return
            if self._phase == "head":
                self._head_bytes += len(data)
            super().data_received(data)
            # Still in the head after this chunk (a chunk that ends the head may carry body bytes: not counted).
            if self._phase == "head" and self._head_bytes > self.guard.limits.max_header_bytes:
                self.cut("head-too-large")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_message, self._head_done = True, False
            self._update()

        def on_headers_complete(self) -> None:
            cycle = self.cycle
            super().on_headers_complete()
            self._head_done = True
            if self.cycle is not cycle:  # a request was handed to the app (not an upgrade)
                self._started += 1
            self._update()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_message = False
            self._update()

        def on_response_complete(self) -> None:
            self._answered += 1
            super().on_response_complete()
            self._update()

        def _update(self) -> None:
            if self._gone:
                return
            if self._in_message:
                phase = "body" if self._head_done else "head"
            else:
                phase = "busy" if self._started > self._answered else "head"
            if phase == self._phase:
                return  # waiting for a head and then receiving it is one phase, with one deadline
            self._phase = phase
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if phase == "busy":
                self.guard.left(self)
                return
            limits = self.guard.limits
            self._head_bytes = 0
            seconds = limits.header_timeout if phase == "head" else limits.body_timeout + BODY_GRACE
            self._timer = self.loop.call_later(seconds, self._expired, phase)
            self.guard.entered(self)

        def _expired(self, phase: str) -> None:
            if self._phase == phase and not self._gone:
                self.cut(f"{phase}-timeout")

        def cut(self, reason: str) -> None:
            """Close at once (abort: a slow reader's unsent bytes must not keep it open)."""
            if self._gone:
                return
            self._forget()
            self.guard.note(reason)
            self.transport.abort()

        def _forget(self) -> None:
            self._gone = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.guard.forget(self)

    _GUARDED_BASE = GuardedProtocol
    return GuardedProtocol


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or a ServiceError that says in one line why not (uvicorn would
    log the OSError and exit 3)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServiceError("cannot-listen", f"cannot listen on {where}: the host name does not resolve "
                           f"({getattr(exc, 'strerror', None) or exc})") from exc
    try:
        return socket.create_server(address, family=family, backlog=2048)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServiceError("address-in-use", f"cannot listen on {where}: the address is already in use "
                               "(another process is listening there: stop it or choose another --port)") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ServiceError("cannot-listen", f"cannot listen on {where}: permission denied (ports below 1024 "
                               "need privileges: choose a higher --port)") from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ServiceError("cannot-listen", f"cannot listen on {where}: no such address on this machine") from exc
        raise ServiceError("cannot-listen", f"cannot listen on {where}: {exc.strerror or exc}") from exc


def _fit_open_files(limits: ConnectionLimits) -> ConnectionLimits:
    """Raise the soft limit on open files to fit max_connections (and some to spare for the bundle, logs and
    threads): at the limit, accept() fails and the server stops taking connections for a second at a time."""
    try:
        import resource
    except ImportError:  # pragma: no cover — not on Windows
        return limits
    needed = limits.max_connections + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return limits
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass
    if soft >= needed:
        return limits
    fitted = max(16, soft - 64)
    log.warning("the open-file limit is %d: serving at most %d connections, not %d", soft, fitted,
                limits.max_connections)
    return ConnectionLimits(limits.header_timeout, limits.body_timeout, limits.max_header_bytes,
                            min(limits.max_pending, fitted), fitted)


def server_config(app: Any, guard: ConnectionGuard, log_level: str = "info") -> Any:
    """The uvicorn.Config of `lawful serve`: the guarded httptools protocol, no websockets, and no
    `limit_concurrency` (it counted slow connections and answered everyone else 503)."""
    import uvicorn

    return uvicorn.Config(app, http=guarded_protocol(guard), ws="none", log_level=log_level, timeout_keep_alive=5,
                          limit_concurrency=None)


def serve(holder: BundleHolder, host: str = "127.0.0.1", port: int = 8181, watch_interval: float = 1.0,
          max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH, max_decisions: int = MAX_DECISIONS,
          max_response_bytes: int = MAX_RESPONSE_BYTES, limits: Optional[ConnectionLimits] = None,
          log_level: str = "info", audit_log: Optional[Any] = None, auth: Optional[Any] = None,
          on_ready: Optional[Any] = None) -> None:
    """Run the service with uvicorn until interrupted; reload on SIGHUP and on file changes. Raises
    ServiceError when it cannot listen, or when `host` is not a loopback address and `auth` is None (see
    engine/ops/auth.py). `on_ready(url)` is called from another thread once the server accepts requests."""
    from engine.ops.auth import check_exposure

    check_exposure(host, auth)
    try:
        import httptools  # noqa: F401 — the guarded protocol is httptools'
        import uvicorn
    except ImportError as exc:
        raise ServiceError("missing-extra", f"`lawful serve` needs the `serve` extra ({exc.name} is not installed)",
                           "pip install 'lawful[serve]'") from exc
    limits = limits or ConnectionLimits()
    sock = listen(host, port)
    try:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        limits = _fit_open_files(limits)
        guard = ConnectionGuard(limits)
        app = create_app(holder, max_body_bytes, max_batch, max_decisions, max_response_bytes, limits.body_timeout,
                         guard, audit_log=audit_log, auth=auth)
        server = uvicorn.Server(server_config(app, guard, log_level))
        holder.install_sighup()
        holder.watch(watch_interval)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{sock.getsockname()[1]}/"
        log.info("serving bundle %s (%s) on %s", holder.root, holder.current.digest[:12], url.rstrip("/"))
        if on_ready is not None:
            def announce() -> None:
                deadline = time.monotonic() + 30
                while not server.started and time.monotonic() < deadline and not server.should_exit:
                    time.sleep(0.05)
                if server.started:
                    on_ready(url)

            threading.Thread(target=announce, name="lawful-ready", daemon=True).start()
        server.run(sockets=[sock])
    finally:
        holder.stop()
        sock.close()
