"""Pictures of the sharing network: DOT (rendered to SVG/PNG by Graphviz's `dot`) and Mermaid.

Organisations are nodes, grouped in nested clusters by their parent body (`part-of`); lawful direct flows are
green edges labelled with the gateway and agreement (one edge per pair of organisations, the register's rows
at their highest level); flows a restriction blocks are dashed red edges labelled with the restriction;
organisations a `one-way` restriction in force binds are red boxes; organisations that do not exist on the
date are grey and dashed; the route for a highlighted question is drawn bold blue. Output is deterministic.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Iterable, Optional

from engine.compile.compiled import CompiledPolicy
from engine.eval.reach import BlockedRow, FlowRow, blocked_flows, lawful_flows
from engine.errors import RequestError

MAX_NODES_DEFAULT = 150
MAX_LABELS_PER_EDGE = 3
IDLE_ROW = 5  # organisations per row when laying out those with no drawn flow
DOT_TIMEOUT_SECONDS = 60

LAWFUL, BLOCKED, HIGHLIGHT = "#2e7d32", "#c62828", "#1565c0"
ONE_WAY_FILL, GONE = "#fde2e1", "#9e9e9e"


@dataclass
class PictureEdge:
    source: str  # organisation keys
    recipient: str
    labels: list[str] = field(default_factory=list)  # "GATEWAY / AGREEMENT" or "blocked: RESTRICTION"
    details: list[str] = field(default_factory=list)  # "data for purpose" lines, for tooltips
    blocked: bool = False
    highlighted: bool = False


@dataclass
class Picture:
    """What to draw, independent of the output format."""

    title: str
    nodes: list[str]  # organisation keys, sorted by name
    edges: list[PictureEdge]
    one_way: dict[str, list[str]]  # organisation key -> ids of the one-way restrictions binding it
    gone: dict[str, str]  # organisation key -> why it does not exist on the date
    note: Optional[str] = None  # what the highlight found, for the caller to print
    on: Optional[dt.date] = None  # the date drawn: a renamed body is labelled with the name it had then


def _in_force(policy: CompiledPolicy, r, on: dt.date, assume: frozenset) -> bool:
    """A restriction in force on the date (one citing no statute binds by its window alone)."""
    from engine.eval.rules import in_force

    return in_force(r.window, on, assume, statute_required=False) is None


def _name(policy: CompiledPolicy, key: str, pic: Picture) -> str:
    """A body's label: the name it was known by on the date drawn (`TTA` before 2005-09-01, `TDA` after)."""
    return policy.org_name_on(key, pic.on) if pic.on is not None else policy.orgs[key].id.text


