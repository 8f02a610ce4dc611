"""Policy tests: run every `test` block against a compiled Policy.

`expect allow|deny SOURCE -> RECIPIENT DATA [for PURPOSE] [on DATE] [assuming STATUTE…] [because ID…]`

- With `for`, the expectation is one decision. Without it, the flow is decided for every declared purpose:
  `allow` passes when at least one purpose is allowed, `deny` when every purpose is denied (so flipping the
  verdict always flips the result).
- Without `on`, the date is the run date (today) — write `on` to pin a test.
- `because ID…`: every named rule must be among the decision's reasons (`Decision.reason_ids()`).

Test files outside the bundle may hold only `test` blocks: they test the bundle, they do not add to it.
Bad input (a syntax error, an unknown name) is a diagnostic, reported as an errored expectation.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from engine.syntax import model as m
from engine.policy.facade import Policy
from engine.decision.review import ExpectationResult, TestRun
from engine.base.safeio import FileTooLarge, NotRegularFile, read_regular
from engine.base.text import escape
from engine.bundle.files import MAX_WALK_ENTRIES as _BUNDLE_WALK_LIMIT, walk_policy_files
from engine.bundle.read import DEFAULT_LIMITS, control_characters
from engine.base.diagnostics import Diagnostic, did_you_mean, error
from engine.errors import UnknownNameError
from engine.render.explain import explain
from engine.syntax.parser import parse_source
from engine.base.source import SourceFile, Span

DEFAULT_TEST_DIR = Path("tests") / "policy"
MAX_TEST_FILE_BYTES = 5 * 1024 * 1024


# ---- finding test files --------------------------------------------------------------------------


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path, Path.cwd()).replace(os.sep, "/")
    except ValueError:
        return path.resolve().as_posix()
    return path.resolve().as_posix() if rel.startswith("..") else rel


MAX_WALK_ENTRIES = _BUNDLE_WALK_LIMIT  # files and folders looked at below one named folder


def _policy_files_below(folder: Path, max_files: int, diags: list[Diagnostic]) -> tuple[list[Path], Optional[str]]:
    """`*.policy` files below `folder`, walked as a bundle's policies/ are (engine.bundle.files): links to
    folders not followed, a folder that cannot be listed or a FIFO named `*.policy` reported, never skipped.
    Bounded: a folder with more policy files than a bundle may hold, or far more entries than any bundle
    has, is refused rather than walked to the end."""
    walk_diags: list[Diagnostic] = []
    found = walk_policy_files(folder, _display(folder), None, walk_diags, max_entries=MAX_WALK_ENTRIES)
    refused = [d for d in walk_diags if d.code == "too-many-files"]
    if refused:
        return [], f"holds more than {MAX_WALK_ENTRIES:,} files and folders"
    diags.extend(walk_diags)
    if len(found) > max_files:
        return [], f"holds more than {max_files:,} *.policy files"
    return [p for _name, p in found], None


def find_test_files(paths: Sequence[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Every `*.policy` file named, or below a named folder, sorted; a missing path is a diagnostic."""
    out: list[Path] = []
    diags: list[Diagnostic] = []
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            st = None
        except OSError as exc:
            diags.append(error("unreadable-path",
                               f"cannot examine `{escape(str(p))}`: {(exc.strerror or str(exc)).lower()}",
                               None, "make it readable by the user running lawful"))
            continue
        if st is None:
            diags.append(error("bad-bundle", f"`{escape(str(p))}` does not exist", None,
                               "pass files or folders holding *.policy files"))
        elif stat.S_ISDIR(st.st_mode):
            found, refused = _policy_files_below(p, DEFAULT_LIMITS.max_files - len(out), diags)
            if refused:
                diags.append(error("too-many-files", f"`{escape(str(p))}` {refused}", None,
                                   "name the bundle's folders or the files themselves"))
                return [], diags
            out.extend(sorted(found))
        else:
            out.append(p)  # a FIFO or device named here is refused when it is read (never opened blocking)
    seen: set[Path] = set()
    unique = []
    for p in out:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(p)
    return unique, diags


def read_test_file(path: Path, name: str, diags: list[Diagnostic]) -> Optional[bytes]:
    """A test file's bytes: a regular file only (a FIFO or device is refused, never waited on), at most
    MAX_TEST_FILE_BYTES. Problems go to `diags`."""
    try:
        return read_regular(path, MAX_TEST_FILE_BYTES)
    except FileTooLarge:
        diags.append(error("file-too-large", f"`{name}` is over the limit of {MAX_TEST_FILE_BYTES:,} bytes",
                           Span(name, 1, 1)))
    except NotRegularFile as exc:
        diags.append(error("not-a-file", f"`{name}` is {exc.kind}, not a regular file", Span(name, 0, 0),
                           "only regular files are read"))
    except OSError as exc:
        diags.append(error("unreadable-path", f"cannot read `{name}`: {(exc.strerror or str(exc)).lower()}",
                           Span(name, 0, 0), "make it readable by the user running lawful"))
    return None


