"""What the language server answers, as plain functions of an analysis and a document's text: hover text,
completions, rename edits, formatting, the decision command and the policy-test lenses. No LSP types here
(engine/ops/lsp/server.py turns these into the protocol), so each is testable on its own.

Positions are 1-based lines and columns counted in characters, as the engine's spans are.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

from engine.base.diagnostics import CODES
from engine.base.source import Span
from engine.check.checks import LAWFUL_BASES
from engine.errors import FormatError, LawfulError, UnknownNameError
from engine.syntax import model as m
from engine.ops.lsp import vocabulary as vocab
from engine.ops.lsp.symbols import (
    AGREEMENT,
    DATA,
    GATEWAY,
    KIND_WORDS,
    ORG,
    PURPOSE,
    RESTRICTION,
    RULE,
    STATUTE,
    Declared,
    Occurrence,
    decl_name,
)
from engine.ops.lsp.workspace import Analysis

NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_.]|-(?!>))*")


class FeatureError(Exception):
    """A request the server refuses, with the message the editor shows."""


# ---- hover --------------------------------------------------------------------------------------------


def _where(analysis: Analysis, span: Span) -> str:
    uri = analysis.path_of(span.file).as_uri()
    return f"[{span.file}:{span.line}]({uri}#L{span.line})"


def _chain(analysis: Analysis, kind: str, d: Union[m.Organisation, m.DataCategory, m.Purpose]) -> list[str]:
    """The declaration's ancestors (`part-of` / `under`), nearest first; stops at a loop."""
    out: list[str] = []
    seen = {d.id.key}
    parent = d.parent
    while parent is not None:
        target = analysis.symbols.resolve(kind, parent.text)
        up = analysis.symbols.get(*target) if target else None
        if not isinstance(up, (m.Organisation, m.DataCategory, m.Purpose)):
            out.append(f"`{parent.text}` (not declared)")
            break
        if up.id.key in seen:
            out.append(f"`{up.id.text}` (a loop)")
            break
        seen.add(up.id.key)
        out.append(f"`{up.id.text}`")
        parent = up.parent
    return out


def _statute_lines(s: m.Statute, provision: Optional[str], today: dt.date, on: Optional[dt.date]) -> list[str]:
    lines = [f"citation: {s.citation}" if s.citation else "", f"status: {s.status}"]
    if s.commenced:
        lines.append(f"commenced: {s.commenced.isoformat()}")
    if s.repealed:
        lines.append(f"repealed: {s.repealed.isoformat()}")
    for label, day in (("today", today),) + ((("on the check date", on),) if on and on != today else ()):
        lines.append(f"{label} ({day.isoformat()}): {_in_force(s, day)}")
    url = m.provision_url(s.url, provision)
    if url:
        lines.append(f"[{provision + ' on ' if provision and url != s.url else ''}legislation.gov.uk]({url})")
    return [x for x in lines if x]


def _in_force(s: m.Statute, day: dt.date) -> str:
    """Whether a statute is in force on a day, by the decision's own rule (engine.eval.rules.in_force) and in
    the decision's words."""
    from engine.compile.compiled import rule_window
    from engine.eval.rules import in_force
    from engine.render.words import reason

    why = in_force(rule_window(s, None), day, frozenset())
    if why is None:
        return "in force"
    return reason("gateway", why, {"statute": s.id, "until": s.commenced, "on": s.repealed})


