"""The `lawful` command line: parse arguments, call the engine, render, exit.

Exit codes, for scripts: 0 allow / clean, 1 deny / failure found, 2 error (bad input, unknown name, broken
bundle). No input produces a Python traceback: errors are diagnostics, and anything unexpected is reported
as `internal-error` with exit 2 — never as an ALLOW.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from enum import Enum
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, List, Optional, Tuple

import typer

class _LawfulApp(typer.Typer):
    """A Typer app whose usage errors (a missing argument, an unknown option, a value not allowed) are one-line
    diagnostics with a stable code, `error[bad-usage]: …` and a help line, exit 2 — like every other error."""

    def __call__(self, *args, **kwargs):
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)
        click_errors, abort, no_args = _click_exception_types()
        try:
            rv = super().__call__(*args, standalone_mode=False, **kwargs)
        except click_errors as exc:
            if isinstance(exc, no_args):  # bare `lawful`, `lawful log`: the help, exit 2
                exc.show()
                sys.exit(EXIT_ERROR)
            ctx = getattr(exc, "ctx", None)
            message = exc.format_message()
            typer.echo(f"error[bad-usage]: {message}", err=True)
            extra = message.startswith("Got unexpected extra argument")
            if ctx is not None and extra and ctx.info_name == "can-share" and len(ctx.params) >= 3:
                # the commonest slip: the purpose written as a fourth word
                typer.echo(f"  help: the purpose is an option: {ctx.command_path} SOURCE RECIPIENT DATA "
                           f"--purpose PURPOSE [--on YYYY-MM-DD]", err=True)
            elif ctx is not None:
                typer.echo(f"  help: see `{ctx.command_path} --help`", err=True)
            sys.exit(EXIT_ERROR)
        except abort:
            sys.exit(EXIT_DENY)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def _click_exception_types() -> tuple[tuple, tuple, tuple]:
    """(usage and other Click errors, Abort, NoArgsIsHelpError) from Click and from the copy of Click that
    newer typer versions carry (typer._click), whichever are installed."""
    import importlib

    errors, aborts, no_args = [], [typer.Abort], []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        errors.append(mod.ClickException)
        for found, attr in ((aborts, "Abort"), (no_args, "NoArgsIsHelpError")):
            if hasattr(mod, attr):
                found.append(getattr(mod, attr))
    return tuple(errors), tuple(aborts), tuple(no_args)


app = _LawfulApp(
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


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


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
        # YYYY-MM-DD only, as the language, the service and audit read dates: Python 3.11's fromisoformat would
        # also take `20050623` or `2005-W25-4`, so the same command would mean different things on 3.10.
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _fail(f"`{value}` is not a date", "write dates as YYYY-MM-DD, for example 2005-06-23", "bad-date")


def guarded(fn: Callable) -> Callable:
    """Turn the engine's errors into diagnostics and exit 2; anything unexpected fails closed."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from engine import DiagnosticsError, UnknownNameError
        from engine.base.diagnostics import render

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
    source: str = typer.Argument(..., metavar="SOURCE", help="The organisation that would disclose (id or alias, any case)."),
    recipient: str = typer.Argument(..., metavar="RECIPIENT", help="The organisation that would receive."),
    data: str = typer.Argument(..., metavar="DATA", help="The data category."),
    purpose: Optional[str] = typer.Option(None, "--purpose", "-p", help="The purpose. Without it: one answer per declared purpose."),
    on: Optional[str] = typer.Option(None, "--on", help="Date of the disclosure, YYYY-MM-DD. Default: today."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every gateway, agreement and restriction considered."),
    audit_log: Optional[Path] = typer.Option(None, "--audit-log", help="Append each decision to this keyed, chained log (JSON lines) before answering."),
    audit_key: Optional[Path] = typer.Option(None, "--audit-key", envvar="LAWFUL_AUDIT_KEY", help="The decision log's key file (0600). Default: the log's path + .key, made on first use."),
) -> None:
    """Is this flow lawful? ALLOW or DENY, the reasons, and what would make it lawful.

    Exit 0 when every answer is allow, 1 when any is deny, 2 on error.
    """
    from engine.render.explain import explain, explain_grouped

    day = _parse_date(on)
    policy = _load(bundle)
    if purpose is not None:
        decisions = [policy.decide(source, recipient, data, purpose, on=day, assume=assume)]
    else:
        decisions = policy.decide_all_purposes(source, recipient, data, on=day, assume=assume)
    _audit(audit_log, policy, decisions, audit_key)
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
    fmt: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f", help="text, json, sarif (SARIF 2.1.0) or github (workflow annotations)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too (exit 2)."),
    on: Optional[str] = typer.Option(None, "--on", help="Date that expiry and review warnings are judged on. Default: today."),
    explain_code: Optional[str] = typer.Option(None, "--explain", help="Print what a diagnostic code means, and exit."),
    expiring_within: int = typer.Option(90, "--expiring-within", min=0, metavar="DAYS", help="Warn about agreements that expire within DAYS of --on."),
) -> None:
    """Check a bundle: syntax, names, cycles, statutes, agreements against their gateways, warnings and lint.

    Exit 0 when clean or only warnings (--strict: warnings fail), 2 when there are errors.
    """
    import engine
    from engine.base.diagnostics import CODES, Severity, render

    if explain_code is not None:
        # any case, and as printed in a diagnostic (`error[parse-error]`), since people paste what they see
        pasted = re.fullmatch(r"(?:error|warning|info)\[([a-z0-9-]+)\]:?", explain_code.strip().lower())
        explain_code = pasted.group(1) if pasted else explain_code.strip().lower()
        text = CODES.get(explain_code)
        if text is None:
            from engine.base.diagnostics import did_you_mean

            sugg = did_you_mean(explain_code, CODES)
            raise _fail(f"`{explain_code}` is not a diagnostic code", f"did you mean {', '.join(sugg)}?" if sugg else None,
                        "unknown-code")
        typer.echo(f"{explain_code}: {text}")
        raise typer.Exit(EXIT_OK)
    from engine.render import report
    from engine.review.lint import check_and_lint

    diags, sources = check_and_lint(bundle, _parse_date(on), expiring_within)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    if fmt in (CheckFormat.sarif, CheckFormat.github):
        paths = _relative_to_cwd(engine.resolve_bundle(bundle))
        typer.echo(report.to_json(report.sarif(diags, engine.__version__, paths)) if fmt is CheckFormat.sarif
                   else report.github_diagnostics(diags, paths))
    elif fmt is CheckFormat.json:
        typer.echo(json.dumps({"diagnostics": [d.to_dict() for d in diags],
                               "summary": {"errors": len(errors), "warnings": len(warnings),
                                           "info": len(diags) - len(errors) - len(warnings)}}, indent=2))
    elif diags:
        typer.echo(render(diags, sources, errors_first=True))
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
    from engine.errors import RequestError

    try:
        yield
    except RequestError as exc:
        raise _fail(exc.message, exc.help, exc.code)


