"""A hypothesis generator of random *valid* bundles, written as policy text, and of questions to ask them.

The bundle is kept as a list of declarations (one text each) so that properties can add a declaration,
spread the declarations over files with any names, and shuffle their order. Agreements are drawn from
their gateway's own parties, data and purposes, so that every generated bundle loads without errors.
Statute ids are those of the mini register in conftest.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

STATUTES = ["SSAA-1992", "LSA-2000", "ESA-2008", "OLD-1990", "DCA-GATEWAY-2006"]
# In force on most dates asked, so that generated bundles allow a fair share of flows.
LIKELY_STATUTES = ["SSAA-1992", "LSA-2000", "LSA-2000", "SSAA-1992"] + STATUTES
DATES = [dt.date(1995, 1, 1), dt.date(2005, 6, 23), dt.date(2008, 1, 26), dt.date(2010, 1, 1)]
MARKERS = [(), (), ("personal",), ("special-category",), ("criminal-offence",), ("anonymised",)]
BASES = ["public-task", "legal-obligation", "consent"]


@dataclass(frozen=True)
class Question:
    source: str
    recipient: str
    data: str
    purpose: str
    on: dt.date
    assume: tuple[str, ...] = ()

    def __str__(self) -> str:
        tail = f" assuming {', '.join(self.assume)}" if self.assume else ""
        return f"{self.source} -> {self.recipient} {self.data} for {self.purpose} on {self.on}{tail}"


@dataclass(frozen=True)
class Bundle:
    orgs: tuple[str, ...]
    data: tuple[str, ...]
    purposes: tuple[str, ...]
    items: tuple[str, ...]  # one declaration per item, as text
    gateways: tuple[dict, ...] = field(default=())  # what agreements may be drawn from

    def with_item(self, text: str, gateway: dict | None = None) -> "Bundle":
        return replace(self, items=self.items + (text,),
                       gateways=self.gateways + ((gateway,) if gateway is not None else ()))

    def texts(self, layout: list[tuple[str, list[int]]] | None = None) -> dict[str, str]:
        """Files -> text. `layout` lists (file name, item indexes in order); default one file in order."""
        if layout is None:
            return {"policies/main.policy": "\n".join(self.items) + "\n"}
        return {name: "\n".join(self.items[i] for i in idx) + "\n" for name, idx in layout}


def _names(draw, pool: tuple[str, ...], min_size: int = 1, max_size: int = 3) -> list[str]:
    return draw(st.lists(st.sampled_from(pool), min_size=min_size, max_size=max_size, unique=True))


def _valid(draw) -> str:
    kind = draw(st.sampled_from(["none", "none", "range", "from", "until"]))
    if kind == "none":
        return ""
    a, b = sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
    return {"range": f"  valid {a} to {b}\n", "from": f"  valid from {a}\n", "until": f"  valid until {b}\n"}[kind]


@st.composite
def gateway_decl(draw, b: Bundle, ident: str, restrictions: tuple[str, ...] = ()) -> tuple[str, dict]:
    any_source = draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans())
    sources = [] if any_source else _names(draw, b.orgs)
    recipients = _names(draw, b.orgs)
    data = _names(draw, b.data)
    purposes = _names(draw, b.purposes)
    text = (f'gateway {ident} "generated" {{\n  statute {draw(st.sampled_from(LIKELY_STATUTES))} "s.1"\n'
            f"  allows {'*' if any_source else ', '.join(sources)} -> {', '.join(recipients)}\n"
            f"  data {', '.join(data)}\n  for {', '.join(purposes)}\n")
    if draw(st.booleans()):
        text += "  requires agreement\n"
    if draw(st.integers(0, 3)):
        text += f"  lawful-basis {draw(st.sampled_from(BASES))}\n"
    if draw(st.booleans()) and draw(st.booleans()):
        text += '  article-9 "DPA 2018 Sch 1 para 6"\n'
    if draw(st.booleans()) and draw(st.booleans()):
        text += '  article-10 "DPA 2018 Sch 1 para 10"\n'
    if restrictions and draw(st.booleans()):
        text += f"  overrides {', '.join(_names(draw, restrictions, 1, 2))}\n"
    text += _valid(draw) + "}\n"
    return text, {"id": ident, "sources": sources or list(b.orgs), "recipients": recipients, "data": data,
                  "purposes": purposes}


@st.composite
def restriction_decl(draw, b: Bundle, ident: str) -> str:
    text = f'restriction {ident} "generated" {{\n  statute {draw(st.sampled_from(STATUTES))} "s.2"\n'
    if draw(st.booleans()):
        text += f"  one-way {', '.join(_names(draw, b.orgs, 1, 2))}\n"
    else:
        dst = "*" if draw(st.booleans()) else ", ".join(_names(draw, b.orgs, 1, 2))
        text += f"  forbids {', '.join(_names(draw, b.orgs, 1, 2))} -> {dst}\n"
    if draw(st.booleans()):
        text += f"  data {', '.join(_names(draw, b.data, 1, 2))}\n"
    if draw(st.booleans()):
        text += f"  for {', '.join(_names(draw, b.purposes, 1, 2))}\n"
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["anonymised", "to", "for", "to-for"]))
        if kind == "anonymised":
            text += "  except anonymised\n"
        elif kind == "to":
            text += f"  except to {', '.join(_names(draw, b.orgs, 1, 2))}\n"
        elif kind == "for":
            text += f"  except for {', '.join(_names(draw, b.purposes, 1, 2))}\n"
        else:
            text += (f"  except to {', '.join(_names(draw, b.orgs, 1, 2))} "
                     f"for {', '.join(_names(draw, b.purposes, 1, 2))}\n")
    return text + _valid(draw) + "}\n"


@st.composite
def agreement_decl(draw, b: Bundle, ident: str) -> str:
    g = draw(st.sampled_from(b.gateways))
    src = draw(st.sampled_from(g["sources"]))
    dst = draw(st.sampled_from(g["recipients"]))
    text = f'agreement {ident} "generated" {{\n  from {src} to {dst}\n'
    text += f"  data {', '.join(_names(draw, tuple(g['data'])))}\n"
    text += f"  for {', '.join(_names(draw, tuple(g['purposes'])))}\n  under {g['id']}\n"
    if draw(st.booleans()):
        text += f"  lawful-basis {draw(st.sampled_from(BASES))}\n"
    if draw(st.booleans()) and draw(st.booleans()):
        text += '  article-9 "DPA 2018 Sch 1 para 6"\n'
    if draw(st.booleans()):
        text += f'  requires "condition {ident}"\n'
    return text + _valid(draw) + '  owner "generated"\n}\n'


@st.composite
def bundles(draw) -> Bundle:
    n_orgs = draw(st.integers(2, 6))
    orgs = tuple(f"O{i}" for i in range(n_orgs))
    items = []
    succeeded = None
    if n_orgs >= 3 and draw(st.booleans()) and draw(st.booleans()):
        succeeded = draw(st.integers(0, n_orgs - 2))
    parent: dict[int, int] = {}

    def inside(j: int, k: int) -> bool:  # O_j is O_k or part of it
        while j != k and j in parent:
            j = parent[j]
        return j == k

    for i, o in enumerate(orgs):
        text = f'organisation {o} "organisation {i}"'
        succeeds = succeeded is not None and i == n_orgs - 1 and succeeded != i
        # A successor may not be part of the body it succeeds (successor-part-of-predecessor).
        allowed = [j for j in range(i) if not (succeeds and inside(j, succeeded))]
        if allowed and draw(st.booleans()):
            parent[i] = draw(st.sampled_from(allowed))
            text += f" part-of O{parent[i]}"
        if succeeds:
            text += f" succeeds O{succeeded} on {draw(st.sampled_from(DATES))}"
        items.append(text)
    n_data = draw(st.integers(1, 5))
    data = tuple(f"D{i}" for i in range(n_data))
    for i, d in enumerate(data):
        text = f'data {d} "data {i}"'
        if i > 0 and draw(st.booleans()):
            text += f" under D{draw(st.integers(0, i - 1))}"
        markers = draw(st.sampled_from(MARKERS))
        items.append(text + "".join(f" {m}" for m in markers))
    n_purposes = draw(st.integers(1, 4))
    purposes = tuple(f"P{i}" for i in range(n_purposes))
    for i, p in enumerate(purposes):
        text = f'purpose {p} "purpose {i}"'
        if i > 0 and draw(st.booleans()):
            text += f" under P{draw(st.integers(0, i - 1))}"
        items.append(text)
    b = Bundle(orgs, data, purposes, tuple(items))
    restrictions = tuple(f"R{i}" for i in range(draw(st.integers(0, 3))))
    for r in restrictions:
        b = b.with_item(draw(restriction_decl(b, r)))
    for i in range(draw(st.integers(1, 4))):
        text, g = draw(gateway_decl(b, f"G{i}", restrictions))
        b = b.with_item(text, g)
    for i in range(draw(st.integers(0, 5))):
        b = b.with_item(draw(agreement_decl(b, f"A{i}")))
    return b


@st.composite
def questions(draw, b: Bundle) -> Question:
    assume = tuple(draw(st.lists(st.sampled_from(STATUTES), max_size=1)))
    return Question(draw(st.sampled_from(b.orgs)), draw(st.sampled_from(b.orgs)), draw(st.sampled_from(b.data)),
                    draw(st.sampled_from(b.purposes)), draw(st.sampled_from(DATES)), assume)


def all_questions(b: Bundle, limit: int = 400) -> list[Question]:
    """The flows the gateways name (on each date), then every question over the bundle's names on each
    date (no assumptions, then DCA assumed); capped, evenly."""
    targeted = []
    for g in b.gateways:
        for on in DATES:
            for s in g["sources"][:3]:
                for r in g["recipients"]:
                    for d in g["data"]:
                        for p in g["purposes"]:
                            targeted.append(Question(s, r, d, p, on))
    targeted = targeted[:: max(1, len(targeted) // (limit // 2))][: limit // 2]
    limit -= len(targeted)
    out = []
    for on in DATES:
        for s in b.orgs:
            for r in b.orgs:
                for d in b.data:
                    for p in b.purposes:
                        out.append(Question(s, r, d, p, on))
    out += [replace(q, assume=("DCA-GATEWAY-2006",)) for q in out[: limit // 4]]
    step = max(1, len(out) // limit)
    return targeted + out[::step][:limit]
