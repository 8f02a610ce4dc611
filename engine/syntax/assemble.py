"""Raw parsed items -> the model, through the clause table. Both parsers (fastparse and Lark's transformer)
hand over the same raw items, so a block means one thing whichever parser read it.

A raw item is `(kind, id, title, clauses, span)`: `kind` a block's keyword (`clauses.BLOCKS`), `id` a
`Name` (None for a test), `clauses` a list of `(clause name, raw value, span)` in the order written, each raw
value as `clauses.SHAPES` describes. Here a clause the block does not take is `misplaced-clause`, a second
occurrence of a clause taken once is `duplicate-clause` (the first is kept), and the model object is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from engine.base.diagnostics import Diagnostic, error
from engine.base.source import Span
from engine.syntax import clauses as T
from engine.syntax import model as m


def _statute(value: Any, span: Span) -> m.StatuteRef:
    return m.StatuteRef(value[0], value[1], span)


def _parties(value: Any, span: Span) -> m.Parties:
    src, dst, src_except, dst_except = value
    return m.Parties(sources=() if src == m.ANY else src, recipients=() if dst == m.ANY else dst,
                     any_source=src == m.ANY, any_recipient=dst == m.ANY, span=span, except_sources=src_except,
                     except_recipients=dst_except)


def _onward(value: Any, span: Span) -> m.Onward:
    return m.Onward(value[0], value[1], span, excluded=value[2])


def _validity(value: Any, span: Span) -> m.Validity:
    return m.Validity(value[0], value[1], span)


def _exception(value: Any, span: Span) -> m.Exception_:
    return m.Exception_(value[0], value[1], value[2], span, when=value[3], to_except=value[4])


def _expectation(value: Any, span: Span) -> m.Expectation:
    verdict, source, recipient, data, purpose, on, assuming, because, given, express_only, received_under, \
        own_data, held_for = value
    return m.Expectation(verdict=verdict, source=source, recipient=recipient, data=data, purpose=purpose, on=on,
                         assuming=assuming, because=because, given=given, express_only=express_only,
                         received_under=received_under, own_data=own_data, held_for=held_for, span=span)


def _members(value: Any, span: Span) -> tuple[m.Membership, ...]:
    return tuple(m.Membership(name, start, end) for name, start, end in value)


# Shape -> the model value of a raw value and its clause's span (shapes absent here are their raw value).
MAKE: dict[str, Callable[[Any, Span], Any]] = {
    "statute": _statute, "parties": _parties, "onward": _onward, "validity": _validity, "exception": _exception,
    "expect": _expectation, "members": _members,
}


class _Taken(NamedTuple):
    """How one block kind takes one clause, resolved once from the table (a tuple: read per clause parsed)."""

    once: bool
    field: str | None  # the model field, unless the value is spread over `fields`
    fields: tuple[str, ...]
    make: Callable[[Any, Span], Any] | None
    clause: T.Clause


def _taken(kind: str) -> dict[str, _Taken]:
    out = {}
    for c in T.ORDER[kind]:
        fields = c.fields_in(kind)
        out[c.name] = _Taken(c.once, fields[0] if len(fields) == 1 else None, fields, MAKE.get(c.shape), c)
    return out


_TAKES = {b.kind: _taken(b.kind) for b in T.BLOCKS}
# Per kind, clause -> its model field for the clauses taken once into one field as written (no `MAKE`): most
# clauses read, which `build` sets with one look-up.
_PLAIN = {kind: {name: t.field for name, t in takes.items() if t.once and t.field is not None and t.make is None}
          for kind, takes in _TAKES.items()}
_MODEL = {b.kind: getattr(m, b.model) for b in T.BLOCKS}
_HAS_SPANS = {kind: "clause_spans" in m.field_names(cls) for kind, cls in _MODEL.items()}
_TAKES_HINT = {kind: ", ".join(sorted(t.clause.shown for t in takes.values())) for kind, takes in _TAKES.items()}


def build(kind: str, ident: m.Name | tuple[m.Name, ...] | None, title: str, raw: Iterable[tuple[str, Any, Span]],
          span: Span, diags: list[Diagnostic]) -> Any:
    """One block's model object; misplaced and duplicated clauses are reported in `diags` and left out."""
    takes = _TAKES[kind]
    plain = _PLAIN[kind]
    seen: dict[str, Span] = {}
    kw: dict[str, Any] = {}
    many: dict[str, list] = {}
    spans: list[tuple[str, Span]] = []
    append = spans.append
    for name, value, cspan in raw:
        field = plain.get(name)
        if field is not None and name not in seen:  # the first of a plain clause: what the loop below does
            append((name, cspan))
            seen[name] = cspan
            kw[field] = value
            continue
        t = takes.get(name)
        if t is None:
            shown = T.CLAUSE[name].shown
            diags.append(error("misplaced-clause", f"`{shown}` has no meaning in a {kind}", cspan,
                               f"a {kind} takes: {_TAKES_HINT[kind]}"))
            continue
        spans.append((name, cspan))
        once, field, fields, make, _ = t
        if make is not None:
            value = make(value, cspan)
        if not once:
            many.setdefault(name, []).append(value)
            continue
        if name in seen:
            diags.append(error("duplicate-clause", f"`{t.clause.shown}` appears twice in {kind} "
                                                   f"`{_label(ident, title)}`", cspan,
                               "list several items in one clause, separated by commas",
                               related=[("first written", seen[name])]))
            continue
        seen[name] = cspan
        if field is not None:
            kw[field] = value
        else:
            kw.update(zip(fields, value))
    for name, values in many.items():
        t = takes[name]
        collect = t.clause.collect
        if collect == T.EACH:
            kw[t.fields[0]] = tuple(values)
        elif collect == T.CONCAT and len(t.fields) > 1:  # spread over fields: each joined with its own
            for i, f in enumerate(t.fields):
                kw[f] = tuple(v for group in values for v in group[i])
        elif collect == T.CONCAT:
            kw[t.fields[0]] = tuple(v for group in values for v in group)
        else:  # SET
            kw[t.fields[0]] = tuple(dict.fromkeys(values))
    if isinstance(ident, tuple):  # a block whose head is names (`transfer A, B …`)
        kw["sources"] = ident
    elif ident is not None:
        kw["id"] = ident
        kw["title"] = title
    else:
        kw["name"] = title
    if _HAS_SPANS[kind]:
        kw["clause_spans"] = tuple(spans)
    return _MODEL[kind](span=span, **kw)


def _label(ident: m.Name | tuple[m.Name, ...] | None, title: str) -> str:
    if isinstance(ident, tuple):
        return ", ".join(n.text for n in ident)
    return ident.text if ident else title


def assemble(filename: str, raw: list, diags: list[Diagnostic]) -> m.PolicyFile:
    """The file's model from a parser's raw items (see the module docstring)."""
    return m.PolicyFile(filename, tuple(build(kind, ident, title, clauses, span, diags)
                                        for kind, ident, title, clauses, span in raw))