def _reach_command(kind: str, anchor: str, data: str, purpose, on, assume, max_hops, bundle, fmt) -> None:
    from engine.eval import reach
    from engine.render.reach import reach_text

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
    source: str = typer.Argument(..., metavar="SOURCE", help="The organisation that holds the data."),
    data: str = typer.Argument(..., metavar="DATA", help="The data category."),
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
    recipient: str = typer.Argument(..., metavar="RECIPIENT", help="The organisation that would receive the data."),
    data: str = typer.Argument(..., metavar="DATA", help="The data category."),
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


def _emit_rows(rows, key: str, day: dt.date, fmt: "FlowFormat", columns, as_text) -> None:
    """Print the rows of `flows` or `blocked` as JSON (under `key`), CSV or text, and exit 0."""
    from engine.render.reach import rows_csv

    if fmt is FlowFormat.json:
        typer.echo(json.dumps({"on": day.isoformat(), key: [r.to_dict() for r in rows]}, indent=2, ensure_ascii=False))
    elif fmt is FlowFormat.csv:
        typer.echo(rows_csv(rows, columns), nl=False)
    else:
        typer.echo(as_text(rows, day.isoformat(), _style))
    raise typer.Exit(EXIT_OK)


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
    from engine.eval.reach import lawful_flows
    from engine.render.reach import FLOW_COLUMNS, flows_text

    day = _parse_date(on) or dt.date.today()
    policy = _load(bundle)
    rows = lawful_flows(policy, data, purpose, on=day, assume=assume)
    _emit_rows(rows, "flows", day, fmt, FLOW_COLUMNS, flows_text)


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
    from engine.eval.reach import blocked_flows
    from engine.render.reach import BLOCKED_COLUMNS, blocked_text

    day = _parse_date(on) or dt.date.today()
    policy = _load(bundle)
    rows = blocked_flows(policy, data, purpose, on=day, assume=assume)
    _emit_rows(rows, "blocked", day, fmt, BLOCKED_COLUMNS, blocked_text)


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
    max_nodes: int = typer.Option(150, "--max-nodes", min=1, help="Refuse to draw more organisations than this."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
) -> None:
    """A picture of the sharing network, as DOT, Mermaid, SVG or PNG.

    Bodies grouped by parent; flows labelled gateway / agreement; blocked flows dashed red; one-way bodies red.

    Exit 0 when drawn, 2 on error (unknown name, too many organisations, Graphviz missing for svg/png).
    """
    from engine.render import graph

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


class TestFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"
    github = "github"


def _relative_to_cwd(root: Optional[Path]) -> Callable[[str], str]:
    """Map a bundle-relative file name to a path relative to the current folder (for SARIF, annotations)."""
    def mapper(name: str) -> str:
        if root is None:
            return name
        full = (root / name).resolve()
        try:
            return full.relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            return full.as_posix()
    return mapper


@app.command("test")
@guarded
def test_cmd(
    paths: List[Path] = typer.Argument(None, metavar="PATHS", help="Files or folders with `test` blocks. Default: tests/policy/ and the bundle's own tests."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TestFormat = typer.Option(TestFormat.text, "--format", "-f", help="text, json, junit (JUnit XML) or github (workflow annotations)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing expectations too."),
) -> None:
    """Run the policy tests: every `expect` line of every `test` block, against the bundle.

    A failing expectation prints its location and the decision's full explanation.
    Exit 0 when all pass, 1 when any fails, 2 on error (a bad test file, an unknown name).
    """
    import engine
    from engine.render import report
    from engine.review import testing

    root = engine.resolve_bundle(bundle)
    policy = _load(root)
    explicit = bool(paths)
    run = testing.run_paths(policy, list(paths) if explicit else testing.default_test_paths(), root,
                            include_bundle=not explicit)
    if fmt is TestFormat.json:
        typer.echo(report.to_json(run.to_dict()))
    elif fmt is TestFormat.junit:
        typer.echo(report.junit(run))
    elif fmt is TestFormat.github:
        typer.echo(report.github_tests(run))
    else:
        typer.echo(testing.render_text(run, verbose=verbose, searched=[str(p) for p in paths] if explicit else None))
    if run.has_errors:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_OK if run.ok else EXIT_DENY)


@app.command("fmt")
@guarded
def fmt_cmd(
    paths: List[Path] = typer.Argument(None, metavar="PATHS", help="Files or folders of *.policy files. Default: the bundle's policies/ and tests/policy/."),
    check: bool = typer.Option(False, "--check", help="Write nothing; list the files that would change and exit 1 if any."),
    show_diff: bool = typer.Option(False, "--diff", help="Write nothing; print a unified diff of the changes."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
) -> None:
    """Format policy files in the canonical layout, keeping every comment.

    Exit 0 when done (or, with --check, nothing would change), 1 when --check finds files to reformat,
    2 when a file cannot be parsed.
    """
    import engine
    from engine.review import fmt as formatter
    from engine.base.diagnostics import render
    from engine.review.testing import default_test_paths

    from engine.bundle.read import ENV_VAR, is_bundle

    if not paths and bundle is None and not os.environ.get(ENV_VAR) and not is_bundle(Path.cwd()):
        # Never rewrite the bundle shipped with the engine just because no folder was named.
        raise _fail("the current folder is not a bundle (gateways.yaml + policies/)",
                    "name the files or folders to format, or pass --bundle DIR", "bad-bundle")
    targets = list(paths) if paths else [engine.resolve_bundle(bundle) / "policies", *default_test_paths()]
    results = formatter.format_paths(targets, write=not (check or show_diff))
    broken = [r for r in results if r.diagnostics]
    changed = [r for r in results if r.changed]
    for r in broken:
        typer.echo(render(r.diagnostics, r.sources), err=True)
    if show_diff:
        for r in changed:
            typer.echo(formatter.unified_diff(r.before, r.after, r.path), nl=False)
    if check:
        for r in changed:
            typer.echo(f"would reformat {r.path}")
    elif not show_diff:
        for r in changed:
            typer.echo(f"reformatted {r.path}")
    ok = len(results) - len(broken) - len(changed)
    summary = f"{len(changed)} file{'s' if len(changed) != 1 else ''} {'would be ' if check or show_diff else ''}reformatted, {ok} unchanged"
    if broken:
        summary += f", {len(broken)} could not be read or parsed"
    typer.echo(summary, err=True)
    if broken:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_DENY if check and changed else EXIT_OK)


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command("diff")
@guarded
def diff_cmd(
    old: str = typer.Argument(..., metavar="OLD", help="The old side: a bundle folder, or a git revision (main, HEAD~1, a SHA)."),
    new: str = typer.Argument(..., metavar="NEW", help="The new side: a bundle folder, or a git revision."),
    on: Optional[str] = typer.Option(None, "--on", help="Date the flows are judged on, YYYY-MM-DD. Default: today."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Where the bundle lives in the repository, for git revisions. " + BUNDLE_HELP),
    fmt: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="text, json or markdown (a pull-request comment)."),
) -> None:
    """Which flows a change makes lawful or unlawful, grouped by the rule change that caused it.

    Reads git revisions with git (never touching the work tree). Exit 0 when no verdict changes, 1 when some
    do, 2 on error.
    """
    import engine
    from engine.render import report
    from engine.review.diff import diff

    result = diff(old, new, _parse_date(on), engine.resolve_bundle(bundle))
    if fmt is DiffFormat.json:
        typer.echo(report.to_json(result.to_dict()))
    elif fmt is DiffFormat.markdown:
        typer.echo(report.diff_markdown(result), nl=False)
    else:
        typer.echo(report.diff_text(result))
    raise typer.Exit(EXIT_DENY if result.flows else EXIT_OK)