def build(policy: CompiledPolicy, data: Optional[str] = None, purpose: Optional[str] = None,
          on: Optional[dt.date] = None, assume: Iterable[str] = (), highlight: Optional[tuple[str, str]] = None,
          max_nodes: int = MAX_NODES_DEFAULT) -> Picture:
    """The picture of lawful and blocked flows on the date (for one data category and purpose, if given).

    Without --data/--purpose every organisation is drawn; with a filter, only those in a drawn flow (and the
    bodies they are part of). `highlight` (source, recipient) needs `data` and `purpose`: the direct flow if
    lawful, else the first lawful route, is drawn bold. Raises RequestError past `max_nodes` organisations.
    """
    day = on or dt.date.today()
    assume = tuple(assume)
    assumed = frozenset(policy.statute_key(s) for s in assume)
    if highlight is not None and (data is None or purpose is None):
        raise RequestError("missing-option", "`--highlight` needs a question: give `--data` and `--purpose` too",
                           "for example: lawful graph --data provider-data --purpose inspection --highlight DfES ALI")
    rows: list[FlowRow] = lawful_flows(policy, data, purpose, day, assume)
    blocked: list[BlockedRow] = blocked_flows(policy, data, purpose, day, assume)

    edges: dict[tuple[str, str, bool], PictureEdge] = {}
    for row in rows:
        if row.same_body:
            continue  # a body and its part: drawn as the part inside the body, not as a disclosure
        e = edges.setdefault((*row.keys, False), PictureEdge(*row.keys))
        label = row.gateway + (f" / {row.agreement}" if row.agreement else "")
        if label not in e.labels:
            e.labels.append(label)
        e.details.append(f"{row.data} for {row.purpose}" + (f" (as {', '.join(row.classes)})" if row.classes else ""))
    for brow in blocked:
        e = edges.setdefault((*brow.keys, True), PictureEdge(*brow.keys, blocked=True))
        for rid in brow.restrictions:
            if f"blocked: {rid}" not in e.labels:
                e.labels.append(f"blocked: {rid}")
        e.details.append(f"{brow.data} for {brow.purpose} under {brow.gateway}")

    note = None
    if highlight is not None and data is not None and purpose is not None:  # both checked above
        note = _highlight(policy, edges, highlight, data, purpose, day, assume)

    filtered = data is not None or purpose is not None
    if filtered:
        keep = {k for e in edges.values() for k in (e.source, e.recipient)}
        for k in list(keep):
            keep |= set(policy.org_tree.ancestors.get(k, ()))
    else:
        keep = set(policy.orgs)
    if len(keep) > max_nodes:
        raise RequestError(
            "limit-exceeded", f"the picture would draw {len(keep)} organisations, more than the limit of {max_nodes}",
            "narrow it with --data or --purpose (then only organisations in a drawn flow are kept), "
            "or raise --max-nodes")

    one_way: dict[str, list[str]] = {}
    data_key = policy.data_key(data) if data else None
    for r in policy.restrictions.values():
        if data_key is not None and r.data is not None and data_key not in r.data:
            continue  # the picture is about data this restriction does not reach
        if r.one_way and _in_force(policy, r, day, assumed):
            for k in r.one_way:
                one_way.setdefault(k, []).append(r.id)
    gone = {}
    for k in keep:
        if not policy.org_exists(k, day):
            end = policy.org_end.get(k)
            gone[k] = ((f"replaced by {policy.org_name(end[1])} on {end[0].isoformat()}" if end[1] else
                        f"ceased on {end[0].isoformat()}") if end and day >= end[0]
                       else f"exists from {policy.org_start[k].isoformat()}")
    scope = ", ".join(x for x in (f"data {policy.data_name(policy.data_key(data))}" if data else "",
                                  f"purpose {policy.purpose_name(policy.purpose_key(purpose))}" if purpose else "")
                      if x)
    title = f"Lawful flows on {day.isoformat()}" + (f" ({scope})" if scope else "") + (
        f", assuming {', '.join(sorted(policy.assumed_name(a) for a in assumed))}" if assumed else "")
    nodes = sorted(keep, key=lambda k: (policy.org_name(k).lower(), k))
    ordered = sorted(edges.values(), key=lambda e: (policy.org_name(e.source).lower(),
                                                    policy.org_name(e.recipient).lower(), e.blocked))
    return Picture(title, nodes, ordered, {k: sorted(v) for k, v in one_way.items() if k in keep}, gone, note, day)


def _highlight(policy: CompiledPolicy, edges: dict, highlight: tuple[str, str], data: str, purpose: str, day: dt.date,
               assume: tuple) -> str:
    source, recipient = policy.org_key(highlight[0]), policy.org_key(highlight[1])
    s_name, r_name = policy.org_name(source), policy.org_name(recipient)
    from engine.eval.decide import allowed, normalise
    from engine.eval.routes import routes

    if allowed(policy, normalise(policy, source, recipient, data, purpose, day, assume)):
        hops = [(source, recipient)]
        note = f"{s_name} → {r_name}: lawful directly; highlighted"
    else:
        found = routes(policy, source, recipient, data, purpose, on=day, assume=assume)
        if not found:
            return f"{s_name} → {r_name}: no direct basis and no lawful route; nothing highlighted"
        route = found[0]
        hops = [(policy.org_key(h.source), policy.org_key(h.recipient)) for h in route.hops]
        note = f"{s_name} → {r_name}: no direct basis; highlighted lawful route {route}"
    for x, y in hops:
        e = edges.setdefault((x, y, False), PictureEdge(x, y))
        e.highlighted = True
    return note


# ---- DOT ---------------------------------------------------------------------------------------------


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _edge_label(e: PictureEdge) -> str:
    shown = e.labels[:MAX_LABELS_PER_EDGE]
    if len(e.labels) > MAX_LABELS_PER_EDGE:
        shown.append(f"+{len(e.labels) - MAX_LABELS_PER_EDGE} more")
    return "\n".join(shown)


