"""Where every name of a bundle is written: each identifier of the parsed model (and each statute key of
gateways.yaml) with the kind of thing it names and whether it declares it. Definition, references, rename,
hover and completion are look-ups in these lists; nothing here parses or checks (the model comes from the
engine's parser, its spans from the same tokens the diagnostics point at).

Resolution follows the checks (engine/check/checks.py `stage_symbols`): names are case-insensitive, the first
declaration of an id (in file and line order) is the one that counts, an organisation may be named by an
alias, and gateways, restrictions and agreements share one namespace (a `because` names any of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Union

from engine.base.source import Span
from engine.syntax import model as m

ORG = "organisation"
DATA = "data"
PURPOSE = "purpose"
GATEWAY = "gateway"
RESTRICTION = "restriction"
AGREEMENT = "agreement"
STATUTE = "statute"
RULE = "rule"  # a gateway, restriction or agreement (`because`)

RULE_KINDS = (GATEWAY, RESTRICTION, AGREEMENT)
KIND_WORDS = {
    ORG: "organisation",
    DATA: "data category",
    PURPOSE: "purpose",
    GATEWAY: "gateway",
    RESTRICTION: "restriction",
    AGREEMENT: "agreement",
    STATUTE: "statute",
    RULE: "rule",
}
_DECL_KIND = {
    m.Organisation: ORG,
    m.DataCategory: DATA,
    m.Purpose: PURPOSE,
    m.Gateway: GATEWAY,
    m.Restriction: RESTRICTION,
    m.Agreement: AGREEMENT,
}

_DECLARED = (m.Organisation, m.DataCategory, m.Purpose, m.Gateway, m.Restriction, m.Agreement)
Declared = Union[m.Organisation, m.DataCategory, m.Purpose, m.Gateway, m.Restriction, m.Agreement, m.Statute]


@dataclass(frozen=True)
class Occurrence:
    kind: str  # what the position names (RULE: one of the three rule kinds)
    text: str  # as written
    span: Span
    declares: bool = False

    @property
    def key(self) -> str:
        return self.text.lower()

    def contains(self, line: int, column: int) -> bool:
        """(1-based line, 1-based column) inside the name or just after its last character (where a cursor
        stands after typing it)."""
        s = self.span
        return s.line == line and s.column <= column <= s.end_column


def file_occurrences(pf: m.PolicyFile) -> list[Occurrence]:
    """Every name written in one parsed policy file, in file order."""
    out: list[Occurrence] = []

    def add(kind: str, name: Optional[m.Name], declares: bool = False) -> None:
        if name is not None and name.span.line > 0:
            out.append(Occurrence(kind, name.text, name.span, declares))

    def each(kind: str, names: Iterable[m.Name]) -> None:
        for n in names:
            add(kind, n)

    def parties(pairs: Iterable[m.Parties]) -> None:
        for p in pairs:
            each(ORG, p.sources + p.except_sources)
            each(ORG, p.recipients + p.except_recipients)

    def onward(o: Optional[m.Onward]) -> None:
        if o is not None:
            each(ORG if o.kind == "to" else PURPOSE if o.kind in ("only-for", "for") else
                 DATA if o.kind == "as" else "", o.targets)
            each(ORG, o.excluded)

    def assumed(n: m.Name) -> None:
        """A statute assumed, or one provision of it (`ESA-2008/section-15`): the statute part names it."""
        statute, slash, _provision = n.text.partition("/")
        if slash:
            span = n.span
            n = m.Name(statute, Span(span.file, span.line, span.column, span.end_line, span.column + len(statute)))
        add(STATUTE, n)

    for item in pf.items:
        if isinstance(item, m.Organisation):
            add(ORG, item.id, True)
            add(ORG, item.parent)
            add(ORG, item.succeeds)
        elif isinstance(item, (m.DataCategory, m.Purpose)):
            kind = _DECL_KIND[type(item)]
            add(kind, item.id, True)
            add(kind, item.parent)
        elif isinstance(item, m.Gateway):
            add(GATEWAY, item.id, True)
            add(STATUTE, item.statute.id if item.statute else None)
            parties(item.allows)
            each(DATA, item.data)
            each(PURPOSE, item.purposes)
            each(RESTRICTION, item.overrides)
            onward(item.onward)
        elif isinstance(item, m.Restriction):
            add(RESTRICTION, item.id, True)
            add(STATUTE, item.statute.id if item.statute else None)
            each(ORG, item.one_way + item.one_way_except)
            parties(item.forbids)
            each(DATA, item.data)
            each(PURPOSE, item.purposes)
            for exc in item.exceptions:
                each(ORG, exc.to + exc.to_except)
                each(PURPOSE, exc.purposes)
        elif isinstance(item, m.Agreement):
            add(AGREEMENT, item.id, True)
            each(ORG, item.sources + item.except_sources + item.recipients + item.except_recipients)
            each(DATA, item.data)
            each(PURPOSE, item.purposes)
            add(GATEWAY, item.under)
            onward(item.onward)
        elif isinstance(item, m.PolicyTest):
            for e in item.expectations:
                add(ORG, e.source)
                add(ORG, e.recipient)
                add(DATA, e.data)
                add(PURPOSE, e.purpose)
                for n in e.assuming:
                    assumed(n)
                add(GATEWAY, e.received_under)
                each(RULE, e.because)
    out.sort(key=lambda o: (o.span.line, o.span.column))
    return [o for o in out if o.kind]


def statute_key_span(statute: m.Statute, text: str) -> Span:
    """The span of a statute's key in gateways.yaml, without the quotes of a quoted key."""
    s = statute.span
    lines = text.splitlines()
    if s.line <= 0 or s.line > len(lines):
        return s
    line = lines[s.line - 1]
    start = s.column - 1
    if line[start : start + 1] in ("'", '"'):
        start += 1
    found = line.find(statute.id, start)
    if found < 0:
        return s
    return Span(s.file, s.line, found + 1, s.line, found + 1 + len(statute.id))


