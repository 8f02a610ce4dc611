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
broken bundle never replaces a good one: its diagnostics are logged and shown in `GET /v1/bundle`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional, Union

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from engine.base.version import __version__
from engine.policy.load import load
from engine.bundle.read import POLICIES_DIR, REGISTER_NAME, resolve_bundle
from engine.policy.facade import Policy
from engine.render.diagnostics import render
from engine.errors import DiagnosticsError, UnknownNameError
from engine.ops.transfers import bundle_digest

log = logging.getLogger("lawful.serve")

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH = 1000  # the schema's limit; a server may be started with a lower cap
NAME_MAX = 200

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
    """What the watcher compares: path, mtime and size of gateways.yaml and every file under policies/.
    Cheap (no reading); an unreadable bundle gives a fingerprint too, so it is noticed and reported."""
    out = []
    for path in [root / REGISTER_NAME, *sorted((root / POLICIES_DIR).rglob("*"))]:
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


class BundleHolder:
    """The current bundle, and a safe way to replace it."""

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self.root = resolve_bundle(path)
        self._reload_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.last_reload: Optional[dict] = None
        self._fingerprint = fingerprint(self.root)
        self.current: Loaded = self._compile()  # at start, a broken bundle is an error (raises)

    def _compile(self) -> Loaded:
        started = time.monotonic()
        policy = load(self.root)
        return Loaded(policy, bundle_digest(policy), str(self.root), dt.datetime.now(dt.timezone.utc),
                      time.monotonic() - started)

    def reload(self, reason: str = "requested") -> bool:
        """Compile the bundle again; swap it in only if it compiles clean. True when swapped."""
        with self._reload_lock:
            self._fingerprint = fingerprint(self.root)
            at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            try:
                new = self._compile()
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
        raise ValueError(f"`{value}` is not a real date")


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


class Decisions(BaseModel):
    decisions: list[DecisionOut]


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
    status: str
    version: str
    bundle: str = Field(description="sha256 of the bundle being served.")


class BundleInfo(BaseModel):
    digest: str
    path: str
    loaded_at: str
    load_seconds: float
    counts: dict[str, int]
    last_reload: Optional[dict[str, Any]]
    limits: dict[str, int]


# ---- the app -----------------------------------------------------------------------------------------


def _errors(status: int, items: list[dict]) -> JSONResponse:
    return JSONResponse({"errors": items}, status_code=status)


def _unknown(exc: UnknownNameError, index: Optional[int]) -> dict:
    d = exc.to_diagnostic()
    return {"code": "unknown-name", "message": d.message, "help": d.help, "index": index, "kind": exc.kind,
            "name": exc.name, "suggestions": list(exc.suggestions)}