def describe(
    analysis: Analysis,
    kind: str,
    key: str,
    occ: Optional[Occurrence] = None,
    today: Optional[dt.date] = None,
    on: Optional[dt.date] = None,
) -> str:
    """Markdown about one declaration: kind, id and title, where it is declared, and what matters for it."""
    today = today or dt.date.today()
    d = analysis.symbols.get(kind, key)
    if d is None:
        return ""
    lines = [f"**{KIND_WORDS[kind]}** `{decl_name(d)}` — {d.title}", f"declared at {_where(analysis, d.span)}"]
    if isinstance(d, m.Organisation):
        lines += _organisation_lines(analysis, d, key)
    elif isinstance(d, (m.DataCategory, m.Purpose)):
        chain = _chain(analysis, kind, d)
        if chain:
            lines.append("under: " + " › ".join(chain))
        if isinstance(d, m.DataCategory):
            if d.markers:
                lines.append("marked: " + ", ".join(d.markers))
            checked = analysis.checked
            if checked is not None and checked.data_tree is not None and key in checked.data:
                eff = sorted(checked.effective(key))
                lines.append("a flow of it counts as: " + (", ".join(eff) if eff else "not personal data"))
    elif isinstance(d, (m.Gateway, m.Restriction)):
        if d.statute is not None:
            s = analysis.symbols.get(STATUTE, d.statute.id.key)
            cite = f"statute `{d.statute.id.text}`" + (f" {d.statute.provision}" if d.statute.provision else "")
            lines.append(cite + (f" — {s.title}" if s else " (not in gateways.yaml)"))
            if isinstance(s, m.Statute):
                lines += _statute_lines(s, d.statute.provision, today, on)
        if isinstance(d, m.Gateway) and d.requires_agreement:
            users = [
                a
                for a in analysis.symbols.names(AGREEMENT)
                if isinstance(a, m.Agreement) and a.under is not None and a.under.key == key
            ]
            lines.append(f"requires an agreement ({len(users)} rel{'y' if len(users) == 1 else 'ies'} on it)")
        if d.valid is not None:
            lines.append("valid: " + _valid(d.valid))
    elif isinstance(d, m.Agreement):
        if d.under is not None:
            lines.append(f"under gateway `{d.under.text}`")
        if d.valid is not None:
            lines.append("valid: " + _valid(d.valid))
        if d.review is not None:
            lines.append(f"review: {d.review.isoformat()}")
        if d.owner:
            lines.append(f"owner: {d.owner}")
    elif isinstance(d, m.Statute):
        provision = None
        if occ is not None and not occ.declares:
            provision = _provision_at(analysis, occ)
        lines += _statute_lines(d, provision, today, on)
    return "\n\n".join(lines)


def _on(day: Optional[dt.date]) -> str:
    return day.isoformat() if day else "?"


def _organisation_lines(analysis: Analysis, d: m.Organisation, key: str) -> list[str]:
    lines = []
    chain = _chain(analysis, ORG, d)
    if chain:
        lines.append("part of: " + " › ".join(chain))
    if d.aliases:
        lines.append("also known as: " + ", ".join(f"“{a}”" for a in d.aliases))
    if d.succeeds is not None:
        lines.append(f"succeeds `{d.succeeds.text}` on {_on(d.succeeds_on)}")
    for other in analysis.symbols.names(ORG):
        if (
            isinstance(other, m.Organisation)
            and other.succeeds is not None
            and analysis.symbols.resolve(ORG, other.succeeds.text) == (ORG, key)
        ):
            lines.append(f"succeeded by `{other.id.text}` on {_on(other.succeeds_on)}")
    # Continuity and classes (issue 12): a former name, when it exists, the classes it belongs to, transfers.
    if d.renames is not None:
        lines.append(f"formerly `{d.renames.text}` (renamed on {_on(d.renames_on)})")
    if d.exists_from is not None:
        lines.append(f"exists from {_on(d.exists_from)}")
    if d.ceases is not None:
        lines.append(f"ceases on {_on(d.ceases)}")
    for ms in d.member_of:
        window = (f" from {_on(ms.start)}" if ms.start else "") + (f" until {_on(ms.end)}" if ms.end else "")
        lines.append(f"is `{ms.name.text}`{window}")
    policy = analysis.policy
    if policy is not None:
        for tr in sorted(policy.transfers.values(), key=lambda x: (x.on, x.key)):
            if key in tr.sources or key in tr.targets:
                names = lambda ks: ", ".join(policy.org_name(k) for k in ks)  # noqa: E731
                under = f" under {tr.statute.id}" + (f" {tr.provision}" if tr.provision else "") if tr.statute else ""
                lines.append(f"functions of {names(tr.sources)} passed to {names(tr.targets)} on {_on(tr.on)}{under}")
    return lines


