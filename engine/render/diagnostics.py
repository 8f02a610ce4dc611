"""Diagnostics as text: `file:line:col: severity[code]: message`, the source line with a caret, notes, help."""

from __future__ import annotations

from typing import Mapping, Sequence

from engine.base.diagnostics import Diagnostic, Severity
from engine.base.source import SourceFile, caret_snippet
from engine.base.text import escape


def render(
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, SourceFile] | None = None,
    limit: int = 50,
    summary: bool = True,
    errors_first: bool = False,
) -> str:
    """Human-readable text: headline, caret snippet, help; sorted (errors before warnings with
    `errors_first`, so an error is not buried under lint); capped with '… and N more'; then a count line
    unless `summary` is False (for a caller that prints its own)."""
    sources = sources or {}
    rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    ordered = sorted(diagnostics, key=lambda d: ((rank.get(d.severity, 3),) if errors_first else ()) + d.sort_key())
    chunks = []
    for d in ordered[:limit]:
        # Messages quote input (names, paths, values): escaped, so no control character reaches a terminal.
        lines = [escape(d.headline())]
        if d.span:
            snippet = caret_snippet(sources.get(d.span.file), d.span)
            if snippet:
                lines.append(snippet)
        for message, span in d.related:
            lines.append(escape(f"  note: {message} at {span}"))
        if d.help:
            lines.append(escape(f"  help: {d.help}"))
        chunks.append("\n".join(lines))
    if len(ordered) > limit:
        chunks.append(f"… and {len(ordered) - limit} more")
    errors = sum(1 for d in ordered if d.severity is Severity.ERROR)
    warnings = sum(1 for d in ordered if d.severity is Severity.WARNING)
    infos = sum(1 for d in ordered if d.severity is Severity.INFO)
    if ordered and summary:
        chunks.append(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
                      + (f", {infos} note{'s' if infos != 1 else ''} (info)" if infos else ""))
    return "\n\n".join(chunks)