def read_tests(paths: Sequence[Path], bundle_root: Optional[Path] = None,
               run: Optional[TestRun] = None) -> tuple[list[tuple[m.PolicyTest, bool]], TestRun]:
    """Parse the test files. Returns each test with whether it comes from inside the bundle, and the run
    (diagnostics, sources) so far. Files inside the bundle's `policies/` may hold declarations too."""
    run = run or TestRun()
    files, diags = find_test_files(paths)
    run.diagnostics.extend(diags)
    policies_dir = (bundle_root / "policies").resolve() if bundle_root else None
    tests: list[tuple[m.PolicyTest, bool]] = []
    for p in files:
        name = _display(p)
        raw = read_test_file(p, name, run.diagnostics)
        if raw is None:
            continue
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            run.diagnostics.append(error("bad-encoding", f"`{name}` is not valid UTF-8", Span(name, 1, 1),
                                         "save the file as UTF-8"))
            continue
        src = SourceFile(name, text)
        run.sources[name] = src
        run.files.append(name)
        run.diagnostics.extend(control_characters(src))  # test names are printed: no escapes in them
        parsed, file_diags = parse_source(src)
        run.diagnostics.extend(d for d in file_diags if d.severity.value == "error")
        if parsed is None:
            continue
        in_bundle = policies_dir is not None and _inside(p, policies_dir)
        found, refused = tests_of_file(parsed, in_bundle)
        tests += [(t, in_bundle) for t in found]
        run.diagnostics.extend(refused)
    return tests, run


def tests_of_file(parsed: m.PolicyFile, in_bundle: bool) -> tuple[list[m.PolicyTest], list[Diagnostic]]:
    """The `test` blocks of a parsed file, and a `declaration-in-test-file` error for each declaration when the
    file is outside the bundle (the language server checks an open test file with this too)."""
    tests: list[m.PolicyTest] = []
    diags: list[Diagnostic] = []
    for item in parsed.items:
        if isinstance(item, m.PolicyTest):
            tests.append(item)
        elif not in_bundle:
            ident = getattr(item, "id", None)
            diags.append(error(
                "declaration-in-test-file",
                f"`{ident.text if ident else '?'}` is declared in a test file outside the bundle",
                item.span, "test files may only hold `test` blocks; declare it in the bundle's policies/"))
    return tests, diags


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


# ---- running --------------------------------------------------------------------------------------


def _unknown(policy: Policy, e: m.Expectation) -> Optional[Diagnostic]:
    """The first name in the expectation the bundle does not declare, as a diagnostic at its span."""
    checks: list[tuple[Callable[[str], str], m.Name]] = [
        (policy.org_key, e.source), (policy.org_key, e.recipient), (policy.data_key, e.data)]
    if e.purpose is not None:
        checks.append((policy.purpose_key, e.purpose))
    checks += [(policy.statute_key, n) for n in e.assuming]
    checks += [(policy.condition_key, n) for n in e.given]
    if e.received_under is not None:
        checks.append((policy.gateway_key, e.received_under))
    if e.held_for is not None:  # a function of the source (once the source is known to be declared)
        checks.append((lambda f: policy.function_key(policy.org_key(e.source.text), f), e.held_for))
    for resolve, name in checks:
        try:
            resolve(name.text)
        except UnknownNameError as exc:
            help_ = f"did you mean {', '.join(f'`{s}`' for s in exc.suggestions)}?" if exc.suggestions else \
                "tests may name only what the bundle declares"
            return error("unknown-name", f"unknown {exc.kind} `{name.text}`", name.span, help_)
    rules = [g.id for g in policy.gateways.values()] + [r.id for r in policy.restrictions.values()] + \
        [a.id for a in policy.agreements.values()]
    for n in e.because:
        if policy.rule(n.text) is None:
            sugg = did_you_mean(n.text, rules)
            return error("unknown-name", f"unknown gateway, restriction or agreement `{n.text}`", n.span,
                         f"did you mean {', '.join(f'`{s}`' for s in sugg)}?" if sugg else None)
    return None


