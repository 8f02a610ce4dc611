"""Policy text -> typed model. Lark (LALR, positions kept) and a Transformer straight into dataclasses.

Syntax errors become `parse-error` diagnostics that say in words what was expected ("expected a data
category after `data`"), never Lark's terminal names.
"""

from __future__ import annotations

import datetime as dt
import io
import pickle
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Optional

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from engine.syntax import clauses as T
from engine.syntax import model as m
from engine.syntax.assemble import assemble
from engine.base.diagnostics import Diagnostic, error
from engine.errors import DiagnosticsError
from engine.base.source import SourceFile, Span

_lock = threading.Lock()


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return resources.files("engine.syntax").joinpath("grammar.lark").read_text(encoding="utf-8")


_TABLES_MAX_BYTES = 4 * 1024 * 1024


class _DataOnly(pickle.Unpickler):
    """Lark's saved tables are plain data (dicts, lists, tuples, strings, numbers): nothing may be looked up,
    so nothing can be called while they are read."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in Lark's tables")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # The LALR tables are kept in the user's private cache folder as an HMAC-authenticated entry
    # (engine/base/cachedir.py), keyed by the engine's fingerprint (grammar, code, Lark's version), and read
    # back with an unpickler that accepts plain data only. Lark's own `cache=` file is not used: it is a
    # pickle Lark would load without any of these checks.
    from engine.base.cachedir import PrivateCache, engine_fingerprint

    options = dict(parser="lalr", propagate_positions=True, maybe_placeholders=False)
    store = PrivateCache.open()
    name = f"grammar-{engine_fingerprint()[:32]}.tables"
    if store is not None:
        data = store.get(name, _TABLES_MAX_BYTES)
        if data is not None:
            try:
                return Lark.load(_DataOnly(io.BytesIO(data)).load())  # Lark.load takes the dict it saved
            except Exception:  # noqa: BLE001 — tables this Lark cannot read: build them again
                pass
    lark = Lark(grammar_text(), **options)
    if store is not None:
        try:
            buf = io.BytesIO()
            lark.save(buf)
            store.put(name, buf.getvalue())
        except Exception:  # noqa: BLE001 — failing to cache must never stop parsing
            pass
    return lark


def parser() -> Lark:
    # Building the LALR tables once per process; the lock makes the first build thread-safe.
    with _lock:
        return _parser()


# ---- describing what was expected ----------------------------------------------------------------
#
# Lark reports the terminals it could accept (`NAME`, `RBRACE`, `__ANON_1`, …). Those names mean nothing to
# a policy author, so each is described in words, using the construct being written for context: the
# parser's value stack holds every token of the unfinished construct, so "expected a data category after
# `data`" works for EOF and after a comma too.

_DECLARATIONS = T.DECLARATION_WORDS
_TOP_LEVEL = {w.upper() for w in _DECLARATIONS}

# What a NAME means after each keyword (the keyword that governs the position, see `_Context`).
_NAME_AFTER = {
    "part-of": "an organisation",
    "succeeds": "an organisation",
    "allows": "an organisation",
    "forbids": "an organisation",
    "->": "an organisation",
    "one-way": "an organisation",
    "from": "an organisation",
    "between": "an organisation",
    "and": "an organisation",
    "to": "an organisation",
    "data": "a data category",
    "for": "a purpose",
    "only-for": "a purpose",
    "under": "a name (a parent category or purpose, or the gateway an agreement relies on)",
    "under-data": "the data category it is part of",
    "under-purpose": "the purpose it is part of",
    "under-agreement": "the gateway the agreement relies on",
    "organisation-id": "an identifier for the organisation",
    "data-id": "an identifier for the data category",
    "purpose-id": "an identifier for the purpose",
    "gateway-id": "an identifier for the gateway",
    "restriction-id": "an identifier for the restriction",
    "agreement-id": "an identifier for the agreement",
    "statute": "a statute id from gateways.yaml",
    "overrides": "a restriction id",
    "because": "a gateway, agreement or restriction id",
    "assuming": "a statute id, or a provision of one (`ESA-2008/section-15`)",
    "lawful-basis": "a lawful basis such as `public-task`",
    "when": "a condition (declared with `condition`)",
    "except": "an organisation or class to leave out",
    "requires": "a condition (declared with `condition`)",
    "condition-id": "an identifier for the condition",
    "expect-source": "the sending organisation",
    "expect-recipient": "the receiving organisation",
    "expect-data": "a data category",
    "renames": "the organisation's former name",
    "is": "a class of bodies",
    "class-id": "an identifier for the class",
    "transfer-id": "the organisation whose functions pass",
    "transfer-options": "an organisation",
}

# What a quoted STRING means after each keyword.
_STRING_AFTER = {
    "test-id": "a quoted test name (\"…\")",
    "aka": "a quoted alias (\"…\")",
    "statute": "a quoted provision such as \"section 123\"",
    "requires": "a quoted condition (\"…\")",
    "article-9": "the article-9 condition as quoted text (\"…\")",
    "article-10": "the article-10 condition as quoted text (\"…\")",
    "owner": "the owner as quoted text (\"…\")",
    "note": "a quoted note (\"…\")",
}

_LITERAL_TYPES = {"NAME", "STRING", "DATE", "COMMA", "MARKER", "ANY", "VERDICT", "PROVISION_REF"}


@lru_cache(maxsize=1)
def _terminal_strings() -> dict[str, str]:
    """Terminal name -> the literal text it matches, for every fixed-string terminal (`__ANON_1` -> `->`)."""
    out = {}
    for t in parser().terminals:
        if t.pattern.type == "str":
            out[t.name] = t.pattern.value
    return out


@dataclass(frozen=True)
class _Context:
    """Where in a construct the parser stopped: the last token read and the keyword that governs it."""

    prev: Optional[Token]  # the last token read (None at the start of the file)
    keyword: Optional[str]  # lower-case keyword text, or a synthetic `expect-…` position
    open_braces: int  # blocks opened and not closed


def _stack_tokens(stack) -> list[Token]:
    out: list[Token] = []
    for v in stack:
        if isinstance(v, Token):
            out.append(v)
        elif isinstance(v, Tree):
            out.extend(t for t in v.scan_values(lambda x: isinstance(x, Token)))
    return out


def _context(tokens: list[Token]) -> _Context:
    prev = tokens[-1] if tokens else None
    open_braces = sum(1 for t in tokens if t.type == "LBRACE") - sum(1 for t in tokens if t.type == "RBRACE")
    keyword = None
    # The governing keyword is the nearest token that is not a literal; `->` counts (recipient side).
    tail: list[Token] = []
    for t in reversed(tokens):
        if t.type not in _LITERAL_TYPES:
            keyword = str(t.value).lower()
            break
        tail.append(t)
    tail.reverse()
    i = len(tokens) - len(tail) - 4  # where `expect` stands when the keyword is the `->` of an expectation
    in_expect = i >= 0 and tokens[i].type == "EXPECT"
    if keyword == "expect":  # expect VERDICT SOURCE -> RECIPIENT DATA …
        keyword = "expect-source" if len(tail) == 1 else keyword
    elif keyword == "->" and in_expect:
        keyword = "expect-data" if tail else "expect-recipient"
    elif keyword in _DECLARATIONS and open_braces == 0:
        keyword += "-id" if not tail else "-title" if len(tail) == 1 else "-options"
    elif keyword == "under":
        # which declaration this `under` belongs to: the nearest declaration keyword before it
        decl = next((t for t in reversed(tokens) if t.type in _TOP_LEVEL), None)
        if decl is not None and decl.type in ("DATA", "PURPOSE", "AGREEMENT") and \
                (decl.type == "AGREEMENT") == (open_braces > 0):
            keyword = f"under-{decl.type.lower()}"
    return _Context(prev, keyword, open_braces)


def _describe_terminal(name: str, ctx: _Context) -> str:
    kw = ctx.keyword or ""
    if name == "NAME":
        return _NAME_AFTER.get(kw, "a name")
    if name == "STRING":
        if kw.endswith("-title"):
            return "a quoted test name (\"…\")" if kw == "test-title" else "a quoted title (\"…\")"
        return _STRING_AFTER.get(kw, "a quoted text (\"…\")")
    if name == "DATE":
        return "a date (YYYY-MM-DD)"
    if name == "VERDICT":
        return "`allow` or `deny`"
    if name == "MARKER":
        return "a sensitivity marker (`personal`, `special-category`, `criminal-offence`, `anonymised`)"
    if name == "ANY":
        return "`*` (anyone)"
    if name == "$END":
        return "the end of the file"
    literal = _terminal_strings().get(name)
    if literal is not None:
        return f"`{literal}`"
    return "something else"  # never show a grammar-internal name


def _expected_phrase(expected: set[str], ctx: _Context) -> str:
    # The look-ahead keywords (`except` after a party list, `data` on a transfer's line) are optional
    # continuations: naming them would only crowd the message.
    # A provision (`ESA-2008/section-15`) stands where a statute id may: the words for the NAME say so.
    expected = set(expected) - {"WS", "COMMENT", "_EXCEPT_PARTY", "_DATA_SCOPE", "PROVISION_REF"}
    if ctx.keyword == "data" and "NAME" in expected:
        # `data received-under G` / `data held-for F` (restrictions, issue 13) are the rarer forms: after `data`
        # the message asks for what is nearly always meant, a data category
        literals = _terminal_strings()
        expected = {t for t in expected if literals.get(t) not in ("received-under", "held-for")}
    words: list[str] = []
    if len(expected & _TOP_LEVEL) >= 5:
        # At the top level: anything that starts a declaration (plus options of the declaration just read).
        words.append("a declaration (`organisation`, `data`, `purpose`, `gateway`, `restriction`, `agreement`, "
                     "`transfer`, `class`, `test` or `condition`)")
        expected -= _TOP_LEVEL | {"$END"}
    clause_keywords = {n for n in expected if n not in _LITERAL_TYPES | {"$END", "RBRACE", "LBRACE"}}
    if "RBRACE" in expected and len(clause_keywords) >= 5:
        words.append("a clause (such as `data`, `for`, `statute`) or `}`")
        expected -= clause_keywords | {"RBRACE"}
    if {"NAME", "ANY"} <= expected and _NAME_AFTER.get(ctx.keyword or "") == "an organisation":
        words.append("an organisation or `*` (anyone)")
        expected -= {"NAME", "ANY"}
    words += sorted({_describe_terminal(n, ctx) for n in expected})
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _token_text(tok: Token) -> str:
    if tok.type == "$END" or tok.value == "":
        return "the end of the file"
    return f"`{tok.value}`"


def _after(ctx: _Context) -> str:
    return f" after `{ctx.prev.value}`" if ctx.prev is not None else ""


def _syntax_diagnostic(exc: UnexpectedInput, source: SourceFile) -> Diagnostic:
    if isinstance(exc, UnexpectedToken):
        ip = getattr(exc, "interactive_parser", None)
        if ip is not None:
            tokens = _stack_tokens(ip.parser_state.value_stack)
        else:
            tokens = [t for t in (getattr(exc, "token_history", None) or []) if t is not None]
        ctx = _context(tokens)
        tok = exc.token
        expected = set(exc.expected)
        if ip is not None:
            # LALR merges look-ahead sets; ask the parser which tokens would really advance it.
            try:
                expected = set(ip.accepts()) or expected
            except Exception:  # noqa: BLE001 — a best-effort refinement; the raw set still describes it
                pass
        what = _expected_phrase(expected, ctx)
        prev_tok = ctx.prev
        if tok.type == "$END" or tok.line is None:
            message = f"unexpected end of file; expected {what}{_after(ctx)}"
            if prev_tok is not None and prev_tok.end_line is not None and prev_tok.end_column is not None:
                line, col = prev_tok.end_line, prev_tok.end_column
            else:
                lines = source.text.splitlines() or [""]
                line, col = len(lines), len(lines[-1]) + 1
            span = Span(source.name, line, col, line, col + 1)
        else:
            message = f"expected {what}{_after(ctx)}, found {_token_text(tok)}"
            col = tok.column or 0
            span = Span(source.name, tok.line, col, tok.end_line or tok.line, tok.end_column or col + 1)
        return error("parse-error", message, span, _hint(ctx, tok))
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = source.text[pos] if pos is not None and pos < len(source.text) else "?"
        span = Span(source.name, exc.line, exc.column, exc.line, exc.column + 1)
        tokens = [t for t in (getattr(exc, "token_history", None) or []) if t is not None]
        ctx = _context(tokens)
        allowed = set(getattr(exc, "allowed", None) or ()) - {"WS", "COMMENT"}
        shown = ch if ch.isprintable() else repr(ch)[1:-1]
        message = f"unexpected character `{shown}`"
        if allowed:
            message += f"; expected {_expected_phrase(allowed, ctx)}{_after(ctx)}"
        hint = None
        if ch == '"':
            hint = "a quoted text must close on the same line with `\"`"
        elif ch == "-":
            hint = "`->` separates senders from recipients"
        elif ch.isdigit() and "NAME" in allowed:
            hint = "identifiers start with a letter, then letters, digits, `-`, `_` or `.`"
        elif not ch.isprintable() or not ch.isascii():
            hint = "identifiers and keywords are plain ASCII; non-ASCII text belongs inside quotes"
        return error("parse-error", message, span, hint)
    if isinstance(exc, UnexpectedEOF):
        lines = source.text.splitlines() or [""]
        span = Span(source.name, len(lines), len(lines[-1]) + 1)
        return error("parse-error", "unexpected end of file", span, "a block opened with `{` must be closed with `}`")
    return error("parse-error", "cannot parse this file", Span(source.name, 1, 1))


def _hint(ctx: _Context, tok: Token) -> Optional[str]:
    if tok.type == "$END":
        return "a block opened with `{` must be closed with `}`" if ctx.open_braces > 0 else None
    if tok.type == "NAME" and ctx.keyword in ("allows", "forbids"):
        return "write the parties as `SENDER -> RECIPIENT`"
    if ctx.open_braces > 0 and tok.type in _TOP_LEVEL:
        return "the block above is not closed: add `}` before this declaration"
    return None


# ---- the transformer ------------------------------------------------------------------------------


class _BadDate(Exception):
    def __init__(self, token: Token, reason: str):
        self.token = token
        self.reason = reason


# Grammar rule -> its clause, for the clauses whose shape the transformer reads generically (`__default__`).
_SIMPLE_RULES = {rule: c for c in T.CLAUSES if c.shape in T.SIMPLE_SHAPES for rule in c.rules}
_BLOCK_RULES = {b.rule: b for b in T.BLOCKS}


@dataclass(frozen=True)
class _Excluded:
    """The names after `except` in a party list (`A except B`), as the transformer hands them up."""

    names: tuple[m.Name, ...]


class _ToModel(Transformer):
    """Parse tree -> raw items for `assemble` (engine/syntax/assemble.py), the same raw items the fast parser
    builds. Blocks and clauses of a simple shape are read by `__default__` from the clause table; the other
    methods read one shape each. Positions come from tokens and `meta`."""

    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename

    # helpers
    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.filename, 0, 0)
        return Span(self.filename, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return _token_span(self.filename, tok)

    def _name(self, tok: Token) -> m.Name:
        return m.Name(str(tok), self._tspan(tok))

    @staticmethod
    def _string(tok: Token) -> str:
        return tok[1:-1].replace('\\"', '"').replace("\\\\", "\\")

    def _date(self, tok: Token) -> dt.date:
        try:
            return dt.date.fromisoformat(str(tok))
        except ValueError:
            raise _BadDate(tok, "is not a real calendar date") from None

    def __default__(self, data, children, meta):
        block = _BLOCK_RULES.get(data)
        if block is not None:  # (kind, id, title, clauses, span)
            if block.head == "names":  # `transfer A, B …`: the names stand where an id would
                names, *clauses = children
                return block.kind, names, "", clauses, self._span(meta)
            if block.named:
                ident, title, *clauses = children
                return block.kind, self._name(ident), self._string(title), clauses, self._span(meta)
            title, *clauses = children
            return block.kind, None, self._string(title), clauses, self._span(meta)
        clause = _SIMPLE_RULES.get(data)
        if clause is None:
            return super().__default__(data, children, meta)
        shape = clause.shape
        if shape == "names":
            value = children[0]
        elif shape == "name":
            value = self._name(children[0])
        elif shape == "string":
            value = self._string(children[0])
        elif shape == "strings":
            value = tuple(self._string(t) for t in children)
        elif shape == "date":
            value = self._date(children[0])
        elif shape == "flag":
            value = True
        else:  # choice: the chosen word is the last token (a named terminal)
            value = str(children[-1])
        return clause.name, value, self._span(meta)

    # lists
    def names(self, items):
        return tuple(self._name(t) for t in items)

    def tnames(self, items):
        """A transfer's own lists (grammar.lark says why), left-recursive: flattened to a tuple of Name."""
        out: list[m.Name] = []
        for item in items:
            if isinstance(item, tuple):
                out.extend(item)
            else:
                out.append(self._name(item))
        return tuple(out)

    def excluded(self, items):
        """`except NAME, …` after a party list (the names left out of it), told apart from the list itself."""
        return _Excluded(items[0])

    @staticmethod
    def _sides(items) -> list[tuple]:
        """A run of party lists, each followed by its exclusions or not: [(list, excluded), …]."""
        out: list[tuple] = []
        for item in items:
            if isinstance(item, _Excluded):
                out[-1] = (out[-1][0], item.names)
            else:
                out.append((item, ()))
        return out

    def parties(self, items):
        """(side, excluded): a side is `*` or a tuple of Name; `except` names are left out of it."""
        item = items[0]
        side = m.ANY if isinstance(item, Token) and item.type == "ANY" else item
        return side, (items[1] if len(items) > 1 else ())

    # clauses of their own shape: each returns (clause name, raw value, span) as `clauses.SHAPES` says
    @v_args(meta=True)
    def statute(self, meta, items):
        provision = self._string(items[1]) if len(items) > 1 else None
        return ("statute", (self._name(items[0]), provision), self._span(meta))

    @v_args(meta=True)
    def allows(self, meta, items):
        (src, src_except), (dst, dst_except) = items
        return ("allows", (src, dst, src_except, dst_except), self._span(meta))

    @v_args(meta=True)
    def forbids(self, meta, items):
        (src, src_except), (dst, dst_except) = items
        return ("forbids", (src, dst, src_except, dst_except), self._span(meta))

    @v_args(meta=True)
    def one_way(self, meta, items):
        ((names, excluded),) = self._sides(items)
        return ("one-way", (names, excluded), self._span(meta))

    @v_args(meta=True)
    def onward(self, meta, items):
        return ("onward", items[0], self._span(meta))

    def onward_none(self, items):
        return ("none", (), ())

    def onward_to(self, items):
        ((targets, excluded),) = self._sides(items)
        return ("to", targets, excluded)

    def onward_only_for(self, items):
        return ("only-for", items[0], ())

    def onward_as_discloser(self, items):
        return ("as-discloser", (), ())

    def onward_for(self, items):
        return ("for", items[0], ())

    def onward_as(self, items):
        return ("as", items[0], ())

    def onward_lawful(self, items):
        return ("lawful", (), ())

    @v_args(meta=True)
    def valid(self, meta, items):
        return ("valid", items[0], self._span(meta))

    def valid_range(self, items):
        return (self._date(items[0]), self._date(items[1]))

    def valid_from(self, items):
        return (self._date(items[0]), None)

    def valid_until(self, items):
        return (None, self._date(items[0]))

    @v_args(meta=True)
    def from_to(self, meta, items):
        (src, src_except), (dst, dst_except) = self._sides(items)
        return ("from", (src, dst, False, src_except, dst_except), self._span(meta))

    @v_args(meta=True)
    def between(self, meta, items):
        (a, a_except), (b, b_except) = self._sides(items)
        return ("from", ((self._name(a),), (self._name(b),), True, a_except, b_except), self._span(meta))

    @v_args(meta=True)
    def except_clause(self, meta, items):
        return ("except", items[0], self._span(meta))

    # Each form may end in `when CONDITION, …` (a `when` sub-rule, told apart from a second list of names).
    @staticmethod
    def _when(items) -> tuple[list, tuple]:
        if items and isinstance(items[-1], tuple) and len(items[-1]) == 2 and items[-1][0] == "when":
            return list(items[:-1]), items[-1][1]
        return list(items), ()

    def except_anonymised(self, items):
        _, when = self._when(items)
        return (True, (), (), when, ())

    def except_to(self, items):
        rest, when = self._when(items)
        to_except: tuple = ()
        if len(rest) > 1 and isinstance(rest[1], _Excluded):
            to_except = rest.pop(1).names
        return (False, rest[0], rest[1] if len(rest) > 1 else (), when, to_except)

    def except_for(self, items):
        rest, when = self._when(items)
        return (False, (), rest[0], when, ())

    def except_when(self, items):
        return (False, (), (), items[0][1], ())

    def when(self, items):
        return ("when", items[0])

    @v_args(meta=True)
    def succeeds(self, meta, items):
        return ("succeeds", (self._name(items[0]), self._date(items[1])), self._span(meta))

    @v_args(meta=True)
    def renames(self, meta, items):
        return ("renames", (self._name(items[0]), self._date(items[1])), self._span(meta))

    @v_args(meta=True)
    def transfer_under(self, meta, items):
        provision = self._string(items[1]) if len(items) > 1 else None
        return ("transfer-under", (self._name(items[0]), provision), self._span(meta))

    @v_args(meta=True)
    def member_of(self, meta, items):
        return ("is", tuple(items), self._span(meta))

    def member(self, items):
        name, *opts = items
        kw = dict(opts)
        return (self._name(name), kw.get("from"), kw.get("until"))

    def member_from(self, items):
        return ("from", self._date(items[0]))

    def member_until(self, items):
        return ("until", self._date(items[0]))

    @v_args(meta=True)
    def class_statute(self, meta, items):
        provision = self._string(items[1]) if len(items) > 1 else None
        return ("class-statute", (self._name(items[0]), provision), self._span(meta))

    @v_args(meta=True)
    def expect(self, meta, items):
        verdict, src, dst, data, *opts = items
        kw = dict(opts)
        value = (str(verdict), self._name(src), self._name(dst), self._name(data), kw.get("for"), kw.get("on"),
                 kw.get("assuming", ()), kw.get("because", ()), kw.get("given", ()), kw.get("express-only", False),
                 kw.get("received-under"), kw.get("own-data", False), kw.get("held-for"))
        return ("expect", value, self._span(meta))

    def expect_for(self, items):
        return ("for", self._name(items[0]))

    def expect_on(self, items):
        return ("on", self._date(items[0]))

    def expect_assuming(self, items):
        return ("assuming", tuple(items))

    def assumed(self, items):
        """A statute, or one provision of it (`ESA-2008/section-15`), as `--assume` takes it."""
        return self._name(items[0])

    def expect_because(self, items):
        return ("because", items[0])

    def expect_given(self, items):
        return ("given", items[0])

    def expect_express(self, items):
        return ("express-only", True)

    def expect_received(self, items):
        return ("received-under", self._name(items[0]))

    def expect_own(self, items):
        return ("own-data", True)

    def expect_held(self, items):
        return ("held-for", self._name(items[0]))

    def start(self, items):
        return list(items)


