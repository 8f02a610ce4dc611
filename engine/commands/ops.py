"""Operations: `serve` (the HTTP decision service), `log verify` (the decision log), `audit` (transfer logs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Optional, Sequence

from engine.commands.result import EXIT_DENY, EXIT_OK, Result, command, load, styler
from engine.errors import RequestError


@command
def serve(bundle: Optional[Path] = None, host: str = "127.0.0.1", port: int = 8181, watch_interval: float = 1.0,
          max_body_bytes: int = 1024 * 1024, max_batch: int = 1000, openapi: bool = False,
          max_decisions: int = 1000, max_response_bytes: int = 4 * 1024 * 1024, header_timeout: float = 10.0,
          body_timeout: float = 20.0, max_header_bytes: int = 64 * 1024, max_pending: int = 512,
          max_connections: int = 1024, reload_timeout: float = 60.0, token_file: Optional[Path] = None,
          trust_proxy_auth: Optional[str] = None, audit_log: Optional[Path] = None,
          audit_key: Optional[Path] = None, workers: int = 1, access_log: bool = False,
          memo_entries: int = 20_000) -> Result:
    """Serve decisions over HTTP until interrupted (exit 0), or with `openapi` print the OpenAPI document.
    A service that cannot start (address in use, a load past its deadline) is one line and exit 2."""
    try:
        from engine.ops.service import BundleHolder, ConnectionLimits, openapi_document
        from engine.ops.service import serve as run_service
    except ImportError as exc:
        raise RequestError("missing-extra", f"`lawful serve` needs the `serve` extra ({exc.name} is not installed)",
                           "pip install 'lawful[serve]'") from None
    if openapi:
        return Result(EXIT_OK).out(openapi_document(), nl=False)
    from engine.errors import ServiceError

    from engine.commands.serving import service_guards
    from engine.ops.auth import check_exposure

    try:
        log, auth = service_guards(audit_log, audit_key, token_file, trust_proxy_auth)
        check_exposure(host, auth)  # before the bundle is loaded: refuse at once
        holder = BundleHolder(bundle, reload_timeout=reload_timeout)
        run_service(holder, host=host, port=port, watch_interval=watch_interval, max_body_bytes=max_body_bytes,
                    max_batch=max_batch, max_decisions=max_decisions, max_response_bytes=max_response_bytes,
                    limits=ConnectionLimits(header_timeout, body_timeout, max_header_bytes, max_pending,
                                            max_connections), audit_log=log, auth=auth, workers=workers,
                    access_log=access_log, memo_entries=memo_entries)
    except ServiceError as exc:  # one line, no traceback (uvicorn would log the OSError and exit 3)
        raise RequestError(exc.code, exc.message, exc.help) from None
    return Result(EXIT_OK)


@command
def web(bundle: Optional[Path] = None, port: int = 0, open_browser: bool = True,
        audit_log: Optional[Path] = None) -> Result:
    """The web page: the service on 127.0.0.1 and a free port, and the page opened in a browser. Exit 0 when
    stopped (Ctrl-C), 2 when it cannot start."""
    try:
        from engine.ops.service import BundleHolder
        from engine.ops.service import serve as run_service
    except ImportError as exc:
        raise RequestError("missing-extra", f"`lawful web` needs the `serve` extra ({exc.name} is not installed)",
                           "pip install 'lawful[serve]'") from None
    from engine.commands.serving import open_in_browser, service_guards
    from engine.errors import ServiceError

    def say_where(url: str) -> None:
        import sys

        print(f"lawful: the page is at {url} (Ctrl-C stops the service)", file=sys.stderr, flush=True)

    try:
        log, _auth = service_guards(audit_log)
        run_service(BundleHolder(bundle), host="127.0.0.1", port=port, audit_log=log, log_level="warning",
                    on_ready=open_in_browser if open_browser else say_where)
    except ServiceError as exc:
        raise RequestError(exc.code, exc.message, exc.help) from None
    return Result(EXIT_OK)


@command
def log_verify(file: Path, fmt: str = "text", key: Optional[Path] = None, accept_torn: Sequence[int] = (),
               anchor: Optional[str] = None) -> Result:
    """Verify a decision log: every line exact, authenticated by the log's key and chained. Exit 0 when every
    line verifies, 1 at a problem (an edited, forged or reordered line, a torn write not yet accepted, an
    anchor no longer in the chain), 2 when the file or its key cannot be read. `fmt`: text or json.
    `accept_torn`: after investigating, accept the torn writes at these lines (a keyed record says so)."""
    from engine.errors import AuditLogError
    from engine.ops.decision_log import accept_torn as accept
    from engine.ops.decision_log import verify_log

    try:
        result = accept(file, list(accept_torn), key) if accept_torn else verify_log(file, key)
        if anchor is not None:
            result = verify_log(file, key, anchor)
    except OSError as exc:
        raise RequestError("audit-log", f"cannot read `{file}`: {exc.strerror or exc}",
                           "give the file written by can-share --audit-log") from None
    except AuditLogError as exc:
        raise RequestError("audit-log", str(exc), "give the log's key with --key FILE (or $LAWFUL_AUDIT_KEY)") from None
    from engine.base.text import escape

    shown = escape(str(file))
    res = Result(EXIT_OK if result.ok else EXIT_DENY)
    if fmt == "json":
        return res.out(json.dumps({"file": str(file), **result.to_dict()}, indent=2))
    if result.ok:
        res.out(f"{shown}: OK — {result.records} record{'s' if result.records != 1 else ''} "
                f"({result.decisions} decision{'s' if result.decisions != 1 else ''}), chain intact; "
                f"head {result.head} (seq {result.seq})")
        for t in result.torn:
            res.out(f"  note: line {t.line} (byte offset {t.offset}) is a torn write, accepted by line {t.accepted_by}")
        if result.anchored_seq is not None:
            res.out(f"  anchor {anchor} is record {result.anchored_seq} of the chain")
        return res
    assert result.problem is not None
    line, message = result.problem
    res.out(f"{shown}:{line}: error[audit-log-broken]: {escape(message)}")
    for t in result.unaccepted[1:]:
        res.out(f"  also: line {t.line} (byte offset {t.offset}) is a torn write not yet accepted")
    if result.only_torn:
        return res.out(f"  the other {result.records} record(s) verify; head {result.head} (seq {result.seq})")
    return res.out(f"  {result.records} record(s) before line {line} verify; head before it {result.head}")


@command
def audit(files: Sequence[Path], on_column: str = "date", source_column: str = "source",
          recipient_column: str = "recipient", data_column: str = "data", purpose_column: str = "purpose",
          input_format: Optional[str] = None, fmt: str = "text", engine_name: str = "local",
          scheduler: Optional[str] = None, workers: Optional[int] = None, assume: Sequence[str] = (),
          bundle: Optional[Path] = None, chunk_rows: int = 50_000, colour: bool = False) -> Result:
    """Audit transfer logs: every transfer that was not lawful on its date. Exit 0 when every row was lawful,
    1 when any was unlawful or rejected, 2 on error. The report is streamed to standard output when the
    Result is written (it may be large); `fmt` csv puts the summary on standard error."""
    from engine.ops.transfers import ColumnMap, Progress, render, summary_text

    policy = load(bundle)
    columns = ColumnMap(source_column, recipient_column, data_column, purpose_column, on_column)
    progress = Progress()
    if engine_name == "dask":
        from engine.ops.dask_audit import audit_dask

        report = audit_dask(policy, list(files), columns, input_format, list(assume), scheduler=scheduler,
                            workers=workers, progress=progress)
    else:
        from engine.ops.transfers import audit_local

        report = audit_local(policy, list(files), columns, input_format, list(assume), chunk_rows=chunk_rows,
                             progress=progress)
    style = styler(colour)

    def write(out: IO[str]) -> None:
        render(report, fmt, out, style)

    res = Result(EXIT_DENY if report.failed else EXIT_OK).stream(write)
    res.on_close.append(report.close)
    if fmt == "csv":
        res.err(summary_text(report))
    return res
