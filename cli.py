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


# ---- performance: a fast start for `can-share` (issue 6) ---------------------------------------------
# typer builds a pydantic adapter for every parameter when it parses a command line, which costs more than
# deciding. The `can-share` script therefore reads the plain forms of its own arguments here and calls the
# same `can_share` function; anything else (--help, an unknown or malformed option, a wrong number of
# arguments) goes through typer, which gives the usual help and errors.

_FAST_VALUE_OPTIONS = {"--purpose": "purpose", "-p": "purpose", "--on": "on", "--assume": "assume",
                       "--bundle": "bundle", "--format": "fmt", "-f": "fmt"}
_FAST_FLAGS = {"--verbose": "verbose", "-v": "verbose"}


def _fast_can_share_args(argv: List[str]) -> Optional[dict]:
    """Keyword arguments for `can_share` from argv, or None when typer should parse it."""
    kwargs: dict = {"purpose": None, "on": None, "assume": [], "bundle": None, "fmt": TextOrJson.text, "verbose": False}
    positional: List[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            if name in _FAST_FLAGS and not eq:
                kwargs[_FAST_FLAGS[name]] = True
            elif name in _FAST_VALUE_OPTIONS:
                if not eq:
                    if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                        return None
                    i += 1
                    value = argv[i]
                key = _FAST_VALUE_OPTIONS[name]
                if key == "assume":
                    kwargs["assume"].append(value)
                elif key == "fmt":
                    if value not in ("text", "json"):
                        return None
                    kwargs["fmt"] = TextOrJson(value)
                elif key == "bundle":
                    kwargs["bundle"] = Path(value)
                elif kwargs[key] is not None:
                    return None  # given twice: let typer decide what that means
                else:
                    kwargs[key] = value
            else:
                return None
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 3:
        return None
    kwargs["source"], kwargs["recipient"], kwargs["data"] = positional
    return kwargs


# ---- reliability: decision log and bundle hash (issue 7) ---------------------------------------------
# (log verify, bundle hash)


# ---- services and scale (issue 8) -------------------------------------------------------------------
# (serve, audit)


@app.command("version")
def version() -> None:
    """Print the engine's version."""
    import engine

    typer.echo(engine.__version__)


def can_share_main() -> None:
    """The `can-share` console script: the same as `lawful can-share`."""
    fast = _fast_can_share_args(sys.argv[1:])  # issue 6: skip typer's parsing for the plain forms
    if fast is not None:
        try:
            can_share(**fast)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(EXIT_OK)
    sys.argv = [sys.argv[0], "can-share", *sys.argv[1:]]
    app(prog_name="can-share")


if __name__ == "__main__":
    app()
