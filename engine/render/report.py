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

from engine.base.text import escape, escape_block
from engine.base.diagnostics import CODES, Diagnostic, Severity
from engine.syntax.clauses import explain
from engine.base.source import Span

if TYPE_CHECKING:  # pragma: no cover
    from engine.decision.review import DiffResult
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
        text = explain(c) or c
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
    # Line breaks are the command's own escapes; any other control character is shown, never passed raw.
    return escape_block(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


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


# ---- the semantic diff ------------------------------------------------------------------------------

_FLAG_WORDS = {"special-category": "SPECIAL-CATEGORY DATA", "criminal-offence": "CRIMINAL-OFFENCE DATA",
               "personal": "PERSONAL DATA"}
MAX_ROWS = 200  # flow rows in a Markdown comment (GitHub caps comments at 65,536 characters); JSON has every flow
MAX_CHANGE_ROWS = 100


def _md(text: str) -> str:
    """Escape a cell for a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _change_where(c) -> str:
    if c.old_span and c.new_span and c.action == "changed":
        return f"{c.new_span}"
    return f"{c.where}" if c.where else ""


def _counts(result: "DiffResult") -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for f in result.flows:
        for k in f.causes:
            row = out.setdefault(k, [0, 0])
            row[0 if f.newly_allowed else 1] += 1
    return {k: (a, d) for k, (a, d) in out.items()}


def diff_markdown(result: "DiffResult") -> str:
    """A pull-request comment: headline counts, a loud warning for personal data, then tables."""
    allowed, denied = result.newly_allowed, result.newly_denied
    lines = [f"## lawful diff: {len(allowed)} newly allowed, {len(denied)} newly denied", ""]
    lines.append(f"Comparing `{escape(result.old_label)}` → `{escape(result.new_label)}` on **{result.on.isoformat()}**: "
                 f"{len(result.changes)} rule change{'s' if len(result.changes) != 1 else ''}, "
                 f"{result.evaluated} question{'s' if result.evaluated != 1 else ''} evaluated in their scopes.")
    lines.append("")
    flagged = [f for f in allowed if f.flag]
    if flagged:
        special = [f for f in flagged if f.flag in ("special-category", "criminal-offence")]
        text = f"**{len(flagged)} newly allowed flow{'s' if len(flagged) != 1 else ''} involve personal data**"
        if special:
            text += f", {len(special)} of them **special-category or criminal-offence data**"
        lines += ["> [!WARNING]", f"> {text}. Check the lawful basis and conditions before merging.", ""]
    if not result.flows:
        lines += ["No question changes verdict." if result.changes else "No rule changed.", ""]
    counts = _counts(result)
    if result.changes:
        lines += ["### Rule changes", "", "| change | rule | where | newly allowed | newly denied |", "|---|---|---|---:|---:|"]
        for c in result.changes[:MAX_CHANGE_ROWS]:
            a, d = counts.get(c.key, (0, 0))
            what = f"`{_md(c.id)}` {_md(c.title)}"
            if c.details:
                what += f" ({_md(', '.join(c.details))})"
            if c.citation:
                cite = _md(c.citation)
                what += f" — [{cite}]({c.url})" if c.url else f" — {cite}"
            lines.append(f"| {c.action} {c.kind} | {what} | {_md(_change_where(c))} | {a} | {d} |")
        if len(result.changes) > MAX_CHANGE_ROWS:
            lines.append(f"| … | and {len(result.changes) - MAX_CHANGE_ROWS} more rule changes (see `--format json`) | | | |")
        lines.append("")
    if result.flows:
        lines += ["### By organisation pair", "", "| source → recipient | newly allowed | newly denied | sensitive |",
                  "|---|---:|---:|---|"]
        pairs = result.pairs()
        for s, r, a, d, fl in pairs[:MAX_CHANGE_ROWS]:
            lines.append(f"| {_md(s)} → {_md(r)} | {a} | {d} | {', '.join(fl)} |")
        if len(pairs) > MAX_CHANGE_ROWS:
            lines.append(f"| and {len(pairs) - MAX_CHANGE_ROWS} more pairs | | | |")
        lines.append("")
    budget = MAX_ROWS
    for title, flows, col in (("Newly allowed", allowed, "now allowed"), ("Newly denied", denied, "now denied")):
        if not flows:
            continue
        lines += [f"### {title} ({len(flows)})", ""]
        for changes, group in result.groups():
            rows = [f for f in group if f in flows]
            if not rows:
                continue
            if budget <= 0:
                lines += [f"… and {len(rows)} more flows caused by "
                          + "; ".join(f"{c.action} {c.kind} `{_md(c.id)}`" for c in changes) + " (see `--format json`)", ""]
                continue
            cause = "; ".join(f"{c.action} {c.kind} `{_md(c.id)}`" + (f" ({c.where})" if c.where else "") for c in changes)
            lines += [f"**Caused by {cause}**", "", f"| | source | recipient | data | purpose | {col} |", "|---|---|---|---|---|---|"]
            for f in rows[:budget]:
                mark = f"**{_FLAG_WORDS[f.flag]}**" if f.flag and f.newly_allowed else (f.flag or "")
                lines.append(f"| {mark} | {_md(f.source)} | {_md(f.recipient)} | {_md(f.data)} | {_md(f.purpose)} | {_md(f.because)} |")
            if len(rows) > budget:
                lines.append(f"| | … and {len(rows) - budget} more (see `--format json`) | | | | |")
            budget -= len(rows)
            lines.append("")
    lines.append("<sub>Generated by `lawful diff`. Verdicts are the engine's reading of the policy files; they are "
                 "not legal advice.</sub>")
    return "\n".join(lines) + "\n"


def diff_text(result: "DiffResult") -> str:
    """The diff for a terminal: headline, rule changes, then flows grouped by cause (newly allowed first)."""
    allowed, denied = result.newly_allowed, result.newly_denied
    lines = [f"{len(allowed)} newly allowed, {len(denied)} newly denied ({escape(result.old_label)} → {escape(result.new_label)}, "
             f"on {result.on.isoformat()}; {len(result.changes)} rule change{'s' if len(result.changes) != 1 else ''}, "
             f"{result.evaluated} question{'s' if result.evaluated != 1 else ''} evaluated)"]
    flagged = [f for f in allowed if f.flag]
    if flagged:
        lines.append(f"WARNING: {len(flagged)} newly allowed flow{'s' if len(flagged) != 1 else ''} involve personal data")
    if result.changes:
        lines.append("")
        lines.append("rule changes:")
        for c in result.changes:
            extra = f" ({', '.join(c.details)})" if c.details else ""
            where = f" [{c.where}]" if c.where else ""
            lines.append(f"  {c.action:8} {c.kind} {c.id}: {c.title}{extra}{where}")
    for changes, group in result.groups():
        lines.append("")
        lines.append("caused by " + "; ".join(f"{c.action} {c.kind} {c.id}" for c in changes) + ":")
        for f in group:
            word = "ALLOWED" if f.newly_allowed else "DENIED "
            flag = f"  [{_FLAG_WORDS[f.flag]}]" if f.flag and f.newly_allowed else ""
            lines.append(f"  now {word} {f.source} → {f.recipient}: {f.data} for {f.purpose}{flag}")
            lines.append(f"      {f.because}")
    if result.flows:
        lines.append("")
        lines.append("by organisation pair:")
        for s, r, a, d, fl in result.pairs():
            lines.append(f"  {s} → {r}: {a} newly allowed, {d} newly denied" + (f" ({', '.join(fl)})" if fl else ""))
    return "\n".join(lines)
