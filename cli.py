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
from contextlib import contextmanager
from typing import Callable, List, Optional, Tuple

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


class FlowFormat(str, Enum):
    text = "text"
    json = "json"
    csv = "csv"


class GraphFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"
    svg = "svg"
    png = "png"


MAX_HOPS_HELP = "Longest route searched, in hops (1-8)."


@contextmanager
def _refusals():
    """A question the engine refuses as asked (a limit, a missing option, no Graphviz): exit 2 with its hint."""
    from engine.routes import RequestError

    try:
        yield
    except RequestError as exc:
        raise _fail(exc.message, exc.help, exc.code)


def _reach_command(kind: str, anchor: str, data: str, purpose, on, assume, max_hops, bundle, fmt) -> None:
    from engine import reach
    from engine.report import reach_text

    day = _parse_date(on)
    policy = _load(bundle)
    with _refusals():
        find = reach.recipients if kind == "recipients" else reach.sources
        result = find(policy, anchor, data, purpose, on=day, assume=assume, max_hops=max_hops)
    if fmt is TextOrJson.json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(reach_text(result, _style))
    raise typer.Exit(EXIT_OK if result.found else EXIT_DENY)


@app.command("recipients")
@guarded
def recipients_cmd(
    source: str = typer.Argument(..., help="The organisation that holds the data."),
    data: str = typer.Argument(..., help="The data category."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="The purpose. Without it: every declared purpose."),
    on: Optional[str] = typer.Option(None, "--on", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    max_hops: int = typer.Option(4, "--max-hops", help=MAX_HOPS_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
) -> None:
    """Every organisation that may lawfully receive the data from SOURCE, directly or by a lawful route.

    Every hop of a route is a lawful direct flow and respects the onward clauses the data carries.

    Exit 0 when some organisation may receive it, 1 when none may, 2 on error.
    """
    _reach_command("recipients", source, data, purpose, on, assume, max_hops, bundle, fmt)


@app.command("sources")
@guarded
def sources_cmd(
    recipient: str = typer.Argument(..., help="The organisation that would receive the data."),
    data: str = typer.Argument(..., help="The data category."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="The purpose. Without it: every declared purpose."),
    on: Optional[str] = typer.Option(None, "--on", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    max_hops: int = typer.Option(4, "--max-hops", help=MAX_HOPS_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
) -> None:
    """Every organisation that may lawfully send the data to RECIPIENT, directly or by a lawful route.

    Exit 0 when some organisation may send it, 1 when none may, 2 on error.
    """
    _reach_command("sources", recipient, data, purpose, on, assume, max_hops, bundle, fmt)


@app.command("flows")
@guarded
def flows_cmd(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Only this data category (and those under it)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="Only this purpose (and those under it)."),
    on: Optional[str] = typer.Option(None, "--on", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: FlowFormat = typer.Option(FlowFormat.text, "--format", "-f", help="text, json or csv."),
) -> None:
    """The register of sharing: every lawful direct flow on the date, with its basis.

    One row per flow and basis, at the highest level that holds (LSC -> ALI covers the local LSCs).

    Exit 0 (also when there is none), 2 on error.
    """
    from engine.reach import lawful_flows
    from engine.report import FLOW_COLUMNS, flows_text, rows_csv

    day = _parse_date(on) or dt.date.today()
    policy = _load(bundle)
    rows = lawful_flows(policy, data, purpose, on=day, assume=assume)
    if fmt is FlowFormat.json:
        typer.echo(json.dumps({"on": day.isoformat(), "flows": [r.to_dict() for r in rows]}, indent=2, ensure_ascii=False))
    elif fmt is FlowFormat.csv:
        typer.echo(rows_csv(rows, FLOW_COLUMNS), nl=False)
    else:
        typer.echo(flows_text(rows, day.isoformat(), _style))
    raise typer.Exit(EXIT_OK)


@app.command("blocked")
@guarded
def blocked_cmd(
    on: Optional[str] = typer.Option(None, "--on", help="Date, YYYY-MM-DD. Default: today."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Only this data category (and those under it)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="Only this purpose (and those under it)."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: FlowFormat = typer.Option(FlowFormat.text, "--format", "-f", help="text, json or csv."),
) -> None:
    """Every flow a gateway in force would allow but a restriction blocks, one-way blocks first.

    Where legislation, not paperwork, stands in the way.

    Exit 0 (also when there is none), 2 on error.
    """
    from engine.reach import blocked_flows
    from engine.report import BLOCKED_COLUMNS, blocked_text, rows_csv

    day = _parse_date(on) or dt.date.today()
    policy = _load(bundle)
    rows = blocked_flows(policy, data, purpose, on=day, assume=assume)
    if fmt is FlowFormat.json:
        typer.echo(json.dumps({"on": day.isoformat(), "blocked": [r.to_dict() for r in rows]}, indent=2, ensure_ascii=False))
    elif fmt is FlowFormat.csv:
        typer.echo(rows_csv(rows, BLOCKED_COLUMNS), nl=False)
    else:
        typer.echo(blocked_text(rows, day.isoformat(), _style))
    raise typer.Exit(EXIT_OK)


@app.command("graph")
@guarded
def graph_cmd(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Only flows of this data category (and those under it)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="Only flows for this purpose (and those under it)."),
    on: Optional[str] = typer.Option(None, "--on", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    highlight: Optional[Tuple[str, str]] = typer.Option(None, "--highlight", help="SOURCE RECIPIENT: draw the direct flow or the first lawful route bold (needs --data and --purpose)."),
    fmt: GraphFormat = typer.Option(GraphFormat.dot, "--format", "-f", help="dot, mermaid, svg or png (svg and png need Graphviz)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of standard output."),
    max_nodes: int = typer.Option(150, "--max-nodes", help="Refuse to draw more organisations than this."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
) -> None:
    """A picture of the sharing network, as DOT, Mermaid, SVG or PNG.

    Bodies grouped by parent; flows labelled gateway / agreement; blocked flows dashed red; one-way bodies red.

    Exit 0 when drawn, 2 on error (unknown name, too many organisations, Graphviz missing for svg/png).
    """
    from engine import graph

    day = _parse_date(on)
    policy = _load(bundle)
    if fmt is GraphFormat.png and output is None and sys.stdout.isatty():
        raise _fail("png is binary and standard output is a terminal", "give --output FILE", "missing-option")
    with _refusals():
        pic = graph.build(policy, data, purpose, on=day, assume=assume, highlight=tuple(highlight) if highlight else None,
                          max_nodes=max_nodes)
        if fmt is GraphFormat.mermaid:
            body: bytes = graph.to_mermaid(policy, pic).encode("utf-8")
        else:
            body = graph.to_dot(policy, pic).encode("utf-8")
            if fmt in (GraphFormat.svg, GraphFormat.png):
                body = graph.render(body.decode("utf-8"), fmt.value)
    if pic.note:
        typer.echo(pic.note, err=True)
    if output is not None:
        try:
            output.write_bytes(body)
        except OSError as exc:
            raise _fail(f"cannot write `{output}`: {exc.strerror or exc}", "check the folder exists and is writable",
                        "bad-output")
        typer.echo(f"wrote {output} ({len(pic.nodes)} organisations, {len(pic.edges)} flows)", err=True)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    raise typer.Exit(EXIT_OK)



# ---- review in pull requests (issue 5) --------------------------------------------------------------
# (test, fmt, diff)


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
    sys.argv = [sys.argv[0], "can-share", *sys.argv[1:]]
    app(prog_name="can-share")


if __name__ == "__main__":
    app()
