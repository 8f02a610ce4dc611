"""The language server: pygls (its lsprotocol types) over the analyses of engine/ops/lsp/workspace.py and the
answers of engine/ops/lsp/features.py.

Edits are analysed after a pause in typing (`debounce` seconds), one analysis at a time, in a worker thread so
the server keeps answering; diagnostics are published for every file of the bundle whose diagnostics changed.
Requests that point into a file wait (briefly) for the analysis of the latest edit, so positions agree.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from engine.base.diagnostics import Diagnostic, Severity
from engine.base.source import Span
from engine.base.version import __version__
from engine.bundle.read import REGISTER_NAME
from engine.ops.lsp import features as f
from engine.ops.lsp.symbols import AGREEMENT, DATA, GATEWAY, ORG, PURPOSE, RESTRICTION, STATUTE
from engine.ops.lsp.workspace import Analysis, BundleState, bundle_root_of

log = logging.getLogger("lawful.lsp")

DEBOUNCE = 0.3  # seconds of quiet after an edit before the bundle is analysed again
SETTLE_TIMEOUT = 10.0  # longest a request waits for the analysis of the latest edit
DOCS = Path(__file__).resolve().parents[3] / "docs" / "review-guide.md"

_SEVERITY = {
    Severity.ERROR: t.DiagnosticSeverity.Error,
    Severity.WARNING: t.DiagnosticSeverity.Warning,
    Severity.INFO: t.DiagnosticSeverity.Information,
}
_ITEM_KIND = {
    ORG: t.CompletionItemKind.Class,
    DATA: t.CompletionItemKind.Struct,
    PURPOSE: t.CompletionItemKind.Enum,
    GATEWAY: t.CompletionItemKind.Interface,
    RESTRICTION: t.CompletionItemKind.Event,
    AGREEMENT: t.CompletionItemKind.Module,
    STATUTE: t.CompletionItemKind.Reference,
    "keyword": t.CompletionItemKind.Keyword,
    "value": t.CompletionItemKind.EnumMember,
}
_SYMBOL_KIND = {
    "organisation": t.SymbolKind.Class,
    "data": t.SymbolKind.Struct,
    "purpose": t.SymbolKind.Enum,
    "gateway": t.SymbolKind.Interface,
    "restriction": t.SymbolKind.Event,
    "agreement": t.SymbolKind.Module,
    "test": t.SymbolKind.Method,
}


def docs_url() -> Optional[str]:
    """Where a diagnostic's code is documented: the review guide's list of diagnostics (in a checkout)."""
    return DOCS.as_uri() + "#diagnostics" if DOCS.is_file() else None


class LawfulServer(LanguageServer):
    def __init__(self, bundle: Optional[Path] = None, debounce: float = DEBOUNCE):
        super().__init__("lawful", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Incremental)
        self.explicit_bundle = bundle
        self.debounce = debounce
        self.on: Optional[dt.date] = None
        self.expiring_within = 90
        self.states: dict[Path, BundleState] = {}
        self.roots: dict[Path, Path] = {}  # file -> the bundle it belongs to
        self.generation: dict[Path, int] = {}  # edits seen, per bundle
        self.timers: dict[Path, asyncio.TimerHandle] = {}
        self.running: dict[Path, asyncio.Task] = {}
        self.fresh: dict[Path, asyncio.Event] = {}
        self.published: dict[str, tuple[Diagnostic, ...]] = {}  # uri -> what it shows now
        self.converted: dict[str, tuple[Optional[str], dict[Diagnostic, t.Diagnostic]]] = {}  # uri -> (text, memo)
        self.edited: dict[Path, Path] = {}  # bundle -> the document edited last
        self.last_lint: dict[Path, dict[str, list[Diagnostic]]] = {}  # bundle -> the lint last published
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lawful-analysis")

    # ---- bundles and documents ------------------------------------------------------------------------

    def workspace_folder(self) -> Optional[Path]:
        root = self.workspace.root_path if self.protocol.workspace is not None else None
        return Path(root) if root else None

    def root_of(self, path: Path) -> Path:
        root = self.roots.get(path)
        if root is None:
            root = self.roots[path] = bundle_root_of(path, self.explicit_bundle, self.workspace_folder())
        return root

    def state(self, root: Path) -> BundleState:
        st = self.states.get(root)
        if st is None:
            st = self.states[root] = BundleState(root, self.on, self.expiring_within)
            self.fresh[root] = asyncio.Event()
        return st

    def open_docs(self, root: Path) -> dict[Path, str]:
        out = {}
        for uri, doc in list(self.workspace.text_documents.items()):
            path = _path(uri)
            if path is not None and _ours(path) and self.root_of(path) == root:
                out[path] = doc.source
        return out

    # ---- analysis ---------------------------------------------------------------------------------------

    def schedule(self, root: Path, delay: Optional[float] = None) -> None:
        """Analyse the bundle after `delay` seconds without another edit."""
        self.state(root)
        self.generation[root] = self.generation.get(root, 0) + 1
        self.fresh[root].clear()
        timer = self.timers.pop(root, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self.timers[root] = loop.call_later(self.debounce if delay is None else delay, self._start, root)

    def _start(self, root: Path) -> None:
        self.timers.pop(root, None)
        task = self.running.get(root)
        if task is None or task.done():
            self.running[root] = asyncio.ensure_future(self._run(root))

    async def _run(self, root: Path) -> None:
        """Analyse, publish the checks' diagnostics, then lint and publish again (until the lint comes, the
        files show the lint of the last analysis, so warnings do not flicker). One run per bundle at a time;
        a stale result (an edit came meanwhile) is not published."""
        loop = asyncio.get_running_loop()
        state = self.states[root]
        while True:
            generation = self.generation[root]
            docs = self.open_docs(root)
            try:
                analysis = await loop.run_in_executor(self.worker, state.analyse, docs, False)
                if generation == self.generation[root]:
                    self.fresh[root].set()
                    await self.publish(
                        analysis, self.edited.get(root), self.last_lint.get(root, {}) if analysis.lint_pending else {}
                    )
                if analysis.lint_pending and generation == self.generation[root]:
                    analysis = await loop.run_in_executor(self.worker, state.lint, analysis)
                    if generation == self.generation[root]:
                        self.last_lint[root] = analysis.lint_found
                        await self.publish(analysis, self.edited.get(root))
                elif not analysis.lint_pending and generation == self.generation[root]:
                    self.last_lint[root] = {}
            except Exception:  # noqa: BLE001 — a failing analysis must not stop the server; it is logged
                log.exception("analysis of %s failed", root)
                self.show("the lawful analysis failed unexpectedly; see the server log", t.MessageType.Error)
                self.fresh[root].set()
                return
            if generation == self.generation[root] or root in self.timers:
                return  # done, or a newer edit waits for its quiet period and runs again then
            # an edit came meanwhile and its quiet period is over: analyse again

    async def analysis(self, path: Path, wait: bool = True) -> Optional[Analysis]:
        """The analysis of the bundle a file belongs to: after the latest edit's analysis when `wait` (bounded
        by SETTLE_TIMEOUT), else the latest there is (waiting only when there is none yet)."""
        root = self.root_of(path)
        st = self.state(root)
        if root not in self.generation:
            self.schedule(root, 0)
        if wait or st.current is None:
            try:
                await asyncio.wait_for(self.fresh[root].wait(), SETTLE_TIMEOUT)
            except asyncio.TimeoutError:
                pass
        return st.current

    def show(self, message: str, kind: t.MessageType = t.MessageType.Info) -> None:
        self.window_show_message(t.ShowMessageParams(type=kind, message=message))

    # ---- diagnostics ------------------------------------------------------------------------------------

    async def publish(
        self, analysis: Analysis, first: Optional[Path] = None, stale_lint: Optional[dict[str, list[Diagnostic]]] = None
    ) -> None:
        """Publish the diagnostics of every file whose diagnostics changed: the open documents first (the one
        just edited before all), yielding between files so requests are answered meanwhile. `stale_lint`: the
        lint of the last analysis, shown until this one's comes."""
        by_uri: dict[str, tuple[str, list[Diagnostic]]] = {}
        for name in set(analysis.bundle_files) | set(analysis.open_tests):
            ds = list(analysis.diagnostics.get(name, []))
            if stale_lint and name in stale_lint:
                ds = sorted(ds + stale_lint[name], key=Diagnostic.sort_key)
            if name == REGISTER_NAME:  # a bundle-level problem names no file: shown at the top of gateways.yaml
                ds += analysis.diagnostics.get("", [])
            by_uri[_uri(analysis, name)] = (name, ds)
        root_uri = from_fs_path(str(analysis.root)) or ""
        for uri in self.published:  # files that had diagnostics and are gone (a test file closed, a file deleted)
            if uri.startswith(root_uri + "/") and uri not in by_uri:
                by_uri[uri] = ("", [])
        edited = from_fs_path(str(first)) if first is not None else None
        open_uris = set(self.workspace.text_documents)
        order = sorted(by_uri, key=lambda u: (u != edited, u not in open_uris, u))
        href = docs_url()
        lines: dict[str, _Lines] = {}

        def lines_of(name: str) -> _Lines:
            if name not in lines:
                lines[name] = _Lines(self, analysis, name)
            return lines[name]

        for uri in order:
            name, ds = by_uri[uri]
            key = tuple(ds)
            if self.published.get(uri, ()) == key:
                continue
            text = analysis.sources[name].text if name in analysis.sources else None
            memo = self.converted.get(uri)
            if memo is None or memo[0] != text:
                memo = (text, {})
            converted = []
            for d in ds:
                hit = memo[1].get(d)
                if hit is None:
                    hit = memo[1][d] = self.to_lsp(analysis, d, lines_of(name), lines_of, href)
                converted.append(hit)
            if ds:  # kept across an empty publish: undoing an edit brings the same diagnostics back
                self.converted[uri] = (text, {d: c for d, c in zip(ds, converted)})
            self.published[uri] = key
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=converted))
            await asyncio.sleep(0)

    def to_lsp(self, analysis: Analysis, d: Diagnostic, lines: "_Lines", lines_of, href: Optional[str]) -> t.Diagnostic:
        span = d.span if d.span is not None and d.span.line > 0 and d.span.file == lines.name else None
        related = []
        for message, s in d.related:
            if s is not None and s.line > 0 and s.file:
                related.append(
                    t.DiagnosticRelatedInformation(
                        location=t.Location(uri=_uri(analysis, s.file), range=lines_of(s.file).range(s)),
                        message=message,
                    )
                )
        return t.Diagnostic(
            range=lines.range(span)
            if span
            else t.Range(start=t.Position(line=0, character=0), end=t.Position(line=0, character=0)),
            message=d.message + (f"\nhelp: {d.help}" if d.help else ""),
            severity=_SEVERITY.get(d.severity, t.DiagnosticSeverity.Error),
            code=d.code,
            code_description=t.CodeDescription(href=href) if href else None,
            source="lawful",
            related_information=related or None,
        )

    # ---- positions ----------------------------------------------------------------------------------------

    def lines_of(self, analysis: Analysis, name: str) -> list[str]:
        doc = self.workspace.text_documents.get(_uri(analysis, name))
        if doc is not None:
            return doc.lines
        src = analysis.sources.get(name)
        return src.text.splitlines(True) if src is not None else []

    def from_client(self, doc, pos: t.Position) -> tuple[int, int]:
        """A client position -> the engine's (1-based line, 1-based column in characters)."""
        p = self.workspace.position_codec.position_from_client_units(
            doc.lines, t.Position(line=pos.line, character=pos.character)
        )
        return p.line + 1, p.character + 1