# ---- performance: a fast start for `can-share` (issue 6) ---------------------------------------------
# typer builds a pydantic adapter for every parameter when it parses a command line, which costs more than
# deciding. The `can-share` script therefore reads the plain forms of its own arguments here and calls the
# same `can_share` function; anything else (--help, an unknown or malformed option, a wrong number of
# arguments) goes through typer, which gives the usual help and errors.

_FAST_VALUE_OPTIONS = {"--purpose": "purpose", "-p": "purpose", "--on": "on", "--assume": "assume",
                       "--bundle": "bundle", "--format": "fmt", "-f": "fmt", "--audit-log": "audit_log",
                       "--audit-key": "audit_key"}
_FAST_FLAGS = {"--verbose": "verbose", "-v": "verbose"}


def _fast_can_share_args(argv: List[str]) -> Optional[dict]:
    """Keyword arguments for `can_share` from argv, or None when typer should parse it."""
    # Every parameter of `can_share` must have its plain default here (a test compares with typer's path).
    kwargs: dict = {"purpose": None, "on": None, "assume": [], "bundle": None, "fmt": TextOrJson.text, "verbose": False,
                    "audit_log": None, "audit_key": None}
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
                elif key in ("bundle", "audit_log", "audit_key"):
                    if kwargs[key] is not None:
                        return None
                    kwargs[key] = Path(value)
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

log_app = typer.Typer(help="The tamper-evident decision log written by `can-share --audit-log FILE`.",
                      no_args_is_help=True)
