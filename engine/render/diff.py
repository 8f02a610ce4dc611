"""The words of a semantic diff (`lawful diff`): each rule change as a sentence a lawyer reads first, then the
flow changes rolled up, with their date ranges; for a terminal (`diff_text`) and for a pull-request comment
(`diff_markdown`: a summary table, the rule changes, the flows folded in `<details>`, file:line links, and a
hard cap on its length that says what was left out).

Everything the bundle's authors wrote (titles, conditions, owners, statute titles) is escaped in Markdown, so
a policy file cannot inject HTML, close a `<details>` early or mention a GitHub user or team.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional, Sequence

from engine.base.text import escape
from engine.decision.review import FLAG_RANK, Delta, RuleChange, period_text

if TYPE_CHECKING:  # pragma: no cover
    from engine.decision.review import DiffResult, FlowChange, RolledFlow

MAX_MARKDOWN_CHARS = 60_000  # GitHub refuses a comment over 65,536 characters; the rest is headroom
FLAG_WORDS = {"special-category": "SPECIAL-CATEGORY DATA", "criminal-offence": "CRIMINAL-OFFENCE DATA",
              "personal": "PERSONAL DATA"}
KIND_WORDS = {"data": "data category"}

_SCOPE_LABEL = {"data": "data", "purposes": "purposes", "sources": "sources", "recipients": "recipients",
                "one-way": "one-way parties"}


# ---- a rule change in words -------------------------------------------------------------------------------


def _named(d: Delta, names: Sequence[str], code: bool) -> str:
    out = []
    for n in names:
        word = f"`{n}`" if code else n
        flag = d.flag(n)
        out.append(f"{word} [{flag}]" if flag else word)
    return ", ".join(out)


def _scope_names(d: Optional[Delta], action: str, code: bool) -> str:
    if d is None:
        return ""
    if d.old is not None or d.new is not None:
        return (d.new if action == "added" else d.old) or ""
    return _named(d, d.added if action == "added" else d.removed, code)


def _or_none(value: Optional[str]) -> str:
    return value if value else "none"


def delta_words(d: Delta, action: str, kind: str, code: bool = False) -> str:
    """One clause's change: `data widened by learner-record [special-category]`, `valid A → B`, …"""
    q = (lambda s: f"`{s}`") if code else (lambda s: s)  # noqa: E731
    if d.field in _SCOPE_LABEL:
        label = _SCOPE_LABEL[d.field]
        if kind == "restriction" and d.field in ("sources", "recipients"):
            label = f"forbidden {label}"
        if d.old is not None or d.new is not None:  # to or from anyone
            if action == "added":
                return f"{label} {d.new}"
            if action == "removed":
                return f"{label} {d.old}"
            return f"{label} {d.old} → {d.new}"
        if action in ("added", "removed"):
            label = {"purposes": "for", "one-way": "one-way"}.get(d.field, label)
            return f"{label} {_named(d, d.added if action == 'added' else d.removed, code)}"
        parts = []
        if d.added:
            parts.append(f"{label} widened by {_named(d, d.added, code)}")
        if d.removed:
            parts.append(("narrowed" if parts else f"{label} narrowed") + f" by {_named(d, d.removed, code)}")
        return ", ".join(parts)
    if action in ("added", "removed"):
        value = d.new if action == "added" else d.old
        if d.field in ("overrides", "exceptions", "conditions"):
            items = d.added if action == "added" else d.removed
            return f"{d.field} {', '.join(items)}"
        return f"{d.field} {value}" if value else d.field
    if d.field == "requires-agreement":
        return "now requires an agreement" if d.new else "no longer requires an agreement"
    if d.field == "under":
        return f"now relies on gateway {q(_or_none(d.new))} (was {q(_or_none(d.old))})"
    if d.field in ("article-9", "article-10", "owner"):
        what = f"{d.field} condition" if d.field != "owner" else "owner"
        if d.old is None:
            return f"{what} added: “{d.new}”"
        if d.new is None:
            return f"{what} removed (was “{d.old}”)"
        return f"{what} changed: “{d.old}” → “{d.new}”"
    if d.field == "overrides":
        parts = []
        if d.added:
            parts.append("now overrides " + ", ".join(q(x) for x in d.added))
        if d.removed:
            parts.append("no longer overrides " + ", ".join(q(x) for x in d.removed))
        return ", ".join(parts)
    if d.field in ("exceptions", "conditions"):
        one = d.field[:-1]
        parts = [f"{one} added: “{x}”" for x in d.added] + [f"{one} removed: “{x}”" for x in d.removed]
        return ", ".join(parts)
    if d.field == "markers":
        parts = [f"now {x}" for x in d.added] + [f"no longer {x}" for x in d.removed]
        return ", ".join(parts)
    if d.field == "parent":
        rel = "part of" if kind == "organisation" else "under"
        if d.new is None:
            return f"no longer {rel} {q(_or_none(d.old))}"
        return f"now {rel} {q(d.new)}" + (f" (was {q(d.old)})" if d.old else "")
    if d.field == "both-ways":
        return "now both ways" if d.new == "yes" else "now one way only"
    if d.field in ("title", "notes"):
        return f"{'title' if d.field == 'title' else 'note'} changed"
    if d.field == "valid":
        return f"valid {d.old or 'always'} → {d.new or 'always'}"
    label = {"review": "review date", "lawful-basis": "lawful basis"}.get(d.field, d.field)
    return f"{label} {_or_none(d.old)} → {_or_none(d.new)}"


