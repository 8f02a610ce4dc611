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
    audit_log: Optional[Path] = typer.Option(None, "--audit-log", help="Append each decision to this hash-chained log (JSON lines) before answering."),
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
    _audit(audit_log, policy, decisions)
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

log_app = typer.Typer(help="The tamper-evident decision log written by `can-share --audit-log FILE`.",
                      no_args_is_help=True)
bundle_app = typer.Typer(help="Facts about a bundle.", no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(bundle_app, name="bundle")


def _audit(path: Optional[Path], policy, decisions) -> None:
    """Append the decisions to the log at `path` (when given) before any answer is shown: a decision that
    cannot be recorded is not given (exit 2)."""
    if path is None:
        return
    from engine.audit import AuditLog, AuditLogError
    from engine.hashing import policy_hash

    try:
        AuditLog(path).record_all(decisions, policy_hash(policy))
    except AuditLogError as exc:
        raise _fail(str(exc), "no decision was given; fix the log, or choose another --audit-log file", "audit-log")


@log_app.command("verify")
@guarded
def log_verify(
    file: Path = typer.Argument(..., help="The decision log (JSON lines) to verify."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
) -> None:
    """Verify a decision log's hash chain: report the first broken, edited or torn line.

    Exit 0 when every line verifies, 1 at the first problem, 2 when the file cannot be read.
    """
    from engine.audit import verify_log

    try:
        result = verify_log(file)
    except OSError as exc:
        raise _fail(f"cannot read `{file}`: {exc.strerror or exc}", None, "audit-log")
    if fmt is TextOrJson.json:
        typer.echo(json.dumps({"file": str(file), **result.to_dict()}, indent=2))
    elif result.ok:
        typer.echo(f"{file}: OK — {result.records} record{'s' if result.records != 1 else ''} "
                   f"({result.decisions} decision{'s' if result.decisions != 1 else ''}), chain intact; "
                   f"head {result.head}")
        for line in result.sealed:
            typer.echo(f"  note: line {line} is a torn write (a writer was interrupted), sealed by line {line + 1}")
    else:
        line, message = result.problem
        typer.echo(f"{file}:{line}: error[audit-log-broken]: {message}")
        typer.echo(f"  {result.records} record(s) before line {line} verify; head before it {result.head}")
    raise typer.Exit(EXIT_OK if result.ok else EXIT_DENY)


@bundle_app.command("hash")
@guarded
def bundle_hash_cmd(bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP)) -> None:
    """Print the bundle's content hash (SHA-256 over every policy file and gateways.yaml; file order never
    matters). The same hash is written into each `--audit-log` record."""
    from engine.bundle import resolve_bundle
    from engine.hashing import bundle_hash

    typer.echo(bundle_hash(resolve_bundle(bundle)))


# ---- services and scale (issue 8) -------------------------------------------------------------------
# (serve, audit)


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
