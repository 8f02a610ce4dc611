"""The statute register, `gateways.yaml`: read safely, checked against a JSON Schema shipped in the package.

YAML is composed with PyYAML's safe loader into nodes first, so that every key keeps its line, duplicate
keys are refused (PyYAML would silently keep the last) and anchors/aliases are refused (no "billion laughs").
Only then is the plain data built and validated; each schema error points at the key path and its line.

Two fast paths, for a register with nothing to report (issue 18: with a cold cache, the pure-Python YAML
parser and importing JSON Schema were most of `can-share`'s start): libyaml's C parser, whose events are first
scanned for anchors, aliases, nesting and size before anything is composed (`_fast_compose`), and a validator
generated from the schema by fastjsonschema and checked in (engine/syntax/register_validator.py). Each only
ever accepts: anything it does not accept is read again by the reference path (PyYAML's pure-Python loader with
its refusals, jsonschema), which alone gives the diagnostics, so they are the same whichever path ran. Tests
check that the two paths agree (tests/test_register_fast.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from functools import lru_cache
from typing import Any, Optional
from importlib import resources
from types import GeneratorType

import yaml

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic, error
from engine.base.source import SourceFile, Span
from engine.base.text import code_point, unsafe_in_text

MAX_YAML_NODES = 200_000
MAX_YAML_DEPTH = 32  # a register is three levels deep; PyYAML's composer recurses per level


@lru_cache(maxsize=1)
def _schema_bytes() -> bytes:
    return resources.files("engine").joinpath("schemas/gateways.schema.json").read_bytes()


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(_schema_bytes().decode("utf-8"))


@lru_cache(maxsize=1)
def _validator():
    import jsonschema  # here: ~50 ms to import, and a register the fast validator accepts never needs it

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


# JSON Schema's `date` format as jsonschema checks it (jsonschema._format.is_date): four-two-two ASCII digits
# that make a real date. fastjsonschema's own `date` regex would accept year 0000, which Python cannot hold.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def _real_date(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return bool(_DATE.fullmatch(value)) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


_FAST_FORMATS = {"date": _real_date}


def fast_validator_source() -> str:
    """engine/syntax/register_validator.py: the schema compiled to Python by fastjsonschema (a test dependency,
    not needed at run time), with its exception classes defined in the file. Regenerate with
        python -c 'from engine.syntax import register; register.write_fast_validator()'
    tests/test_register_fast.py fails when the file is stale."""
    import fastjsonschema

    code = fastjsonschema.compile_to_code(schema(), formats=_FAST_FORMATS)
    imports = ("from decimal import Decimal\n",
               "from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException\n")
    for line in imports:
        if line not in code:
            raise RuntimeError(f"fastjsonschema's generated code has changed: no {line.strip()!r}")
    code = code.replace(imports[0], "").replace(imports[1], (
        "\n\nclass JsonSchemaValueException(ValueError):  # fastjsonschema's, without importing it\n"
        "    def __init__(self, message, value=None, name=None, definition=None, rule=None):\n"
        "        super().__init__(message)\n\n\n"
        "class JsonSchemaValuesException(ValueError):\n"
        "    def __init__(self, errors):\n"
        "        super().__init__(errors)\n"))
    if "Decimal" in code or "import fastjsonschema" in code or "from fastjsonschema" in code:
        raise RuntimeError("fastjsonschema's generated code needs more than its exceptions")
    return ('"""Generated from engine/schemas/gateways.schema.json by fastjsonschema: do not edit. Regenerate with\n'
            "    python -c 'from engine.syntax import register; register.write_fast_validator()'\n"
            "tests/test_register_fast.py fails when this file is stale. Used by engine/syntax/register.py only to "
            'accept\na valid register quickly; jsonschema judges everything else."""\n'
            "# ruff: noqa\n# mypy: ignore-errors\n"
            f"SCHEMA_SHA256 = {hashlib.sha256(_schema_bytes()).hexdigest()!r}\n"
            f"GENERATOR = {'fastjsonschema ' + fastjsonschema.VERSION!r}\n" + code)