def change_subject(c: RuleChange, code: bool = False) -> str:
    """`gateway EA-1996-s537A`, `added agreement X`, `removed restriction Y`."""
    kind = KIND_WORDS.get(c.kind, c.kind)
    ident = f"`{c.id}`" if code else c.id
    return f"{kind} {ident}" if c.action == "changed" else f"{c.action} {kind} {ident}"


def change_words(c: RuleChange, code: bool = False, subject: bool = True) -> str:
    """The rule change as a sentence: `gateway EA-1996-s537A: data widened by learner-record [special-category];
    recipients narrowed by TDA` (without `subject`: only what follows the colon)."""
    head = change_subject(c, code)
    deltas = list(c.deltas)
    words = []
    if c.action in ("added", "removed"):
        # an added or removed rule is described by its scope: `DfES → HEFCE, data X [personal], for P`
        by = {d.field: d for d in deltas}
        src, dst = by.pop("sources", None), by.pop("recipients", None)
        if src is not None or dst is not None:
            side = [_scope_names(x, c.action, code) for x in (src, dst)]
            words.append(("forbids " if c.kind == "restriction" else "") + f"{side[0] or '?'} → {side[1] or '?'}")
        deltas = list(by.values())
    words += [delta_words(d, c.action, c.kind, code) for d in deltas]
    words = [w for w in words if w]
    if not words and c.details:  # rewritten without changing what it covers (say a name already in scope)
        words = [f"{', '.join(c.details)} rewritten, same scope"]
    if not subject:
        return "; ".join(words)
    return head + (": " + "; ".join(words) if words else "")


def _span_range(flows: Sequence["FlowChange"]) -> str:
    periods = {(f.start, f.end) for f in flows}
    if len(periods) == 1:
        return period_text(*next(iter(periods)))
    starts = [f.start for f in flows]
    ends = [f.end for f in flows]
    lo = None if any(s is None for s in starts) else min(starts)  # type: ignore[type-var]
    hi = None if any(e is None for e in ends) else max(ends)  # type: ignore[type-var]
    return "over several date ranges" + (" " + period_text(lo, hi) if lo or hi else "")


def effect_words(result: "DiffResult", c: RuleChange) -> str:
    """What the change does to verdicts: `newly allows 48 flows [special-category] from A to B; …`."""
    eff = result.effects(c.key)
    parts = []
    for verb, flows in (("newly allows", eff["allow"]), ("newly denies", eff["deny"])):
        if not flows:
            continue
        flag = min((f.flag for f in flows), key=lambda x: FLAG_RANK[x]) if verb == "newly allows" else ""
        n = len(flows)
        parts.append(f"{verb} {n} flow{'s' if n != 1 else ''}" + (f" [{flag}]" if flag else "") + " "
                     + _span_range(flows))
    return "; ".join(parts) if parts else "no verdict changes"


