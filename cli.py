"""The `lawful` command line: parse arguments, call the engine, render, exit.

Exit codes, for scripts: 0 allow / clean, 1 deny / failure found, 2 error (bad input, unknown name, broken
bundle). No input produces a Python traceback: errors are diagnostics, and anything unexpected is reported
as `internal-error` with exit 2 — never as an ALLOW.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Callable, List, Optional

import typer

app = typer.Typer(
    name="lawful",
    help="Decide whether data may lawfully move between organisations, and say why.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_DENY, EXIT_ERROR = 0, 1, 2

BUNDLE_HELP = "Bundle folder (gateways.yaml + policies/). Default: $LAWFUL_BUNDLE, the current folder if it is a bundle, else the shipped bundle."


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


# ---- output helpers --------------------------------------------------------------------------------


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _style(text: str, role: str) -> str:
    if not _colour():
        return text
    colours = {"allow": dict(fg="green", bold=True), "deny": dict(fg="red", bold=True), "dim": dict(dim=True),
               "bold": dict(bold=True), "warning": dict(fg="yellow", bold=True)}
    return typer.style(text, **colours.get(role, {}))


def _fail(message: str, help_: Optional[str] = None, code: str = "error") -> "typer.Exit":
    typer.echo(f"error[{code}]: {message}", err=True)
    if help_:
        typer.echo(f"  help: {help_}", err=True)
    return typer.Exit(EXIT_ERROR)


def _parse_date(value: Optional[str]) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"`{value}` is not a date", "write dates as YYYY-MM-DD, for example 2005-06-23", "bad-date")


def guarded(fn: Callable) -> Callable:
    """Turn the engine's errors into diagnostics and exit 2; anything unexpected fails closed."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from engine import DiagnosticsError, UnknownNameError
        from engine.diagnostics import render

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except DiagnosticsError as exc:
            typer.echo(render(exc.diagnostics, exc.sources), err=True)
            raise typer.Exit(EXIT_ERROR)
        except UnknownNameError as exc:
            d = exc.to_diagnostic()
            raise _fail(d.message, d.help, d.code)
        except KeyboardInterrupt:
            raise typer.Exit(130)
        except Exception as exc:  # noqa: BLE001 — fail closed: never a traceback, never an ALLOW
            raise _fail(f"the engine failed unexpectedly ({type(exc).__name__}: {exc}); no decision was made",
                        "this is a bug in lawful; please report it with the command you ran", "internal-error")

    return wrapper


def _load(bundle: Optional[Path]):
    import engine

    return engine.load(bundle)


# ---- commands --------------------------------------------------------------------------------------


@app.command("can-share")
@guarded
def can_share(
    source: str = typer.Argument(..., help="The organisation that would disclose (id or alias, any case)."),
    recipient: str = typer.Argument(..., help="The organisation that would receive."),
    data: str = typer.Argument(..., help="The data category."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="The purpose. Without it: one answer per declared purpose."),
    on: Optional[str] = typer.Option(None, "--on", help="Date of the disclosure, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every gateway, agreement and restriction considered."),
) -> None:
    """Is this flow lawful? ALLOW or DENY, the reasons, and what would make it lawful.

    Exit 0 when every answer is allow, 1 when any is deny, 2 on error.
    """
    from engine.explain import explain, explain_grouped

    day = _parse_date(on)
    policy = _load(bundle)
    if purpose is not None:
        decisions = [policy.decide(source, recipient, data, purpose, on=day, assume=assume)]
    else:
        decisions = policy.decide_all_purposes(source, recipient, data, on=day, assume=assume)
    if fmt is TextOrJson.json:
        typer.echo(json.dumps({"decisions": [d.to_dict() for d in decisions]}, indent=2, ensure_ascii=False))
    elif len(decisions) == 1:
        typer.echo(explain(decisions[0], _style, verbose=verbose or not decisions[0].allowed))
    else:
        typer.echo(explain_grouped(decisions, _style, verbose=verbose))
    raise typer.Exit(EXIT_OK if decisions and all(d.allowed for d in decisions) else EXIT_DENY)


@app.command("check")
@guarded
def check_cmd(
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 2)."),
    on: Optional[str] = typer.Option(None, "--on", help="Date that expiry and review warnings are judged on. Default: today."),
    explain_code: Optional[str] = typer.Option(None, "--explain", help="Print what a diagnostic code means, and exit."),
) -> None:
    """Check a bundle: syntax, names, cycles, statutes, agreements against their gateways, and warnings.

    Exit 0 when clean or only warnings (--strict: warnings fail), 2 when there are errors.
    """
    import engine
    from engine.diagnostics import CODES, Severity, render

    if explain_code is not None:
        text = CODES.get(explain_code)
        if text is None:
            from engine.diagnostics import did_you_mean

            sugg = did_you_mean(explain_code, CODES)
            raise _fail(f"`{explain_code}` is not a diagnostic code", f"did you mean {', '.join(sugg)}?" if sugg else None,
                        "unknown-code")
        typer.echo(f"{explain_code}: {text}")
        raise typer.Exit(EXIT_OK)
    diags, sources = engine.check_bundle(bundle, _parse_date(on))
    errors = [d for d in diags if d.severity is Severity.ERROR]
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    if fmt is TextOrJson.json:
        typer.echo(json.dumps({"diagnostics": [d.to_dict() for d in diags],
                               "summary": {"errors": len(errors), "warnings": len(warnings)}}, indent=2))
    elif diags:
        typer.echo(render(diags, sources))
    else:
        typer.echo("no problems found")
    failed = bool(errors) or (strict and bool(warnings))
    raise typer.Exit(EXIT_ERROR if failed else EXIT_OK)