def _valid(v: m.Validity) -> str:
    if v.start and v.end:
        return f"{v.start.isoformat()} to {v.end.isoformat()}"
    return f"from {_on(v.start)}" if v.start else f"until {_on(v.end)}"


def _provision_at(analysis: Analysis, occ: Occurrence) -> Optional[str]:
    """The provision of the `statute X "…"` clause written at this occurrence."""
    for kind in (GATEWAY, RESTRICTION):
        for rule in analysis.symbols.names(kind):
            if (
                isinstance(rule, (m.Gateway, m.Restriction))
                and rule.statute is not None
                and rule.statute.id.span == occ.span
            ):
                return rule.statute.provision
    return None


def hover(
    analysis: Analysis, name: str, text: str, line: int, column: int, on: Optional[dt.date] = None
) -> Optional[tuple[str, Optional[Span]]]:
    """Markdown for the position, and the span it is about: a name, a keyword, or the diagnostics there."""
    parts: list[str] = []
    span = None
    occ = analysis.at(name, line, column)
    if occ is not None:
        span = occ.span
        target = analysis.symbols.resolve(occ.kind, occ.text)
        if target is None:
            parts.append(f"unknown {KIND_WORDS[occ.kind]} `{occ.text}`")
        else:
            if occ.kind == ORG and occ.key != target[1]:
                parts.append(f"`{occ.text}` is an alias")
            parts.append(describe(analysis, *target, occ=occ, on=on))
    else:
        word = word_at(text, line, column)
        if word is not None and word[0] in vocab.grammar_keywords():
            doc = vocab.keyword_doc(word[0]) or f"`{word[0]}`: a keyword of the policy language"
            if doc:
                parts.append(doc)
                span = word[1]
    for d in analysis.diagnostics.get(name, []):
        s = d.span
        if s is not None and s.line <= line <= (s.end_line or s.line) and d.code in CODES:
            if (s.line < line or s.column <= column) and (
                (s.end_line or s.line) > line or column <= (s.end_column or s.column + 1)
            ):
                parts.append(f"**{d.severity.value}[{d.code}]**: {CODES[d.code]}")
    return ("\n\n---\n\n".join(p for p in parts if p), span) if parts else None


def word_at(text: str, line: int, column: int) -> Optional[tuple[str, Span]]:
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    for mt in NAME.finditer(lines[line - 1]):
        if mt.start() + 1 <= column <= mt.end():
            return mt.group(), Span("", line, mt.start() + 1, line, mt.end() + 1)
    return None


# ---- completion ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<arrow>->)
  | (?P<punct>[{},*])
  | (?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})
  | (?P<name>[A-Za-z](?:[A-Za-z0-9_.]|-(?!>))*)
  | (?P<other>.)
""",
    re.X,
)


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # a symbol kind, "keyword" or "value"
    detail: str = ""
    doc: str = ""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


# After each keyword inside a rule block: the kind of name, or the words, that may follow it.
_AFTER_IN_BLOCK: dict[str, object] = {
    "allows": ORG,
    "forbids": ORG,
    "one-way": ORG,
    "between": ORG,
    "and": ORG,
    "->": ORG,
    "data": DATA,
    "for": PURPOSE,
    "only-for": PURPOSE,
    "under": GATEWAY,
    "statute": STATUTE,
    "overrides": RESTRICTION,
    "lawful-basis": LAWFUL_BASES,
    "onward": ("none", "to", "only-for", "as-discloser"),
    "valid": ("from", "until"),
    "except": ("anonymised", "to", "for"),
    "requires": ("agreement",),
}
_NO_NAME = {"review", "owner", "note", "article-9", "article-10", "until", "aka", "on"}


def completion_context(text: str, line: int, column: int) -> tuple[object, int]:
    """What may be written at the position: a symbol kind, a tuple of words, or None; and the column where
    the word being typed starts (the range a completion replaces)."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None, column
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + min(column - 1, len(lines[line - 1]))
    toks: list[_Tok] = []
    last_end, last_kind = 0, None
    for mt in _TOKEN.finditer(text, 0, offset):
        last_end, last_kind = mt.end(), mt.lastgroup
        if mt.lastgroup not in ("ws", "comment"):
            toks.append(_Tok(mt.lastgroup or "", mt.group()))
    start = column
    if last_end == offset and last_kind == "comment":
        return None, start
    if last_end == offset and last_kind == "string" and (len(toks[-1].text) == 1 or not toks[-1].text.endswith('"')):
        return None, start  # inside a string
    if last_end == offset and last_kind == "name":
        start = column - len(toks[-1].text)
        toks.pop()
    return _expect(toks), start