def _when(result: "DiffResult") -> str:
    if result.on is not None:
        return f"on {result.on.isoformat()}"
    b = result.boundaries
    if not b:
        return "on every date (no rule starts or ends)"
    return (f"on every date: {len(result.dates)} ranges between {len(b)} boundary dates "
            f"({b[0].isoformat()} … {b[-1].isoformat()})")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def headline(result: "DiffResult", code: bool = False) -> str:
    """The first line of a diff: the change a reviewer must read first, in words — or that nothing changed."""
    if not result.changes:
        return "no rule changed"
    first = result.changes[0]
    text = change_words(first, code) + " — " + effect_words(result, first)
    if len(result.changes) > 1:
        text += f" (and {_plural(len(result.changes) - 1, 'more rule change')})"
    return text


# ---- text ---------------------------------------------------------------------------------------------------


def _flow_line(r: "RolledFlow") -> str:
    word = "ALLOWED" if r.newly_allowed else "DENIED "
    flag = f"  [{FLAG_WORDS[r.flag]}]" if r.flag and r.newly_allowed else ""
    many = f"  ({r.covers} flows)" if r.covers > 1 else ""
    return f"  {r.period}: now {word} {r.source} → {r.recipient}: {r.data} for {', '.join(r.purposes)}{flag}{many}"


def diff_text(result: "DiffResult") -> str:
    """The diff for a terminal: each rule change in words (the most important first), the counts, then the
    flows rolled up and grouped by cause."""
    lines = []
    for c in result.changes:
        where = f"  [{c.where}]" if c.where else ""
        lines.append(f"{change_words(c)} — {effect_words(result, c)}{where}")
    if not result.changes:
        lines.append("no rule changed")
    allowed, denied = result.newly_allowed, result.newly_denied
    lines.append("")
    lines.append(f"{len(allowed)} newly allowed, {len(denied)} newly denied ({escape(result.old_label)} → "
                 f"{escape(result.new_label)}, "
                 f"{_when(result)}; {_plural(len(result.changes), 'rule change')}, "
                 f"{_plural(result.evaluated, 'question')} evaluated)")
    special = [f for f in allowed if f.flag in ("special-category", "criminal-offence")]
    flagged = [f for f in allowed if f.flag]
    if special:
        lines.append(f"WARNING: {_plural(len(special), 'newly allowed flow')} carry special-category or "
                     f"criminal-offence data")
    elif flagged:
        lines.append(f"WARNING: {_plural(len(flagged), 'newly allowed flow')} involve personal data")
    for changes, rows in result.row_groups():
        lines.append("")
        lines.append("caused by " + "; ".join(f"{c.kind} {c.id}" for c in changes) + ":")
        for r in rows:
            lines.append(_flow_line(r))
            lines.append(f"      {r.because}")
    return "\n".join(lines)


# ---- Markdown -------------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>#|~@&]")


def md_escape(text: str) -> str:
    """Text written by a bundle's authors, made inert in GitHub Markdown: no HTML, no links or images, no
    emphasis, no table break, no @mention (each special character as an HTML entity)."""
    text = text.replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(lambda m: f"&#{ord(m.group(0))};", text)


def _url(url: Optional[str]) -> Optional[str]:
    """Only plain http(s) links, with nothing that could end the Markdown link early."""
    if not url or not re.fullmatch(r"https?://[^\s()<>\[\]\"'`]+", url):
        return None
    return url


