"""The `lawful` command line: it declares the commands and their options, and nothing else.

Each command hands its arguments to a function in `engine/commands/` (one module per group) that returns a
`Result` — what to write to standard output and standard error, and the exit code — and writes it out.

Exit codes, for scripts: 0 allow / clean, 1 deny / failure found, 2 error (bad input, unknown name, broken
bundle). No input produces a Python traceback: errors are diagnostics, and anything unexpected is reported
as `internal-error` with exit 2 — never as an ALLOW.

Start-up: typer is imported once, here; the engine is imported inside each command, only as far as that
command needs it (`--help` imports none of it).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Callable, TYPE_CHECKING, Any, List, NoReturn, Optional, Tuple

import typer

if TYPE_CHECKING:  # pragma: no cover
    from engine.commands.result import Result


class _LawfulApp(typer.Typer):
    """A Typer app whose usage errors (a missing argument, an unknown option, a value not allowed) are one-line
    diagnostics with a stable code, `error[bad-usage]: …` and a help line, exit 2 — like every other error."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)
        try:
            rv = super().__call__(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            sys.exit(EXIT_DENY)
        except typer.TyperException as exc:  # typer raises every usage error as one (typer >= 0.29)
            _usage_error(exc)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def _usage_error(exc: typer.TyperException) -> NoReturn:
    ctx = getattr(exc, "ctx", None)
    from engine.base.text import escape  # a usage error quotes what was typed: never printed raw

    message = escape(exc.format_message())
    if _wants_json(sys.argv[1:]):  # --format json: the error as the service writes it, on standard output
        from engine.commands.result import json_errors

        typer.echo(json_errors([{"code": "bad-usage", "message": message,
                                 "help": f"see `{ctx.command_path} --help`" if ctx is not None else None}]), nl=False)
        sys.exit(EXIT_ERROR)
    typer.echo(f"error[bad-usage]: {message}", err=True)
    extra = message.startswith("Got unexpected extra argument")
    if ctx is not None and extra and ctx.info_name == "can-share" and len(ctx.params) >= 3:
        # the commonest slip: the purpose written as a fourth word
        typer.echo(f"  help: the purpose is an option: {ctx.command_path} SOURCE RECIPIENT DATA "
                   f"--purpose PURPOSE [--on YYYY-MM-DD]", err=True)
    elif ctx is not None:
        typer.echo(f"  help: see `{ctx.command_path} --help`", err=True)
    sys.exit(EXIT_ERROR)


def _wants_json(argv: List[str]) -> bool:
    """Did the command line ask for `--format json` (so that even a usage error comes as JSON)?"""
    for i, a in enumerate(argv):
        if a in ("--format", "-f") and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
        if a in ("--format=json", "-fjson"):
            return True
    return False


def _help_and_exit(ctx: typer.Context) -> NoReturn:
    """A group named without a command (bare `lawful`, `lawful log`): its help, exit 2."""
    typer.echo(ctx.get_help(), err=True, color=ctx.color)
    raise typer.Exit(EXIT_ERROR)


def _plain_help() -> None:
    """`--help` in plain words: an argument by its name (SOURCE), an option by its metavar (DATE, FORMAT) and a
    flag by nothing — never typer's type labels (`<str>`, `<list[Path]>`, `<bool>`, `<text|json>`; the help
    text says what a value may be) — and a usage line without braces (`SOURCE`, not `{SOURCE}`). Typer has no
    setting for either, so its two parameter classes are told here, once, before any help is drawn."""
    from typer.core import TyperArgument, TyperOption

    def argument_usage(self: TyperArgument, _ctx: Any) -> List[str]:
        name = self.metavar or (self.name or "").upper()
        return [(name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")]

    told: tuple[tuple[type, str, Callable], ...] = (
        (TyperArgument, "display_type_rich", lambda self, ctx: None),
        (TyperArgument, "get_usage_pieces", argument_usage),
        (TyperOption, "display_type_rich", lambda self, ctx: self.metavar or ""))
    for cls, name, method in told:
        setattr(cls, name, method)


_plain_help()

app = _LawfulApp(
    name="lawful",
    help="Decide whether data may lawfully move between organisations, and say why.",
    add_completion=True,  # `lawful --install-completion`: names complete from the bundle (engine/commands/completion.py)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_DENY, EXIT_ERROR = 0, 1, 2

BUNDLE_HELP = "The folder of rules to answer from (gateways.yaml and policies/). Default: $LAWFUL_BUNDLE, the current folder if it holds them, else the rules shipped with lawful."
ASSUME_HELP = "Treat this (proposed) statute as in force. Repeatable."
GIVEN_HELP = ("A declared condition (a fact only a person can establish, such as a court order) to treat as "
              "established. Repeatable.")
EXPRESS_ONLY_HELP = "Treat gateways resting on an implied power (power implied) as absent."
RECEIVED_UNDER_HELP = ("The source received the data under this gateway, so that gateway's limits on what may happen to "
                       "it next, and its bars, apply. Without it or --own-data, every way the source could have come "
                       "to hold the data counts.")
OWN_DATA_HELP = "The data is the source's own, received under no gateway."
HELD_FOR_HELP = "The function the source holds the data for (one of the functions of its organisation)."


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


class FailLevel(str, Enum):
    error = "error"
    warning = "warning"
    note = "note"


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


# ---- shell completion of names (issue 15) -------------------------------------------------------------


def _names(kind: str) -> Callable:
    """A completion callback for names of `kind` (organisations, data, purposes, statutes, any_name); the
    engine is imported only when the shell asks."""
    def complete(ctx: typer.Context, incomplete: str):
        from engine.commands import completion

        return getattr(completion, kind)(ctx, incomplete)
    return complete


# ---- output helpers --------------------------------------------------------------------------------


def _colour() -> bool:
    from engine.commands.result import colour_wanted  # one rule for both entry points of can-share

    return colour_wanted()


def _emit(result: "Result") -> NoReturn:
    """Write a command's Result out, in the order it was written, and exit with its code."""
    try:
        for to_err, chunk in result.writes:
            if callable(chunk):  # a large body, streamed
                chunk(sys.stdout)
                sys.stdout.flush()
            else:
                typer.echo(chunk, err=to_err, nl=False)
    except BrokenPipeError:  # `lawful audit … | head`: the reader left; the exit code still tells
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        result.close()
    raise typer.Exit(result.exit_code)


# ---- commands --------------------------------------------------------------------------------------


@app.command("can-share")
def can_share(
    source: str = typer.Argument(..., metavar="SOURCE", help="The organisation that would disclose (id or alias, any case).", autocompletion=_names("organisations")),
    recipient: str = typer.Argument(..., metavar="RECIPIENT", help="The organisation that would receive.", autocompletion=_names("organisations")),
    data: str = typer.Argument(..., metavar="DATA", help="The data category.", autocompletion=_names("data")),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", metavar="PURPOSE", help="The purpose. Without it: one answer per declared purpose.", autocompletion=_names("purposes")),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date of the disclosure, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", metavar="FORMAT", help="text or json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list every gateway, agreement and restriction looked at, on an ALLOW too."),
    audit_log: Optional[Path] = typer.Option(None, "--audit-log", metavar="FILE", help="Append each decision to this keyed, chained log (JSON lines) before answering."),
    audit_key: Optional[Path] = typer.Option(None, "--audit-key", metavar="FILE", envvar="LAWFUL_AUDIT_KEY", help="The decision log's key file (0600). Default: the log's path + .key, made on first use."),
    given: List[str] = typer.Option([], "--given", metavar="CONDITION", help=GIVEN_HELP),
    express_only: bool = typer.Option(False, "--express-only", help=EXPRESS_ONLY_HELP),
    received_under: Optional[str] = typer.Option(None, "--received-under", metavar="GATEWAY", help=RECEIVED_UNDER_HELP),
    own_data: bool = typer.Option(False, "--own-data", help=OWN_DATA_HELP),
    held_for: Optional[str] = typer.Option(None, "--held-for", metavar="FUNCTION", help=HELD_FOR_HELP),
) -> None:
    """Is this flow lawful? ALLOW or DENY, the reasons, and what would make it lawful.

    Exit 0 when every answer is allow, 1 when any is deny, 2 on error.
    """
    from engine.commands import decide

    _emit(decide.can_share(source, recipient, data, purpose=purpose, on=on, assume=assume, bundle=bundle,
                           fmt=fmt.value, verbose=verbose, audit_log=audit_log, colour=_colour(),
                           audit_key=audit_key, given=given, express_only=express_only,
                           received_under=received_under, own_data=own_data, held_for=held_for))



@app.command("check")
def check_cmd(
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f", metavar="FORMAT", help="text, json, sarif (SARIF 2.1.0) or github (workflow annotations)."),
    strict: bool = typer.Option(False, "--strict", help="Same as --fail-level warning."),
    fail_level: Optional[FailLevel] = typer.Option(None, "--fail-level", metavar="LEVEL", help="Exit 1 on findings at or above this level: error, warning or note. Default: the bundle's lawful.toml, else error."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date that expiry and review warnings are judged on. Default: the bundle's as-of (lawful.toml), else today."),
    explain_code: Optional[str] = typer.Option(None, "--explain", metavar="CODE", help="Print what a diagnostic code means, and exit."),
    expiring_within: int = typer.Option(90, "--expiring-within", min=0, metavar="DAYS", help="Warn about agreements that expire within DAYS of --on."),
) -> None:
    """Check a bundle: syntax, names, cycles, statutes, agreements against their gateways, warnings and lint.

    Settings (levels, ignores, as-of) come from lawful.toml or [tool.lawful] at the bundle root; an inline
    comment "# lawful: ignore[CODE] reason" silences a finding on its line or block. Exit 0 when nothing is at or above
    the fail level, 1 when something is, 2 when the check could not run (bad usage or configuration, no bundle).
    """
    from engine.commands import review

    _emit(review.check(bundle, fmt=fmt.value, strict=strict, on=on, explain=explain_code,
                       expiring_within=expiring_within, fail_level=fail_level.value if fail_level else None))


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


@app.command("recipients")
def recipients_cmd(
    source: str = typer.Argument(..., metavar="SOURCE", help="The organisation that holds the data.", autocompletion=_names("organisations")),
    data: str = typer.Argument(..., metavar="DATA", help="The data category.", autocompletion=_names("data")),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", metavar="PURPOSE", help="The purpose. Without it: every declared purpose.", autocompletion=_names("purposes")),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    max_hops: int = typer.Option(4, "--max-hops", metavar="HOPS", help=MAX_HOPS_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", metavar="FORMAT", help="text or json."),
) -> None:
    """Every organisation that may lawfully receive the data from SOURCE, directly or by a lawful route.

    Every hop of a route is a lawful direct flow and respects the onward clauses the data carries.

    Exit 0 when another body may receive it (parts of its own body are listed, but moving data within one legal
    person is not a disclosure), 1 when none may, 2 on error.
    """
    from engine.commands import reach

    _emit(reach.recipients(source, data, purpose, on, assume, max_hops, bundle, fmt.value, colour=_colour()))


@app.command("routes")
def routes_cmd(
    source: str = typer.Argument(..., metavar="SOURCE", help="The organisation that holds the data."),
    recipient: str = typer.Argument(..., metavar="RECIPIENT", help="The organisation it should reach."),
    data: str = typer.Argument(..., metavar="DATA", help="The data category the last hop carries."),
    purpose: str = typer.Option(..., "--purpose", "-p", metavar="PURPOSE", help="The purpose of the last hop."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    max_hops: int = typer.Option(4, "--max-hops", metavar="HOPS", help=MAX_HOPS_HELP),
    given: List[str] = typer.Option([], "--given", metavar="CONDITION", help=GIVEN_HELP),
    express_only: bool = typer.Option(False, "--express-only", help=EXPRESS_ONLY_HELP),
    received_under: Optional[str] = typer.Option(None, "--received-under", metavar="GATEWAY", help=RECEIVED_UNDER_HELP),
    own_data: bool = typer.Option(False, "--own-data", help=OWN_DATA_HELP),
    held_for: Optional[str] = typer.Option(None, "--held-for", metavar="FUNCTION", help=HELD_FOR_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", metavar="FORMAT", help="text or json."),
) -> None:
    """Lawful routes SOURCE → … → RECIPIENT, each hop with its basis, data and purpose.

    Only the last hop must carry DATA for PURPOSE: earlier hops may carry other data or purposes where an onward
    clause allows the change (onward for, onward as, onward lawful).

    Exit 0 when there is a route, 1 when there is none, 2 on error.
    """
    from engine.commands import reach

    _emit(reach.routes(source, recipient, data, purpose, on, assume, max_hops, bundle, fmt.value, colour=_colour(),
                       given=given, express_only=express_only, received_under=received_under, own_data=own_data,
                       held_for=held_for))


@app.command("sources")
def sources_cmd(
    recipient: str = typer.Argument(..., metavar="RECIPIENT", help="The organisation that would receive the data.", autocompletion=_names("organisations")),
    data: str = typer.Argument(..., metavar="DATA", help="The data category.", autocompletion=_names("data")),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", metavar="PURPOSE", help="The purpose. Without it: every declared purpose.", autocompletion=_names("purposes")),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    max_hops: int = typer.Option(4, "--max-hops", metavar="HOPS", help=MAX_HOPS_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", metavar="FORMAT", help="text or json."),
) -> None:
    """Every organisation that may lawfully send the data to RECIPIENT, directly or by a lawful route.

    Exit 0 when another body may send it (parts of its own body are listed, but moving data within one legal
    person is not a disclosure), 1 when none may, 2 on error.
    """
    from engine.commands import reach

    _emit(reach.sources(recipient, data, purpose, on, assume, max_hops, bundle, fmt.value, colour=_colour()))


@app.command("flows")
def flows_cmd(
    data: Optional[str] = typer.Option(None, "--data", "-d", metavar="DATA", help="Only this data category (and those under it)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", metavar="PURPOSE", help="Only this purpose (and those under it)."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: FlowFormat = typer.Option(FlowFormat.text, "--format", "-f", metavar="FORMAT", help="text, json or csv."),
) -> None:
    """The register of sharing: every lawful direct flow on the date, with its basis.

    One row per flow and basis, at the highest level that holds (LSC -> ALI covers the local LSCs).

    Exit 0 (also when there is none), 2 on error.
    """
    from engine.commands import reach

    _emit(reach.flows(data, purpose, on, assume, bundle, fmt.value, colour=_colour()))


@app.command("blocked")
def blocked_cmd(
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date, YYYY-MM-DD. Default: today."),
    data: Optional[str] = typer.Option(None, "--data", "-d", metavar="DATA", help="Only this data category (and those under it)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", metavar="PURPOSE", help="Only this purpose (and those under it)."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: FlowFormat = typer.Option(FlowFormat.text, "--format", "-f", metavar="FORMAT", help="text, json or csv."),
) -> None:
    """Every flow a gateway in force would allow but a restriction blocks, one-way blocks first.

    Where legislation, not paperwork, stands in the way.

    Exit 0 (also when there is none), 2 on error.
    """
    from engine.commands import reach

    _emit(reach.blocked(on, data, purpose, assume, bundle, fmt.value, colour=_colour()))


@app.command("graph")
def graph_cmd(
    data: Optional[str] = typer.Option(None, "--data", "-d", metavar="DATA", help="Only flows of this data category (and those under it)."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", metavar="PURPOSE", help="Only flows for this purpose (and those under it)."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Date, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    highlight: Optional[Tuple[str, str]] = typer.Option(None, "--highlight", metavar="SOURCE RECIPIENT", help="SOURCE RECIPIENT: draw the direct flow or the first lawful route bold (needs --data and --purpose)."),
    fmt: GraphFormat = typer.Option(GraphFormat.dot, "--format", "-f", metavar="FORMAT", help="dot, mermaid, svg or png (svg and png: Graphviz, or graphviz-pure without it)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write to this file instead of standard output."),
    max_nodes: int = typer.Option(150, "--max-nodes", min=1, metavar="N", help="Refuse to draw more organisations than this."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
) -> None:
    """A picture of the sharing network, as DOT, Mermaid, SVG or PNG.

    Bodies grouped by parent; flows labelled gateway / agreement; blocked flows dashed red; one-way bodies red.

    Exit 0 when drawn, 2 on error (unknown name, too many organisations, no renderer for svg/png).
    """
    from engine.commands import reach

    _emit(reach.graph(data, purpose, on, assume, highlight=highlight, fmt=fmt.value, output=output,
                      max_nodes=max_nodes, bundle=bundle, stdout_is_terminal=sys.stdout.isatty()))


# ---- names and what changed (issue 15) -----------------------------------------------------------------
# (list, show, timeline): the bodies are in engine/commands/catalogue.py


class ListWhat(str, Enum):
    orgs = "orgs"
    data = "data"
    purposes = "purposes"
    gateways = "gateways"
    restrictions = "restrictions"
    agreements = "agreements"
    statutes = "statutes"


@app.command("list")
def list_cmd(
    what: ListWhat = typer.Argument(..., metavar="WHAT", help="orgs, data, purposes, gateways, restrictions, agreements or statutes."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Only those that exist or are in force on this date, YYYY-MM-DD."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: FlowFormat = typer.Option(FlowFormat.text, "--format", "-f", metavar="FORMAT", help="text, json or csv."),
) -> None:
    """List the organisations, data categories, purposes, gateways, restrictions, agreements or statutes of the
    bundle, with titles, other names, sensitivity and dates.

    Exit 0, 2 on error.
    """
    from engine.commands import catalogue

    _emit(catalogue.list_command(what.value, on, fmt.value, bundle, colour=_colour()))


@app.command("show")
def show_cmd(
    name: str = typer.Argument(..., metavar="NAME", help="An id, another name or a title, in any case (\"Adult Learning Inspectorate\").", autocompletion=_names("any_name")),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Also say whether it exists or is in force on this date, YYYY-MM-DD."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", metavar="FORMAT", help="text or json."),
) -> None:
    """Everything known about one organisation, data category, purpose, gateway, restriction, agreement or
    statute, with the file and line where it is written and the rules that name it.

    Exit 0, 2 when nothing is called NAME (with suggestions).
    """
    from engine.commands import catalogue

    _emit(catalogue.show_command(name, on, fmt.value, bundle, colour=_colour()))


@app.command("timeline")
def timeline_cmd(
    start: Optional[str] = typer.Option(None, "--from", metavar="DATE", help="First date, YYYY-MM-DD. Default: the first event."),
    end: Optional[str] = typer.Option(None, "--to", metavar="DATE", help="Last date, YYYY-MM-DD. Default: the last event."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: FlowFormat = typer.Option(FlowFormat.text, "--format", "-f", metavar="FORMAT", help="text, json or csv."),
) -> None:
    """What changed when: statutes coming into force or repealed, organisations replaced, agreements and
    rules beginning or ending — and the direct flows each date made lawful or unlawful.

    Exit 0, 2 on error.
    """
    from engine.commands import catalogue

    _emit(catalogue.timeline_command(start, end, fmt.value, bundle, colour=_colour()))


# ---- review in pull requests (issue 5) --------------------------------------------------------------
# (test, fmt, diff)


class TestFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"
    github = "github"


@app.command("test")
def test_cmd(
    paths: List[Path] = typer.Argument(None, metavar="PATHS", help="Files or folders with test blocks. Default: tests/policy/ and the bundle's own tests."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    fmt: TestFormat = typer.Option(TestFormat.text, "--format", "-f", metavar="FORMAT", help="text, json, junit (JUnit XML) or github (workflow annotations)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing expectations too."),
) -> None:
    """Run the policy tests: every expect line of every test block, against the bundle.

    A failing expectation prints its location and the decision's full explanation. An expectation without
    a date is judged on the bundle's as-of date (lawful.toml), else today.
    Exit 0 when all pass, 1 when any fails, 2 when the tests could not run (a bad test file, an unknown name).
    """
    from engine.commands import review

    _emit(review.test(paths or (), bundle, fmt.value, verbose))


@app.command("fmt")
def fmt_cmd(
    paths: List[Path] = typer.Argument(None, metavar="PATHS", help="Files or folders of *.policy files. Default: the bundle's policies/ and tests/policy/."),
    check: bool = typer.Option(False, "--check", help="Write nothing; list the files that would change and exit 1 if any."),
    show_diff: bool = typer.Option(False, "--diff", help="Write nothing; print a unified diff of the changes."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
) -> None:
    """Format policy files in the canonical layout, keeping every comment.

    Exit 0 when done (or, with --check, nothing would change), 1 when --check finds files to reformat,
    2 when a file cannot be parsed.
    """
    from engine.commands import review

    _emit(review.fmt(paths or (), check=check, show_diff=show_diff, bundle=bundle))


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class FailOn(str, Enum):
    any = "any"
    newly_allowed = "newly-allowed"
    newly_allowed_personal = "newly-allowed-personal"
    newly_denied = "newly-denied"
    never = "never"


@app.command("diff")
def diff_cmd(
    old: str = typer.Argument(..., metavar="OLD", help="The old side: a bundle folder, or a git revision (main, HEAD~1, a SHA)."),
    new: str = typer.Argument(..., metavar="NEW", help="The new side: a bundle folder, or a git revision."),
    on: Optional[str] = typer.Option(None, "--on", metavar="DATE", help="Compare on this one date, YYYY-MM-DD. Default: every date (each range between the dates on which a statute, body, agreement or window of either side starts or ends)."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help="Where the bundle lives in the repository, for git revisions. " + BUNDLE_HELP),
    fmt: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", metavar="FORMAT", help="text, json or markdown (a pull-request comment)."),
    link_base: Optional[str] = typer.Option(None, "--link-base", metavar="URL", help="Markdown: link file:line to URL/PATH#LLINE (e.g. https://github.com/OWNER/REPO/blob/SHA)."),
    fail_on: FailOn = typer.Option(FailOn.any, "--fail-on", metavar="WHEN", help="Exit 1 when: any verdict changes (default), a flow is newly allowed, newly allowed with personal data, newly denied, or never."),
) -> None:
    """Which flows a change makes lawful or unlawful, when, and which rule change did it: each rule change in
    words first, then the flows rolled up to the highest level that holds, with their date ranges.

    Reads git revisions with git (never touching the work tree). Exit 1 when a change --fail-on names is found
    (default: any verdict change), else 0; 2 when the diff could not run.
    """
    from engine.commands import review

    _emit(review.diff(old, new, on, bundle, fmt.value, link_base=link_base, fail_on=fail_on.value))


# ---- reliability: decision log and bundle hash (issue 7) ---------------------------------------------
# (log verify, bundle hash)

log_app = typer.Typer(help="The tamper-evident decision log written by can-share --audit-log FILE.")
bundle_app = typer.Typer(help="Facts about a bundle.")
app.add_typer(log_app, name="log")
app.add_typer(bundle_app, name="bundle")


@log_app.callback(invoke_without_command=True)
def _log_group(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        _help_and_exit(ctx)


@bundle_app.callback(invoke_without_command=True)
def _bundle_group(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        _help_and_exit(ctx)


@log_app.command("verify")
def log_verify(
    file: Path = typer.Argument(..., metavar="FILE", help="The decision log (JSON lines) to verify."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", metavar="FORMAT", help="text or json."),
    key: Optional[Path] = typer.Option(None, "--key", metavar="FILE", envvar="LAWFUL_AUDIT_KEY", help="The log's key file. Default: FILE.key."),
    accept_torn: List[int] = typer.Option([], "--accept-torn", metavar="LINE", min=1, help="After investigating, accept the torn write at this line (appends a keyed record saying so). Repeatable."),
    anchor: Optional[str] = typer.Option(None, "--anchor", metavar="HEAD", help="A head printed earlier (kept elsewhere): fail unless that record is still in the chain."),
) -> None:
    """Verify a decision log: every line exact, authenticated by the log's key and chained; report the first
    edited, forged or reordered line, and every torn write not yet accepted (with its byte offset).

    Exit 0 when every line verifies, 1 at a problem, 2 when the file or its key cannot be read.
    """
    from engine.commands import ops

    _emit(ops.log_verify(file, fmt.value, key=key, accept_torn=accept_torn, anchor=anchor))


@bundle_app.command("hash")
def bundle_hash_cmd(bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP)) -> None:
    """Print the bundle's content hash (SHA-256 over every policy file and gateways.yaml; file order never
    matters). The same hash is written into each --audit-log record."""
    from engine.commands import bundle as bundle_commands

    _emit(bundle_commands.bundle_hash(bundle))


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
def serve_cmd(
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on."),
    port: int = typer.Option(8181, "--port", min=0, max=65535, metavar="PORT", help="Port to listen on."),
    watch_interval: float = typer.Option(1.0, "--watch-interval", min=0, metavar="SECONDS", help="Seconds between checks of the bundle's files for changes; 0: reload on SIGHUP only."),
    max_body_bytes: int = typer.Option(1024 * 1024, "--max-body-bytes", min=1, metavar="BYTES", help="Refuse larger request bodies (413)."),
    max_batch: int = typer.Option(1000, "--max-batch", min=1, max=1000, metavar="N", help="Refuse batches of more questions (413); at most 1000."),
    openapi: bool = typer.Option(False, "--openapi", help="Print the OpenAPI document (as in docs/openapi.json) and exit."),
    max_decisions: int = typer.Option(1000, "--max-decisions", min=1, metavar="N", help="Refuse a request that asks for more decisions (413, before any is made); a question without a purpose is one per declared purpose."),
    max_response_bytes: int = typer.Option(4 * 1024 * 1024, "--max-response-bytes", min=1024, metavar="BYTES", help="Refuse a request whose answer would be larger (413; the work stops there)."),
    header_timeout: float = typer.Option(10.0, "--header-timeout", min=0.1, metavar="SECONDS", help="Seconds a connection has to send a whole request head (from connecting or from the previous answer); then it is closed."),
    body_timeout: float = typer.Option(20.0, "--body-timeout", min=0.1, metavar="SECONDS", help="Seconds a request has to send its whole body after its head (408, then closed)."),
    max_header_bytes: int = typer.Option(64 * 1024, "--max-header-bytes", min=1024, metavar="BYTES", help="Close a connection whose request head is larger."),
    max_pending: int = typer.Option(512, "--max-pending", min=1, metavar="N", help="Connections that may be part-way through sending a request, or idle between requests; beyond it the longest-pending is closed."),
    max_connections: int = typer.Option(1024, "--max-connections", min=1, metavar="N", help="Open connections; beyond it the longest-pending is closed (or the new one, if none is pending)."),
    reload_timeout: float = typer.Option(60.0, "--reload-timeout", min=0.1, metavar="SECONDS", help="Seconds one load of the bundle may take (a FIFO, a stalled disk); past it the reload is reported failed and the last good bundle is still served."),
    token_file: Optional[Path] = typer.Option(None, "--token-file", metavar="FILE", help="Callers must send the header \"Authorization: Bearer TOKEN\" with the token in FILE (0600). Needed to listen beyond 127.0.0.1 (or --trust-proxy-auth)."),
    trust_proxy_auth: Optional[str] = typer.Option(None, "--trust-proxy-auth", metavar="HEADER", help="Behind a sign-on proxy that sets HEADER on every request it lets through (and strips it from callers): requests without it are refused."),
    audit_log: Optional[Path] = typer.Option(None, "--audit-log", metavar="FILE", help="Record each decision in this keyed, chained log before answering; answers carry each record's hash."),
    audit_key: Optional[Path] = typer.Option(None, "--audit-key", metavar="FILE", envvar="LAWFUL_AUDIT_KEY", help="The decision log's key file (0600). Default: the log's path + .key, made on first use."),
    workers: int = typer.Option(1, "--workers", min=1, max=256, metavar="N", help="Processes answering on the same port (one per core); each has its own connections, limits and memo, and reloads on its own."),
    access_log: bool = typer.Option(False, "--access-log", help="Log a line per request (off by default: it costs more than answering a remembered question)."),
    memo_entries: int = typer.Option(20_000, "--memo-entries", min=0, metavar="N", help="Answers remembered per worker for questions asked again (per bundle; at most 32 MiB); 0: decide every question afresh."),
) -> None:
    """Serve decisions over HTTP, and the web page at /: POST /v1/decide, POST /v1/routes, GET /v1/names,
    GET /v1/timeline, GET /v1/reach, GET /v1/flows, GET /v1/graph, GET /v1/health, GET /v1/bundle.

    Reloads on SIGHUP or when a bundle file changes; a bundle with errors never replaces the one being
    served (its diagnostics are logged). The OpenAPI document is at /openapi.json (and docs/openapi.json).
    Listens on 127.0.0.1 unless --host says otherwise, which needs --token-file or --trust-proxy-auth.
    Limits against hostile clients: docs/operations.md.
    """
    from engine.commands import ops

    _emit(ops.serve(bundle, host=host, port=port, watch_interval=watch_interval, max_body_bytes=max_body_bytes,
                    max_batch=max_batch, openapi=openapi, max_decisions=max_decisions,
                    max_response_bytes=max_response_bytes, header_timeout=header_timeout, body_timeout=body_timeout,
                    max_header_bytes=max_header_bytes, max_pending=max_pending, max_connections=max_connections,
                    reload_timeout=reload_timeout, token_file=token_file, trust_proxy_auth=trust_proxy_auth,
                    audit_log=audit_log, audit_key=audit_key, workers=workers, access_log=access_log,
                    memo_entries=memo_entries))


@app.command("web")
def web_cmd(
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    port: int = typer.Option(0, "--port", min=0, max=65535, metavar="PORT", help="Port on 127.0.0.1. Default: a free one."),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the page in a browser."),
    audit_log: Optional[Path] = typer.Option(None, "--audit-log", metavar="FILE", help="Record each decision in this keyed, chained log; the decision record shows its hash."),
) -> None:
    """Open the web page: the service on 127.0.0.1 and a free port, and the page in your browser.

    Ask whether a flow is lawful, who may receive or send some data, what changed between two dates, see the
    sharing network, and print a decision record. Ctrl-C stops it.
    """
    from engine.commands import ops

    _emit(ops.web(bundle, port=port, open_browser=open_browser, audit_log=audit_log))


@app.command("lsp")
def lsp_cmd(
    tcp: Optional[int] = typer.Option(None, "--tcp", min=1, max=65535, metavar="PORT", help="Listen on 127.0.0.1:PORT instead of stdin and stdout."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help="Bundle for files that are in none. Default: $LAWFUL_BUNDLE, the workspace folder if it is a bundle, else the shipped bundle."),
) -> None:
    """The language server for policy files (editors): diagnostics, hover, completion, definition, references, rename, formatting, test lenses.

    Speaks the Language Server Protocol on stdin and stdout (or --tcp PORT). Needs the lsp extra.
    """
    # Self-contained (typer only), so it stands in either layout of this file; engine.ops.lsp does the work.
    try:
        import pygls  # noqa: F401 — the optional extra, checked before the server starts
        from engine.ops.lsp import main
    except ImportError as exc:
        typer.echo(f"error[missing-extra]: `lawful lsp` needs the `lsp` extra ({exc.name} is not installed)", err=True)
        typer.echo("  help: pip install 'lawful[lsp]'", err=True)
        raise typer.Exit(2) from None
    try:
        main(tcp=tcp, bundle=bundle)
    except OSError as exc:  # --tcp: the port is taken, or not ours to take
        typer.echo(f"error[bad-usage]: cannot listen on 127.0.0.1:{tcp}: {(exc.strerror or str(exc)).lower()}", err=True)
        typer.echo("  help: choose another --tcp PORT", err=True)
        raise typer.Exit(2) from None


@app.command("audit")
def audit_cmd(
    files: List[Path] = typer.Argument(..., metavar="FILE", help="Transfer logs: CSV (with a header), JSON Lines or Parquet."),
    on_column: str = typer.Option("date", "--on-column", metavar="COLUMN", help="Column holding the date of each transfer."),
    source_column: str = typer.Option("source", "--source-column", metavar="COLUMN", help="Column holding the disclosing organisation."),
    recipient_column: str = typer.Option("recipient", "--recipient-column", metavar="COLUMN", help="Column holding the receiving organisation."),
    data_column: str = typer.Option("data", "--data-column", metavar="COLUMN", help="Column holding the data category."),
    purpose_column: str = typer.Option("purpose", "--purpose-column", metavar="COLUMN", help="Column holding the purpose."),
    input_format: Optional[LogFormat] = typer.Option(None, "--input-format", metavar="FORMAT", help="csv, jsonl or parquet. Default: from each file's extension."),
    fmt: AuditFormat = typer.Option(AuditFormat.text, "--format", "-f", metavar="FORMAT", help="text, json or csv (csv: the flagged rows; the summary goes to stderr)."),
    engine_name: AuditEngine = typer.Option(AuditEngine.local, "--engine", metavar="ENGINE", help="local (streaming, one process) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786). Default: a LocalCluster on this machine."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, metavar="N", help="Workers of the LocalCluster (--engine dask without --scheduler)."),
    assume: List[str] = typer.Option([], "--assume", metavar="STATUTE", help=ASSUME_HELP),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help=BUNDLE_HELP),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", min=1, metavar="ROWS", help="Rows read at a time by the local engine."),
) -> None:
    """Audit transfer logs: every transfer that was not lawful on its date, with its reasons, and a summary.

    Rows that cannot be judged (unknown names, bad dates, empty cells, malformed lines) are reported as
    rejected with their row numbers. Exit 0 when every row was lawful, 1 when any was unlawful or rejected,
    2 on error (unreadable file, missing column).
    """
    from engine.commands import ops

    _emit(ops.audit(files, on_column, source_column, recipient_column, data_column, purpose_column,
                    input_format=input_format.value if input_format else None, fmt=fmt.value,
                    engine_name=engine_name.value, scheduler=scheduler, workers=workers, assume=assume,
                    bundle=bundle, chunk_rows=chunk_rows, colour=_colour()))


@app.command("version")
def version() -> None:
    """Print the engine's version."""
    from engine.commands import about

    _emit(about.version())


def _print_version(value: bool) -> None:
    if value:
        version()


@app.callback(invoke_without_command=True)
def _options(
    ctx: typer.Context,
    _version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                  help="Print the engine's version and exit."),
) -> None:
    if ctx.invoked_subcommand is None:
        _help_and_exit(ctx)


def _unwrap_help(typer_app: typer.Typer) -> None:
    """Give each command its docstring as help with the source line breaks inside paragraphs removed: typer
    keeps them after the first paragraph, which breaks sentences mid-line at odd places in `--help`."""
    import inspect

    infos = list(typer_app.registered_commands)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            infos += group.typer_instance.registered_commands
    for info in infos:
        doc = info.callback.__doc__ if info.callback is not None else None
        if info.help is None and doc:
            info.help = "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


_unwrap_help(app)


def _can_share_app() -> _LawfulApp:
    """`lawful can-share` as a one-command app, so that usage and help read `can-share [OPTIONS] …` (not
    `can-share can-share`)."""
    solo = _LawfulApp(add_completion=False, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})
    solo.command("can-share")(can_share)
    _unwrap_help(solo)
    return solo


def can_share_main() -> None:
    """`can-share` parsed by typer: what the `can-share` console script (engine/commands/entry.py) falls back to
    for any command line that is not one of the plain forms it reads itself (help, usage errors, …)."""
    _can_share_app()(prog_name="can-share")


# ---- the plain forms of `can-share` without typer (issue 18) ------------------------------------------


CAN_SHARE_ARGS = Path(__file__).resolve().parent / "engine" / "commands" / "can_share_args.py"


def can_share_args_source() -> str:
    """engine/commands/can_share_args.py: `can_share`'s parameters as typer builds them from the declaration
    above — spellings, kinds, defaults, choices, environment variables — for the console script's fast path.
    Generated, so there is one declaration; tests/test_fast_entry.py fails when the file is stale."""
    import inspect
    import typing

    import typer.main

    from engine.commands import decide

    hints = typing.get_type_hints(can_share)
    accepted = inspect.signature(decide.can_share).parameters
    params = []
    for p in typer.main.get_command(_can_share_app()).params:
        hint = hints[p.name]
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)  # Optional[X] -> X
        if typing.get_origin(hint) in (list, List):
            base = typing.get_args(hint)[0]
        if p.name not in accepted or p.secondary_opts or p.nargs != 1 or p.callback is not None:
            raise TypeError(f"can-share's {p.name}: the fast path reads plain one-value parameters only")
        default = p.default.value if isinstance(p.default, Enum) else p.default
        if isinstance(base, type) and issubclass(base, Enum):
            kind, choices = "choice", tuple(m.value for m in base)
        elif base in (str, Path, bool):
            kind, choices = {str: "str", Path: "path", bool: "flag"}[base], ()
        else:
            raise TypeError(f"can-share's {p.name}: type {hint} is not read by the fast path")
        if kind == "flag" and not getattr(p, "is_flag", False):
            raise TypeError(f"can-share's {p.name}: a bool that is not a flag")
        params.append((p.name, p.param_type_name == "argument", tuple(p.opts), kind, choices, p.multiple,
                       list(default) if isinstance(default, (list, tuple)) else default, p.envvar))
    return ('"""Generated from the declaration of `can_share` in cli.py (typer\'s parameters): do not edit. Regenerate with\n'
            "    python -c 'import cli; cli.write_can_share_args()'\n"
            "tests/test_fast_entry.py fails when this file is stale. Read by engine/commands/entry.py.\"\"\"\n\n"
            "# (name, positional?, spellings, type: str | path | choice | flag, choices, repeatable?, default, envvar)\n"
            "PARAMS: tuple[tuple, ...] = (\n" + "".join(f"    {p!r},\n" for p in params) + ")\n")


def write_can_share_args() -> None:
    CAN_SHARE_ARGS.write_text(can_share_args_source(), encoding="utf-8")


if __name__ == "__main__":
    app()