class _Lines:
    """One file's lines, to turn spans (characters) into client ranges (UTF-16 units unless negotiated)."""

    def __init__(self, server: LawfulServer, analysis: Analysis, name: str):
        self.name = name
        self.server = server
        self.lines = server.lines_of(analysis, name) if name else []
        self.codec = server.workspace.position_codec

    def position(self, line: int, column: int) -> t.Position:
        line0 = max(line - 1, 0)
        text = self.lines[line0] if line0 < len(self.lines) else ""
        char = max(column - 1, 0)
        if not text.isascii():
            char = self.codec.client_num_units(text[:char])
        return t.Position(line=line0, character=char)

    def range(self, s: Span) -> t.Range:
        end_line = s.end_line or s.line
        end_col = s.end_column or s.column + 1
        return t.Range(start=self.position(s.line, s.column), end=self.position(end_line, end_col))


def _path(uri: str) -> Optional[Path]:
    if not uri.startswith("file:"):
        return None
    fs = to_fs_path(uri)
    return Path(fs).resolve() if fs else None


def _ours(path: Path) -> bool:
    return path.suffix == ".policy" or path.name == REGISTER_NAME


def _uri(analysis: Analysis, name: str) -> str:
    return from_fs_path(str(analysis.path_of(name))) or ""


