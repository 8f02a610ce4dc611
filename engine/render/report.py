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

from engine.base.text import escape_block
from engine.base.diagnostics import CODES, Diagnostic, Severity
from engine.syntax.clauses import explain
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


DOCS_URL_ENV = "LAWFUL_DOCS_URL"  # where docs/diagnostics.md is published (the GitHub Action sets it)


def docs_url() -> Optional[str]:
    """The published docs/diagnostics.md: $LAWFUL_DOCS_URL, else the package's `Documentation` URL (its
    metadata), else None (SARIF rules then carry no helpUri; their help text names `lawful check --explain`)."""
    import os

    env = os.environ.get(DOCS_URL_ENV, "").strip()
    if env.startswith(("https://", "http://")):
        return env
    try:
        from importlib.metadata import metadata

        for entry in metadata("lawful").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() == "diagnostics" and url.strip().startswith("http"):
                return url.strip()
    except Exception:  # noqa: BLE001 - metadata is optional (a source checkout without an install)
        pass
    return None


def help_uri(code: str, base: Optional[str]) -> Optional[str]:
    """The code's section of docs/diagnostics.md (one heading per code, so the anchor is the code)."""
    return f"{base.split('#')[0]}#{code}" if base else None


def fingerprint(d: Diagnostic, path: str, sources: Mapping[str, object]) -> str:
    """A result's identity across commits, for code scanning's `partialFingerprints`: the code, the file, the
    text of the line it points at (whitespace-collapsed) and the message with its numbers blanked (an expiry
    "in 42 days" must stay the same finding tomorrow) — never the line number, so an edit elsewhere in the
    file does not turn one finding into a new one. The renderer adds an occurrence index for repeats."""
    import hashlib
    import re

    line = ""
    src = sources.get(d.span.file) if d.span is not None else None
    if src is not None and d.span is not None and d.span.line > 0:
        line = " ".join(src.line_text(d.span.line).split())  # type: ignore[attr-defined]
    message = re.sub(r"[0-9]+", "0", d.message)
    raw = "\0".join((d.code, path, line, message))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _rule_level(code: str) -> str:
    from engine.base.diagnostics import ADJUSTABLE

    return {"warning": "warning", "info": "note"}.get(ADJUSTABLE.get(code, "error"), "error")


def sarif(diagnostics: Sequence[Diagnostic], version: str, path_map: PathMap = _same,
          sources: Optional[Mapping[str, object]] = None, provenance: Optional[dict] = None,
          docs: Optional[str] = None) -> dict:
    """A SARIF 2.1.0 log with one run, ready for GitHub code scanning: every code as a rule (short and full
    description, help in text and Markdown, its default level, a `helpUri` to its section of
    docs/diagnostics.md when `docs` is known), every diagnostic as a result with its location, related
    locations, help and `partialFingerprints` that survive unrelated edits; the repository and commit as the
    run's `versionControlProvenance` when `provenance` ({"repositoryUri", "revisionId", "branch"}) is given."""
    sources = sources or {}
    used = sorted({d.code for d in diagnostics})
    codes = sorted(set(CODES) | set(used))
    index = {c: i for i, c in enumerate(codes)}
    rules = []
    for c in codes:
        text = explain(c) or c
        first = text.split(". ")[0].rstrip(".") + "."
        rule: dict = {
            "id": c,
            "name": "".join(w.capitalize() for w in c.split("-")),
            "shortDescription": {"text": first},
            "fullDescription": {"text": text},
            "help": {"text": f"{text} (lawful check --explain {c})",
                     "markdown": f"{text}\n\n`lawful check --explain {c}` prints this paragraph."},
            "defaultConfiguration": {"level": _rule_level(c)},
            "properties": {"tags": ["lawful", "policy"]},
        }
        uri = help_uri(c, docs)
        if uri:
            rule["helpUri"] = uri
        rules.append(rule)
    results = []
    seen: dict[str, int] = {}
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
        fp = fingerprint(d, path_map(d.span.file) if d.span and d.span.file else "", sources)
        seen[fp] = seen.get(fp, 0) + 1
        res["partialFingerprints"] = {"lawfulFinding/v1": f"{fp}:{seen[fp]}"}
        results.append(res)
    driver: dict = {"name": "lawful", "version": version, "semanticVersion": version, "rules": rules}
    if docs:
        driver["informationUri"] = docs.split("#")[0]
    run: dict = {
        "tool": {"driver": driver},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if provenance and provenance.get("repositoryUri"):
        run["versionControlProvenance"] = [{k: v for k, v in provenance.items() if v}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def diagnostics_reference() -> str:
    """docs/diagnostics.md, generated from the table of codes (one section per code, the anchor its name), as
    Regal and ruff generate a rule's page from the rule: the helpUri of every SARIF rule points into it."""
    from engine.base.diagnostics import ADJUSTABLE

    lines = ["# Diagnostic codes", "",
             "<!-- generated from engine/base/diagnostics.py (CODES) by engine.render.report.diagnostics_reference; "
             "tests/test_sarif.py checks it is current (LAWFUL_UPDATE_DOCS=1 rewrites it) -->", "",
             "Every problem lawful reports has one of these stable codes. `lawful check --explain CODE` prints the "
             "same paragraph. Findings (warnings and notes) can be re-levelled or ignored in `lawful.toml` or with "
             "an inline `# lawful: ignore[CODE] reason` ([review guide](review-guide.md#configuration-lawfultoml-and-"
             "inline-ignores)); errors cannot.", ""]
    for code in sorted(CODES):
        level = ADJUSTABLE.get(code)
        kind = {"warning": "warning (configurable)", "info": "note (configurable)"}.get(level or "", "error")
        lines += [f"## {code}", "", f"*{kind}*", "", explain(code) or CODES[code], ""]
    return "\n".join(lines)


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
