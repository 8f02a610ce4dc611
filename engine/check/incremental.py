"""Checking a bundle again after an edit, reusing what did not change (issue 18, target 3).

A bundle's agreements are most of its declarations (20,000 of the 25,000 in the large benchmark bundle) and
nothing else refers to one of them by its content: the checks of an agreement read the agreement and the rest
of the bundle (organisations, classes, data, purposes, gateways, conditions, transfers, tests, the register,
the evaluation date, and of the restrictions only their ids), never another agreement. So the checks split in
two:

- the *environment*: every declaration that is not an agreement, the register and the date. Its stages run
  in full on every check (they are a small share of the work). The restrictions are part of it for those
  stages, but an agreement's checks read only their ids, so an edit of a restriction keeps the agreements'
  results;
- each agreement's checks (`each_agreement`), run per file in declaration order. A file whose parsed model is
  the very same object as at the previous check (the parse cache hands back one object per unchanged text),
  with the same agreements in force, gives the diagnostics it gave then, provided the environment is the
  very same objects too.

The bundle-wide questions about agreements (duplicate ids, an id shared with a gateway, the item limit,
whether any name failed to resolve) are asked again on every check. The result is the one a check from
scratch gives, diagnostic for diagnostic and in the same order (tests/test_incremental.py compares them on
random bundles and random edits): identity, never equality, decides what is reused, because the model's
equality ignores positions and diagnostics carry them.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Optional

from engine.syntax import model as m

if TYPE_CHECKING:  # pragma: no cover
    from engine.check.checks import Checked


def _where(item) -> tuple[str, int, int]:
    s = item.span
    return (s.file, s.line, s.column)


@dataclass(frozen=True, eq=False)
class FileIndex:
    """One parsed file's declarations grouped by kind (each group in file order), built once per parsed file."""

    file: m.PolicyFile
    by_kind: dict[type, tuple]
    agreements: tuple[m.Agreement, ...]
    env: tuple  # every declaration that is neither an agreement nor a restriction, in file order
    restrictions: tuple  # its restrictions
    ordered: bool  # its agreements come in (file, line, column) order, as the symbols stage sorts them
    table: dict[str, m.Agreement]  # its agreements by key, each key's first
    repeats: bool  # some agreement key is declared twice in the file

    @classmethod
    def of(cls, pf: m.PolicyFile) -> "FileIndex":
        groups: dict[type, list] = {}
        for item in pf.items:
            groups.setdefault(type(item), []).append(item)
        by_kind = {k: tuple(v) for k, v in groups.items()}
        agreements = by_kind.get(m.Agreement, ())
        restrictions = by_kind.get(m.Restriction, ())
        env = tuple(i for i in pf.items if type(i) is not m.Agreement and type(i) is not m.Restriction) \
            if len(agreements) + len(restrictions) < len(pf.items) else ()
        keys = [_where(a) for a in agreements]
        table: dict[str, m.Agreement] = {}
        for a in agreements:
            table.setdefault(a.id.key, a)
        return cls(pf, by_kind, agreements, env, restrictions, all(map(operator.le, keys, keys[1:])), table,
                   len(table) < len(agreements))


def index_files(files: Iterable[m.PolicyFile], previous: Optional[Iterable[FileIndex]]) -> list[FileIndex]:
    """Each file's index, the previous check's for a file that is the same object."""
    known = {id(fi.file): fi for fi in previous or ()}
    out = []
    for pf in files:
        fi = known.get(id(pf))
        out.append(fi if fi is not None and fi.file is pf else FileIndex.of(pf))
    return out


def items(files: list[FileIndex], kind: type) -> list:
    """`Bundle.items(kind)` from the indexes: every declaration of that kind, files in bundle order."""
    return [i for fi in files for i in fi.by_kind.get(kind, ())]


def _same(a: tuple, b: tuple) -> bool:
    return a is b or (len(a) == len(b) and all(map(operator.is_, a, b)))


def environment(c: "Checked") -> tuple[tuple, tuple]:
    """(what every agreement's checks and compiled form may read besides the agreement, everything else the
    checks read): the date, the register and every declaration that is neither an agreement nor a restriction
    (objects, compared by identity), with the restrictions' ids alone (a name that is not a gateway may be
    reported as a restriction's: `wrong-kind`); then the restrictions themselves."""
    restrictions = tuple(fi.restrictions for fi in c.files if fi.restrictions)
    ids = frozenset(r.id.key for rs in restrictions for r in rs)
    return (c.on, c.bundle.register, tuple(fi.env for fi in c.files if fi.env), ids), restrictions


def same_environment(a: tuple, b: tuple) -> bool:
    """The agreements' environments (`environment(c)[0]`) are the same objects."""
    return a[0] == b[0] and a[1] is b[1] and len(a[2]) == len(b[2]) and all(map(_same, a[2], b[2])) and a[3] == b[3]


def same_restrictions(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(map(_same, a, b))


def agreements_in_order(c: "Checked") -> Optional[list[FileIndex]]:
    """The files holding agreements, when taking them file by file gives every agreement in the order the
    symbols stage declares them (by file, line and column; ties in bundle order): when each file's agreements
    are in order and the files follow one another, as always for a bundle read from a folder or from texts.
    None otherwise (the stage then sorts them, and nothing is reused)."""
    files = [fi for fi in c.files if fi.agreements]
    if all(fi.ordered for fi in files) and all(
            _where(a.agreements[-1]) <= _where(b.agreements[0]) for a, b in zip(files, files[1:])):
        return files
    return None


Block = tuple[Optional[m.PolicyFile], tuple, tuple, bool]  # (file, agreements checked, diagnostics, unresolved)


def each_agreement(c: "Checked", part: str, check_one: Callable[["Checked", m.Agreement], None]) -> None:
    """Run `check_one` (which appends to `c.diagnostics` and may set `c.unresolved`) over every agreement in
    force, in declaration order; a file unchanged since the previous check (same objects, same environment)
    gives the diagnostics it gave then instead. `part` names the call site (one per loop of a stage)."""
    previous = c.reuse.get(part) if c.reuse is not None else None
    done: dict[int, Block] = c.blocks.setdefault(part, {})
    for pf, run in c.agreement_winners:
        hit = previous.get(id(pf)) if previous is not None and pf is not None else None
        if hit is not None and hit[0] is pf and _same(hit[1], run):
            diags, found = hit[2], hit[3]
            c.diagnostics.extend(diags)
        else:
            start, was = len(c.diagnostics), c.unresolved
            c.unresolved = False
            for a in run:
                check_one(c, a)
            found, c.unresolved = c.unresolved, was
            diags = tuple(c.diagnostics[start:])
        c.unresolved = c.unresolved or found
        if pf is not None:
            done[id(pf)] = (pf, run, diags, found)