class BodyLimit:
    """ASGI middleware: refuse a request body over `limit` bytes with 413, whether it declares its length
    or streams it."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_big = _errors(413, [{"code": "body-too-large", "message": f"the request body is over {self.limit:,} bytes",
                                 "help": "send fewer questions per request"}])
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
                if declared > self.limit or declared < 0:
                    return await too_big(scope, receive, send)
                return await self.app(scope, receive, send)  # the server holds the body to its length
        # No declared length (a chunked body): read it here, up to the limit, then hand it on.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                return await too_big(scope, receive, send)
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


ERROR_RESPONSES = {
    400: {"model": Errors, "description": "The body could not be read (not JSON text)."},
    413: {"model": Errors, "description": "The body is over the size limit, or the batch over the cap."},
    422: {"model": Errors, "description": "The question is malformed or names something the bundle does not "
                                          "declare (with suggestions)."},
}


def create_app(holder: BundleHolder, max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH) -> FastAPI:
    """The ASGI app answering from `holder.current` (read once per request)."""
    max_batch = max(1, min(max_batch, MAX_BATCH))
    app = FastAPI(title="lawful decision service", version=__version__,
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
        items = []
        for e in exc.errors()[:20]:
            loc = [str(x) for x in e.get("loc", ()) if x != "body"]
            items.append({"code": "bad-request", "message": f"{'.'.join(loc) or 'body'}: {e.get('msg', 'invalid')}",
                          "help": None, "index": None, "suggestions": []})
        return _errors(422, items or [{"code": "bad-request", "message": "the request is malformed"}])

    def decide_one(policy: Policy, q: Question) -> list[dict]:
        kw = dict(on=q.on, assume=q.assume, fixes=q.fixes, routes=q.routes)
        if q.purpose is None:
            return [d.to_dict() for d in policy.decide_all_purposes(q.source, q.recipient, q.data, **kw)]
        return [policy.decide(q.source, q.recipient, q.data, q.purpose, **kw).to_dict()]

    @app.post("/v1/decide", response_model=Decisions, responses=ERROR_RESPONSES, tags=["decisions"],
              summary="Decide one question or a batch")
    def decide(body: Annotated[DecideBody, Body()]):
        """Answer each question with its Decision (the JSON of `can-share --format json`)."""
        questions = body.questions if isinstance(body, Batch) else [body]
        if len(questions) > max_batch:
            return _errors(413, [{"code": "batch-too-large", "message": f"{len(questions)} questions; "
                                  f"this server answers at most {max_batch} per request", "help": "split the batch"}])
        policy = holder.current.policy  # one Policy for the whole request, even across a reload
        out: list[dict] = []
        problems: list[dict] = []
        for i, q in enumerate(questions):
            try:
                out += decide_one(policy, q)
            except UnknownNameError as exc:
                problems.append(_unknown(exc, i if isinstance(body, Batch) else None))
        if problems:
            return _errors(422, problems)
        return JSONResponse({"decisions": out})

    @app.post("/v1/routes", response_model=Routes, responses=ERROR_RESPONSES, tags=["decisions"],
              summary="Lawful indirect routes")
    def routes(body: RoutesQuestion):
        """Routes A → X → … → B along which the data may lawfully travel, shortest first."""
        policy = holder.current.policy
        try:
            found = policy.routes(body.source, body.recipient, body.data, body.purpose, on=body.on,
                                  assume=body.assume, max_hops=body.max_hops)
        except UnknownNameError as exc:
            return _errors(422, [_unknown(exc, None)])
        question = {"source": policy.org_name(policy.org_key(body.source)),
                    "recipient": policy.org_name(policy.org_key(body.recipient)),
                    "data": policy.data_name(policy.data_key(body.data)),
                    "purpose": policy.purpose_name(policy.purpose_key(body.purpose)),
                    "on": (body.on or dt.date.today()).isoformat(),
                    "assume": sorted(policy.statutes[policy.statute_key(s)].id for s in body.assume)}
        return JSONResponse({"question": question, "routes": [r.to_dict() for r in found]})

    @app.get("/v1/health", response_model=Health, tags=["service"], summary="Liveness")
    def health():
        return {"status": "ok", "version": __version__, "bundle": holder.current.digest}

    @app.get("/v1/bundle", response_model=BundleInfo, tags=["service"], summary="The bundle being served")
    def bundle():
        cur = holder.current
        return {"digest": cur.digest, "path": cur.path, "loaded_at": cur.loaded_at.isoformat(timespec="seconds"),
                "load_seconds": round(cur.load_seconds, 4), "counts": cur.counts(), "last_reload": holder.last_reload,
                "limits": {"max_body_bytes": max_body_bytes, "max_batch": max_batch}}

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app


def openapi_document(app: Optional[FastAPI] = None) -> str:
    """The OpenAPI document as committed in docs/openapi.json (stable key order, trailing newline)."""
    if app is None:
        app = create_app(_SchemaOnly())  # the document does not depend on the bundle
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _SchemaOnly:
    """Stands in for a BundleHolder when only the OpenAPI document is wanted."""

    current = None
    last_reload = None


def serve(holder: BundleHolder, host: str = "127.0.0.1", port: int = 8181, watch_interval: float = 1.0,
          max_body_bytes: int = MAX_BODY_BYTES, max_batch: int = MAX_BATCH, log_level: str = "info") -> None:
    """Run the service with uvicorn until interrupted; reload on SIGHUP and on file changes."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(holder, max_body_bytes, max_batch)
    holder.install_sighup()
    holder.watch(watch_interval)
    log.info("serving bundle %s (%s) on http://%s:%d", holder.root, holder.current.digest[:12], host, port)
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                                      limit_concurrency=256)).run()
    finally:
        holder.stop()
