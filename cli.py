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
    from engine import report
    from engine.lint import check_and_lint

    diags, sources = check_and_lint(bundle, _parse_date(on), expiring_within)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    if fmt in (CheckFormat.sarif, CheckFormat.github):
        paths = _relative_to_cwd(engine.resolve_bundle(bundle))
        typer.echo(report.to_json(report.sarif(diags, engine.__version__, paths)) if fmt is CheckFormat.sarif
                   else report.github_diagnostics(diags, paths))
    elif fmt is CheckFormat.json:
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
    paths: List[Path] = typer.Argument(None, help="Files or folders with `test` blocks. Default: tests/policy/ and the bundle's own tests."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
    fmt: TestFormat = typer.Option(TestFormat.text, "--format", "-f", help="text, json, junit (JUnit XML) or github (workflow annotations)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List passing expectations too."),
) -> None:
    """Run the policy tests: every `expect` line of every `test` block, against the bundle.

    A failing expectation prints its location and the decision's full explanation.
    Exit 0 when all pass, 1 when any fails, 2 on error (a bad test file, an unknown name).
    """
    import engine
    from engine import report, testing

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
        typer.echo(testing.render_text(run, verbose=verbose))
    if run.has_errors:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_OK if run.ok else EXIT_DENY)


@app.command("fmt")
@guarded
def fmt_cmd(
    paths: List[Path] = typer.Argument(None, help="Files or folders of *.policy files. Default: the bundle's policies/ and tests/policy/."),
    check: bool = typer.Option(False, "--check", help="Write nothing; list the files that would change and exit 1 if any."),
    show_diff: bool = typer.Option(False, "--diff", help="Write nothing; print a unified diff of the changes."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help=BUNDLE_HELP),
) -> None:
    """Format policy files in the canonical layout, keeping every comment.

    Exit 0 when done (or, with --check, nothing would change), 1 when --check finds files to reformat,
    2 when a file cannot be parsed.
    """
    import engine
    from engine import fmt as formatter
    from engine.diagnostics import render
    from engine.testing import default_test_paths

    from engine.bundle import ENV_VAR, is_bundle

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
        summary += f", {len(broken)} could not be parsed"
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
    old: str = typer.Argument(..., help="The old side: a bundle folder, or a git revision (main, HEAD~1, a SHA)."),
    new: str = typer.Argument(..., help="The new side: a bundle folder, or a git revision."),
    on: Optional[str] = typer.Option(None, "--on", help="Date the flows are judged on, YYYY-MM-DD. Default: today."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="Where the bundle lives in the repository, for git revisions. " + BUNDLE_HELP),
    fmt: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="text, json or markdown (a pull-request comment)."),
) -> None:
    """Which flows a change makes lawful or unlawful, grouped by the rule change that caused it.

    Reads git revisions with git (never touching the work tree). Exit 0 when no verdict changes, 1 when some
    do, 2 on error.
    """
    import engine
    from engine import report
    from engine.diff import diff

    result = diff(old, new, _parse_date(on), engine.resolve_bundle(bundle))
    if fmt is DiffFormat.json:
        typer.echo(report.to_json(result.to_dict()))
    elif fmt is DiffFormat.markdown:
        typer.echo(report.diff_markdown(result), nl=False)
    else:
        typer.echo(report.diff_text(result))
    raise typer.Exit(EXIT_DENY if result.flows else EXIT_OK)


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
