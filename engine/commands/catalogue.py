"""`list`, `show` and `timeline`: what a bundle declares and what changed when.

Each command is a plain function over the library returning (standard output, exit code); errors are raised
as the engine's errors (UnknownNameError, RequestError), which the caller turns into diagnostics, exit 2.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Optional

from engine.errors import RequestError
from engine.render.style import Style, plain

EXIT_OK = 0


def parse_day(value: Optional[str]) -> Optional[dt.date]:
    """A YYYY-MM-DD date from the command line, or a `bad-date` refusal."""
    if value is None:
        return None
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RequestError("bad-date", f"`{value}` is not a date",
                           "write dates as YYYY-MM-DD, for example 2005-06-23") from None


def _load(bundle: Optional[Path]):
    from engine.policy.load import load

    return load(bundle)


def list_names(what: str, on: Optional[str] = None, fmt: str = "text", bundle: Optional[Path] = None,
               style: Style = plain) -> tuple[str, int]:
    """`lawful list WHAT`: every declaration of a kind (with --on, those existing or in force that day)."""
    from engine.decision.catalogue import LIST_WORDS
    from engine.eval.catalogue import entries
    from engine.render.catalogue import list_csv, list_text

    kind = LIST_WORDS[what]
    day = parse_day(on)
    items = entries(_load(bundle), kind, day, current_only=day is not None)
    if fmt == "json":
        return json.dumps({"kind": kind, "on": day.isoformat() if day else None,
                           "items": [e.to_dict(related=False) for e in items]}, indent=2, ensure_ascii=False), EXIT_OK
    if fmt == "csv":
        return list_csv(items).rstrip("\n"), EXIT_OK
    return list_text(kind, items, day, style), EXIT_OK


def show_name(name: str, on: Optional[str] = None, fmt: str = "text", bundle: Optional[Path] = None,
              style: Style = plain) -> tuple[str, int]:
    """`lawful show NAME`: everything known about each declaration called NAME (id, alias or title)."""
    from engine.eval.catalogue import find
    from engine.render.catalogue import show_text

    found = find(_load(bundle), name, parse_day(on))
    if fmt == "json":
        return json.dumps({"name": name, "found": [e.to_dict() for e in found]}, indent=2, ensure_ascii=False), EXIT_OK
    return show_text(found, style), EXIT_OK


def timeline(start: Optional[str] = None, end: Optional[str] = None, fmt: str = "text",
             bundle: Optional[Path] = None, style: Style = plain) -> tuple[str, int]:
    """`lawful timeline`: the dated events, and the flows each made lawful or unlawful."""
    from engine.eval.catalogue import timeline as compute
    from engine.render.catalogue import timeline_csv, timeline_text

    t = compute(_load(bundle), parse_day(start), parse_day(end))
    if fmt == "json":
        return json.dumps(t.to_dict(), indent=2, ensure_ascii=False), EXIT_OK
    if fmt == "csv":
        return timeline_csv(t).rstrip("\n"), EXIT_OK
    return timeline_text(t, style), EXIT_OK


# ---- as commands (cli.py): a Result, errors as diagnostics ----------------------------------------------

from engine.commands.result import Result, command, styler  # noqa: E402 — the command layer's own helpers


@command
def list_command(what: str, on: Optional[str] = None, fmt: str = "text", bundle: Optional[Path] = None,
                 colour: bool = False) -> Result:
    text, code = list_names(what, on, fmt, bundle, styler(colour))
    return Result(code).out(text)


@command
def show_command(name: str, on: Optional[str] = None, fmt: str = "text", bundle: Optional[Path] = None,
                 colour: bool = False) -> Result:
    text, code = show_name(name, on, fmt, bundle, styler(colour))
    return Result(code).out(text)


@command
def timeline_command(start: Optional[str] = None, end: Optional[str] = None, fmt: str = "text",
                     bundle: Optional[Path] = None, colour: bool = False) -> Result:
    text, code = timeline(start, end, fmt, bundle, styler(colour))
    return Result(code).out(text)