bundle_app = typer.Typer(help="Facts about a bundle.", no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(bundle_app, name="bundle")


def _audit(path: Optional[Path], policy, decisions, key: Optional[Path] = None) -> None:
    """Append the decisions to the log at `path` (when given) before any answer is shown: a decision that
    cannot be recorded is not given (exit 2)."""
    if path is None:
        return
    from engine.ops.decision_log import AuditLog
    from engine.errors import AuditLogError
    from engine.bundle.hashing import policy_hash

    try:
        AuditLog(path, key_path=key).record_all(decisions, policy_hash(policy))
    except AuditLogError as exc:
        raise _fail(str(exc), "no decision was given; fix the log, or choose another --audit-log file", "audit-log")


@log_app.command("verify")
@guarded
def log_verify(
    file: Path = typer.Argument(..., metavar="FILE", help="The decision log (JSON lines) to verify."),
    fmt: TextOrJson = typer.Option(TextOrJson.text, "--format", "-f", help="text or json."),
    key: Optional[Path] = typer.Option(None, "--key", envvar="LAWFUL_AUDIT_KEY", help="The log's key file. Default: FILE.key."),
    accept_torn: List[int] = typer.Option([], "--accept-torn", metavar="LINE", min=1, help="After investigating, accept the torn write at this line (appends a keyed record saying so). Repeatable."),
    anchor: Optional[str] = typer.Option(None, "--anchor", metavar="HEAD", help="A head printed earlier (kept elsewhere): fail unless that record is still in the chain."),
) -> None:
    """Verify a decision log: every line exact, authenticated by the log's key and chained; report the first
    edited, forged or reordered line, and every torn write not yet accepted (with its byte offset).

    Exit 0 when every line verifies, 1 at a problem, 2 when the file or its key cannot be read.
    """
    from engine.ops.decision_log import accept_torn as accept, verify_log
    from engine.errors import AuditLogError

    try:
        result = accept(file, accept_torn, key) if accept_torn else verify_log(file, key)
        if anchor is not None:
            result = verify_log(file, key, anchor)
    except OSError as exc:
        raise _fail(f"cannot read `{file}`: {exc.strerror or exc}", "give the file written by can-share --audit-log",
                    "audit-log")
    except AuditLogError as exc:
        raise _fail(str(exc), "give the log's key with --key FILE (or $LAWFUL_AUDIT_KEY)", "audit-log")
    if fmt is TextOrJson.json:
        typer.echo(json.dumps({"file": str(file), **result.to_dict()}, indent=2))
    elif result.ok:
        typer.echo(f"{file}: OK — {result.records} record{'s' if result.records != 1 else ''} "
                   f"({result.decisions} decision{'s' if result.decisions != 1 else ''}), chain intact; "
                   f"head {result.head} (seq {result.seq})")
        for t in result.torn:
            typer.echo(f"  note: line {t.line} (byte offset {t.offset}) is a torn write, accepted by line {t.accepted_by}")
        if result.anchored_seq is not None:
            typer.echo(f"  anchor {anchor} is record {result.anchored_seq} of the chain")
    else:
        line, message = result.problem
        typer.echo(f"{file}:{line}: error[audit-log-broken]: {message}")
        for t in result.unaccepted[1:]:
            typer.echo(f"  also: line {t.line} (byte offset {t.offset}) is a torn write not yet accepted")
        if result.only_torn:
            typer.echo(f"  the other {result.records} record(s) verify; head {result.head} (seq {result.seq})")
        else:
            typer.echo(f"  {result.records} record(s) before line {line} verify; head before it {result.head}")
    raise typer.Exit(EXIT_OK if result.ok else EXIT_DENY)


@bundle_app.command("hash")
@guarded
def bundle_hash_cmd(bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP)) -> None:
    """Print the bundle's content hash (SHA-256 over every policy file and gateways.yaml; file order never
    matters). The same hash is written into each `--audit-log` record."""
    from engine.bundle.read import resolve_bundle
    from engine.bundle.hashing import bundle_hash

    typer.echo(bundle_hash(resolve_bundle(bundle)))


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
    port: int = typer.Option(8181, "--port", min=0, max=65535, help="Port to listen on."),
    watch_interval: float = typer.Option(1.0, "--watch-interval", min=0, help="Seconds between checks of the bundle's files for changes; 0: reload on SIGHUP only."),
    max_body_bytes: int = typer.Option(1024 * 1024, "--max-body-bytes", min=1, help="Refuse larger request bodies (413)."),
    max_batch: int = typer.Option(1000, "--max-batch", min=1, max=1000, help="Refuse batches of more questions (413); at most 1000."),
    openapi: bool = typer.Option(False, "--openapi", help="Print the OpenAPI document (as in docs/openapi.json) and exit."),
) -> None:
    """Serve decisions over HTTP: POST /v1/decide, POST /v1/routes, GET /v1/health, GET /v1/bundle.

    Reloads on SIGHUP or when a bundle file changes; a bundle with errors never replaces the one being
    served (its diagnostics are logged). The OpenAPI document is at /openapi.json (and docs/openapi.json).
    """
    try:
        from engine.ops.service import BundleHolder, openapi_document, serve
    except ImportError as exc:
        raise _fail(f"`lawful serve` needs the `serve` extra ({exc.name} is not installed)",
                    "pip install 'lawful[serve]'", "missing-extra")
    if openapi:
        typer.echo(openapi_document(), nl=False)
        raise typer.Exit(EXIT_OK)
    holder = BundleHolder(bundle)
    serve(holder, host=host, port=port, watch_interval=watch_interval, max_body_bytes=max_body_bytes,
          max_batch=max_batch)