def _children(policy: CompiledPolicy, keep: set[str]) -> dict[Optional[str], list[str]]:
    """Each drawn organisation under its nearest drawn parent body (None: top level)."""
    out: dict[Optional[str], list[str]] = {}
    for k in keep:
        parent = policy.org_tree.parent(k)
        while parent is not None and parent not in keep:
            parent = policy.org_tree.parent(parent)
        out.setdefault(parent, []).append(k)
    for v in out.values():
        v.sort(key=lambda k: (policy.org_name(k).lower(), k))
    return out


def to_dot(policy: CompiledPolicy, pic: Picture) -> str:
    legend = ("green: lawful flow (gateway / agreement)   red dashed: blocked by a restriction   "
              "bold blue: highlighted route\n"
              "red box: bound by a one-way restriction (may not pass on what it holds)   "
              "grey: does not exist on the date")
    lines = [
        "digraph lawful {",
        f"  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=12, labelloc=t, newrank=true, "
        f"label={_q(pic.title + chr(10) + legend)}];",
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];",
        f"  edge [fontname=\"Helvetica\", fontsize=8, color=\"{LAWFUL}\", fontcolor=\"{LAWFUL}\"];",
    ]
    keep = set(pic.nodes)
    tree = _children(policy, keep)

    def node(k: str, indent: str) -> None:
        o = policy.orgs[k]
        name = _name(policy, k, pic)
        attrs = [f"label={_q(name)}", f"tooltip={_q(o.title)}"]
        if k in pic.one_way:
            attrs[0] = f"label={_q(name + chr(10) + 'one-way: ' + ', '.join(pic.one_way[k]))}"
            attrs += [f"fillcolor=\"{ONE_WAY_FILL}\"", f"color=\"{BLOCKED}\"", "penwidth=2.5",
                      "style=\"filled,bold\""]
        if k in pic.gone:
            attrs[1] = f"tooltip={_q(o.title + ' (' + pic.gone[k] + ')')}"
            attrs += [f"color=\"{GONE}\"", f"fontcolor=\"{GONE}\"", "style=\"rounded,dashed\""]
        lines.append(f"{indent}{_q(k)} [{', '.join(attrs)}];")

    linked = {k for e in pic.edges for k in (e.source, e.recipient)}

    def pack(members: list[str], indent: str) -> None:
        # Organisations with no drawn flow are laid out in rows (invisible edges) instead of one tall column.
        idle = [k for k in members if k not in linked and not tree.get(k)]
        for i in range(0, len(idle), IDLE_ROW):
            row = idle[i:i + IDLE_ROW]
            if len(row) > 1:
                lines.append(f"{indent}{' -> '.join(_q(k) for k in row)} [style=invis];")

    def place(k: str, indent: str) -> None:
        kids = tree.get(k, [])
        if not kids:
            node(k, indent)
            return
        lines.append(f"{indent}subgraph {_q('cluster_' + k)} {{")
        lines.append(f"{indent}  label={_q(policy.orgs[k].title)}; style=\"rounded\"; color=\"#90a4ae\"; "
                     f"fontsize=10;")
        node(k, indent + "  ")
        for c in kids:
            place(c, indent + "  ")
        pack([k] + kids, indent + "  ")
        lines.append(f"{indent}}}")

    for k in tree.get(None, []):
        place(k, "  ")
    pack(tree.get(None, []), "  ")
    for e in pic.edges:
        attrs = [f"label={_q(_edge_label(e))}", f"tooltip={_q('; '.join(sorted(set(e.details))) or ' ')}"]
        if e.blocked:
            attrs += ["style=dashed", f"color=\"{BLOCKED}\"", f"fontcolor=\"{BLOCKED}\""]
        if e.highlighted:
            attrs += ["penwidth=3.5", f"color=\"{HIGHLIGHT}\"", f"fontcolor=\"{HIGHLIGHT}\"", "style=bold"]
        lines.append(f"  {_q(e.source)} -> {_q(e.recipient)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- Mermaid -----------------------------------------------------------------------------------------


def _mermaid_ids(keys: Iterable[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    used: set[str] = set()
    for k in sorted(keys):
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", k)
        ident, i = base, 2
        while ident in used:
            ident, i = f"{base}_{i}", i + 1
        used.add(ident)
        ids[k] = ident
    return ids


def _mq(text: str) -> str:
    """A Mermaid quoted label (quotes as entity codes)."""
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def to_mermaid(policy: CompiledPolicy, pic: Picture) -> str:
    """A Mermaid flowchart, for Markdown in pull requests."""
    ids = _mermaid_ids(pic.nodes)
    keep = set(pic.nodes)
    tree = _children(policy, keep)
    lines = ["flowchart LR", f"  %% {pic.title}"]

    def node(k: str, indent: str) -> None:
        label = _name(policy, k, pic) + (f"<br/>one-way: {', '.join(pic.one_way[k])}" if k in pic.one_way else "")
        lines.append(f"{indent}{ids[k]}[{_mq(label)}]")

    def place(k: str, indent: str) -> None:
        kids = tree.get(k, [])
        if not kids:
            node(k, indent)
            return
        lines.append(f"{indent}subgraph c{ids[k][1:]}[{_mq(policy.orgs[k].title)}]")
        node(k, indent + "  ")
        for c in kids:
            place(c, indent + "  ")
        lines.append(f"{indent}end")

    for k in tree.get(None, []):
        place(k, "  ")
    styles = []
    for i, e in enumerate(pic.edges):
        arrow = "-.->" if e.blocked else ("==>" if e.highlighted else "-->")
        label = _edge_label(e)
        lines.append(f"  {ids[e.source]} {arrow}|{_mq(label)}| {ids[e.recipient]}")
        if e.blocked:
            styles.append(f"  linkStyle {i} stroke:{BLOCKED},stroke-dasharray:5 5,color:{BLOCKED}")
        elif e.highlighted:
            styles.append(f"  linkStyle {i} stroke:{HIGHLIGHT},stroke-width:4px")
        else:
            styles.append(f"  linkStyle {i} stroke:{LAWFUL}")
    lines += styles
    lines.append(f"  classDef oneway fill:{ONE_WAY_FILL},stroke:{BLOCKED},stroke-width:3px")
    lines.append(f"  classDef gone stroke:{GONE},color:{GONE},stroke-dasharray:4 4")
    if pic.one_way:
        lines.append("  class " + ",".join(ids[k] for k in sorted(pic.one_way)) + " oneway")
    if pic.gone:
        lines.append("  class " + ",".join(ids[k] for k in sorted(pic.gone)) + " gone")
    return "\n".join(lines) + "\n"


# ---- Graphviz ----------------------------------------------------------------------------------------
# SVG and PNG come from Graphviz's `dot` when it is installed, else from `graphviz-pure` (a dependency: a
# self-contained port of `dot` shipped as a wheel for each platform), so a picture needs no system package.


def renderer() -> Optional[str]:
    """The program that renders DOT: Graphviz's `dot` on PATH, else `graphviz-pure` (on PATH, or beside this
    Python, as in a virtual environment that is not activated); None when there is neither."""
    exe = shutil.which("dot")
    if exe is None:
        exe = shutil.which("graphviz-pure")
    if exe is None:
        here = os.path.dirname(sys.executable)
        exe = shutil.which("graphviz-pure", path=here) if here else None
    return exe


def render(dot_text: str, fmt: str) -> bytes:
    """DOT rendered by Graphviz's `dot` (or graphviz-pure) to `svg` or `png`. Raises RequestError when neither
    is installed or the renderer fails (never a traceback)."""
    if fmt not in ("svg", "png"):
        raise RequestError("bad-format", f"`{fmt}` is not a format Graphviz renders here", "use svg or png")
    exe = renderer()
    if exe is None:
        raise RequestError(
            "graphviz-missing", "no renderer for DOT: neither Graphviz's `dot` nor `graphviz-pure` was found",
            "`pip install graphviz-pure` (installed with lawful), or install Graphviz (Debian/Ubuntu: "
            "`apt-get install graphviz`; macOS: `brew install graphviz`), or ask for --format dot or --format "
            "mermaid, which need no renderer")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RequestError("graphviz-failed", f"Graphviz `dot` could not render the picture ({exc})") from exc
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RequestError("graphviz-failed", f"Graphviz `dot` failed: {detail[0] if detail else 'no message'}",
                           "ask for --format dot to see the input it was given")
    return done.stdout