def _token_span(name: str, tok: Token) -> Span:
    """A token's span. Lark types its positions Optional (a token made by hand has none): 0 is Span's "unknown"."""
    return Span(name, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


def parse_source(source: SourceFile, on_comment: Callable[[Token], None] | None = None
                 ) -> tuple[m.PolicyFile | None, list[Diagnostic]]:
    """Parse one file. Returns the model (None when the text does not parse) and the diagnostics found."""
    if on_comment is None:
        # The hand-written parser first (engine/fastparse.py); it declines anything it is not sure of, and
        # Lark, the reference, then parses the file and writes every syntax diagnostic.
        from engine.syntax.fastparse import parse_fast

        fast = parse_fast(source)
        if fast is not None:
            return fast
    return parse_source_lark(source, on_comment)


def parse_source_lark(source: SourceFile, on_comment: Callable[[Token], None] | None = None
                      ) -> tuple[m.PolicyFile | None, list[Diagnostic]]:
    """`parse_source` with Lark alone: the reference the fast parser is tested against."""
    diags: list[Diagnostic] = []
    try:
        if on_comment is None:
            tree = parser().parse(source.text)
        else:
            tree = Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False,
                        lexer_callbacks={"COMMENT": on_comment}).parse(source.text)
    except UnexpectedInput as exc:
        return None, [_syntax_diagnostic(exc, source)]
    except RecursionError:
        return None, [error("limit-exceeded", "the file is nested too deeply to parse", Span(source.name, 1, 1))]
    try:
        raw = _ToModel(source.name).transform(tree)
    except (VisitError, _BadDate) as exc:
        # Lark wraps what a rule's method raises in VisitError, but not what `__default__` raises.
        inner = exc.orig_exc if isinstance(exc, VisitError) else exc
        if isinstance(inner, _BadDate):
            tok = inner.token
            span = _token_span(source.name, tok)
            return None, [error("bad-date", f"`{tok}` {inner.reason}", span, "dates are written YYYY-MM-DD")]
        raise
    return assemble(source.name, raw, diags), diags


def parse_text(text: str, filename: str = "<text>") -> m.PolicyFile:
    """Parse policy text or raise DiagnosticsError (the library's convenience entry)."""
    source = SourceFile(filename, text)
    result, diags = parse_source(source)
    errors = [d for d in diags if d.severity.value == "error"]
    if result is None or errors:
        raise DiagnosticsError(diags, {filename: source})
    return result