def _expect(toks: Sequence[_Tok]) -> object:
    """Walk the tokens before the cursor: the block they are in and the clause being written."""
    depth = 0
    item: list[_Tok] = []  # the current top-level item's tokens (inside its braces: since the `{`)
    kind = None
    for t in toks:
        if t.kind == "punct" and t.text == "{":
            depth += 1
            item = []
        elif t.kind == "punct" and t.text == "}":
            depth = max(0, depth - 1)
            item, kind = [], None
        elif depth == 0 and t.kind == "name" and t.text in vocab.DECLARATIONS and not _takes_name(item, kind):
            kind, item = t.text, [t]
        else:
            item.append(t)
    if depth == 0:
        return _top_level(kind, item)
    if kind == "test":
        return _in_test(item)
    return _in_block(kind, item)


def _takes_name(item: Sequence[_Tok], kind: Optional[str]) -> bool:
    """Whether the token before is a keyword that takes a name (so a declaration word here is a name)."""
    if not item:
        return False
    prev = item[-1]
    return prev.kind == "name" and (
        prev.text in {"part-of", "succeeds", "under"} or (len(item) == 1 and kind is not None)
    )


def _clause_words(kind: Optional[str]) -> tuple[str, ...]:
    return tuple(c.label for c in vocab.clauses_of(kind)) if kind else ()


def _top_level(kind: Optional[str], item: Sequence[_Tok]) -> object:
    if kind is None or not item:
        return vocab.DECLARATIONS
    if len(item) < 3:
        return None  # the new id, then its title
    prev = item[-1]
    if prev.kind == "name" and prev.text in ("part-of", "succeeds"):
        return ORG
    if prev.kind == "name" and prev.text == "under":
        return DATA if kind == "data" else PURPOSE if kind == "purpose" else None
    if prev.kind == "name" and prev.text in _NO_NAME or prev.kind == "punct" and prev.text == ",":
        return None
    if kind in ("gateway", "restriction", "agreement", "test"):
        return None  # `{` comes next
    return _clause_words(kind) + vocab.DECLARATIONS


def _governing(item: Sequence[_Tok]) -> Optional[_Tok]:
    """The keyword a list being written hangs from: back over `NAME ,` pairs."""
    i = len(item) - 1
    while i >= 0 and (item[i].kind == "name" or item[i].kind == "punct" and item[i].text == ","):
        if item[i].kind == "name" and (i == 0 or not (item[i - 1].kind == "punct" and item[i - 1].text == ",")):
            # the first item of the list: the keyword is just before it
            return item[i - 1] if i > 0 else None
        i -= 1
    return item[i] if i >= 0 else None


def _in_block(kind: Optional[str], item: Sequence[_Tok]) -> object:
    clauses = _clause_words(kind)
    if not item:
        return clauses
    prev = item[-1]
    before = item[-2] if len(item) > 1 else None
    if prev.kind == "punct" and prev.text == ",":
        gov = _governing(item[:-1])
        return _after_keyword(gov, None) if gov is not None else None
    if prev.kind in ("name", "arrow"):
        after = _after_keyword(prev, before)
        if after is not _NOT_A_KEYWORD:
            return after
        # a complete name: the list may go on, or a new clause starts
        gov = _governing(item)
        more: tuple[str, ...] = ()
        if gov is not None and gov.text == "from":
            more = ("to",)
        elif gov is not None and gov.text == "between":
            more = ("and",)
        elif gov is not None and gov.text in ("allows", "forbids"):
            more = ("->",)
        return more + clauses
    return clauses  # after a string, a date or `*`


