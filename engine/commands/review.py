"""Review in pull requests: `check`, `fmt`, `test`, `diff`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable, Optional, Sequence

from engine.commands.result import EXIT_DENY, EXIT_ERROR, EXIT_OK, Result, command, json_errors, load, parse_date
from engine.errors import RequestError


def relative_to_cwd(root: Optional[Path]) -> Callable[[str], str]:
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


def explain_code(code: str) -> Result:
    """What a diagnostic code means; any case, and as printed in a diagnostic (`error[parse-error]:`), since
    people paste what they see."""
    from engine.base.diagnostics import CODES, did_you_mean

    pasted = re.fullmatch(r"(?:error|warning|info)\[([a-z0-9-]+)\]:?", code.strip().lower())
    code = pasted.group(1) if pasted else code.strip().lower()
    from engine.syntax.clauses import explain

    text = explain(code)
    if text is None:
        sugg = did_you_mean(code, CODES)
        raise RequestError("unknown-code", f"`{code}` is not a diagnostic code",
                           f"did you mean {', '.join(sugg)}?" if sugg else None)
    return Result(EXIT_OK).out(f"{code}: {text}")


@command
def check(bundle: Optional[Path] = None, fmt: str = "text", strict: bool = False, on: Optional[str] = None,
          explain: Optional[str] = None, expiring_within: int = 90, fail_level: Optional[str] = None) -> Result:
    """Check a bundle as its lawful.toml says. Exit 0 when nothing is at or above the fail level (`fail_level`,
    else `strict` = warning, else the configuration's, else error), 1 when something is, 2 when the check could
    not run (no bundle, a configuration it cannot accept). `fmt`: text, json, sarif or github. `explain`: print
    what a diagnostic code means instead."""
    if explain is not None:
        return explain_code(explain)
    import engine
    from engine.base.diagnostics import Severity
    from engine.render.diagnostics import render
    from engine.render import report
    from engine.review.config import EXIT_COULD_NOT_RUN, exit_code, fail_level_of, load_config
    from engine.review.lint import check_and_lint

    root = engine.resolve_bundle(bundle)
    config = load_config(root if root.is_dir() else None)
    diags, sources = check_and_lint(root, parse_date(on), expiring_within, config)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    warnings = [d for d in diags if d.severity is Severity.WARNING]
    res = Result(exit_code(diags, fail_level_of(fail_level, strict, config)))
    if fmt == "json" and res.exit_code == EXIT_COULD_NOT_RUN:  # no bundle to judge: an error, as JSON errors are
        return res.out(json_errors([report.error_item(d) for d in errors]), nl=False)
    if fmt in ("sarif", "github"):
        paths = relative_to_cwd(root)
        if fmt == "sarif":
            from engine.review.vcs import provenance

            res.out(report.to_json(report.sarif(diags, engine.__version__, paths, sources, provenance(root),
                                                report.docs_url())))
        else:
            res.out(report.github_diagnostics(diags, paths))
    elif fmt == "json":
        res.out(json.dumps({"diagnostics": [d.to_dict() for d in diags],
                            "summary": {"errors": len(errors), "warnings": len(warnings),
                                        "info": len(diags) - len(errors) - len(warnings)}}, indent=2))
    elif diags:
        res.out(render(diags, sources, errors_first=True))
    else:
        res.out("no problems found")
    return res


@command
def test(paths: Sequence[Path] = (), bundle: Optional[Path] = None, fmt: str = "text", verbose: bool = False) -> Result:
    """Run the policy tests. Exit 0 when all pass, 1 when any fails, 2 when they could not run. `fmt`: text,
    json, junit or github. Without `paths`: tests/policy/ and the bundle's own tests. An expectation without
    `on` is judged on the bundle's as-of date (lawful.toml), else today."""
    import engine
    from engine.render import report
    from engine.review import testing
    from engine.review.config import load_config

    root = engine.resolve_bundle(bundle)
    config = load_config(root if root.is_dir() else None)
    policy = load(root)
    explicit = bool(paths)
    run = testing.run_paths(policy, list(paths) if explicit else testing.default_test_paths(), root,
                            include_bundle=not explicit, today=config.as_of)
    res = Result(EXIT_ERROR if run.has_errors else EXIT_OK if run.ok else EXIT_DENY)
    if fmt == "json":
        return res.out(report.to_json(run.to_dict()))
    if fmt == "junit":
        return res.out(report.junit(run))
    if fmt == "github":
        return res.out(report.github_tests(run))
    from engine.render.testrun import render_text

    from engine.base.text import escape_block

    return res.out(escape_block(render_text(run, verbose=verbose,
                                            searched=[str(p) for p in paths] if explicit else None)))


@command
def fmt(paths: Sequence[Path] = (), check: bool = False, show_diff: bool = False,
        bundle: Optional[Path] = None) -> Result:
    """Format policy files in the canonical layout. Exit 0 when done (`check`: nothing would change), 1 when
    `check` finds files to reformat, 2 when a file cannot be parsed. Without `paths`: the bundle's policies/
    and tests/policy/, and only when a bundle is named or the current folder is one."""
    import engine
    from engine.render.diagnostics import render
    from engine.bundle.read import ENV_VAR, is_bundle
    from engine.base.text import escape, escape_block
    from engine.review import fmt as formatter
    from engine.review.testing import default_test_paths

    if not paths and bundle is None and not os.environ.get(ENV_VAR) and not is_bundle(Path.cwd()):
        # Never rewrite the bundle shipped with the engine just because no folder was named.
        raise RequestError("bad-bundle", "the current folder is not a bundle (gateways.yaml + policies/)",
                           "name the files or folders to format, or pass --bundle DIR")
    targets = list(paths) if paths else [engine.resolve_bundle(bundle) / "policies", *default_test_paths()]
    results = formatter.format_paths(targets, write=not (check or show_diff))
    broken = [r for r in results if r.diagnostics]
    changed = [r for r in results if r.changed]
    res = Result(EXIT_ERROR if broken else EXIT_DENY if check and changed else EXIT_OK)
    for r in broken:
        res.err(render(r.diagnostics, r.sources))
    if show_diff:
        for r in changed:
            res.out(escape_block(formatter.unified_diff(r.before, r.after, r.path)), nl=False)
    if check:
        for r in changed:
            res.out(f"would reformat {escape(r.path)}")
    elif not show_diff:
        for r in changed:
            res.out(f"reformatted {escape(r.path)}")
    ok = len(results) - len(broken) - len(changed)
    summary = (f"{len(changed)} file{'s' if len(changed) != 1 else ''} "
               f"{'would be ' if check or show_diff else ''}reformatted, {ok} unchanged")
    if broken:
        summary += f", {len(broken)} could not be read or parsed"
    return res.err(summary)


@command
def diff(old: str, new: str, on: Optional[str] = None, bundle: Optional[Path] = None, fmt: str = "text",
         link_base: Optional[str] = None, fail_on: str = "any") -> Result:
    """What a change makes lawful or unlawful, and when: on every boundary date of either side (`on`: that
    date only), each rule change in words first. Exit 1 when the diff holds a change `fail_on` names (any,
    newly-allowed, newly-allowed-personal, newly-denied, never), else 0; 2 when it could not run. `old`, `new`:
    bundle folders or git revisions; `fmt`: text, json or markdown (`link_base`: file:line links)."""
    import engine
    from engine.render import report
    from engine.review.diff import diff as compare, fails_on

    result = compare(old, new, parse_date(on), engine.resolve_bundle(bundle))
    res = Result(EXIT_DENY if fails_on(result, fail_on) else EXIT_OK)
    if fmt == "json":
        return res.out(report.to_json(result.to_dict()))
    if fmt == "markdown":
        return res.out(report.diff_markdown(result, link_base), nl=False)
    return res.out(report.diff_text(result))