class Links:
    """file:line links into the repository at `base` (e.g. https://github.com/o/r/blob/SHA) for spans of the
    NEW side; without a base, plain `file:line` text."""

    def __init__(self, base: Optional[str], prefix: str = ""):
        self.base = _url(base.rstrip("/")) if base else None
        self.prefix = prefix

    def __call__(self, span) -> str:
        if span is None:
            return ""
        text = f"{span.file}:{span.line}" if span.line > 0 else span.file
        if self.base is None:
            return f"`{text}`"
        path = "/".join(_quote(p) for p in (self.prefix + span.file).split("/"))
        anchor = f"#L{span.line}" if span.line > 0 else ""
        return f"[`{text}`]({self.base}/{path}{anchor})"

    def because(self, text: str) -> str:
        """A `because` text: spans `[file:line:col]` become links, everything else is escaped."""
        out = []
        pos = 0
        for mt in re.finditer(r"\[([^\[\]\s]+):(\d+):(\d+)\]", text):
            out.append(_md_code_aware(text[pos:mt.start()]))
            out.append(self(_Span(mt.group(1), int(mt.group(2)))))
            pos = mt.end()
        out.append(_md_code_aware(text[pos:]))
        return "".join(out)


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="-._~")


class _Span:
    def __init__(self, file: str, line: int):
        self.file, self.line = file, line


def _md_code_aware(text: str) -> str:
    """Escape text but keep `identifier` code spans (identifiers cannot hold a backtick)."""
    parts = re.split(r"(`[A-Za-z][A-Za-z0-9_.\-]*`)", text)
    return "".join(p if i % 2 else md_escape(p) for i, p in enumerate(parts))


def _flags_bold(escaped: str) -> str:
    """`[special-category]` after escaping, made loud."""
    return re.sub(r"&#91;(special-category|criminal-offence|personal)&#93;", r"**[\1]**", escaped)


def _change_md(c: RuleChange, result: "DiffResult", link: Links) -> str:
    what = _flags_bold(_md_code_aware(change_words(c, code=True, subject=False)))
    sentence = f"**{change_subject(c, code=True)}**" + (f": {what}" if what else "")
    # a removed rule's place is in the OLD side, which the link base does not show: plain text
    where = link(c.new_span) if c.new_span else (f"was at {Links(None)(c.old_span)}" if c.old_span else "")
    title = md_escape(c.title) if c.title else ""
    cite = ""
    if c.citation:
        u = _url(c.url)
        cite = f"[{md_escape(c.citation)}]({u})" if u else md_escape(c.citation)
    extra = " · ".join(x for x in (title, cite, where) if x)
    return f"{sentence} — {_flags_bold(md_escape(effect_words(result, c)))}" + (f"<br>{extra}" if extra else "")


def _row_md(r: "RolledFlow", link: Links) -> str:
    mark = f"**{FLAG_WORDS[r.flag]}**" if r.flag and r.newly_allowed else (r.flag or "")
    data = f"`{r.data}`" + (f" ({r.covers} flows)" if r.covers > 1 else "")
    return (f"| {mark} | {r.period} | `{r.source}` → `{r.recipient}` | {data} | "
            f"{', '.join(f'`{p}`' for p in r.purposes)} | {link.because(r.because).replace('|', '&#124;')} |")


