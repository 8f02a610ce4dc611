"""Renderers for machines: SARIF 2.1.0 and GitHub workflow commands for diagnostics, JUnit XML and GitHub
annotations for policy tests, JSON and Markdown for the semantic diff.

Pure functions from plain results to text; the CLI picks one with `--format`. File paths are reported as
given (the CLI makes them relative to the folder the command runs in, which is what GitHub code scanning and
annotations expect when that folder is the repository root).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

from engine.base.diagnostics import CODES, Diagnostic, Severity
from engine.base.source import Span
from engine.render.diff import MAX_MARKDOWN_CHARS, diff_markdown, diff_text  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # pragma: no cover
    from engine.decision.review import TestRun

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"

PathMap = Callable[[str], str]


def csv_cell(value: object) -> object:
    """A value safe to open in a spreadsheet: text that a spreadsheet would run as a formula (starting with
    `=`, `+`, `-`, `@`, a tab or a carriage return — OWASP's list) is written with a leading `'`, which
    spreadsheets show as text. Transfer logs are outside input, so their values are never trusted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _same(path: str) -> str:
    return path


# ---- SARIF ---------------------------------------------------------------------------------------

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _region(span: Span) -> dict:
    d = span.to_dict()
    region = {"startLine": d["line"], "startColumn": max(d["column"], 1)}
    if d["end_line"] >= d["line"]:
        region["endLine"] = d["end_line"]
        if d["end_column"] > 0 and (d["end_line"] > d["line"] or d["end_column"] > region["startColumn"]):
            region["endColumn"] = d["end_column"]
    return region


def _location(span: Optional[Span], path_map: PathMap, message: Optional[str] = None) -> Optional[dict]:
    if span is None or not span.file:
        return None
    phys: dict = {"artifactLocation": {"uri": path_map(span.file)}}
    if span.line > 0:
        phys["region"] = _region(span)
    loc: dict = {"physicalLocation": phys}
    if message:
        loc["message"] = {"text": message}
    return loc


def sarif(diagnostics: Sequence[Diagnostic], version: str, path_map: PathMap = _same) -> dict:
    """A SARIF 2.1.0 log with one run: every code as a rule (with its help paragraph), every diagnostic as a
    result with its location, related locations and help."""
    used = sorted({d.code for d in diagnostics})
    codes = sorted(set(CODES) | set(used))
    index = {c: i for i, c in enumerate(codes)}
    rules = []
    for c in codes:
        text = CODES.get(c, c)
        first = text.split(". ")[0].rstrip(".") + "."
        rules.append({
            "id": c,
            "name": "".join(w.capitalize() for w in c.split("-")),
            "shortDescription": {"text": first},
            "fullDescription": {"text": text},
            "help": {"text": f"{text} (lawful check --explain {c})"},
        })
    results = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        text = d.message + (f" (help: {d.help})" if d.help else "")
        res: dict = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _SARIF_LEVEL.get(d.severity, "warning"),
            "message": {"text": text},
        }
        loc = _location(d.span, path_map)
        if loc:
            res["locations"] = [loc]
        related = [r for r in (_location(s, path_map, msg) for msg, s in d.related) if r]
        if related:
            for i, r in enumerate(related):
                r["id"] = i
            res["relatedLocations"] = related
        results.append(res)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "lawful", "version": version, "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


# ---- GitHub workflow commands ----------------------------------------------------------------------


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_command(level: str, message: str, span: Optional[Span], title: str, path_map: PathMap = _same) -> str:
    """`::error file=…,line=…,col=…,title=…::message` (a workflow command GitHub shows as an annotation)."""
    props = []
    if span is not None and span.file:
        props.append(f"file={_gh_prop(path_map(span.file))}")
        if span.line > 0:
            props.append(f"line={span.line}")
            props.append(f"col={max(span.column, 1)}")
            if span.end_line and span.end_line >= span.line:
                props.append(f"endLine={span.end_line}")
                if span.end_line == span.line and span.end_column > span.column:
                    props.append(f"endColumn={span.end_column}")
    props.append(f"title={_gh_prop(title)}")
    return f"::{level} {','.join(props)}::{_gh_data(message)}"


_GH_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def github_diagnostics(diagnostics: Sequence[Diagnostic], path_map: PathMap = _same) -> str:
    lines = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        msg = d.message + (f"\nhelp: {d.help}" if d.help else "")
        lines.append(github_command(_GH_LEVEL.get(d.severity, "warning"), msg, d.span, f"lawful {d.code}", path_map))
    return "\n".join(lines)


def github_tests(run: "TestRun", path_map: PathMap = _same) -> str:
    lines = [github_command("error", d.message + (f"\nhelp: {d.help}" if d.help else ""), d.span,
                            f"lawful test: {d.code}", path_map) for d in run.diagnostics]
    for r in run.results:
        if r.passed:
            continue
        msg = f"{r.name}\n{r.message}" + (f"\n\n{r.details}" if r.details else "")
        lines.append(github_command("error", msg, r.span, f"policy test failed: {r.test}", path_map))
    n, errors = len(run.results), run.count("error") + len(run.diagnostics)
    lines.append(f"{n} expectation{'' if n == 1 else 's'}: {run.count('passed')} passed, {run.count('failed')} failed, "
                 f"{errors} error{'' if errors == 1 else 's'}")
    return "\n".join(lines)


# ---- JUnit XML -------------------------------------------------------------------------------------


def junit(run: "TestRun", path_map: PathMap = _same) -> str:
    """JUnit XML: one <testsuite> per `test` block, one <testcase> per expectation, a <failure> with the
    decision's full explanation, an <error> for an expectation that could not be run."""
    root = ET.Element("testsuites", name="lawful policy tests")
    suites: dict[tuple[str, str], list] = {}
    for r in run.results:
        suites.setdefault((r.span.file, r.test), []).append(r)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for (file, test), results in suites.items():
        failures = sum(1 for r in results if r.status == "failed")
        errors = sum(1 for r in results if r.status == "error")
        suite = ET.SubElement(root, "testsuite", name=test, tests=str(len(results)), failures=str(failures),
                              errors=str(errors), skipped="0", time="0", file=path_map(file))
        for r in results:
            case = ET.SubElement(suite, "testcase", name=r.name, classname=f"{path_map(file)}: {test}",
                                 file=path_map(file), line=str(r.span.line), time="0")
            if r.status == "failed":
                el = ET.SubElement(case, "failure", message=r.message, type="policy-test-failure")
                el.text = f"{r.span}: {r.name}\n{r.message}\n\n{r.details}"
            elif r.status == "error":
                el = ET.SubElement(case, "error", message=r.message, type="policy-test-error")
                el.text = f"{r.span}: {r.name}\n{r.message}\n{r.details}"
        totals["tests"] += len(results)
        totals["failures"] += failures
        totals["errors"] += errors
    if run.diagnostics:
        suite = ET.SubElement(root, "testsuite", name="test files", tests=str(len(run.diagnostics)), failures="0",
                              errors=str(len(run.diagnostics)), skipped="0", time="0")
        for d in run.diagnostics:
            file = path_map(d.span.file) if d.span else ""
            case = ET.SubElement(suite, "testcase", name=f"{d.span or 'test files'}: {d.code}", classname="test files",
                                 file=file, line=str(d.span.line if d.span else 0), time="0")
            el = ET.SubElement(case, "error", message=d.message, type=d.code)
            el.text = d.headline() + (f"\nhelp: {d.help}" if d.help else "")
        totals["tests"] += len(run.diagnostics)
        totals["errors"] += len(run.diagnostics)
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def to_json(data: Mapping) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)


def error_item(d: Diagnostic, **extra: object) -> dict:
    """One error as the HTTP service writes it (`{"code", "message", "help", …}`), with where and how bad."""
    item: dict = {"code": d.code, "message": d.message, "help": d.help, "severity": d.severity.value,
                  "span": d.span.to_dict() if d.span else None}
    if d.related:
        item["related"] = [{"message": msg, "span": sp.to_dict()} for msg, sp in d.related]
    item.update(extra)
    return item


def error_envelope(items: Sequence[dict]) -> str:
    """`{"errors": [...]}`: what a command run with `--format json` writes to standard output when it cannot
    answer (exit 2), the same shape as the service's error bodies, so a script reads one format."""
    return to_json({"errors": list(items)})


# ---- the semantic diff ------------------------------------------------------------------------------
# Its words (rule changes in sentences, flows rolled up, the capped pull-request comment) are in diff.py;
# `diff_text` and `diff_markdown` are imported above.