_NOT_A_KEYWORD = object()


def _after_keyword(tok: _Tok, before: Optional[_Tok]) -> object:
    word = tok.text
    if word == "from":
        return None if before is not None and before.text == "valid" else ORG  # `valid from DATE`
    if word == "to":
        return None if before is not None and before.kind == "date" else ORG  # `valid DATE to DATE`
    if word in _AFTER_IN_BLOCK:
        return _AFTER_IN_BLOCK[word]
    if word in _NO_NAME:
        return None
    return _NOT_A_KEYWORD


# The words of an expectation after its flow, in order, and what kind of name follows each (None: not a name of a
# kind the editor lists — a date, a condition or a function).
_EXPECT_WORDS = ("for", "on", "assuming", "given", "express-only", "received-under", "own-data", "held-for",
                 "because")
_EXPECT_NAMED: dict[str, Optional[str]] = {"for": PURPOSE, "on": None, "assuming": STATUTE, "given": None,
                                           "received-under": GATEWAY, "held-for": None, "because": RULE}


def _in_test(item: Sequence[_Tok]) -> object:
    starts = [i for i, t in enumerate(item) if t.kind == "name" and t.text == "expect"]
    if not starts:
        return ("expect",)
    e = list(item[starts[-1] + 1 :])
    if not e:
        return vocab.VERDICTS
    if len(e) == 1 or (len(e) == 3 and e[2].kind == "arrow"):
        return ORG
    if len(e) == 2:
        return None  # `->` comes next
    if len(e) == 4:
        return DATA
    prev = e[-1]
    if prev.kind == "punct" and prev.text == ",":
        gov = _governing(e[:-1])
        return {"assuming": STATUTE, "because": RULE}.get(gov.text) if gov else None
    if prev.kind == "name" and prev.text in _EXPECT_NAMED:
        return _EXPECT_NAMED[prev.text]
    used = {t.text for t in e[4:] if t.kind == "name"}
    if "received-under" in used:
        used.add("own-data")
    elif "own-data" in used:
        used.add("received-under")
    return tuple(w for w in _EXPECT_WORDS if w not in used) + ("expect",)


def completions(analysis: Optional[Analysis], text: str, line: int, column: int) -> tuple[list[Completion], int]:
    """The completions at a position and the column the typed word starts at."""
    want, start = completion_context(text, line, column)
    if want is None:
        return [], start
    if isinstance(want, tuple):
        kind = "value" if want in (LAWFUL_BASES,) else "keyword"
        return [Completion(w, kind, "", vocab.keyword_doc(w.split()[0])) for w in want], start
    if analysis is None or not isinstance(want, str):
        return [], start
    out = []
    for d in analysis.symbols.names(want):
        k = want if want != RULE else _rule_kind(d)
        out.append(Completion(decl_name(d), k, d.title, f"{KIND_WORDS[k]} declared at {d.span.file}:{d.span.line}"))
        if isinstance(d, m.Organisation):
            out += [
                Completion(a, ORG, f"alias of {d.id.text}", d.title)
                for a in d.aliases
                if NAME.fullmatch(a) and analysis.symbols.resolve(ORG, a) == (ORG, d.id.key) and a.lower() != d.id.key
            ]
    out.sort(key=lambda c: c.label.lower())
    return out, start


def _rule_kind(d: Declared) -> str:
    return GATEWAY if isinstance(d, m.Gateway) else RESTRICTION if isinstance(d, m.Restriction) else AGREEMENT


# ---- definition, references, rename --------------------------------------------------------------------


def target_at(analysis: Analysis, name: str, line: int, column: int) -> Optional[tuple[Occurrence, tuple[str, str]]]:
    occ = analysis.at(name, line, column)
    if occ is None:
        return None
    target = analysis.symbols.resolve(occ.kind, occ.text)
    return (occ, target) if target is not None else None