def diff_markdown(result: "DiffResult", link_base: Optional[str] = None, max_chars: int = MAX_MARKDOWN_CHARS,
                  command: str = "lawful diff") -> str:
    """A pull-request comment: the lead sentence, a summary table, the rule changes in words, the flow changes
    (rolled up) folded in <details>, file:line links from `link_base`; never longer than `max_chars`: what does
    not fit is counted and the way to see it given."""
    link = Links(link_base, result.path_prefix)
    allowed, denied = result.newly_allowed, result.newly_denied
    rows_allowed = [r for r in result.rows if r.newly_allowed]
    rows_denied = [r for r in result.rows if not r.newly_allowed]
    head: list[str] = []
    lead = _flags_bold(_md_code_aware(headline(result, code=True)))
    head += [f"## lawful diff: {lead}", ""]
    special = [f for f in allowed if f.flag in ("special-category", "criminal-offence")]
    personal = [f for f in allowed if f.flag]
    if personal:
        text = f"**{_plural(len(personal), 'newly allowed flow')} involve personal data**"
        if special:
            text += f", {len(special):,} of them **special-category or criminal-offence data**"
        head += ["> [!WARNING]", f"> {text}. Check the lawful basis and conditions before merging.", ""]
    head += [f"| `{md_escape(escape(result.old_label))}` → `{md_escape(escape(result.new_label))}` | newly allowed | "
             "newly denied |",
             "|---|---:|---:|",
             f"| flows (a question over a date range) | {len(allowed):,} | {len(denied):,} |",
             f"| … special-category or criminal-offence | {len(special):,} | "
             f"{sum(1 for f in denied if f.flag in ('special-category', 'criminal-offence')):,} |",
             f"| … personal | {len(personal):,} | {sum(1 for f in denied if f.flag):,} |",
             f"| rows below, rolled up to the highest level that holds | {len(rows_allowed):,} | "
             f"{len(rows_denied):,} |",
             "", f"{_plural(len(result.changes), 'rule change')}; compared {_when(result)}; "
             f"{_plural(result.evaluated, 'question')} in the changes' scopes.", ""]
    footer = ["", "<sub>Generated by `lawful diff`. Verdicts are the engine's reading of the policy files; they are "
              "not legal advice.</sub>"]
    reserve = 600  # room for the note on what was left out, and the footer
    budget = max_chars - reserve - sum(len(x) + 1 for x in head + footer)
    body: list[str] = []
    left = {"changes": 0, "rows": 0}

    def fits(lines: list[str], reserve: int = 0) -> bool:
        """Add the lines if they (and `reserve` more characters, paid now) fit in what is left."""
        nonlocal budget
        size = sum(len(x) + 1 for x in lines)
        if size + reserve > budget:
            return False
        budget -= size + reserve
        body.extend(lines)
        return True

    if result.changes:
        fits([f"### Rule changes ({len(result.changes):,})", ""])
        for i, c in enumerate(result.changes):
            if not fits([f"{i + 1}. {_change_md(c, result, link)}"]):
                left["changes"] = len(result.changes) - i
                break
        fits([""])
    elif not result.flows:
        fits(["No rule changed.", ""])
    if result.flows:
        fits(["### Flow changes", ""])
    closing = ["</details>", ""]
    closing_size = sum(len(x) + 1 for x in closing)
    for title, rows, flows, opened in (("Newly allowed", rows_allowed, allowed, True),
                                       ("Newly denied", rows_denied, denied, not rows_allowed)):
        if not rows:
            continue
        summary = (f"<details{' open' if opened else ''}><summary><b>{title}: {_plural(len(rows), 'row')} "
                   f"({_plural(len(flows), 'flow')})</b></summary>")
        if not fits([summary, ""], reserve=closing_size):  # a <details> opened is always closed
            left["rows"] += len(rows)
            continue
        for changes, group in result.row_groups():
            group = [r for r in group if r.newly_allowed == (title == "Newly allowed")]
            if not group:
                continue
            cause = " and ".join(f"{c.kind} `{c.id}`" for c in changes)
            table = ["| | when | source → recipient | data | purposes | basis or block |", "|---|---|---|---|---|---|"]
            if not fits([f"**Caused by {cause}**", "", *table], reserve=len(_row_md(group[0], link)) + 2):
                left["rows"] += len(group)
                continue
            for j, r in enumerate(group):
                if not fits([_row_md(r, link)]):
                    left["rows"] += len(group) - j
                    break
            fits([""])
        body.extend(closing)
    note: list[str] = []
    if left["changes"] or left["rows"]:
        what = " and ".join(x for x in (_plural(left["changes"], "rule change") if left["changes"] else "",
                                        _plural(left["rows"], "flow row") if left["rows"] else "") if x)
        note = ["", "> [!NOTE]", f"> This comment is capped at {max_chars:,} characters: {what} left out. "
                f"To see everything, run `{command} {md_escape(escape(result.old_label))} "
                f"{md_escape(escape(result.new_label))}"
                f" --format text` (or `--format json`)."]
    return "\n".join(head + body + note + footer) + "\n"
