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

Speed (issue 18, target 4; benchmarks/service.py): POST /v1/decide and GET /v1/health are answered by
`DecideRoute`, in front of FastAPI — orjson, hand-written checks (`fast_body`), no worker thread for a single
question, one deciding thread per process for many (`_decider`) — and anything it cannot read as plainly valid
goes on to the FastAPI route, whose pydantic models also make the OpenAPI document. `AnswerMemo` remembers
answers per bundle; a part shared by many decisions is written as JSON once (`decision_json`). `lawful serve
--workers N` forks N processes on one port (`_supervise`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Awaitable, Generator, Mapping, Optional, Union

import orjson
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from engine.base.version import __version__
from engine.decision.answer import Decision
from engine.ops.auth import SECURITY_HEADERS, needs_proof, send_unauthorised
from engine.policy.loader import BundleLoader
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


def settle_heap(full: bool = True) -> None:
    """Collect, then put every object alive now out of the cyclic collector's sight (gc.freeze). A full
    collection walked every object of the bundle — 50-100 ms for the default bundle on the benchmark machine,
    a pause for whatever requests were in flight — and wrote to every page of it, which the workers forked
    after the load would otherwise share. `full`: unfrozen first, so everything is looked at once more. After a
    reload only what was made since the last freeze is (`full=False`): a bundle holds no reference cycles, so
    the one a reload replaced is freed by reference counting, frozen or not (tests/test_incremental.py), and a
    full collection would cost more than the reload itself (~0.8 s on the large benchmark bundle, issue 18)."""
    import gc

    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


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
        self.freeze_after_swap = False  # `lawful serve`: settle_heap() after each swap
        self._fingerprint = fingerprint(self.root)
        self._loader = BundleLoader()  # a reload checks and compiles again only what changed (issue 18)
        self.current: Loaded = self._compile_within()  # at start, a broken or stuck bundle is an error (raises)

    def _compile(self) -> Loaded:
        started = time.monotonic()
        policy = self._loader.load(self.root)
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
                if self.freeze_after_swap:
                    settle_heap(full=False)
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


# ---- a question's fields, read: the one place a request body becomes the library's keywords ----------------
#
# A question's fields are declared twice on purpose: by the pydantic models above (the OpenAPI document, and
# the validation and error messages of any body that is not plainly valid) and by the fast checks below (the
# hot path: no model is built for a well-formed body). A new field goes in `Question`, in `question_keywords`
# and, to keep its questions on the fast path, in `_FAST_CHECKS`; a body with a field the fast checks do not
# know is simply validated by the model, so leaving it out there is slow, never wrong.


class _Today:
    """`dt.date.today()`, looked up again at local midnight and at least every minute (the clock or the time
    zone may move): a question without a date asks about today, and the look-up cost more than a memo hit."""

    def __init__(self) -> None:
        self._day = dt.date.min
        self._until = 0.0

    def __call__(self) -> dt.date:
        now = time.time()
        if now >= self._until:
            self._day = dt.date.today()
            try:
                midnight = dt.datetime.combine(self._day + dt.timedelta(days=1), dt.time()).timestamp()
            except (OverflowError, ValueError):  # (the last representable day)
                midnight = now
            self._until = min(midnight, now + 60)
        return self._day


_today = _Today()


def question_keywords(q: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """`Policy.decide`'s keywords for one validated question (`dict(Question)` or the fast checks' dict).
    Without a date, `today` (so the memo's key is the date decided on). Without a purpose, `purpose` is None:
    one decision per declared purpose."""
    get = q.get
    assume, given = get("assume"), get("given")
    return {"source": q["source"], "recipient": q["recipient"], "data": q["data"], "purpose": get("purpose"),
            "on": get("on") or today, "assume": tuple(assume) if assume else (), "fixes": get("fixes", True),
            "routes": get("routes", True), "given": tuple(given) if given else (),
            "express_only": get("express_only", False), "received_under": get("received_under"),
            "own_data": get("own_data", False), "held_for": get("held_for")}


def _name(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= NAME_MAX


def _optional_name(value: Any) -> bool:
    return value is None or _name(value)


def _names(value: Any) -> bool:
    return type(value) is list and len(value) <= 20 and all(_name(v) for v in value)


def _flag(value: Any) -> bool:
    return type(value) is bool


def _conditions(value: Any) -> bool:
    return type(value) is list and len(value) <= 50 and all(_name(v) for v in value)


_REQUIRED = ("source", "recipient", "data")
# Field -> a check that accepts only what `Question` accepts (strict: no coercion). `on` is read apart.
_FAST_CHECKS: dict[str, Any] = {"source": _name, "recipient": _name, "data": _name, "purpose": _optional_name,
                                "assume": _names, "fixes": _flag, "routes": _flag, "given": _conditions,
                                "express_only": _flag, "received_under": _optional_name, "own_data": _flag,
                                "held_for": _optional_name}


# the fields whose check accepts a string exactly when `_name` does
_NAME_FIELDS = frozenset(k for k, check in _FAST_CHECKS.items() if check is _name or check is _optional_name)


def fast_question(value: Any) -> Optional[dict[str, Any]]:
    """`value` (parsed JSON) as `dict(Question(**value))` would give it, when it is plainly a valid question;
    None when it is not, or might not be (the model then decides, with its own messages)."""
    if type(value) is not dict:
        return None
    out = dict(value)
    for key in _REQUIRED:
        if key not in out:
            return None
    for key, v in out.items():
        if type(v) is str and key in _NAME_FIELDS:  # (most fields: a name, checked as `_name` checks it)
            if not 0 < len(v) <= NAME_MAX:
                return None
            continue
        if key == "on":
            if v is not None:
                try:
                    out["on"] = _iso_day(v)
                except ValueError:
                    return None
            continue
        check = _FAST_CHECKS.get(key)
        if check is None or not check(v):
            return None
    return out


def fast_body(value: Any) -> Optional[tuple[bool, list[dict[str, Any]]]]:
    """(is a batch, its questions) for a plainly valid `DecideBody`; None otherwise (the model decides)."""
    if type(value) is dict and "questions" in value:
        questions = value["questions"]
        if len(value) != 1 or type(questions) is not list or not 0 < len(questions) <= MAX_BATCH:
            return None
        out = []
        for q in questions:
            checked = fast_question(q)
            if checked is None:
                return None
            out.append(checked)
        return True, out
    checked = fast_question(value)
    return None if checked is None else (False, [checked])


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


class SameBodyOut(_Open):
    part: str
    body: str
    chain: list[str]


class Routes(BaseModel):
    question: QuestionOut
    routes: list[RouteOut]
    same_body: Optional[SameBodyOut] = Field(None, description="When the two are one legal person (a body and its "
                                             "part): no route is needed, the flow is not a disclosure (issue 12).")


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


def _too_large_items(cap: int) -> list[dict]:
    return [{"code": "response-too-large", "message": f"the answer would be over {cap:,} bytes",
             "help": "ask fewer questions per request, or turn off `fixes` and `routes`"}]


def _too_large(cap: int) -> JSONResponse:
    return _errors(413, _too_large_items(cap))


def _unknown(exc: UnknownNameError, index: Optional[int]) -> dict:
    d = exc.to_diagnostic()
    return {"code": "unknown-name", "message": d.message, "help": d.help, "index": index, "kind": exc.kind,
            "name": exc.name, "suggestions": list(exc.suggestions)}


def _error_body(items: list[dict]) -> bytes:
    """What `_errors` sends, as bytes."""
    return _json({"errors": items})


def _too_large_body(cap: int) -> bytes:
    return _error_body(_too_large_items(cap))


def _decision_json(content: Mapping[str, Any]) -> bytes:
    """`_json` of a decision, by orjson: the same bytes for what a decision holds (strings, integers, booleans,
    null, lists and objects with string keys; `tests/test_service_fast.py` compares them), ~15x faster."""
    try:
        return orjson.dumps(content)
    except (TypeError, ValueError):  # not JSON as orjson knows it (e.g. a lone surrogate): as json writes it
        return _json(content)


# A part the engine gives to every decision resting on the same rules (a rule's reference, the basis, a reason
# considered, the regime: `Decision.to_dict(shared=True)`) is written as JSON once and its text kept on it (as
# bytes, which pickle); each answer then copies the text instead of writing the part's dicts again. The text is
# orjson's of the part's `to_dict()`, so the answer's bytes are those of `_decision_json` (`orjson.Fragment`
# inserts the kept text as it is).


def _part_json(part: Any) -> Any:
    made = part.__dict__.get("_json")  # (a frozen dataclass: its __dict__ is still writable)
    if made is None:
        made = part.__dict__["_json"] = orjson.dumps(part.to_dict())
    return orjson.Fragment(made)


def decision_json(decision: Decision) -> bytes:
    """`_decision_json(decision.to_dict(shared=True))`, the same bytes, with the parts shared between decisions
    written once (see `_part_json`)."""
    try:
        return orjson.dumps(decision.to_dict_with(_part_json, _part_json))
    except (TypeError, ValueError):  # a part orjson cannot write (e.g. a lone surrogate): as json writes it
        return _decision_json(decision.to_dict(shared=True))


BODY_COMPLETE = "lawful.body_complete"  # set in a request's scope by the guarded protocol once its body is in


async def read_body(scope: dict, receive: Any, send: Any, limit: int, timeout: float,
                    headers: tuple[tuple[bytes, bytes], ...] = ()) -> Optional[bytes]:
    """The whole request body — at most `limit` bytes (413, whether it declares its length or streams it)
    within `timeout` seconds of the request head (408, and the connection is closed: a client that trickles
    its body must not hold a request open). None when it answered instead (with `headers` added), or the
    client went away."""
    for k, v in scope["headers"]:
        if k == b"content-length":
            try:
                declared = int(v)
            except ValueError:
                declared = -1
            if declared > limit or declared < 0:
                await _too_big(limit)(scope, receive, _adding(send, headers))
                return None
            break
    if scope.get(BODY_COMPLETE):  # all in already (the server says so): no deadline to watch
        message = await receive()
        if message["type"] != "http.request":
            return None
        body = message.get("body", b"")
        if len(body) > limit:
            await _too_big(limit)(scope, receive, _adding(send, headers))
            return None
        if not message.get("more_body", False):
            return body
        chunks = bytearray(body)
    else:
        chunks = bytearray()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            message = await _before(deadline, receive())
        except asyncio.TimeoutError:
            slow = _errors(408, [{"code": "body-timeout", "message": f"the request body did not arrive within "
                                  f"{timeout:g} s", "help": "send the whole body at once"}])
            slow.headers["connection"] = "close"
            await slow(scope, receive, _adding(send, headers))
            return None
        if message["type"] != "http.request":
            return None  # the client went away
        chunks += message.get("body", b"")
        if len(chunks) > limit:
            await _too_big(limit)(scope, receive, _adding(send, headers))
            return None
        if not message.get("more_body", False):
            return bytes(chunks)


def _adding(send: Any, headers: tuple[tuple[bytes, bytes], ...]) -> Any:
    """`send`, adding `headers` to the response's (made only for an answer that needs it: not per request)."""
    if not headers:
        return send

    async def adding(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return adding


def _too_big(limit: int) -> JSONResponse:
    return _errors(413, [{"code": "body-too-large", "message": f"the request body is over {limit:,} bytes",
                          "help": "send fewer questions per request"}])


def _replaying(body: bytes, receive: Any) -> Any:
    """A `receive` that gives `body` (already read) first, then whatever the client sends next."""
    replayed = False

    async def replay() -> dict:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyLimit:
    """ASGI middleware: read the whole request body (`read_body`: size limit and deadline) before the app
    sees it."""

    def __init__(self, app, limit: int, timeout: float = BODY_TIMEOUT):
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = await read_body(scope, receive, send, self.limit, self.timeout)
        if body is not None:
            await self.app(scope, _replaying(body, receive), send)


MEMO_ENTRIES = 20_000
MEMO_BYTES = 32 * 1024 * 1024  # of answers' JSON
MEMO_BODY_BYTES = 4096  # request bodies longer than this (batches) are not remembered as such


class AnswerMemo:
    """What was decided already, for one bundle, so a question asked again costs a look-up (`Policy.allowed`
    keeps a memo of verdicts the same way): each question's decisions and their JSON, keyed by the library's
    keywords (the date included: a question without one is keyed by the day it was decided on); and each
    short single-question body's whole answer, keyed by its bytes and the day. Emptied when the bundle
    changes, cleared whole when full. Reads take no lock: a bundle and its entries are one reference, so an
    answer from another bundle is never found."""

    def __init__(self, keep_decisions: bool, max_entries: int = MEMO_ENTRIES, max_bytes: int = MEMO_BYTES):
        self.keep_decisions = keep_decisions  # the decision log records Decision objects; otherwise JSON only
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._state: tuple[Any, dict, dict] = (None, {}, {})
        self._size = 0
        self._lock = threading.Lock()

    def get(self, bundle: Any, key: tuple) -> Optional[tuple[tuple, tuple[bytes, ...]]]:
        owner, entries, _ = self._state
        if owner is not bundle:
            return None
        try:
            return entries.get(key)
        except TypeError:  # a keyword whose value cannot be a key (a list): not memoised
            return None

    def put(self, bundle: Any, key: tuple, decisions: tuple, parts: tuple[bytes, ...]) -> None:
        value = (decisions if self.keep_decisions else (None,) * len(parts), parts)
        try:
            hash(key)
        except TypeError:
            return
        self._add(bundle, 0, key, value, sum(len(p) for p in parts))

    def answered(self, bundle: Any, body: bytes, day: dt.date) -> Optional[tuple[bytes, PreparedHead]]:
        """(answer, its response head) for these very bytes, from this bundle, on this day; or None."""
        owner, _, bodies = self._state
        return bodies.get((body, day)) if owner is bundle else None

    def remember_answer(self, bundle: Any, body: bytes, day: dt.date, answer: bytes) -> None:
        if len(body) <= MEMO_BODY_BYTES:
            self._add(bundle, 1, (body, day), (answer, _json_head(answer)), len(body) + len(answer))

    def _add(self, bundle: Any, which: int, key: Any, value: Any, size: int) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            state = self._state
            if state[0] is not bundle or len(state[1]) + len(state[2]) >= self.max_entries or \
                    self._size + size > self.max_bytes:
                state, self._size = (bundle, {}, {}), 0
                self._state = state
            state[which + 1][key] = value
            self._size += size


_JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")
_SECURITY_HEADERS = tuple(SECURITY_HEADERS)


# Many decisions in one request (a batch, or a question for every purpose) are answered in one thread of the
# process, one request after another, while the loop thread goes on serving health and single questions. Under
# the GIL, threads deciding at once only take turns, and each turn costs the next one its caches: eight batches
# at once in a pool of threads took ~17% more CPU a decision than the same batches one after another (issue 18,
# target 4; benchmarks/SERVICE.md). More cores are used by more processes (`--workers`), not more threads.
_DECIDER: list[Any] = [None, 0]  # (the executor, the process it was made in: a forked worker makes its own)
_DECIDER_LOCK = threading.Lock()


def _decider() -> "concurrent.futures.ThreadPoolExecutor":
    made, pid = _DECIDER
    if made is None or pid != os.getpid():
        with _DECIDER_LOCK:
            made, pid = _DECIDER
            if made is None or pid != os.getpid():
                made = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lawful-decide")
                _DECIDER[:] = [made, os.getpid()]
    return made


class DecideRoute:
    """ASGI middleware, outermost: answers the two routes a busy service is asked most — POST /v1/decide and
    GET /v1/health — itself, without routing, pydantic or a worker thread for a single question: the body is
    read with the same limits (`read_body`), parsed by orjson and checked by `fast_body`; the answer is
    `answer` (create_app's), the headers Guard's. A body it cannot read as plainly valid (not JSON, another
    content type, a field it does not know, anything the model would refuse) goes on to the FastAPI route,
    so its errors are the model's, word for word; so does every other request."""

    def __init__(self, app: Any, holder: Any, answer: Any, health: Any, auth: Any, limit: int,
                 timeout: float, memo: "AnswerMemo") -> None:
        self.app = app
        self.holder = holder
        self.answer = answer
        self.memo = memo
        self.health = health
        self.auth = auth
        self.limit = limit
        self.timeout = timeout
        self._health: tuple[Any, Any, tuple[bytes, Optional[PreparedHead]]] = (None, None, (b"", None))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/v1/decide":
                if scope["method"] == "POST":
                    return await self._decide(scope, receive, send)
            elif path == "/v1/health" and scope["method"] == "GET":  # public: no proof needed
                return await _send_json(send, 200, *self._health_body())
        await self.app(scope, receive, send)

    def _health_body(self) -> tuple[bytes, Optional[PreparedHead]]:
        cur, last = self.holder.current, self.holder.last_reload
        seen_cur, seen_last, answer = self._health
        if cur is not seen_cur or last is not seen_last:
            body = _json(self.health())
            answer = (body, _json_head(body))
            self._health = (cur, last, answer)
        return answer

    async def _decide(self, scope: dict, receive: Any, send: Any) -> None:
        headers = scope["headers"]
        if self.auth is not None and needs_proof(self.auth, "/v1/decide", headers):
            return await send_unauthorised(send)
        for k, v in headers:
            if k == b"content-type":
                if v in _JSON_TYPES:
                    break
                return await self.app(scope, receive, send)  # FastAPI's reading of other types
        else:  # none: FastAPI decides whether that is JSON (it depends on its version and settings)
            return await self.app(scope, receive, send)
        body = await read_body(scope, receive, send, self.limit, self.timeout, _SECURITY_HEADERS)
        if body is None:
            return
        cur = self.holder.current
        today = _today()
        seen = self.memo.answered(cur, body, today)
        if seen is not None:  # these very bytes were answered before, from this bundle, today
            return await _send_json(send, 200, *seen)
        try:
            parsed = fast_body(orjson.loads(body))
        except orjson.JSONDecodeError:
            parsed = None
        if parsed is None:  # not plainly valid: the model reads it, and words any error
            return await self.app(scope, _replaying(body, receive), send)
        batch, questions = parsed
        kws = [question_keywords(q, today) for q in questions]
        if batch or kws[0]["purpose"] is None:  # many decisions: in the deciding thread, the loop keeps serving
            status, content = await asyncio.get_running_loop().run_in_executor(_decider(), self.answer, cur, kws,
                                                                                batch)
        else:  # one decision (tens of microseconds; a memo hit, one): here
            status, content = self.answer(cur, kws, batch)
            if status == 200 and not self.memo.keep_decisions:  # (with a decision log each answer differs)
                self.memo.remember_answer(cur, body, today, content)
        await _send_json(send, status, content)


def _json_headers(content: bytes) -> list[tuple[bytes, bytes]]:
    """The headers a Starlette Response and Guard would give a JSON answer, in the same order."""
    return [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json"),
            *SECURITY_HEADERS]


# The private key of an `http.response.start` message that carries its headers already checked and encoded
# (a PreparedHead): the guarded protocol's request cycle writes them as they are; any other server ignores it.
PREPARED_HEAD = "lawful.prepared_head"
# uvicorn's own rules for what `send` may write (uvicorn/protocols/http/httptools_impl.py; tests/test_service_head.py
# checks they are still uvicorn's): a name with a separator or control character, a value with a control
# character other than tab (CR and LF among them), is refused.
_HEADER_NAME_BAD = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_HEADER_VALUE_BAD = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING = (b"content-length", b"transfer-encoding", b"connection")


class PreparedHead:
    """A response's headers checked and encoded once, as uvicorn's `send` checks and encodes every response's
    (each of the seven headers of an answer by two regular expressions, lower-cased, joined): ~9 µs of a
    remembered answer's ~35 (issue 18, target 4). Made only here, by `PreparedHead(headers)`, which refuses
    (ValueError) what uvicorn would refuse — and, beyond it, any CR or LF, a head without exactly one
    content-length, or with transfer-encoding or connection (their effect on the connection is left to
    uvicorn's own path). `headers` (a tuple) are what other servers, and uvicorn's path, read."""

    __slots__ = ("headers", "block", "length")

    headers: tuple[tuple[bytes, bytes], ...]
    block: bytes  # every header's line, CRLF-terminated, as uvicorn would write them
    length: int  # the content-length

    def __init__(self, headers: Any) -> None:
        headers = tuple((bytes(n), bytes(v)) for n, v in headers)
        lines, lengths = [], []
        for name, value in headers:
            if _HEADER_NAME_BAD.search(name) or _HEADER_VALUE_BAD.search(value) or b"\r" in name + value or \
                    b"\n" in name + value or not name:
                raise ValueError(f"not a header a response may carry: {name!r}: {value!r}")
            name = name.lower()
            if name == b"content-length":
                if not value.isdigit() or not value.isascii():
                    raise ValueError(f"not a content-length: {value!r}")
                lengths.append(int(value))
            elif name in _FRAMING:
                raise ValueError(f"{name.decode()} is left to the server")
            lines += [name, b": ", value, b"\r\n"]
        if len(lengths) != 1:
            raise ValueError("a prepared head has exactly one content-length")
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "block", b"".join(lines))
        object.__setattr__(self, "length", lengths[0])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a PreparedHead is not changed once checked")


def _json_head(content: bytes) -> PreparedHead:
    """`_json_headers(content)`, prepared."""
    return PreparedHead(_json_headers(content))


async def _send_json(send: Any, status: int, content: bytes, head: Optional[PreparedHead] = None) -> None:
    """A JSON answer (`head`: `_json_head(content)`, made before; the server only reads it)."""
    head = head or _json_head(content)
    await send({"type": "http.response.start", "status": status, "headers": head.headers, PREPARED_HEAD: head})
    await send({"type": "http.response.body", "body": content})


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


class ServiceApp(FastAPI):
    """FastAPI with an optional ASGI app in front of all of it (routing, middleware, FastAPI's own per-request
    work): create_app puts DecideRoute there, which hands every request it does not answer to `behind`."""

    front: Optional[Any] = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.front is None:
            return await super().__call__(scope, receive, send)
        await self.front(scope, receive, send)

    async def behind(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__(scope, receive, send)


def create_app(holder: BundleHolder, max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH,
               max_decisions: int = MAX_DECISIONS, max_response_bytes: int = MAX_RESPONSE_BYTES,
               body_timeout: float = BODY_TIMEOUT, guard: Optional["ConnectionGuard"] = None,
               audit_log: Optional[Any] = None, auth: Optional[Any] = None, fast: bool = True,
               memo_entries: int = MEMO_ENTRIES) -> ServiceApp:
    """The ASGI app answering from `holder.current` (read once per request); `guard`: the server's connection
    guard, reported in `GET /v1/bundle`; `audit_log`: an engine.ops.decision_log.AuditLog every decision is
    recorded in before it is given; `auth`: an engine.ops.auth.Auth every request (but the page's own files
    and the health probe) must satisfy; `fast`: answer POST /v1/decide and GET /v1/health by DecideRoute
    (off: every request goes through FastAPI's routing and models, the same answers, byte for byte);
    `memo_entries`: how many answers AnswerMemo keeps (0: none, every question is decided afresh)."""
    from engine.ops import explore
    from engine.ops.auth import Guard
    from engine.ops.web import add_page

    max_batch = max(1, min(max_batch, MAX_BATCH))
    max_decisions = max(1, max_decisions)
    app = ServiceApp(title="lawful decision service", version=__version__, docs_url=None, redoc_url=None,
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

    memo = AnswerMemo(keep_decisions=audit_log is not None, max_entries=memo_entries)

    def decide_one(policy: Policy, kw: dict[str, Any]) -> list[Any]:
        if kw["purpose"] is None:
            return policy.decide_all_purposes(**{k: v for k, v in kw.items() if k != "purpose"})
        return [policy.decide(**kw)]

    def answer_questions(cur: Loaded, kws: list[dict[str, Any]], batch: bool) -> tuple[int, bytes]:
        """The status and body of POST /v1/decide for validated questions (`question_keywords`), from the
        bundle `cur` (read once per request, so one bundle answers the whole request even across a reload)."""
        if len(kws) > max_batch:
            return 413, _error_body([{"code": "batch-too-large", "message": f"{len(kws)} questions; this server "
                                      f"answers at most {max_batch} per request", "help": "split the batch"}])
        policy = cur.policy
        # The budget is counted from the question alone, before any decision is made: a question without a
        # purpose is one decision per declared purpose.
        planned = sum(1 if kw["purpose"] is not None else len(policy.purposes) for kw in kws)
        if planned > max_decisions:
            return 413, _error_body([{"code": "decision-budget", "message": f"the request asks for {planned:,} "
                                      f"decisions; this server makes at most {max_decisions:,} per request",
                                      "help": f"name a purpose (a question without one is {len(policy.purposes)} "
                                              "decisions, one per declared purpose) or split the batch"}])
        parts: list[bytes] = []
        made: list[Any] = []
        size = len(b'{"decisions":[]}')
        problems: list[dict] = []
        learnt: list[tuple[tuple, tuple, tuple[bytes, ...]]] = []
        remembering = memo.max_entries > 0
        for i, kw in enumerate(kws):
            key = tuple(kw.values()) if remembering else ()
            hit = memo.get(cur, key) if remembering else None
            if hit is None:
                try:
                    decided = (policy.decide(**kw),) if kw["purpose"] is not None else tuple(decide_one(policy, kw))
                except UnknownNameError as exc:
                    problems.append(_unknown(exc, i if batch else None))
                    continue
                except RequestError as exc:  # a question refused as asked (both received-under and own-data)
                    problems.append({"code": exc.code, "message": exc.message, "help": exc.help,
                                     "index": i if batch else None, "suggestions": []})
                    continue
                if problems:
                    continue  # the answer will be a 422: no need to keep what would have been said
                hit = (decided, (decision_json(decided[0]),) if len(decided) == 1 else
                       tuple(decision_json(d) for d in decided))
                if remembering:
                    learnt.append((key, *hit))
            elif problems:
                continue
            for d, part in zip(*hit):
                made.append(d)
                parts.append(part)
                size += len(part) + 1
                if size > max_response_bytes:  # stop here: the rest of the work is not done
                    return 413, _too_large_body(max_response_bytes)
        if problems:
            return 422, _error_body(problems)
        for key, decided, json_parts in learnt:  # for later requests (a batch's own repeats are each decided)
            memo.put(cur, key, decided, json_parts)
        if audit_log is None:
            return 200, b'{"decisions":[' + b",".join(parts) + b"]}"
        from engine.errors import AuditLogError
        from engine.ops.decision_log import canonical, line_hash

        try:  # recorded before it is given: a decision that cannot be recorded is not given
            records = audit_log.record_all(made, "sha256:" + cur.digest)
        except AuditLogError as exc:
            log.error("decision log: %s", exc)
            return 503, _error_body([{"code": "audit-log", "message": "the decision could not be recorded, so it "
                                      "is not given", "help": "the operator must look at the decision log"}])
        kept = _json([{"seq": r["seq"], "hash": line_hash(canonical(r))} for r in records])
        return 200, b'{"decisions":[' + b",".join(parts) + b'],"records":' + kept + b"}"

    @app.post("/v1/decide", response_model=Decisions, responses=ERROR_RESPONSES, tags=["decisions"],
              summary="Decide one question or a batch")
    def decide(body: Annotated[DecideBody, Body()]):
        """Answer each question with its Decision (the JSON of `can-share --format json`)."""
        # A body the fast route (DecideRoute) could not read as plainly valid is validated here by the model.
        questions = body.questions if isinstance(body, Batch) else [body]
        today = _today()
        kws = [question_keywords(dict(q), today) for q in questions]
        status, content = answer_questions(holder.current, kws, isinstance(body, Batch))
        return Response(content, status_code=status, media_type="application/json")

    @app.post("/v1/routes", response_model=Routes, responses=ERROR_RESPONSES, tags=["decisions"],
              summary="Lawful indirect routes")
    def routes(body: RoutesQuestion):
        """Routes A → X → … → B along which the data may lawfully travel, shortest first."""
        policy = holder.current.policy
        try:
            ask: dict[str, Any] = dict(on=body.on, assume=body.assume, given=body.given, express_only=body.express_only,
                       received_under=body.received_under, own_data=body.own_data, held_for=body.held_for)
            found = policy.routes(body.source, body.recipient, body.data, body.purpose, max_hops=body.max_hops, **ask)
            # a body and its part need no route (issue 12): said so, never left out silently
            inside = () if found else policy.decide(body.source, body.recipient, body.data, body.purpose,
                                                    fixes=False, routes=False, **ask).same_body
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
        same = {"part": inside[0], "body": inside[-1], "chain": list(inside)} if inside else None
        answer = _json({"question": question, "routes": [r.to_dict() for r in found], "same_body": same})
        if len(answer) > max_response_bytes:
            return _too_large(max_response_bytes)
        return Response(answer, media_type="application/json")

    def health_content() -> dict[str, Any]:
        last = holder.last_reload
        if last is None or last["ok"]:
            return {"status": "ok", "version": __version__, "bundle": holder.current.digest, "last_reload": None}
        first = (last.get("diagnostics") or [{}])[0]
        return {"status": "degraded", "version": __version__, "bundle": holder.current.digest,
                "last_reload": {"at": last["at"], "reason": last["reason"], "ok": False, "code": first.get("code")}}

    @app.get("/v1/health", response_model=Health, tags=["service"], summary="Liveness")
    def health():
        return health_content()

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
    app.add_middleware(Guard, auth=auth)  # headers on every answer, and who may ask at all
    if fast:  # in front of all of FastAPI: the two hot routes without routing, pydantic or a worker thread
        app.front = DecideRoute(app.behind, holder, answer_questions, health_content, auth, max_body_bytes,
                                body_timeout, memo)
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


class CoalescingTransport:
    """A connection's transport whose write is held until the next write or the end of the event loop's turn,
    whichever comes first, so that a response's head and body — which uvicorn writes apart — go out in one
    send(): on loopback each send() cost about as much as all the rest of a small answer (issue 18, target 4;
    benchmarks/RESULTS.md). The bytes, and their order, are unchanged."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: Optional[bytes] = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held + data)
            return
        self._held = data
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_GUARDED_BASE: Optional[type] = None


def guarded_protocol(guard: ConnectionGuard) -> type:
    """A uvicorn HTTP protocol class (httptools) whose connections `guard` holds to its limits; give it to
    `uvicorn.Config(http=...)`. uvicorn itself has no deadline for a request head or body."""
    return type("GuardedHttpToolsProtocol", (_guarded_base(),), {"guard": guard})


def _guarded_base() -> type:
    global _GUARDED_BASE
    if _GUARDED_BASE is not None:
        return _GUARDED_BASE
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

    uvicorn_send = RequestResponseCycle.send
    # The server's default headers (uvicorn makes a new list each second) and their lines: one tuple, read and
    # replaced whole (servers in other threads of the process may have other defaults).
    defaults_seen: list[tuple[Any, Optional[bytes]]] = [(None, None)]

    def encoded_defaults(defaults: list[tuple[bytes, bytes]]) -> Optional[bytes]:
        """The server's default headers (date, server), as uvicorn's `send` writes them before the app's; None
        (uvicorn's own path) when uvicorn would refuse one, or one of them frames the response."""
        try:
            return PreparedHead([*defaults, (b"content-length", b"0")]).block[:-len(b"content-length: 0\r\n")]
        except ValueError:
            return None

    class PreparedCycle(RequestResponseCycle):
        """uvicorn's request cycle, which writes the head of a start message carrying a PreparedHead (the
        message's own headers, already checked and encoded) as uvicorn's `send` would write it — status line,
        the server's default headers, the app's, `connection: close` when the connection will close, with the
        same state after (content length expected, not chunked, keep-alive) — without checking and encoding
        them again. Anything else (every other message, a start message whose headers are not the prepared
        ones, a paused or closed connection, an access log) is uvicorn's `send`, unchanged."""

        # Not a coroutine function: it returns uvicorn's own `send(message)` coroutine for the app to await (no
        # coroutine of its own around it, for the body and for every other app), or, having written a prepared
        # head (which needs no waiting), an awaitable that is already done.
        def send(self, message: Any) -> Awaitable[None]:  # type: ignore[override]
            head = message.get(PREPARED_HEAD)
            if head.__class__ is not PreparedHead or head.headers is not message.get("headers") or \
                    self.response_started or self.disconnected or self.access_log or self.flow.write_paused or \
                    message["type"] != "http.response.start":
                return uvicorn_send(self, message)
            defaults, lines = defaults_seen[0]
            if defaults is not self.default_headers:
                defaults, lines = self.default_headers, encoded_defaults(self.default_headers)
                defaults_seen[0] = (defaults, lines)
            line = STATUS_LINE.get(message["status"])
            if line is None or lines is None:
                return uvicorn_send(self, message)
            self.response_started = True
            self.waiting_for_100_continue = False
            self.expected_content_length = head.length
            self.chunked_encoding = False
            self.transport.write(b"".join((line, lines, head.block,
                                           b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n")))
            return _DONE

    class GuardedProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, told by the parser's own callbacks which phase a connection is in:
        `head` (from connecting, or from the previous answer, to the end of a request head), `body` (to the end
        of the body) or `busy` (the app is answering). `head` and `body` are pending: each has a deadline, and
        they count against max_pending. A head still incomplete past max_header_bytes is cut too."""

        guard: ConnectionGuard
        prepared_heads = True  # write a PreparedHead as it is (PreparedCycle); turned off if uvicorn disagrees
        prepared_cycle: type

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._phase: Optional[str] = None
            self._timer: Optional[asyncio.TimerHandle] = None
            self._timer_at = 0.0
            self._deadline = 0.0
            self._head_bytes = 0
            self._in_message = False
            self._head_done = False
            self._started = 0
            self._answered = 0
            self._gone = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
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
            HttpToolsProtocol.data_received(self, data)
            # The parser's callbacks only noted what they saw; the phase is worked out once per chunk, so a
            # request whose head and body come in one chunk goes from `head` to `busy` with no `body` deadline.
            self._update()
            # Still in the head after this chunk (a chunk that ends the head may carry body bytes: not counted).
            if self._phase == "head" and self._head_bytes > self.guard.limits.max_header_bytes:
                self.cut("head-too-large")

        def on_message_begin(self) -> None:
            HttpToolsProtocol.on_message_begin(self)  # (not super(): these run for every request)
            self._in_message, self._head_done = True, False

        def on_headers_complete(self) -> None:
            cycle = self.cycle
            HttpToolsProtocol.on_headers_complete(self)
            self._head_done = True
            if self.cycle is not cycle:  # a request was handed to the app (not an upgrade)
                self._started += 1
                # Its task has not run yet (it looks up `send` when it does): the cycle becomes a PreparedCycle.
                if self.prepared_heads and self.cycle.__class__ is RequestResponseCycle:
                    self.cycle.__class__ = self.prepared_cycle

        def on_message_complete(self) -> None:
            HttpToolsProtocol.on_message_complete(self)
            self._in_message = False
            if self._head_done and self.scope is not None:
                scope: Any = self.scope  # (uvicorn types it as HTTPScope; the key is our own)
                scope[BODY_COMPLETE] = True  # read_body need not watch a deadline for it

        def on_response_complete(self) -> None:
            self._answered += 1
            HttpToolsProtocol.on_response_complete(self)
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
            if phase == "busy":
                self.guard.left(self)
                return
            limits = self.guard.limits
            self._head_bytes = 0
            seconds = limits.header_timeout if phase == "head" else limits.body_timeout + BODY_GRACE
            self._deadline = self.loop.time() + seconds
            # One timer per connection, moved only when a deadline comes before it: a timer per phase (two
            # made and two cancelled per request) cost more than the rest of the guard.
            if self._timer is None or self._timer_at > self._deadline:
                self._arm(self._deadline)
            self.guard.entered(self)

        def _arm(self, when: float) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = self.loop.call_at(when, self._expired)

        def _expired(self) -> None:
            self._timer = None
            if self._gone or self._phase == "busy":
                return  # armed again when the connection next waits for a request
            if self.loop.time() >= self._deadline - 0.001:  # (timers may fire a little early)
                self.cut(f"{self._phase}-timeout")
            else:  # the phase began again since (a new request, or its body): wait for its own deadline
                self._arm(self._deadline)

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

    GuardedProtocol.prepared_cycle = PreparedCycle
    if not _cycles_agree(RequestResponseCycle, PreparedCycle):
        log.warning("this uvicorn writes response heads differently: answers take its own path")
        GuardedProtocol.prepared_heads = False
    _GUARDED_BASE = GuardedProtocol
    return GuardedProtocol


def _cycles_agree(uvicorn_cycle: type, prepared_cycle: type) -> bool:
    """Whether `prepared_cycle` writes what uvicorn's own request cycle writes for a PreparedHead, and leaves
    the cycle in the same state (checked once per process: with another uvicorn that writes heads otherwise,
    its own path serves every answer)."""
    head = _json_head(b"{}")
    defaults = [(b"date", b"Mon, 30 Nov 2026 07:00:00 GMT"), (b"server", b"uvicorn")]
    for method, status, keep_alive in (("GET", 200, True), ("HEAD", 200, True), ("POST", 422, False),
                                       ("GET", 204, True)):
        seen = []
        for cls in (uvicorn_cycle, prepared_cycle):
            transport = _Recorder()
            try:
                cycle = cls(scope={"method": method, "http_version": "1.1"}, transport=transport, flow=_Recorder(),
                            logger=log, access_logger=log, access_log=False, default_headers=defaults,
                            message_event=asyncio.Event(), expect_100_continue=True, keep_alive=keep_alive,
                            on_response=lambda: None)
                for message in ({"type": "http.response.start", "status": status, "headers": head.headers,
                                 PREPARED_HEAD: head}, {"type": "http.response.body", "body": b"{}"}):
                    _run_until_done(cycle.send(message))
                seen.append((b"".join(transport.writes), transport.closed, cycle.response_started,
                             cycle.response_complete, cycle.expected_content_length, cycle.chunked_encoding,
                             cycle.keep_alive, cycle.waiting_for_100_continue))
            except Exception:  # noqa: BLE001 — whatever differs in this uvicorn's cycle: not this path
                return False
        if seen[0] != seen[1]:
            return False
    return True


class _Recorder:
    """A transport and flow control for `_cycles_agree`: records what is written."""

    write_paused = False

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Done:
    """An awaitable that is done already (what PreparedCycle.send gives once it has written a head)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, None]:
        yield from ()


_DONE = _Done()


def _run_until_done(awaitable: Any) -> None:
    """Run an awaitable that never waits (a send to a transport that is not paused) to its end."""
    steps = awaitable.__await__()
    try:
        next(steps)
    except StopIteration:
        return
    steps.close()
    raise RuntimeError("the send waited")


def listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on host:port, or a ServiceError that says in one line why not (uvicorn would
    log the OSError and exit 3). `reuse_port`: SO_REUSEPORT, so that several sockets share the port."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServiceError("cannot-listen", f"cannot listen on {where}: the host name does not resolve "
                           f"({getattr(exc, 'strerror', None) or exc})") from exc
    try:
        return socket.create_server(address, family=family, backlog=2048, reuse_port=reuse_port)
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


def server_config(app: Any, guard: ConnectionGuard, log_level: str = "info", access_log: bool = False) -> Any:
    """The uvicorn.Config of `lawful serve`: the guarded httptools protocol, no websockets, no
    `limit_concurrency` (it counted slow connections and answered everyone else 503), and no line per request
    unless `access_log` (formatting and writing it cost more than answering a memoised question). An app made
    by create_app is served through its front (DecideRoute) directly."""
    import uvicorn

    app = getattr(app, "front", None) or app
    # X-Forwarded-For is read only for the access log (the app does not look at the client's address).
    return uvicorn.Config(app, http=guarded_protocol(guard), ws="none", log_level=log_level, timeout_keep_alive=5,
                          limit_concurrency=None, access_log=access_log, proxy_headers=access_log)


def listen_all(host: str, port: int, workers: int) -> list[socket.socket]:
    """One listening socket, or one per worker on the same port (SO_REUSEPORT: the kernel spreads the
    connections over them; where the platform has no SO_REUSEPORT, one socket the workers share). The port is
    first bound alone, so a port some other process holds is `address-in-use` — with SO_REUSEPORT on, another
    such process of the same user could otherwise join the group and take a share of the connections."""
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [listen(host, port)]
    probe = listen(host, port)
    port = probe.getsockname()[1]
    probe.close()
    socks: list[socket.socket] = []
    try:
        for _ in range(workers):
            socks.append(listen(host, port, reuse_port=True))
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


RESTARTS = 5  # a worker that stops this many times within RESTART_WINDOW seconds stops the service
RESTART_WINDOW = 60.0


def _supervise(run: Any, socks: list[socket.socket], workers: int) -> None:
    """Fork `workers` processes, each running `run(sock)` on its own socket (or the one shared), and wait:
    SIGHUP is passed on (each worker reloads its bundle), SIGTERM and SIGINT stop them all, and a worker
    that stops unasked is started again (the service stops if one keeps stopping)."""
    children: dict[int, int] = {}  # pid -> slot
    stopping = False
    restarts: list[float] = []

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                mine = socks[slot % len(socks)]
                for other in socks:
                    if other is not mine:
                        other.close()
                run(mine)
                code = 0
            except BaseException:  # noqa: BLE001 — a worker reports and ends; the supervisor decides
                log.exception("worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = slot

    def pass_on(sig: int, _frame: Any) -> None:
        for pid in list(children):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(sig: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        pass_on(signal.SIGTERM, frame)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGHUP, pass_on)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for slot in range(workers):
            spawn(slot)
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            slot = children.pop(pid, -1)
            if slot < 0 or stopping:
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < RESTART_WINDOW] + [now]
            if len(restarts) >= RESTARTS:
                log.error("workers stopped %d times within %g s: stopping the service", len(restarts),
                          RESTART_WINDOW)
                stop(signal.SIGTERM, None)
                continue
            log.error("worker %d stopped (%s); starting another", pid, _exit_status(status))
            spawn(slot)
    finally:
        stopping = True
        pass_on(signal.SIGTERM, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if restarts and len(restarts) >= RESTARTS:
        raise ServiceError("workers-failed", f"the service's workers stopped {len(restarts)} times within "
                           f"{RESTART_WINDOW:g} s", "see the log above for why")


def _exit_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


def serve(holder: BundleHolder, host: str = "127.0.0.1", port: int = 8181, watch_interval: float = 1.0,
          max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH, max_decisions: int = MAX_DECISIONS,
          max_response_bytes: int = MAX_RESPONSE_BYTES, limits: Optional[ConnectionLimits] = None,
          log_level: str = "info", audit_log: Optional[Any] = None, auth: Optional[Any] = None,
          on_ready: Optional[Any] = None, workers: int = 1, access_log: bool = False,
          memo_entries: int = MEMO_ENTRIES) -> None:
    """Run the service with uvicorn until interrupted; reload on SIGHUP and on file changes. Raises
    ServiceError when it cannot listen, or when `host` is not a loopback address and `auth` is None (see
    engine/ops/auth.py). `on_ready(url)` is called from another thread once the server accepts requests.
    `workers` > 1: that many processes (forked once the bundle is loaded, so they share its memory until a
    reload) answer on the same port, each with its own connections, limits, memo and reloads."""
    from engine.ops.auth import check_exposure

    check_exposure(host, auth)
    try:
        import httptools  # noqa: F401 — the guarded protocol is httptools'
        import uvicorn
    except ImportError as exc:
        raise ServiceError("missing-extra", f"`lawful serve` needs the `serve` extra ({exc.name} is not installed)",
                           "pip install 'lawful[serve]'") from exc
    if workers < 1:
        raise ServiceError("bad-usage", "--workers must be at least 1")
    if workers > 1 and not hasattr(os, "fork"):
        raise ServiceError("bad-usage", "--workers above 1 needs a platform with fork()", "run one process per "
                           "port behind a proxy instead")
    limits = limits or ConnectionLimits()
    socks = listen_all(host, port, workers)
    try:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        limits = _fit_open_files(limits)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{socks[0].getsockname()[1]}/"

        def run(sock: socket.socket, ready: Optional[Any] = None) -> None:
            guard = ConnectionGuard(limits)
            app = create_app(holder, max_body_bytes, max_batch, max_decisions, max_response_bytes,
                             limits.body_timeout, guard, audit_log=audit_log, auth=auth, memo_entries=memo_entries)
            server = uvicorn.Server(server_config(app, guard, log_level, access_log))
            holder.install_sighup()
            holder.watch(watch_interval)
            if ready is not None:
                def announce() -> None:
                    deadline = time.monotonic() + 30
                    while not server.started and time.monotonic() < deadline and not server.should_exit:
                        time.sleep(0.05)
                    if server.started:
                        ready(url)

                threading.Thread(target=announce, name="lawful-ready", daemon=True).start()
            try:
                server.run(sockets=[sock])
            finally:
                holder.stop()

        log.info("serving bundle %s (%s) on %s%s", holder.root, holder.current.digest[:12], url.rstrip("/"),
                 f" with {workers} worker processes" if workers > 1 else "")
        holder.freeze_after_swap = True
        settle_heap()
        if workers == 1:
            run(socks[0], on_ready)
        else:
            if on_ready is not None:  # the sockets listen already: connections wait for the first worker
                on_ready(url)
            _supervise(run, socks, workers)
    finally:
        holder.stop()
        for sock in socks:
            sock.close()
