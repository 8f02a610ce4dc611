"""Reachability, registers and pictures: `recipients`, `sources`, `flows`, `blocked`, `graph`; `routes`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from engine.commands.result import EXIT_DENY, EXIT_OK, Result, command, load, parse_date, styler
from engine.errors import RequestError


def _reach(kind: str, anchor: str, data: str, purpose: Optional[str], on: Optional[str], assume: Sequence[str],
           max_hops: int, bundle: Optional[Path], fmt: str, colour: bool) -> Result:
    from engine.eval import reach
    from engine.render.reach import reach_text

    day = parse_date(on)
    policy = load(bundle)
    find = reach.recipients if kind == "recipients" else reach.sources
    result = find(policy, anchor, data, purpose, on=day, assume=list(assume), max_hops=max_hops)
    # Moving data within one legal person is not a disclosure: only another body counts as a recipient.
    res = Result(EXIT_OK if any(not x.same_body for x in result.found) else EXIT_DENY)
    if fmt == "json":
        return res.out(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    res.out(reach_text(result, styler(colour)))
    if not any(not x.same_body for x in result.found):  # say why no other body may (one-way block, no gateway…)
        from engine.policy.nobody import why_no_one
        from engine.render.catalogue import why_no_one_text

        res.out(why_no_one_text(why_no_one(policy, kind, anchor, data, purpose, day, list(assume)), styler(colour)))
    return res


@command
def recipients(source: str, data: str, purpose: Optional[str] = None, on: Optional[str] = None,
               assume: Sequence[str] = (), max_hops: int = 4, bundle: Optional[Path] = None, fmt: str = "text",
               colour: bool = False) -> Result:
    """Who may lawfully receive the data from `source`. Exit 0 when someone may, 1 when none may, 2 on error."""
    return _reach("recipients", source, data, purpose, on, assume, max_hops, bundle, fmt, colour)


@command
def sources(recipient: str, data: str, purpose: Optional[str] = None, on: Optional[str] = None,
            assume: Sequence[str] = (), max_hops: int = 4, bundle: Optional[Path] = None, fmt: str = "text",
            colour: bool = False) -> Result:
    """Who may lawfully send the data to `recipient`. Exit 0 when someone may, 1 when none may, 2 on error."""
    return _reach("sources", recipient, data, purpose, on, assume, max_hops, bundle, fmt, colour)


def _rows(rows: Sequence[Any], key: str, day: dt.date, fmt: str, columns: list[str],
          as_text: Callable[..., str], colour: bool) -> Result:
    """The rows of `flows` or `blocked` as JSON (under `key`), CSV or text; exit 0."""
    from engine.render.reach import rows_csv

    res = Result(EXIT_OK)
    if fmt == "json":
        return res.out(json.dumps({"on": day.isoformat(), key: [r.to_dict() for r in rows]}, indent=2,
                                  ensure_ascii=False))
    if fmt == "csv":
        return res.out(rows_csv(rows, columns), nl=False)
    return res.out(as_text(rows, day.isoformat(), styler(colour)))


@command
def flows(data: Optional[str] = None, purpose: Optional[str] = None, on: Optional[str] = None,
          assume: Sequence[str] = (), bundle: Optional[Path] = None, fmt: str = "text", colour: bool = False) -> Result:
    """The register of sharing: every lawful direct flow on the date. `fmt`: text, json or csv."""
    from engine.eval.reach import lawful_flows
    from engine.render.reach import FLOW_COLUMNS, flows_text

    day = parse_date(on) or dt.date.today()
    policy = load(bundle)
    rows = lawful_flows(policy, data, purpose, on=day, assume=list(assume))
    return _rows(rows, "flows", day, fmt, FLOW_COLUMNS, flows_text, colour)


@command
def blocked(on: Optional[str] = None, data: Optional[str] = None, purpose: Optional[str] = None,
            assume: Sequence[str] = (), bundle: Optional[Path] = None, fmt: str = "text",
            colour: bool = False) -> Result:
    """Every flow a gateway in force would allow but a restriction blocks. `fmt`: text, json or csv."""
    from engine.eval.reach import blocked_flows
    from engine.render.reach import BLOCKED_COLUMNS, blocked_text

    day = parse_date(on) or dt.date.today()
    policy = load(bundle)
    rows = blocked_flows(policy, data, purpose, on=day, assume=list(assume))
    return _rows(rows, "blocked", day, fmt, BLOCKED_COLUMNS, blocked_text, colour)


@command
def graph(data: Optional[str] = None, purpose: Optional[str] = None, on: Optional[str] = None,
          assume: Sequence[str] = (), highlight: Optional[tuple[str, str]] = None, fmt: str = "dot",
          output: Optional[Path] = None, max_nodes: int = 150, bundle: Optional[Path] = None,
          stdout_is_terminal: bool = False) -> Result:
    """The sharing network as DOT, Mermaid, SVG or PNG (bytes), to standard output or to `output`."""
    from engine.render import graph as pictures

    day = parse_date(on)
    policy = load(bundle)
    if fmt == "png" and output is None and stdout_is_terminal:
        raise RequestError("missing-option", "png is binary and standard output is a terminal", "give --output FILE")
    pic = pictures.build(policy, data, purpose, on=day, assume=list(assume),
                         highlight=(highlight[0], highlight[1]) if highlight else None, max_nodes=max_nodes)
    if fmt == "mermaid":
        body = pictures.to_mermaid(policy, pic).encode("utf-8")
    else:
        body = pictures.to_dot(policy, pic).encode("utf-8")
        if fmt in ("svg", "png"):
            body = pictures.render(body.decode("utf-8"), fmt)
    res = Result(EXIT_OK)
    if pic.note:
        res.err(pic.note)
    if output is None:
        return res.out(body)
    from engine.base.safeio import NotRegularFile, write_regular
    from engine.base.text import escape

    try:
        write_regular(output, body)  # a FIFO or device is refused, never waited on
    except NotRegularFile as exc:
        return res.fail(f"cannot write `{output}`: {exc.strerror}", "give a regular file, or leave out --output "
                        "to write to standard output", "bad-output")
    except OSError as exc:  # the note (if any) is kept before the refusal, as it was written first
        return res.fail(f"cannot write `{output}`: {exc.strerror or exc}", "check the folder exists and is writable",
                        "bad-output")
    return res.err(f"wrote {escape(str(output))} ({len(pic.nodes)} organisations, {len(pic.edges)} flows)")


@command
def routes(source: str, recipient: str, data: str, purpose: str, on: Optional[str] = None,
           assume: Sequence[str] = (), max_hops: int = 4, bundle: Optional[Path] = None, fmt: str = "text",
           colour: bool = False, given: Sequence[str] = (), express_only: bool = False,
           received_under: Optional[str] = None, own_data: bool = False, held_for: Optional[str] = None) -> Result:
    """Lawful routes SOURCE -> … -> RECIPIENT whose last hop carries DATA for PURPOSE (issue 13: earlier hops may
    carry other data or purposes where onward clauses allow the change). Exit 0 when there is one, 1 when none."""
    from engine.render.reach import routes_text

    day = parse_date(on)
    policy = load(bundle)
    ask: dict[str, Any] = dict(on=day, assume=list(assume), given=list(given), express_only=express_only,
               received_under=received_under, own_data=own_data, held_for=held_for)
    found = policy.routes(source, recipient, data, purpose, max_hops=max_hops, **ask)
    # A body and its part need no route: the flow is within one legal person (issue 12), said so, not omitted.
    inside = () if found else policy.decide(source, recipient, data, purpose, fixes=False, routes=False,
                                            **ask).same_body
    res = Result(EXIT_OK if found or inside else EXIT_DENY)
    head = {"source": policy.org_name(policy.org_key(source)), "recipient": policy.org_name(policy.org_key(recipient)),
            "data": policy.data_name(policy.data_key(data)),
            "purpose": policy.purpose_name(policy.purpose_key(purpose)),
            "on": day.isoformat() if day else dt.date.today().isoformat()}
    if fmt == "json":
        same = {"part": inside[0], "body": inside[-1], "chain": list(inside)} if inside else None
        return res.out(json.dumps({"question": head, "routes": [r.to_dict() for r in found], "same_body": same},
                                  indent=2, ensure_ascii=False))
    return res.out(routes_text(head, found, styler(colour), inside))