def write_fast_validator() -> None:
    from pathlib import Path

    Path(__file__).with_name("register_validator.py").write_text(fast_validator_source(), encoding="utf-8")


def _fast_valid(data: dict) -> bool:
    """True when the generated validator accepts `data` (then jsonschema would too: the tests check it); False
    when it does not, or when it was generated from another schema than the one shipped (then it is not used)."""
    from engine.syntax import register_validator as generated

    if generated.SCHEMA_SHA256 != hashlib.sha256(_schema_bytes()).hexdigest():
        return False
    try:
        generated.validate_https___lawful_invalid_schemas_gateways_schema_json(data, _FAST_FORMATS)
    except (ValueError, TypeError, KeyError, RecursionError):
        return False
    return True


class _Refused(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def _node_span(file: str, node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _plain(node, file: str, lines: dict[tuple, Span], path: tuple, seen: set[int], budget: list[int]):
    """Node tree -> plain data (dates as ISO strings for the schema), recording the span of every path."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _Refused(error("limit-exceeded", "gateways.yaml has too many entries", _node_span(file, node)))
    if id(node) in seen:
        raise _Refused(error("yaml-alias", "anchors and aliases are not accepted in gateways.yaml",
                             _node_span(file, node), "write each value out in full"))
    seen.add(id(node))
    lines.setdefault(path, _node_span(file, node))
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(error("yaml-alias", "merge keys (`<<`) are not accepted in gateways.yaml",
                                     _node_span(file, key_node)))
            key = _plain(key_node, file, {}, (), seen, budget)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise _Refused(error("yaml-duplicate-key", f"key `{key}` appears twice in the same mapping",
                                     _node_span(file, key_node), "remove or rename one of them",
                                     related=[("first written", lines[path + (key,)])]))
            lines[path + (key,)] = _node_span(file, key_node)
            out[key] = _plain(value_node, file, lines, path + (key,), seen, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, file, lines, path + (i,), seen, budget) for i, v in enumerate(node.value)]
    # A scalar: PyYAML's safe constructor for its tag decides the type (called directly: no shared state).
    ctor = yaml.SafeLoader.yaml_constructors.get(node.tag)
    if ctor is None:
        return str(node.value)
    try:
        resolved = ctor(_SCALAR_LOADER, node)
    except Exception:  # noqa: BLE001 — a value its tag cannot build (`!!int x`; `!!timestamp x` raises AttributeError
        return str(node.value)  # inside PyYAML) stays text, for the schema to judge
    if isinstance(resolved, GeneratorType):  # a collection's tag on a scalar (`!!set x`): PyYAML's two-step build
        resolved.close()
        return str(node.value)
    if isinstance(resolved, dt.date):
        return resolved.isoformat()
    if isinstance(resolved, str) and unsafe_in_text(resolved):
        _refuse_escaped_control(node, file, resolved)
    return resolved


def _refuse_escaped_control(node, file: str, value: str) -> None:
    """A control character that a YAML escape produced (`"\\e[2K"`, `"\\u202e"`). Written raw it is reported
    where it stands by the bundle reader, which scans every file's text; only escapes are left to here."""
    start, end = node.start_mark, node.end_mark
    raw = start.buffer[start.index:end.index] if getattr(start, "buffer", None) is not None else ""
    if unsafe_in_text(raw):
        return  # reported from the text itself, at its exact column
    ch = unsafe_in_text(value)[0]
    raise _Refused(error("control-character", f"an escape in this value makes control character {code_point(ch)}",
                         _node_span(file, node), "remove it: control characters and bidirectional marks can make a "
                         "terminal show something other than what the register says"))


class _ScalarLoader(yaml.SafeLoader):
    def __init__(self):
        super().__init__("")


_SCALAR_LOADER = _ScalarLoader()


def _describe_path(path) -> str:
    return ".".join(str(p) for p in path) if path else "(top level)"


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors, aliases and deep nesting while composing — before any node is
    built, so neither a "billion laughs" document nor `[[[[…]]]]` can cost time, memory or the stack."""

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self._file = file
        self._depth = 0

    def _refuse(self, code: str, message: str, mark, help_: str | None = None) -> None:
        span = Span(self._file, mark.line + 1, mark.column + 1) if mark else Span(self._file, 1, 1)
        raise _Refused(error(code, message, span, help_))

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._refuse("yaml-alias", f"alias `*{event.anchor}` is not accepted in gateways.yaml", event.start_mark,
                         "write each value out in full")
        if getattr(event, "anchor", None) is not None:
            self._refuse("yaml-alias", f"anchor `&{event.anchor}` is not accepted in gateways.yaml", event.start_mark,
                         "write each value out in full")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                self._refuse("limit-exceeded", f"gateways.yaml is nested deeper than {MAX_YAML_DEPTH} levels",
                             event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _fast_compose(text: str) -> Any:
    """The document's node tree composed by libyaml's C parser, or None to let the reference path read it.

    Its events are scanned first, in C and without composing anything (libyaml keeps its own stacks on the heap,
    so `[[[[…]]]]` cannot exhaust the C stack): any anchor or alias, nesting deeper than the reference loader
    accepts, or more nodes than it would build means None, as does anything libyaml finds malformed, and as does
    PyYAML without libyaml. Only then does the C composer build the nodes (scalars are resolved by the same
    Python resolver as the reference path's)."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return None
    nodes, depth = 0, 0
    try:
        scan = loader_class(text)
        try:
            while True:
                event = scan.get_event()
                if event is None or isinstance(event, yaml.StreamEndEvent):
                    break
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                    return None
                if isinstance(event, yaml.NodeEvent):
                    nodes += 1
                    if depth + 1 > MAX_YAML_DEPTH or nodes > MAX_YAML_NODES:
                        return None
                    if isinstance(event, yaml.CollectionStartEvent):
                        depth += 1
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
        finally:
            scan.dispose()
        compose = loader_class(text)
        try:
            return compose.get_single_node()
        finally:
            compose.dispose()
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, MemoryError):
        return None


def _fast_plain(text: str, file: str) -> Optional[tuple[Any, dict[tuple, Span]]]:
    """(data, spans) read through libyaml with nothing to refuse, or None (the reference path decides, and
    reports)."""
    node = _fast_compose(text)
    if node is None:
        return None
    lines: dict[tuple, Span] = {}
    try:
        data = _plain(node, file, lines, (), set(), [MAX_YAML_NODES])
    except (_Refused, RecursionError):  # a duplicate key, an escaped control character…: the reference reports it
        return None
    return data, lines


def _reference_plain(source: SourceFile) -> tuple[Any, dict[tuple, Span], Any] | list[Diagnostic]:
    """(data, spans, root node) read by PyYAML's pure-Python loader with its refusals, or the diagnostics."""
    file = source.name
    try:
        loader = _BoundedLoader(source.text, file)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except _Refused as refused:
        return [refused.diagnostic]
    except RecursionError:  # defence in depth: the composer's own limit should have fired first
        return [error("limit-exceeded", "gateways.yaml is nested too deeply", Span(file, 1, 1))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else Span(file, 1, 1)
        problem = (exc.problem or exc.context or "malformed YAML").strip()
        return [error("bad-yaml", f"gateways.yaml is not well-formed: {problem}", span)]
    except yaml.YAMLError as exc:
        return [error("bad-yaml", f"gateways.yaml is not well-formed: {exc}", Span(file, 1, 1))]
    alias = _first_alias(source.text)
    if alias is not None:
        # Refused where the alias is used (the composer would only show the anchored node).
        return [error("yaml-alias", "anchors and aliases are not accepted in gateways.yaml",
                      Span(file, alias.line + 1, alias.column + 1), "write each value out in full")]
    if node is None:
        return [error("schema", "gateways.yaml is empty", Span(file, 1, 1),
                      "it must be a mapping with a `statutes:` key")]
    lines: dict[tuple, Span] = {}
    try:
        data = _plain(node, file, lines, (), set(), [MAX_YAML_NODES])
    except _Refused as refused:
        return [refused.diagnostic]
    except RecursionError:
        return [error("limit-exceeded", "gateways.yaml is nested too deeply", Span(file, 1, 1))]
    return data, lines, node


def parse_register(source: SourceFile, fast: bool = True) -> tuple[m.Register | None, list[Diagnostic]]:
    """The register and its diagnostics. `fast=False`: the reference path only (the tests compare the two)."""
    file = source.name
    if fast:
        read = _fast_plain(source.text, file)
        if read is not None and isinstance(read[0], dict) and _fast_valid(read[0]):
            return _register(read[0], read[1], file)
    # Anything the fast paths did not accept is read again from the start, so that every diagnostic and every
    # span is the reference path's.
    got = _reference_plain(source)
    if isinstance(got, list):
        return None, got
    data, lines, node = got
    if not isinstance(data, dict):
        return None, [error("schema", "gateways.yaml must be a mapping with a `statutes:` key",
                            _node_span(file, node))]
    diags = _schema_diagnostics(data, lines, file)
    if diags:
        return None, diags
    return _register(data, lines, file)


def _schema_diagnostics(data: dict, lines: dict[tuple, Span], file: str) -> list[Diagnostic]:
    """Every schema error, by jsonschema (the reference), each at the closest line."""
    from jsonschema.exceptions import best_match

    diags: list[Diagnostic] = []
    for err in sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        # Show the one error that matters inside each composite failure (jsonschema's best_match).
        err = best_match([err]) if err.context else err
        path = tuple(err.absolute_path)
        where = path
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            if extra:
                where = path + (extra[0],)  # point at the unknown key itself
        span = _closest_span(lines, where) or Span(file, 1, 1)
        d = error("schema", f"`{_describe_path(path)}`: {_schema_message(err)}", span,
                  "see engine/schemas/gateways.schema.json for the register's shape")
        if all((x.message, x.span) != (d.message, d.span) for x in diags):  # a bad date fails format AND pattern
            diags.append(d)
    return diags


def _register(data: dict, lines: dict[tuple, Span], file: str) -> tuple[m.Register | None, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    statutes = []
    for sid, rec in data.get("statutes", {}).items():
        statutes.append(m.Statute(
            id=sid, title=rec["title"], status=rec["status"], citation=rec.get("citation"), url=rec.get("url"),
            commenced=dt.date.fromisoformat(rec["commenced"]) if rec.get("commenced") else None,
            repealed=dt.date.fromisoformat(rec["repealed"]) if rec.get("repealed") else None,
            notes=rec.get("notes"), span=lines.get(("statutes", sid), Span(file, 1, 1)),
            provisions=_provisions(sid, rec.get("provisions") or {}, lines, file)))
    for s in statutes:
        if s.commenced and s.repealed and s.repealed < s.commenced:
            diags.append(error("bad-validity", f"statute `{s.id}` is repealed before it commenced", s.span))
    for s in statutes:
        diags += _provision_problems(s)
    seen: dict[str, m.Statute] = {}
    for s in statutes:
        if s.id.lower() in seen:
            diags.append(error("duplicate-id", f"statute `{s.id}` is registered twice (ids are case-insensitive)",
                               s.span, related=[("first registered", seen[s.id.lower()].span)]))
        seen.setdefault(s.id.lower(), s)
    regimes = _regimes(data.get("regimes") or {}, lines, file, diags)
    return m.Register(tuple(statutes), file, regimes), diags


def _regimes(raw: dict, lines: dict[tuple, Span], file: str, diags: list[Diagnostic]) -> tuple[m.Regime, ...]:
    """The data-protection regimes (issue 13), by start date; condition ids are unique across all regimes (a
    lawful basis names one condition of one regime)."""
    out = []
    owner: dict[str, tuple[str, Span]] = {}
    for rid, rec in raw.items():
        conds: dict[str, tuple[m.RegimeCondition, ...]] = {}
        for key in ("lawful-bases", "special-category"):
            items = []
            for cid, c in (rec.get(key) or {}).items():
                span = lines.get(("regimes", rid, key, cid), Span(file, 1, 1))
                if cid.lower() in owner:
                    first_regime, first_span = owner[cid.lower()]
                    diags.append(error("duplicate-id", f"condition `{cid}` is registered twice (ids are "
                                       "case-insensitive)", span, related=[(f"first in regime `{first_regime}`",
                                                                           first_span)]))
                    continue
                owner[cid.lower()] = (rid, span)
                items.append(m.RegimeCondition(cid, c["title"], c.get("equivalent"), span))
            conds[key] = tuple(items)
        out.append(m.Regime(
            id=rid, title=rec["title"], start=dt.date.fromisoformat(rec["from"]),
            until=dt.date.fromisoformat(rec["until"]) if rec.get("until") else None, citation=rec.get("citation"),
            url=rec.get("url"), notes=rec.get("notes"), lawful_bases=conds["lawful-bases"],
            special=conds["special-category"], span=lines.get(("regimes", rid), Span(file, 1, 1))))
    for r in out:
        if r.until is not None and r.until <= r.start:
            diags.append(error("bad-validity", f"regime `{r.id}` ends before it starts", r.span))
    return tuple(sorted(out, key=lambda r: (r.start, r.id.lower())))


def _day(value: Optional[str]) -> Optional[dt.date]:
    return dt.date.fromisoformat(value) if value else None


def _provisions(sid: str, recs: dict, lines: dict[tuple, Span], file: str) -> tuple[m.Provision, ...]:
    out = []
    for text, rec in recs.items():
        windows = tuple(m.ProvisionWindow(commenced=dt.date.fromisoformat(w["commenced"]),
                                          repealed=_day(w.get("repealed")),
                                          commenced_by=w.get("commenced-by"), extent=w.get("extent"))
                        for w in rec.get("windows", ()))
        out.append(m.Provision(
            text=text, status=rec["status"], commenced=_day(rec.get("commenced")), repealed=_day(rec.get("repealed")),
            commenced_by=rec.get("commenced-by"), url=rec.get("url"), windows=windows, notes=rec.get("notes"),
            span=lines.get(("statutes", sid, "provisions", text), Span(file, 1, 1))))
    return tuple(out)


def _provision_problems(s: m.Statute) -> list[Diagnostic]:
    """Windows that end before they start or overlap, and two keys for one provision ("section 15" and
    "section-15")."""
    out: list[Diagnostic] = []
    seen: dict[str, m.Provision] = {}
    for p in s.provisions:
        where = f"provision `{p.text}` of statute `{s.id}`"
        if p.commenced and p.repealed and p.repealed < p.commenced:
            out.append(error("bad-validity", f"{where} is repealed before it commenced", p.span))
        periods = sorted(p.windows, key=lambda w: w.commenced)
        for w in periods:
            if w.repealed is not None and w.repealed < w.commenced:
                out.append(error("bad-validity", f"a window of {where} ends on {w.repealed} before it starts on "
                                 f"{w.commenced}", p.span))
        for a, b in zip(periods, periods[1:]):
            if a.repealed is None or b.commenced < a.repealed:
                out.append(error("bad-validity", f"two windows of {where} overlap (from {a.commenced} and from "
                                 f"{b.commenced})", p.span, "give each period once; the windows may not overlap"))
        if p.slug in seen:
            out.append(error("duplicate-id", f"{where} is listed twice (`{seen[p.slug].text}` and `{p.text}`)",
                             p.span, related=[("first listed", seen[p.slug].span)]))
        seen.setdefault(p.slug, p)
    return out


def _first_alias(text: str):
    """The start mark of the first alias (`*name`) in a well-formed YAML text, or None."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                return event.start_mark
    except yaml.YAMLError:
        return None
    return None


def _closest_span(lines: dict[tuple, Span], path: tuple) -> Span | None:
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]


def _schema_message(err) -> str:
    v = err.validator
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"unknown key{'s' if len(extra) > 1 else ''} {', '.join(f'`{k}`' for k in extra)}"
    if v == "required":
        return err.message.replace("'", "`").replace(" is a required property", " is required")
    if v == "enum":
        return f"`{err.instance}` is not one of {', '.join(f'`{x}`' for x in err.validator_value)}"
    if v in ("format", "pattern") and "date" in json.dumps(err.schema):
        return f"`{err.instance}` is not a real date (YYYY-MM-DD)"
    if v == "type":
        return f"expected {err.validator_value}, found `{err.instance}`"
    return err.message.replace("'", "`")