def run_expectation(policy: Policy, test: str, e: m.Expectation, today: Optional[dt.date] = None) -> ExpectationResult:
    """Decide the expectation's flow and compare verdict and reasons."""
    bad = _unknown(policy, e)
    if bad is not None:
        return ExpectationResult(test, e, "error", f"{bad.message} (at {bad.span})", bad.help or "")
    on = e.on or today or dt.date.today()
    # what the expectation states, as can-share's options state it
    stated: dict[str, Any] = {
        "given": [n.text for n in e.given], "express_only": e.express_only,
        "received_under": e.received_under.text if e.received_under else None, "own_data": e.own_data,
        "held_for": e.held_for.text if e.held_for else None}
    assume = [n.text for n in e.assuming]
    if e.purpose is not None:
        decisions = [policy.decide(e.source.text, e.recipient.text, e.data.text, e.purpose.text, on=on,
                                   assume=assume, **stated)]
    else:
        decisions = policy.decide_all_purposes(e.source.text, e.recipient.text, e.data.text, on=on, assume=assume,
                                               **stated)
    allowed = [d for d in decisions if d.allowed]
    if e.verdict == "allow":
        verdict_ok = bool(allowed)
        relevant = allowed or decisions
    else:
        verdict_ok = not allowed
        relevant = allowed or decisions
    details = "\n\n".join(explain(d, verbose=True) for d in relevant)
    if not verdict_ok:
        got = "allow" if allowed else "deny"
        what = f"expected {e.verdict}, got {got}"
        if e.purpose is None:
            what += f" (for {', '.join(d.purpose for d in allowed)})" if allowed else " for every purpose"
        return ExpectationResult(test, e, "failed", what + f": {relevant[0].headline}", details, tuple(relevant))
    if e.because:
        reasons: set[str] = set()
        for d in (allowed if e.verdict == "allow" else decisions):
            reasons |= d.reason_ids()
        missing = [n.text for n in e.because if n.key not in reasons]
        if missing:
            shown = ", ".join(sorted(reasons)) or "none"
            return ExpectationResult(
                test, e, "failed",
                f"{e.verdict} as expected, but not because of {', '.join(f'`{x}`' for x in missing)} "
                f"(the reasons were: {shown})", details, tuple(relevant))
    return ExpectationResult(test, e, "passed", "", "", tuple(relevant))


def run_tests(policy: Policy, tests: Iterable[m.PolicyTest], run: Optional[TestRun] = None,
              today: Optional[dt.date] = None) -> TestRun:
    """Run every expectation of every test, in file and line order."""
    run = run or TestRun()
    ordered = sorted(tests, key=lambda t: (t.span.file, t.span.line, t.span.column))
    for t in ordered:
        for e in t.expectations:
            run.results.append(run_expectation(policy, t.name, e, today))
    return run


def run_paths(policy: Policy, paths: Sequence[Path], bundle_root: Optional[Path],
              include_bundle: bool = True, today: Optional[dt.date] = None) -> TestRun:
    """Run the tests in `paths` and (with `include_bundle`) those inside the bundle's policy files."""
    tests, run = read_tests(paths, bundle_root)
    collected = [t for t, _inside_bundle in tests]
    seen_files = {t.span.file for t in collected}
    if include_bundle:
        prefix = ""
        if bundle_root is not None:
            shown = _display(bundle_root)
            prefix = "" if shown == "." else shown.rstrip("/") + "/"
        for t in policy.tests:
            # Bundle tests carry bundle-relative spans; show them relative to where the command runs.
            file = prefix + t.span.file
            if file in seen_files:
                continue
            collected.append(_relocate(t, file))
            if file not in run.files:
                run.files.append(file)
            src = policy.sources.get(t.span.file)
            if src is not None:
                run.sources[file] = SourceFile(file, src.text)
    return run_tests(policy, collected, run, today)


def _relocate(t: m.PolicyTest, file: str) -> m.PolicyTest:
    from dataclasses import replace

    def mv(s: Span) -> Span:
        return replace(s, file=file)

    def name(n: m.Name) -> m.Name:
        return m.Name(n.text, mv(n.span))

    exps = tuple(replace(e, span=mv(e.span), source=name(e.source), recipient=name(e.recipient), data=name(e.data),
                         purpose=name(e.purpose) if e.purpose else None,
                         assuming=tuple(name(n) for n in e.assuming), because=tuple(name(n) for n in e.because),
                         given=tuple(name(n) for n in e.given),
                         received_under=name(e.received_under) if e.received_under else None,
                         held_for=name(e.held_for) if e.held_for else None)
                 for e in t.expectations)
    return m.PolicyTest(t.name, exps, mv(t.span))


def default_test_paths(cwd: Optional[Path] = None) -> list[Path]:
    """`tests/policy/` under the current folder when it exists."""
    p = (cwd or Path.cwd()) / DEFAULT_TEST_DIR
    return [p] if p.is_dir() else []