def _name(analysis: Analysis, path: Path) -> str:
    try:
        return path.relative_to(analysis.root).as_posix()
    except ValueError:
        return path.as_posix()


# ---- the features ------------------------------------------------------------------------------------------


def build(bundle: Optional[Path] = None, debounce: float = DEBOUNCE) -> LawfulServer:
    server = LawfulServer(bundle, debounce)

    def initialize(ls: LawfulServer, params: t.InitializeParams) -> None:
        opts = params.initialization_options if isinstance(params.initialization_options, dict) else {}
        if opts.get("bundle"):
            ls.explicit_bundle = Path(opts["bundle"])
        if opts.get("on"):
            try:
                ls.on = dt.date.fromisoformat(str(opts["on"]))
            except ValueError:
                log.warning("initializationOptions.on is not a date: %r", opts["on"])
        if isinstance(opts.get("expiringWithin"), int):
            ls.expiring_within = opts["expiringWithin"]
        if isinstance(opts.get("debounce"), (int, float)):
            ls.debounce = float(opts["debounce"])

    def changed(ls: LawfulServer, uri: str, delay: Optional[float] = None) -> None:
        path = _path(uri)
        if path is not None and _ours(path):
            root = ls.root_of(path)
            ls.edited[root] = path
            ls.schedule(root, delay)

    def did_open(ls: LawfulServer, params: t.DidOpenTextDocumentParams) -> None:
        changed(ls, params.text_document.uri, 0)

    def did_change(ls: LawfulServer, params: t.DidChangeTextDocumentParams) -> None:
        changed(ls, params.text_document.uri)

    def did_save(ls: LawfulServer, params: t.DidSaveTextDocumentParams) -> None:
        changed(ls, params.text_document.uri)

    def did_close(ls: LawfulServer, params: t.DidCloseTextDocumentParams) -> None:
        changed(ls, params.text_document.uri, 0)  # its file on disk stands in for it again

    def watched(ls: LawfulServer, params: t.DidChangeWatchedFilesParams) -> None:
        for root in {ls.root_of(p) for ch in params.changes if (p := _path(ch.uri)) is not None and _ours(p)}:
            ls.schedule(root)

    async def context(ls: LawfulServer, uri: str, wait: bool = True):
        path = _path(uri)
        if path is None or not _ours(path):
            return None
        analysis = await ls.analysis(path, wait)
        if analysis is None:
            return None
        return analysis, _name(analysis, path), ls.workspace.get_text_document(uri)

    def location(ls: LawfulServer, analysis: Analysis, span: Span) -> t.Location:
        return t.Location(uri=_uri(analysis, span.file), range=_Lines(ls, analysis, span.file).range(span))

    async def hover(ls: LawfulServer, params: t.HoverParams) -> Optional[t.Hover]:
        ctx = await context(ls, params.text_document.uri)
        if ctx is None:
            return None
        analysis, name, doc = ctx
        line, col = ls.from_client(doc, params.position)
        found = f.hover(analysis, name, doc.source, line, col, ls.on or _as_of(analysis.root))
        if found is None:
            return None
        text, span = found
        rng = _Lines(ls, analysis, name).range(span) if span is not None and span.line > 0 else None
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text), range=rng)

    async def definition(ls: LawfulServer, params: t.DefinitionParams) -> Optional[t.Location]:
        ctx = await context(ls, params.text_document.uri)
        if ctx is None:
            return None
        analysis, name, doc = ctx
        span = f.definition(analysis, name, *ls.from_client(doc, params.position))
        return location(ls, analysis, span) if span is not None else None

    async def references(ls: LawfulServer, params: t.ReferenceParams) -> list[t.Location]:
        ctx = await context(ls, params.text_document.uri)
        if ctx is None:
            return []
        analysis, name, doc = ctx
        line, col = ls.from_client(doc, params.position)
        spans = await asyncio.to_thread(f.references, analysis, name, line, col, params.context.include_declaration)
        return [location(ls, analysis, s) for s in spans]

    async def completion(ls: LawfulServer, params: t.CompletionParams) -> t.CompletionList:
        ctx = await context(ls, params.text_document.uri, wait=False)
        if ctx is None:
            return t.CompletionList(is_incomplete=False, items=[])
        analysis, name, doc = ctx
        line, col = ls.from_client(doc, params.position)
        items, start = f.completions(analysis, doc.source, line, col)
        lines = _Lines(ls, analysis, "")
        lines.lines = doc.lines
        rng = t.Range(start=lines.position(line, start), end=params.position)
        return t.CompletionList(
            is_incomplete=False,
            items=[
                t.CompletionItem(
                    label=c.label,
                    kind=_ITEM_KIND.get(c.kind),
                    detail=c.detail or None,
                    documentation=t.MarkupContent(kind=t.MarkupKind.Markdown, value=c.doc) if c.doc else None,
                    text_edit=t.TextEdit(range=rng, new_text=c.label),
                )
                for c in items
            ],
        )

    def formatting(ls: LawfulServer, params: t.DocumentFormattingParams) -> Optional[list[t.TextEdit]]:
        path = _path(params.text_document.uri)
        if path is None or path.suffix != ".policy":
            return None
        doc = ls.workspace.get_text_document(params.text_document.uri)
        try:
            out = f.format_document(doc.source, path.name)
        except f.FeatureError as exc:
            ls.show(str(exc), t.MessageType.Warning)
            return None
        if out is None:
            return []
        end = t.Position(line=len(doc.lines), character=0)
        return [t.TextEdit(range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=out)]

    async def prepare_rename(ls: LawfulServer, params: t.PrepareRenameParams):
        ctx = await context(ls, params.text_document.uri)
        if ctx is None:
            return None
        analysis, name, doc = ctx
        try:
            span, text = f.prepare_rename(analysis, name, *ls.from_client(doc, params.position))
        except f.FeatureError as exc:
            raise _refuse(str(exc)) from None
        return t.PrepareRenamePlaceholder(range=_Lines(ls, analysis, name).range(span), placeholder=text)

    async def rename(ls: LawfulServer, params: t.RenameParams) -> Optional[t.WorkspaceEdit]:
        ctx = await context(ls, params.text_document.uri)
        if ctx is None:
            return None
        analysis, name, doc = ctx
        line, col = ls.from_client(doc, params.position)
        try:
            edits = await asyncio.to_thread(f.rename, analysis, name, line, col, params.new_name)
        except f.FeatureError as exc:
            raise _refuse(str(exc)) from None
        changes = {}
        for file, spans in edits.items():
            lines = _Lines(ls, analysis, file)
            changes[_uri(analysis, file)] = [t.TextEdit(range=lines.range(s), new_text=params.new_name) for s in spans]
        return t.WorkspaceEdit(changes=changes)

    async def code_lens(ls: LawfulServer, params: t.CodeLensParams) -> list[t.CodeLens]:
        ctx = await context(ls, params.text_document.uri)
        if ctx is None or not ctx[1].endswith(".policy"):
            return []
        analysis, name, _doc = ctx
        lenses = await asyncio.to_thread(f.test_lenses, analysis, name)
        lines = _Lines(ls, analysis, name)
        out = []
        for lens in lenses:
            start = lines.position(lens.span.line, lens.span.column)
            args = list(lens.arguments)
            if lens.command == "lawful.decide":
                args[0] = dict(args[0], uri=params.text_document.uri)
            else:
                args = [params.text_document.uri, lens.arguments[1]]
            out.append(
                t.CodeLens(
                    range=t.Range(start=start, end=start),
                    command=t.Command(title=lens.title, command=lens.command, arguments=args),
                )
            )
        return out

    async def document_symbols(ls: LawfulServer, params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
        ctx = await context(ls, params.text_document.uri, wait=False)
        if ctx is None:
            return []
        analysis, name, _doc = ctx
        pf = analysis.models.get(name)
        if pf is None:
            return []
        lines = _Lines(ls, analysis, name)
        out = []
        for item in pf.items:
            kind = _kind_word(item)
            ident = getattr(item, "id", None)
            label = ident.text if ident is not None else f'test "{item.name}"'
            sel = ident.span if ident is not None else item.span
            out.append(
                t.DocumentSymbol(
                    name=label,
                    kind=_SYMBOL_KIND[kind],
                    detail=getattr(item, "title", None),
                    range=lines.range(item.span),
                    selection_range=lines.range(sel),
                )
            )
        return out

    async def decide(ls: LawfulServer, *args: Any) -> str:
        """Arguments: {source, recipient, data, purpose?, on?, assume?, uri?, given?, express_only?,
        received_under?, own_data?, held_for?} (or the first seven, in that order)."""
        q = (
            args[0]
            if args and isinstance(args[0], dict)
            else dict(zip(("source", "recipient", "data", "purpose", "on", "assume", "uri"), args))
        )
        uri = q.get("uri")
        path = _path(uri) if isinstance(uri, str) else None
        if path is None:
            folder = ls.workspace_folder()
            path = (ls.explicit_bundle or folder or Path.cwd()) / REGISTER_NAME
        analysis = await ls.analysis(path)
        if analysis is None:
            return "no decision: the bundle could not be read"
        if not all(isinstance(q.get(k), str) and q.get(k) for k in ("source", "recipient", "data")):
            return "error[bad-usage]: give source, recipient and data (and optionally purpose, on, assume)"
        text = await asyncio.to_thread(
            f.decide_text,
            analysis,
            q["source"],
            q["recipient"],
            q["data"],
            q.get("purpose") or None,
            q.get("on") or None,
            q.get("assume") or (),
            f.stated_facts(q),
        )
        ls.window_log_message(t.LogMessageParams(type=t.MessageType.Info, message=text))
        ls.show(text.splitlines()[0] if text else "no answer")
        return text

    async def test_results(ls: LawfulServer, *args: Any) -> str:
        uri, line = (args + (None, None))[:2]
        path = _path(uri) if isinstance(uri, str) else None
        if path is None or not isinstance(line, int):
            return "error[bad-usage]: give the file's uri and the line its test block starts on"
        analysis = await ls.analysis(path)
        if analysis is None:
            return "the bundle could not be read"
        text = await asyncio.to_thread(f.test_results_text, analysis, _name(analysis, path), line)
        ls.window_log_message(t.LogMessageParams(type=t.MessageType.Info, message=text))
        return text

    # Registered from tables (not decorators), so every handler is named where it is wired.
    features: list[tuple[str, Any, Any]] = [
        (t.INITIALIZE, None, initialize),
        (t.TEXT_DOCUMENT_DID_OPEN, None, did_open),
        (t.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
        (t.TEXT_DOCUMENT_DID_SAVE, None, did_save),
        (t.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
        (t.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, watched),
        (t.TEXT_DOCUMENT_HOVER, None, hover),
        (t.TEXT_DOCUMENT_DEFINITION, None, definition),
        (t.TEXT_DOCUMENT_REFERENCES, None, references),
        (t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", ","]), completion),
        (t.TEXT_DOCUMENT_FORMATTING, None, formatting),
        (t.TEXT_DOCUMENT_PREPARE_RENAME, None, prepare_rename),
        (t.TEXT_DOCUMENT_RENAME, None, rename),
        (t.TEXT_DOCUMENT_CODE_LENS, None, code_lens),
        (t.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, document_symbols),
    ]
    for method, options, handler in features:
        server.feature(method, options)(handler)
    for command, run in (("lawful.decide", decide), ("lawful.testResults", test_results)):
        server.command(command)(run)
    return server


def _kind_word(item) -> str:
    from engine.syntax import model as m

    return {
        m.Organisation: "organisation",
        m.DataCategory: "data",
        m.Purpose: "purpose",
        m.Gateway: "gateway",
        m.Restriction: "restriction",
        m.Agreement: "agreement",
        m.PolicyTest: "test",
    }[type(item)]


def _refuse(message: str) -> Exception:
    from pygls.exceptions import JsonRpcInvalidRequest

    return JsonRpcInvalidRequest(message)


def _as_of(root: Path) -> Optional[dt.date]:
    """The bundle's evaluation date (`as-of` in lawful.toml or [tool.lawful]), when the editor sets none: hover
    then says whether a statute is in force today and on that date."""
    from engine.review.config import load_config

    try:
        return load_config(root).as_of
    except Exception:  # noqa: BLE001 - a broken configuration is reported by `lawful check`, not by hover
        return None