def definition(analysis: Analysis, name: str, line: int, column: int) -> Optional[Span]:
    found = target_at(analysis, name, line, column)
    if found is None:
        return None
    d = analysis.symbols.get(*found[1])
    if isinstance(d, m.Statute):
        for o in analysis.occurrences(d.span.file):
            if o.declares and o.key == found[1][1]:
                return o.span
        return d.span
    return d.id.span if d is not None else None


def references(analysis: Analysis, name: str, line: int, column: int, include_declaration: bool = True) -> list[Span]:
    found = target_at(analysis, name, line, column)
    if found is None:
        return []
    return [o.span for _file, o in analysis.references(found[1]) if include_declaration or not o.declares]


def prepare_rename(analysis: Analysis, name: str, line: int, column: int) -> tuple[Span, str]:
    """The span of the name to rename and its text; FeatureError when it cannot be renamed here."""
    occ = analysis.at(name, line, column)
    if occ is None:
        raise FeatureError("no name to rename here")
    target = analysis.symbols.resolve(occ.kind, occ.text)
    if target is None:
        raise FeatureError(f"`{occ.text}` is not declared, so there is nothing to rename")
    if occ.kind == ORG and occ.key != target[1]:
        d = analysis.symbols.get(*target)
        ident = decl_name(d) if d is not None else target[1]
        raise FeatureError(f"`{occ.text}` is an alias of `{ident}`: rename `{ident}`, or edit its `aka`")
    return occ.span, occ.text


def rename(analysis: Analysis, name: str, line: int, column: int, new_name: str) -> dict[str, list[Span]]:
    """The spans to replace with `new_name`, by file: the declaration and every use of its id (a use by an
    alias stays as written). FeatureError when the new name is not an identifier or is taken."""
    prepare_rename(analysis, name, line, column)  # refuses what cannot be renamed here
    found = target_at(analysis, name, line, column)
    assert found is not None  # prepare_rename found the name and its declaration
    kind, key = found[1]
    if not NAME.fullmatch(new_name):
        raise FeatureError(f"`{new_name}` is not an identifier: a letter, then letters, digits, `_`, `.` or `-`")
    if new_name.lower() != key and analysis.symbols.taken(kind, new_name.lower()):
        raise FeatureError(
            f"`{new_name}` already names a {KIND_WORDS[kind]}"
            + (
                " (gateways, restrictions and agreements share one namespace)"
                if kind in (GATEWAY, RESTRICTION, AGREEMENT)
                else ""
            )
        )
    edits: dict[str, list[Span]] = {}
    for file, o in analysis.references((kind, key)):
        if o.key == key:
            edits.setdefault(file, []).append(o.span)
    return edits


# ---- formatting -----------------------------------------------------------------------------------------


def format_document(text: str, name: str) -> Optional[str]:
    """The canonical text through the engine's formatter (`lawful fmt`), None when it is already so;
    FeatureError when the file does not parse cleanly (the formatter never rewrites such a file)."""
    from engine.review.fmt import format_text

    try:
        out = format_text(text, name)
    except FormatError as exc:
        first = exc.diagnostics[0] if exc.diagnostics else None
        raise FeatureError(f"not formatted: {first.headline() if first else 'the file does not parse'}") from None
    return None if out == text else out


# ---- the decision command and policy-test lenses ----------------------------------------------------------


def decide_text(
    analysis: Analysis,
    source: str,
    recipient: str,
    data: str,
    purpose: Optional[str] = None,
    on: Optional[str] = None,
    assume: Iterable[str] = (),
    stated: Optional[dict[str, Any]] = None,
) -> str:
    """`lawful can-share` for one flow on a date, in words, from the bundle as the editor has it. `stated`: what
    the question states beyond them (`given`, `express_only`, `received_under`, `own_data`, `held_for`)."""
    from engine.render.explain import explain, explain_grouped

    if analysis.policy is None:
        errors = sum(1 for ds in analysis.diagnostics.values() for d in ds if d.severity.value == "error")
        return f"no decision: the bundle has {errors} error{'s' if errors != 1 else ''}; fix them first"
    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        return f"error[bad-date]: `{on}` is not a date (YYYY-MM-DD)"
    try:
        more = stated or {}
        if purpose:
            return explain(
                analysis.policy.decide(source, recipient, data, purpose, on=day, assume=list(assume), **more)
            )
        return explain_grouped(
            analysis.policy.decide_all_purposes(source, recipient, data, on=day, assume=list(assume), **more),
            verbose=True,
        )
    except UnknownNameError as exc:
        d = exc.to_diagnostic()
        return f"error[{d.code}]: {d.message}" + (f"\n  help: {d.help}" if d.help else "")
    except LawfulError as exc:
        return f"error: {exc}"