@app.command("lsp")
def lsp_cmd(
    tcp: Optional[int] = typer.Option(None, "--tcp", min=1, max=65535, metavar="PORT", help="Listen on 127.0.0.1:PORT instead of stdin and stdout."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="DIR", help="Bundle for files that are in none. Default: $LAWFUL_BUNDLE, the workspace folder if it is a bundle, else the shipped bundle."),
) -> None:
    """The language server for policy files (editors): diagnostics, hover, completion, definition, references, rename, formatting, test lenses.

    Speaks the Language Server Protocol on stdin and stdout (or --tcp PORT). Needs the `lsp` extra.
    """
    # Self-contained (typer only), so it stands in either layout of this file; engine.ops.lsp does the work.
    try:
        import pygls  # noqa: F401 — the optional extra, checked before the server starts
        from engine.ops.lsp import main
    except ImportError as exc:
        typer.echo(f"error[missing-extra]: `lawful lsp` needs the `lsp` extra ({exc.name} is not installed)", err=True)
        typer.echo("  help: pip install 'lawful[lsp]'", err=True)
        raise typer.Exit(2)
    try:
        main(tcp=tcp, bundle=bundle)
    except OSError as exc:  # --tcp: the port is taken, or not ours to take
        typer.echo(f"error[bad-usage]: cannot listen on 127.0.0.1:{tcp}: {(exc.strerror or str(exc)).lower()}", err=True)
        typer.echo("  help: choose another --tcp PORT", err=True)
        raise typer.Exit(2)


@app.command("audit")
@guarded
def audit_cmd(
    files: List[Path] = typer.Argument(..., metavar="FILE", help="Transfer logs: CSV (with a header), JSON Lines or Parquet."),
    on_column: str = typer.Option("date", "--on-column", help="Column holding the date of each transfer."),
    source_column: str = typer.Option("source", "--source-column", help="Column holding the disclosing organisation."),
    recipient_column: str = typer.Option("recipient", "--recipient-column", help="Column holding the receiving organisation."),
    data_column: str = typer.Option("data", "--data-column", help="Column holding the data category."),
    purpose_column: str = typer.Option("purpose", "--purpose-column", help="Column holding the purpose."),
    input_format: Optional[LogFormat] = typer.Option(None, "--input-format", help="csv, jsonl or parquet. Default: from each file's extension."),
    fmt: AuditFormat = typer.Option(AuditFormat.text, "--format", "-f", help="text, json or csv (csv: the flagged rows; the summary goes to stderr)."),
    engine_name: AuditEngine = typer.Option(AuditEngine.local, "--engine", help="local (streaming, one process) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786). Default: a LocalCluster on this machine."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Workers of the LocalCluster (--engine dask without --scheduler)."),
    assume: List[str] = typer.Option([], "--assume", help="Treat this (proposed) statute as in force. Repeatable."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", min=1, help="Rows read at a time by the local engine."),
) -> None:
    """Audit transfer logs: every transfer that was not lawful on its date, with its reasons, and a summary.

    Rows that cannot be judged (unknown names, bad dates, empty cells, malformed lines) are reported as
    rejected with their row numbers. Exit 0 when every row was lawful, 1 when any was unlawful or rejected,
    2 on error (unreadable file, missing column).
    """
    from engine.ops.transfers import ColumnMap, Progress, render, summary_text

    policy = _load(bundle)
    columns = ColumnMap(source_column, recipient_column, data_column, purpose_column, on_column)
    kind = input_format.value if input_format else None
    progress = Progress()
    if engine_name is AuditEngine.dask:
        from engine.ops.dask_audit import audit_dask

        report = audit_dask(policy, files, columns, kind, assume, scheduler=scheduler, workers=workers,
                            progress=progress)
    else:
        from engine.ops.transfers import audit_local

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


def _print_version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    _version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                  help="Print the engine's version and exit."),
) -> None:
    pass


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


def can_share_main() -> None:
    """The `can-share` console script: the same as `lawful can-share`."""
    fast = _fast_can_share_args(sys.argv[1:])  # issue 6: skip typer's parsing for the plain forms
    if fast is not None:
        try:
            can_share(**fast)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(EXIT_OK)
    # A one-command app, so usage and help read `can-share [OPTIONS] …` (not `can-share can-share`).
    solo = _LawfulApp(add_completion=False, pretty_exceptions_enable=False,
                       context_settings={"help_option_names": ["-h", "--help"]})
    solo.command("can-share")(can_share)
    _unwrap_help(solo)
    solo(prog_name="can-share")


if __name__ == "__main__":
    app()
