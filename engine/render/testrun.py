"""A policy test run as text (`lawful test`)."""

from __future__ import annotations

from typing import Optional, Sequence

from engine.decision.review import TestRun


def render_text(run: TestRun, verbose: bool = False, searched: Optional[Sequence[str]] = None) -> str:
    """Failures with their location and the decision's full explanation, then a summary line.

    `searched`: the paths named on the command line (said when they hold no test)."""
    from engine.render.diagnostics import render

    chunks = []
    if run.diagnostics:
        chunks.append(render(run.diagnostics, run.sources, summary=False))  # the summary below counts them
    for r in run.results:
        if r.passed:
            if verbose:
                chunks.append(f"ok      {r.span}: {r.name}")
            continue
        word = "FAILED" if r.status == "failed" else "ERROR"
        block = [f"{word}  {r.span}: {r.name}", f"  in test \"{r.test}\"", f"  {r.message}"]
        if r.details:
            block += ["  " + line if line else "" for line in r.details.splitlines()]
        chunks.append("\n".join(block))
    if not run.results and not run.diagnostics:
        where = ", ".join(run.files or searched or ()) or "tests/policy/ and the bundle's policy files"
        return f"no policy tests found (looked in {where})"
    passed, failed = run.count("passed"), run.count("failed")
    errors = run.count("error") + len(run.diagnostics)
    tests = len({(r.span.file, r.test) for r in run.results})
    n = len(run.results)
    summary = f"{n} expectation{'s' if n != 1 else ''} in {tests} test{'s' if tests != 1 else ''}: " \
              f"{passed} passed, {failed} failed" + (f", {errors} error{'s' if errors != 1 else ''}" if errors else "")
    chunks.append(summary)
    return "\n\n".join(chunks)