_STATED_NAMES = ("received_under", "held_for")
_STATED_FLAGS = ("express_only", "own_data")


def stated_facts(q: dict) -> dict[str, Any]:
    """The stated facts of a `lawful.decide` command's arguments, keeping only well-typed values (the client's
    arguments are not trusted: a value of the wrong type is left out, and the decision says what it needs)."""
    out: dict[str, Any] = {}
    given = q.get("given")
    if isinstance(given, list) and all(isinstance(c, str) and c for c in given):
        out["given"] = list(given)
    for k in _STATED_FLAGS:
        if q.get(k) is True:
            out[k] = True
    for k in _STATED_NAMES:
        if isinstance(q.get(k), str) and q[k]:
            out[k] = q[k]
    if out.get("received_under") and out.get("own_data"):  # contradictory: neither is taken as stated
        del out["received_under"], out["own_data"]
    return out


@dataclass(frozen=True)
class Lens:
    span: Span
    title: str
    command: str
    arguments: tuple


def test_lenses(analysis: Analysis, name: str, today: Optional[dt.date] = None) -> list[Lens]:
    """Over each `test` block: how many expectations pass; over each expectation: decide its flow on its date."""
    out: list[Lens] = []
    pf = analysis.models.get(name)
    if pf is None:
        return out
    results = {t.span: rs for t, rs in analysis.test_results(name, today)}
    for t in pf.of(m.PolicyTest):
        rs = results.get(t.span)
        if rs is None:
            title = "tests not run: the bundle has errors"
        else:
            failed = [r for r in rs if r.status == "failed"]
            errors = [r for r in rs if r.status == "error"]
            if not rs:
                title = "no expectations"
            elif failed or errors:
                title = f"✗ {len(failed) + len(errors)} of {len(rs)} failed" + (
                    f" ({len(errors)} error{'s' if len(errors) != 1 else ''})" if errors else ""
                )
            else:
                title = f"✓ {len(rs)} passed"
        out.append(Lens(t.span, title, "lawful.testResults", (name, t.span.line)))
        for e in t.expectations:
            day = (e.on or today or dt.date.today()).isoformat()
            args = {
                "file": name,
                "source": e.source.text,
                "recipient": e.recipient.text,
                "data": e.data.text,
                "purpose": e.purpose.text if e.purpose else None,
                "on": day,
                "assume": [n.text for n in e.assuming],
            }
            if e.given:
                args["given"] = [n.text for n in e.given]
            if e.express_only:
                args["express_only"] = True
            if e.received_under is not None:
                args["received_under"] = e.received_under.text
            if e.own_data:
                args["own_data"] = True
            if e.held_for is not None:
                args["held_for"] = e.held_for.text
            out.append(Lens(e.span, f"decide on {day}", "lawful.decide", (args,)))
    return out


def test_results_text(analysis: Analysis, name: str, line: int, today: Optional[dt.date] = None) -> str:
    """The results of the `test` block starting at `line`, as `lawful test --verbose` prints them."""
    for t, rs in analysis.test_results(name, today):
        if t.span.line != line:
            continue
        chunks = [f'test "{t.name}"']
        for r in rs:
            word = {"passed": "ok    ", "failed": "FAILED", "error": "ERROR "}[r.status]
            chunks.append(f"{word} {r.span}: {r.name}" + (f"\n  {r.message}" if r.message else ""))
            if r.details and not r.passed:
                chunks.append("\n".join("  " + x if x else "" for x in r.details.splitlines()))
        return "\n".join(chunks)
    return "no test block starts on this line (or the bundle has errors)"