# ---- reachability, routes and pictures (issue 4) -----------------------------------------------------
# (recipients, sources, flows, blocked, graph)


# ---- review in pull requests (issue 5) --------------------------------------------------------------
# (test, fmt, diff)


# ---- reliability: decision log and bundle hash (issue 7) ---------------------------------------------
# (log verify, bundle hash)


# ---- services and scale (issue 8) -------------------------------------------------------------------
# (serve, audit)


class AuditFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"


class AuditEngine(str, Enum):
    local = "local"
    dask = "dask"


class LogFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


@app.command("serve")
@guarded
def serve_cmd(
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8181, "--port", help="Port to listen on."),
    watch_interval: float = typer.Option(1.0, "--watch-interval", help="Seconds between checks of the bundle's files for changes; 0: reload on SIGHUP only."),
    max_body_bytes: int = typer.Option(1024 * 1024, "--max-body-bytes", help="Refuse larger request bodies (413)."),
    max_batch: int = typer.Option(1000, "--max-batch", help="Refuse batches of more questions (413); at most 1000."),
    openapi: bool = typer.Option(False, "--openapi", help="Print the OpenAPI document (as in docs/openapi.json) and exit."),
) -> None:
    """Serve decisions over HTTP: POST /v1/decide, POST /v1/routes, GET /v1/health, GET /v1/bundle.

    Reloads on SIGHUP or when a bundle file changes; a bundle with errors never replaces the one being
    served (its diagnostics are logged). The OpenAPI document is at /openapi.json (and docs/openapi.json).
    """
    try:
        from engine.service import BundleHolder, openapi_document, serve
    except ImportError as exc:
        raise _fail(f"`lawful serve` needs the `serve` extra ({exc.name} is not installed)",
                    "pip install 'lawful[serve]'", "missing-extra")
    if openapi:
        typer.echo(openapi_document(), nl=False)
        raise typer.Exit(EXIT_OK)
    holder = BundleHolder(bundle)
    serve(holder, host=host, port=port, watch_interval=watch_interval, max_body_bytes=max_body_bytes,
          max_batch=max_batch)


@app.command("audit")
@guarded
def audit_cmd(
    files: List[Path] = typer.Argument(..., help="Transfer logs: CSV (with a header), JSON Lines or Parquet."),
    on_column: str = typer.Option("date", "--on-column", help="Column holding the date of each transfer."),
    source_column: str = typer.Option("source", "--source-column", help="Column holding the disclosing organisation."),
    recipient_column: str = typer.Option("recipient", "--recipient-column", help="Column holding the receiving organisation."),
    data_column: str = typer.Option("data", "--data-column", help="Column holding the data category."),
    purpose_column: str = typer.Option("purpose", "--purpose-column", help="Column holding the purpose."),
    input_format: Optional[LogFormat] = typer.Option(None, "--input-format", help="csv, jsonl or parquet. Default: from each file's extension."),
    fmt: AuditFormat = typer.Option(AuditFormat.text, "--format", "-f", help="text, json or csv (csv: the flagged rows; the summary goes to stderr)."),
    engine_name: AuditEngine = typer.Option(AuditEngine.local, "--engine", help="local (streaming, one process) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786). Default: a LocalCluster on this machine."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Workers of the LocalCluster (--engine dask without --scheduler)."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", help="Rows read at a time by the local engine."),
) -> None:
    """Audit transfer logs: every transfer that was not lawful on its date, with its reasons, and a summary.

    Rows that cannot be judged (unknown names, bad dates, empty cells, malformed lines) are reported as
    rejected with their row numbers. Exit 0 when every row was lawful, 1 when any was unlawful or rejected,
    2 on error (unreadable file, missing column).
    """
    from engine.transfers import ColumnMap, Progress, render, summary_text

    if chunk_rows < 1:
        raise _fail("--chunk-rows must be at least 1")
    policy = _load(bundle)
    columns = ColumnMap(source_column, recipient_column, data_column, purpose_column, on_column)
    kind = input_format.value if input_format else None
    progress = Progress()
    if engine_name is AuditEngine.dask:
        from engine.dask_audit import audit_dask

        report = audit_dask(policy, files, columns, kind, assume, scheduler=scheduler, workers=workers,
                            progress=progress)
    else:
        from engine.transfers import audit_local

        report = audit_local(policy, files, columns, kind, assume, chunk_rows=chunk_rows, progress=progress)
    try:
        render(report, fmt.value, sys.stdout, _style)
        sys.stdout.flush()
        if fmt is AuditFormat.csv:
            typer.echo(summary_text(report), err=True)
    except BrokenPipeError:  # `lawful audit … | head`: the reader left; the exit code still tells
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        report.close()
    raise typer.Exit(EXIT_DENY if report.failed else EXIT_OK)


@app.command("version")
def version() -> None:
    """Print the engine's version."""
    import engine

    typer.echo(engine.__version__)


def can_share_main() -> None:
    """The `can-share` console script: the same as `lawful can-share`."""
    sys.argv = [sys.argv[0], "can-share", *sys.argv[1:]]
    app(prog_name="can-share")


if __name__ == "__main__":
    app()
