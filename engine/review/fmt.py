"""The formatter: one canonical layout for policy files, keeping every comment.

Layout: declarations one per line; blocks with two-space indentation, clauses in a canonical order, one clause
per line, a blank line between blocks (and around them); a clause whose line would pass `WIDTH` columns puts
each item of its lists on its own line. Runs of blank lines collapse to one; blank lines inside blocks go.

Comments: a full-line comment stays in front of the declaration, clause or expectation that follows it (so
it moves with a clause the canonical order moves); a trailing comment stays at the end of the line of its
construct. Formatting is idempotent and changes no meaning: `parse(fmt(x)) == parse(x)` (spans aside).

The formatter refuses a file with syntax errors or misplaced or duplicated clauses (the model would drop
them): `FormatError` carries the diagnostics.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

from engine.syntax import clauses as T
from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic
from engine.errors import FormatError
from engine.syntax.parser import parse_source
from engine.base.source import SourceFile, Span

WIDTH = 100
INDENT = "  "

# Model class -> its block in the clause table, which gives the clauses' order and spelling.
BLOCK_OF: dict[type, T.Block] = {getattr(m, b.model): b for b in T.BLOCKS}


# ---- printing pieces --------------------------------------------------------------------------------


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _names(names: Sequence[m.Name]) -> list[str]:
    return [n.text for n in names]


Segment = tuple[str, Union[str, Sequence[str]]]  # ("kw", "text") | ("list", [items])


def _flat(segments: list[Segment]) -> str:
    return " ".join(s if isinstance(s, str) else ", ".join(s) for _kind, s in segments)


def _render(segments: list[Segment], indent: str) -> list[str]:
    """One line, or (when too long and a list has several items) keywords at `indent`, items below them."""
    flat = _flat(segments)
    if len(indent) + len(flat) <= WIDTH or not any(kind == "list" and len(s) > 1 for kind, s in segments):
        return [indent + flat]
    lines: list[str] = []
    words: list[str] = []
    for _kind, s in segments:
        if isinstance(s, str):  # a "kw" segment
            words.append(s)
            continue
        if words:
            lines.append(indent + " ".join(words))
            words = []
        items = list(s)
        lines += [indent + INDENT + item + ("," if i < len(items) - 1 else "") for i, item in enumerate(items)]
    if words:
        lines.append(indent + " ".join(words))
    return lines


def _parties(kw: str, p: m.Parties) -> list[Segment]:
    src = ["*"] if p.any_source else _names(p.sources)
    dst = ["*"] if p.any_recipient else _names(p.recipients)
    return ([("kw", kw), ("list", src)] + _excluded(p.except_sources) + [("kw", "->"), ("list", dst)]
            + _excluded(p.except_recipients))


def _members(kw: str, members: tuple[m.Membership, ...]) -> list[Segment]:
    items = [ms.name.text + (f" from {ms.start.isoformat()}" if ms.start else "")
             + (f" until {ms.end.isoformat()}" if ms.end else "") for ms in members]
    return [("kw", kw), ("list", items)]


def _statute(kw: str, s: m.StatuteRef) -> list[Segment]:
    return [("kw", f"{kw} {s.id.text}" + (f" {quote(s.provision)}" if s.provision is not None else ""))]


def _excluded(names: Sequence[m.Name]) -> list[Segment]:
    """`except NAME, …` after a party list (issue 12), or nothing."""
    return [("kw", "except"), ("list", _names(names))] if names else []


def _plist(kw: str, value: tuple) -> list[Segment]:
    names, excluded = value
    return [("kw", kw), ("list", _names(names))] + _excluded(excluded)


def _onward(kw: str, o: m.Onward) -> list[Segment]:
    if o.kind in ("none", "as-discloser", "lawful"):
        return [("kw", f"{kw} {o.kind}")]
    return [("kw", f"{kw} {o.kind}"), ("list", _names(o.targets))] + _excluded(o.excluded)


def _valid(kw: str, v: m.Validity) -> list[Segment]:
    if v.start and v.end:
        return [("kw", f"{kw} {v.start.isoformat()} to {v.end.isoformat()}")]
    if v.start:
        return [("kw", f"{kw} from {v.start.isoformat()}")]
    if v.end:
        return [("kw", f"{kw} until {v.end.isoformat()}")]
    return [("kw", kw)]  # unreachable from the parser: a window always has a bound


def _except(kw: str, e: m.Exception_) -> list[Segment]:
    when: list[Segment] = [("kw", "when"), ("list", _names(e.when))] if e.when else []
    if e.anonymised:
        return [("kw", f"{kw} anonymised")] + when
    if e.to:
        segs: list[Segment] = [("kw", f"{kw} to"), ("list", _names(e.to))] + _excluded(e.to_except)
        if e.purposes:
            segs += [("kw", "for"), ("list", _names(e.purposes))]
        return segs + when
    if e.purposes:
        return [("kw", f"{kw} for"), ("list", _names(e.purposes))] + when
    return [("kw", f"{kw} when"), ("list", _names(e.when))]


def _from(kw: str, value: tuple) -> list[Segment]:
    sources, recipients, both_ways, except_sources, except_recipients = value
    if both_ways:
        return ([("kw", f"between {sources[0].text}")] + _excluded(except_sources)
                + [("kw", f"and {recipients[0].text}")] + _excluded(except_recipients))
    return ([("kw", kw), ("list", _names(sources))] + _excluded(except_sources)
            + [("kw", "to"), ("list", _names(recipients))] + _excluded(except_recipients))


def _succeeds(kw: str, value: tuple) -> list[Segment]:
    who, on = value
    return [("kw", f"{kw} {who.text} on {on.isoformat()}")]


def _expect(_kw: str, e: m.Expectation) -> list[Segment]:
    from engine.decision.review import expectation_text

    return [("kw", expectation_text(e))]


# Shape (engine/syntax/clauses.py) -> how a value of that shape is printed after the clause's words.
PRINT: dict[str, Callable[[str, Any], list[Segment]]] = {
    "names": lambda kw, v: [("kw", kw), ("list", _names(v))],
    "name": lambda kw, v: [("kw", f"{kw} {v.text}")],
    "string": lambda kw, v: [("kw", f"{kw} {quote(v)}")],
    "strings": lambda kw, v: [("kw", kw), ("list", [quote(s) for s in v])],
    "date": lambda kw, v: [("kw", f"{kw} {v.isoformat()}")],
    "flag": lambda kw, v: [("kw", kw)],
    "choice": lambda kw, v: [("kw", f"{kw} {v}" if kw else v)],
    "statute": _statute, "parties": _parties, "onward": _onward, "validity": _valid, "exception": _except,
    "from": _from, "succeeds": _succeeds, "expect": _expect, "members": _members, "plist": _plist,
}


def clause_segments(item, clause: str, index: int) -> Optional[list[Segment]]:
    """The segments of one clause of a block (`index` picks the occurrence of a repeatable clause), or None
    when the block does not hold it."""
    kind = BLOCK_OF[type(item)].kind
    c = T.CLAUSE[clause]
    values = T.occurrences(item, kind, c)
    if index >= len(values):
        return None
    return PRINT[c.shape](" ".join(c.words), values[index])


def clauses_of(item) -> list[tuple[str, int]]:
    """Every clause the block holds, in canonical order: (clause, occurrence)."""
    kind = BLOCK_OF[type(item)].kind
    return [(c.name, i) for c in T.ORDER[kind] for i in range(len(T.occurrences(item, kind, c)))]


def declaration_line(item) -> str:
    b = BLOCK_OF[type(item)]
    if b.head == "names":  # `transfer A, B to …`
        line = f"{b.kind} {', '.join(n.text for n in item.sources)}"
    else:
        line = f"{b.kind} {item.id.text} {quote(item.title)}"
    for clause, index in clauses_of(item):
        segs = clause_segments(item, clause, index) or []
        line += " " + _flat(segs)
    return line


def is_block(item) -> bool:
    return BLOCK_OF[type(item)].braced


# ---- comments -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    line: int
    column: int
    text: str
    full_line: bool


def scan_comments(text: str) -> list[Comment]:
    """Every `#` comment outside strings (strings never span lines, so a line scan is exact)."""
    out = []
    for no, line in enumerate(text.split("\n"), start=1):
        in_string = False
        i = 0
        while i < len(line):
            ch = line[i]
            if in_string:
                if ch == "\\":
                    i += 2
                    continue
                if ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "#":
                out.append(Comment(no, i + 1, line[i:].rstrip(), not line[:i].strip()))
                break
            i += 1
    return out


@dataclass
class Unit:
    """Something printed on its own line(s), with the comments that belong to it."""

    first: int  # source lines it spans
    last: int
    leading: list[str] = field(default_factory=list)
    trailing: list[str] = field(default_factory=list)


def _owner_unit(units: list[Unit], line: int) -> Optional[Unit]:
    for u in units:
        if u.first <= line <= u.last:
            return u
    return None


def _next_unit(units: list[Unit], line: int) -> Optional[Unit]:
    for u in units:
        if u.first > line:
            return u
    return None


# ---- formatting a file --------------------------------------------------------------------------------


@dataclass
class _Block:
    item: object
    head: Unit
    clauses: list[tuple[tuple[str, int], Unit]]
    footer: list[str] = field(default_factory=list)  # comments before the closing brace
    closing: list[str] = field(default_factory=list)  # trailing comments on the closing brace's line


def _block_units(item) -> _Block:
    span = item.span
    head = Unit(span.line, span.line)
    clauses: list[tuple[tuple[str, int], Unit]] = []
    counts: dict[str, int] = {}
    merged: dict[str, Unit] = {}
    for clause, cspan in item.clause_spans:
        collect = T.CLAUSE[clause].collect
        if collect == T.CONCAT and clause in merged:  # printed as one clause: its lines are one unit
            u = merged[clause]
            u.first, u.last = min(u.first, cspan.line), max(u.last, cspan.end_line or cspan.line)
            continue
        idx = counts.get(clause, 0) if collect in (T.EACH, T.SET) else 0
        counts[clause] = idx + 1
        u = Unit(cspan.line, cspan.end_line or cspan.line)
        merged.setdefault(clause, u)
        clauses.append(((clause, idx), u))
    return _Block(item, head, clauses)


def _print_block(b: _Block) -> list[str]:
    item: Any = b.item
    block = BLOCK_OF[type(item)]
    if block.named:
        header = f"{block.kind} {item.id.text} {quote(item.title)} {{"
    else:
        header = f"{block.kind} {quote(item.name)} {{"
    by_key = {k: u for k, u in b.clauses}
    body: list[tuple[Optional[Unit], list[str]]] = []
    for key in clauses_of(item):
        segs = clause_segments(item, key[0], key[1]) or []
        body.append((by_key.get(key), _render(segs, INDENT)))
    lines = _with_comments(b.head, [header], "")
    for unit, text in body:
        lines += _with_comments(unit, text, INDENT)
    lines += [INDENT + c for c in b.footer + b.closing[1:]]
    lines.append("}" + (f" {b.closing[0]}" if b.closing else ""))
    return lines


def _with_comments(unit: Optional[Unit], text: list[str], indent: str) -> list[str]:
    if unit is None:
        return list(text)
    # Only one comment fits at the end of the line; more (from a construct written over several lines) go
    # in front of it, where a second run of the formatter leaves them.
    out = [indent + c for c in unit.leading + unit.trailing[1:]]
    body = list(text)
    if unit.trailing:
        body[-1] = f"{body[-1]} {unit.trailing[0]}"
    return out + body


def format_file(pf: m.PolicyFile, text: str = "") -> str:
    """The canonical text of a parsed file; `text` (its source) supplies the comments and blank lines."""
    lines_src = text.split("\n")  # Lark counts lines by "\n" only; so must we
    comments = scan_comments(text) if text else []
    items = list(pf.items)
    tops: list[Unit] = []
    blocks: dict[int, _Block] = {}
    for i, item in enumerate(items):
        s = item.span
        tops.append(Unit(s.line, s.end_line or s.line))
        if is_block(item):
            blocks[i] = _block_units(item)
    file_tail: list[str] = []
    for c in comments:
        idx = next((i for i, u in enumerate(tops) if u.first <= c.line <= u.last), None)
        if idx is None:  # between declarations: leading trivia of the next one (collected below), or the tail
            if _next_unit(tops, c.line) is None:
                file_tail.append(c.text)
            continue
        top = tops[idx]
        b = blocks.get(idx)
        if b is None:
            (top.leading if c.full_line else top.trailing).append(c.text)
            continue
        clause_units = [u for _k, u in b.clauses]
        owner = _owner_unit(clause_units, c.line)
        if c.full_line:
            target = owner or _next_unit(clause_units, c.line)
            if target is not None:
                target.leading.append(c.text)
            elif c.line == top.first:
                b.head.leading.append(c.text)
            else:
                b.footer.append(c.text)
        elif owner is not None:
            owner.trailing.append(c.text)
        elif c.line == top.first:
            b.head.trailing.append(c.text)
        else:
            (b.closing if c.line == top.last else b.footer).append(c.text)
    by_line = {c.line: c for c in comments}
    out: list[str] = []
    prev_end = 0
    for i, item in enumerate(items):
        top = tops[i]
        trivia: list[str] = []
        for ln in range(prev_end + 1, top.first):
            if ln in by_line and by_line[ln].full_line:
                trivia.append(by_line[ln].text)
            elif not lines_src[ln - 1].strip():
                if trivia and trivia[-1] == "" or (not trivia and i == 0):
                    continue
                trivia.append("")
        if i > 0:
            needs_blank = is_block(item) or is_block(items[i - 1])
            if needs_blank and (not trivia or trivia[0] != ""):
                trivia.insert(0, "")
        elif trivia and trivia[0] == "":
            trivia.pop(0)
        out += trivia
        if i in blocks:
            b = blocks[i]
            b.head.leading = top.leading + b.head.leading
            b.head.trailing = top.trailing + b.head.trailing if not b.head.trailing else b.head.trailing
            out += _print_block(b)
        else:
            out += _with_comments(top, [declaration_line(item)], "")
        prev_end = top.last
    if file_tail:
        tail: list[str] = []
        for ln in range(prev_end + 1, len(lines_src) + 1):
            if ln in by_line and by_line[ln].full_line:
                tail.append(by_line[ln].text)
            elif not lines_src[ln - 1].strip() and (out or tail) and (not tail or tail[-1] != ""):
                tail.append("")
        while tail and tail[-1] == "":
            tail.pop()
        out += tail
    return "\n".join(out) + "\n" if out else ""


def format_model(pf: m.PolicyFile) -> str:
    """The canonical text of a model (no comments)."""
    return format_file(pf, "")


def format_text(text: str, name: str = "<text>") -> str:
    """Format policy text, or raise FormatError when it does not parse cleanly."""
    source = SourceFile(name, text.removeprefix("\ufeff"))
    pf, diags = parse_source(source)
    errors = [d for d in diags if d.severity.value == "error"]
    if pf is None or errors:
        raise FormatError(errors or diags, {name: source})
    return format_file(pf, source.text)


def unified_diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=name if name.startswith("/") else f"a/{name}",
                                        tofile=name if name.startswith("/") else f"b/{name}"))


@dataclass
class FileResult:
    path: str
    before: str
    after: str
    diagnostics: tuple[Diagnostic, ...] = ()
    sources: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return not self.diagnostics and self.before != self.after


def format_paths(paths: Sequence, write: bool = False) -> list[FileResult]:
    """Format every `*.policy` file under `paths` (sorted), writing back changed files when `write`."""
    from pathlib import Path

    from engine.review.testing import _display, find_test_files

    files, diags = find_test_files([Path(p) for p in paths])
    out = [FileResult(str(d.message), "", "", (d,)) for d in diags]
    for p in files:
        name = _display(p)
        from engine.base.diagnostics import error
        from engine.review.testing import read_test_file

        read_diags: list = []
        raw = read_test_file(p, name, read_diags)  # a regular file only, bounded: a FIFO is refused, not waited on
        if raw is None:
            out.append(FileResult(name, "", "", tuple(read_diags)))
            continue
        try:
            before = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.append(FileResult(name, "", "", (
                error("bad-encoding", f"cannot read `{name}` as UTF-8: {exc}", Span(name, 1, 1)),)))
            continue
        try:
            after = format_text(before, name)
        except FormatError as exc:
            out.append(FileResult(name, before, before, exc.diagnostics, exc.sources))
            continue
        res = FileResult(name, before, after)
        if write and res.changed:
            p.write_text(after, encoding="utf-8")
        out.append(res)
    return out