def register_occurrences(register: m.Register, text: str) -> list[Occurrence]:
    return [Occurrence(STATUTE, s.id, statute_key_span(s, text), True) for s in register.statutes if s.span.line > 0]


class Symbols:
    """The declarations of a bundle by kind and lower-case id (the first in file and line order wins), and
    organisation aliases."""

    def __init__(self, files: Iterable[m.PolicyFile], register: Optional[m.Register],
                 cache: Optional[dict[int, tuple[m.PolicyFile, "_FileSymbols"]]] = None):
        """`cache`: each file's own tables by the file's identity, kept by the caller between analyses (an edit
        then builds the tables of the edited file only)."""
        self.tables: dict[str, dict[str, Declared]] = {k: {} for k in (ORG, DATA, PURPOSE) + RULE_KINDS + (STATUTE,)}
        self.alias: dict[str, str] = {}
        cache = {} if cache is None else cache
        indexed = []
        for f in files:
            hit = cache.get(id(f))
            if hit is None or hit[0] is not f:
                hit = cache[id(f)] = (f, _FileSymbols.of(f))
            indexed.append(hit[1])
        indexed.sort(key=lambda fs: fs.first or ("", 0, 0))
        present = [fs for fs in indexed if fs.first is not None]
        bounds = [(fs.first, fs.last) for fs in present if fs.first is not None and fs.last is not None]
        if all(fs.ordered for fs in present) and all(a[1] < b[0] for a, b in zip(bounds, bounds[1:])):
            # file after file is the declarations' (file, line, column) order: merge each file's own tables
            for fs in present:
                for kind, table in fs.tables.items():
                    into = self.tables[kind]
                    if into.keys().isdisjoint(table):  # (the usual case: each id declared once)
                        into.update(table)
                        continue
                    for key, item in table.items():
                        into.setdefault(key, item)
        else:
            items = [i for fs in indexed for i in fs.items]
            items.sort(key=_where)
            for item in items:
                self.tables[_DECL_KIND[type(item)]].setdefault(item.id.key, item)
        for key, org in sorted(self.tables[ORG].items()):
            for a in org.aliases if isinstance(org, m.Organisation) else ():
                if a.lower() not in self.tables[ORG]:
                    self.alias.setdefault(a.lower(), key)
        if register is not None:
            for s in register.statutes:
                self.tables[STATUTE].setdefault(s.id.lower(), s)

    def resolve(self, kind: str, text: str) -> Optional[tuple[str, str]]:
        """(kind, key) of the declaration a name written in a position of `kind` refers to, or None."""
        key = text.lower()
        if kind == RULE:
            for k in RULE_KINDS:
                if key in self.tables[k]:
                    return k, key
            return None
        if kind == ORG and key not in self.tables[ORG]:
            key = self.alias.get(key, key)
        return (kind, key) if key in self.tables.get(kind, {}) else None

    def get(self, kind: str, key: str) -> Optional[Declared]:
        return self.tables.get(kind, {}).get(key)

    def names(self, kind: str) -> list[Declared]:
        kinds = RULE_KINDS if kind == RULE else (kind,)
        return [d for k in kinds for d in self.tables.get(k, {}).values()]

    def taken(self, kind: str, key: str) -> bool:
        """Whether `key` is already an id in the namespace of `kind` (rules share one; organisations count
        their aliases)."""
        kinds = RULE_KINDS if kind in RULE_KINDS else (kind,)
        if any(key in self.tables[k] for k in kinds):
            return True
        return kind == ORG and key in self.alias


def _where(item) -> tuple[str, int, int]:
    return (item.span.file, item.span.line, item.span.column)


@dataclass(frozen=True, eq=False)
class _FileSymbols:
    """One file's declarations (in file order) and its own tables (the first of each id wins)."""

    items: tuple
    tables: dict[str, dict[str, Declared]]
    first: Optional[tuple[str, int, int]]
    last: Optional[tuple[str, int, int]]
    ordered: bool  # its declarations come in (file, line, column) order

    @classmethod
    def of(cls, f: m.PolicyFile) -> "_FileSymbols":
        items = tuple(i for i in f.items if isinstance(i, _DECLARED))
        tables: dict[str, dict[str, Declared]] = {}
        for item in items:
            tables.setdefault(_DECL_KIND[type(item)], {}).setdefault(item.id.key, item)
        where = [_where(i) for i in items]
        return cls(items, tables, where[0] if where else None, where[-1] if where else None,
                   all(a <= b for a, b in zip(where, where[1:])))


def decl_name(d: Declared) -> str:
    return d.id if isinstance(d, m.Statute) else d.id.text
