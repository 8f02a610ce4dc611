"""A fast path for parsing policy text: one compiled regular expression and a recursive-descent parser.

It builds exactly the model `engine.syntax.parser` builds with Lark (the same dataclasses, values and spans, and the
same clause diagnostics through `parser.assemble`), about five times faster. It is deliberately timid: on any
syntax problem, an impossible date, or any text whose tokens Lark's contextual lexer could split differently
(a keyword glued to a following name, such as `datax`), it returns None and `parse_source` parses the file
again with Lark, which stays the reference and writes every syntax diagnostic. tests/test_fastparse.py
checks the two agree, span for span.

Lexing mirrors engine/grammar.lark with Lark's contextual lexer: a word is a keyword only where the grammar
takes that keyword, and a NAME anywhere else, so the tokenizer emits plain words and the parser decides.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Optional

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic
from engine.base.source import SourceFile, Span

# One match per token: group 1 the whitespace and comments before it (Lark's `common.WS` and COMMENT), then
# group 2 a word (NAME), 3 a STRING, 4 a DATE, 5 punctuation, or 6 any other character (the text does not
# lex: Lark reports it), or the end of the text. So `findall` covers every character, in C; a comment runs to
# the end of its line, so no run of whitespace and comments can be split two ways. NAME and STRING are
# grammar.lark's, unrolled (`a(?:b|c)*` as `a b*(?:c b*)*`) to run twice as fast.
_TOKEN = re.compile(r"([ \t\f\r\n]*(?:#[^\n]*(?![^\n])[ \t\f\r\n]*)*)"
                    r'(?:([A-Za-z][A-Za-z0-9_.]*(?:-(?!>)[A-Za-z0-9_.]*)*)|("[^"\\\n]*(?:\\["\\][^"\\\n]*)*")|'
                    r"([0-9]{4}-[0-9]{2}-[0-9]{2})|(->|[{},*])|([^ \t\f\r\n#])|\Z)")

_NAME, _STRING, _DATE, _PUNCT = 1, 2, 3, 4

_DECLARATIONS = frozenset(("organisation", "data", "purpose", "gateway", "restriction", "agreement", "test"))
_MARKERS = frozenset(m.MARKERS)


class _Bail(Exception):
    """Anything the fast parser is not sure of: Lark parses the file instead."""


def _tokens(text: str) -> Optional[list[tuple[int, str, int, int]]]:
    """(kind, text, line, column) of every token, or None when some character starts no token."""
    out = []
    append = out.append
    line = 1
    line_start = 0  # index of the first character of the current line
    pos = 0
    for space, name, string, date, punct, other in _TOKEN.findall(text):
        if space:
            if "\n" in space:
                line += space.count("\n")
                line_start = pos + space.rfind("\n") + 1
            pos += len(space)
        if name:
            append((_NAME, name, line, pos - line_start + 1))
            pos += len(name)
        elif string:
            append((_STRING, string, line, pos - line_start + 1))
            pos += len(string)
        elif date:
            append((_DATE, date, line, pos - line_start + 1))
            pos += 10
        elif punct:
            append((_PUNCT, punct, line, pos - line_start + 1))
            pos += len(punct)
        elif other:
            return None
    if pos != len(text):  # never expected: every character is matched above
        return None
    return out


def _string(value: str) -> str:
    # The same unescaping as parser._ToModel._string, on purpose (the models must be equal).
    if "\\" not in value:
        return value[1:-1]
    return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")


_DATES: dict[str, dt.date] = {}  # a bundle repeats its dates; `date` objects are immutable, so shared


def _date(value: str) -> dt.date:
    day = _DATES.get(value)
    if day is None:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise _Bail  # Lark's path reports the bad date
        if len(_DATES) < 100_000:
            _DATES[value] = day
    return day


# The dataclasses' own constructors: filling `__dict__` directly was faster but lost CPython's shared-key
# instance dicts (+128 bytes an object, +57 MB on the large benchmark bundle).
_span = Span
_name = m.Name


_END = (0, "", 0, 0)  # the sentinel after the last token: it matches nothing, so no bounds checks


class _Parser:
    def __init__(self, tokens: list[tuple[int, str, int, int]], filename: str):
        self.toks = tokens + [_END]
        self.n = len(tokens)
        self.i = 0
        self.file = filename

    # ---- tokens -----------------------------------------------------------------------------------
    def take(self, kind: int) -> tuple[int, str, int, int]:
        tok = self.toks[self.i]
        if tok[0] != kind:
            raise _Bail
        self.i += 1
        return tok

    def word(self, text: str) -> tuple[int, str, int, int]:
        """A keyword where the grammar takes it (any other word there is Lark's business)."""
        tok = self.toks[self.i]
        if tok[0] != _NAME or tok[1] != text:
            raise _Bail
        self.i += 1
        return tok

    def punct(self, text: str) -> tuple[int, str, int, int]:
        tok = self.toks[self.i]
        if tok[0] != _PUNCT or tok[1] != text:
            raise _Bail
        self.i += 1
        return tok

    def at_word(self) -> Optional[str]:
        """The next token's text when it is a word, else None."""
        tok = self.toks[self.i]
        return tok[1] if tok[0] == _NAME else None

    def at(self, kind: int, text: Optional[str] = None) -> bool:
        tok = self.toks[self.i]
        return tok[0] == kind and (text is None or tok[1] == text)

    # ---- spans ------------------------------------------------------------------------------------
    def span_from(self, first: tuple[int, str, int, int]) -> Span:
        """Lark's rule span: the start of its first token to the end of the last token read (exclusive)."""
        last = self.toks[self.i - 1]
        return _span(self.file, first[2], first[3], last[2], last[3] + len(last[1]))

    def name(self) -> m.Name:
        tok = self.toks[self.i]
        if tok[0] != _NAME:
            raise _Bail
        self.i += 1
        text, line, column = tok[1], tok[2], tok[3]
        return _name(text, _span(self.file, line, column, line, column + len(text)))

    def names(self) -> tuple[m.Name, ...]:
        """NAME ("," NAME)*: any word is a NAME here, keywords included (Lark's contextual lexer)."""
        toks, i, file = self.toks, self.i, self.file
        out = []
        while True:
            tok = toks[i]
            if tok[0] != _NAME:
                raise _Bail
            text, line, column = tok[1], tok[2], tok[3]
            out.append(_name(text, _span(file, line, column, line, column + len(text))))
            after = toks[i + 1]  # a real token or the sentinel, since `tok` is real
            if after[0] == _PUNCT and after[1] == ",":
                i += 2
            else:
                self.i = i + 1
                return tuple(out)

    def string(self) -> str:
        return _string(self.take(_STRING)[1])

    def date(self) -> dt.date:
        return _date(self.take(_DATE)[1])

    # ---- the file ---------------------------------------------------------------------------------
    def parse_file(self) -> list:
        items = []
        while self.i < self.n:
            kw = self.at_word()
            if kw not in _DECLARATIONS:
                raise _Bail
            if kw == "organisation":
                items.append(self.organisation())
            elif kw == "data":
                items.append(self.data_decl())
            elif kw == "purpose":
                items.append(self.purpose_decl())
            elif kw == "test":
                items.append(self.test())
            else:
                items.append(self.block(kw))
        return items

    def organisation(self) -> m.Organisation:
        first = self.word("organisation")
        ident = self.name()
        title = self.string()
        kw: dict = {}
        while True:
            w = self.at_word()
            if w == "part-of":
                self.i += 1
                kw["parent"] = self.name()
            elif w == "aka":
                self.i += 1
                aliases = [self.string()]
                while self.at(_PUNCT, ","):
                    self.i += 1
                    aliases.append(self.string())
                kw["aliases"] = tuple(aliases)
            elif w == "succeeds":
                self.i += 1
                who = self.name()
                self.word("on")
                kw["succeeds"] = (who, self.date())
            else:
                break
        self.end_of_declaration()
        succeeds = kw.get("succeeds")
        return m.Organisation(
            id=ident, title=title, parent=kw.get("parent"), aliases=kw.get("aliases", ()),
            succeeds=succeeds[0] if succeeds else None, succeeds_on=succeeds[1] if succeeds else None,
            span=self.span_from(first))

    def end_of_declaration(self) -> None:
        # What follows a declaration's options must start the next declaration (or end the file).
        if self.i < self.n and self.at_word() not in _DECLARATIONS:
            raise _Bail

    def data_decl(self) -> m.DataCategory:
        first = self.word("data")
        ident = self.name()
        title = self.string()
        parent = None
        markers: list[str] = []
        while True:
            w = self.at_word()
            if w == "under":
                self.i += 1
                parent = self.name()
            elif w in _MARKERS:
                self.i += 1
                if w not in markers:
                    markers.append(w)
            else:
                break
        self.end_of_declaration()
        return m.DataCategory(ident, title, parent, tuple(markers), self.span_from(first))

    def purpose_decl(self) -> m.Purpose:
        first = self.word("purpose")
        ident = self.name()
        title = self.string()
        parent = None
        if self.at_word() == "under":
            self.i += 1
            parent = self.name()
        self.end_of_declaration()
        return m.Purpose(ident, title, parent, self.span_from(first))

    # ---- blocks -----------------------------------------------------------------------------------
    def block(self, kind: str) -> tuple:
        opening = self.word(kind)
        ident = self.name()
        title = self.string()
        self.punct("{")
        clauses = []
        toks = self.toks
        file = self.file
        while True:
            first = toks[self.i]
            if first[0] != _NAME:
                if first[0] == _PUNCT and first[1] == "}":
                    break
                raise _Bail
            handler = _CLAUSES.get(first[1])
            if handler is None:
                raise _Bail
            self.i += 1
            clause, value = handler(self)
            last = toks[self.i - 1]
            span = _span(file, first[2], first[3], last[2], last[3] + len(last[1]))
            if clause in _SPANNED:  # the clause's own value carries its span too
                value = _SPANNED[clause](value, span)
            clauses.append((clause, value, span))
        self.i += 1
        return (kind, ident, title, clauses, self.span_from(opening))

    def parties(self) -> tuple:
        if self.at(_PUNCT, "*"):
            self.i += 1
            return m.ANY
        return self.names()

    def c_statute(self):
        ident = self.name()
        provision = self.string() if self.at(_STRING) else None
        return "statute", (ident, provision)

    def _parties_clause(self, clause: str):
        src = self.parties()
        self.punct("->")
        dst = self.parties()
        return clause, (src, dst)

    def c_allows(self):
        return self._parties_clause("allows")

    def c_forbids(self):
        return self._parties_clause("forbids")

    def c_one_way(self):
        return "one-way", self.names()

    def c_data(self):
        return "data", self.names()

    def c_for(self):
        return "for", self.names()

    def c_requires(self):
        if self.at(_STRING):
            return "requires", self.string()
        self.word("agreement")
        return "requires agreement", True

    def c_lawful_basis(self):
        return "lawful-basis", self.name()

    def c_article9(self):
        return "article-9", self.string()

    def c_article10(self):
        return "article-10", self.string()

    def c_onward(self):
        w = self.at_word()
        if w == "none" or w == "as-discloser":
            self.i += 1
            return "onward", (w, ())
        if w == "to" or w == "only-for":
            self.i += 1
            return "onward", (w, self.names())
        raise _Bail

    def c_overrides(self):
        return "overrides", self.names()

    def c_valid(self):
        if self.at(_DATE):
            start = self.date()
            self.word("to")
            return "valid", (start, self.date())
        w = self.at_word()
        if w == "from":
            self.i += 1
            return "valid", (self.date(), None)
        if w == "until":
            self.i += 1
            return "valid", (None, self.date())
        raise _Bail

    def c_review(self):
        return "review", self.date()

    def c_owner(self):
        return "owner", self.string()

    def c_from(self):
        sources = self.names()
        self.word("to")
        return "from", (sources, self.names(), False)

    def c_between(self):
        a = self.name()
        self.word("and")
        return "from", ((a,), (self.name(),), True)

    def c_under(self):
        return "under", self.name()

    def c_except(self):
        w = self.at_word()
        if w == "anonymised":
            self.i += 1
            return "except", (True, (), ())
        if w == "to":
            self.i += 1
            to = self.names()
            purposes: tuple = ()
            if self.at_word() == "for":  # Lark shifts: this `for` belongs to the exception
                self.i += 1
                purposes = self.names()
            return "except", (False, to, purposes)
        if w == "for":
            self.i += 1
            return "except", (False, (), self.names())
        raise _Bail

    def c_note(self):
        return "note", self.string()

    # ---- policy tests -----------------------------------------------------------------------------
    def test(self) -> m.PolicyTest:
        first = self.word("test")
        title = self.string()
        self.punct("{")
        expects = []
        while self.at_word() == "expect":
            expects.append(self.expect())
        self.punct("}")
        return m.PolicyTest(title, tuple(expects), self.span_from(first))

    def expect(self) -> m.Expectation:
        first = self.word("expect")
        verdict = self.at_word()
        if verdict != "allow" and verdict != "deny":
            raise _Bail
        self.i += 1
        src = self.name()
        self.punct("->")
        dst = self.name()
        data = self.name()
        purpose = on = None
        assuming: tuple = ()
        because: tuple = ()
        if self.at_word() == "for":
            self.i += 1
            purpose = self.name()
        if self.at_word() == "on":
            self.i += 1
            on = self.date()
        if self.at_word() == "assuming":
            self.i += 1
            assuming = self.names()
        if self.at_word() == "because":
            self.i += 1
            because = self.names()
        return m.Expectation(verdict=verdict, source=src, recipient=dst, data=data, purpose=purpose, on=on,
                             assuming=assuming, because=because, span=self.span_from(first))


def _statute(value, span):
    return m.StatuteRef(value[0], value[1], span)


def _parties(value, span):
    src, dst = value
    return m.Parties(sources=() if src == m.ANY else src, recipients=() if dst == m.ANY else dst,
                     any_source=src == m.ANY, any_recipient=dst == m.ANY, span=span)


def _onward(value, span):
    return m.Onward(value[0], value[1], span)


def _validity(value, span):
    return m.Validity(value[0], value[1], span)


def _exception(value, span):
    return m.Exception_(value[0], value[1], value[2], span)


# Clauses whose model value holds the clause's span itself.
_SPANNED = {"statute": _statute, "allows": _parties, "forbids": _parties, "onward": _onward, "valid": _validity,
            "except": _exception}

_CLAUSES = {
    "statute": _Parser.c_statute, "allows": _Parser.c_allows, "forbids": _Parser.c_forbids,
    "one-way": _Parser.c_one_way, "data": _Parser.c_data, "for": _Parser.c_for, "requires": _Parser.c_requires,
    "lawful-basis": _Parser.c_lawful_basis, "article-9": _Parser.c_article9, "article-10": _Parser.c_article10,
    "onward": _Parser.c_onward, "overrides": _Parser.c_overrides, "valid": _Parser.c_valid,
    "review": _Parser.c_review, "owner": _Parser.c_owner, "from": _Parser.c_from, "between": _Parser.c_between,
    "under": _Parser.c_under, "except": _Parser.c_except, "note": _Parser.c_note,
}


def parse_fast(source: SourceFile) -> Optional[tuple[m.PolicyFile, list[Diagnostic]]]:
    """The model and clause diagnostics `parser.parse_source` gives, or None whenever the fast path is not
    sure (any syntax problem, a bad date): the caller then parses with Lark."""
    from engine.syntax.parser import assemble

    tokens = _tokens(source.text)
    if tokens is None:
        return None
    try:
        raw = _Parser(tokens, source.name).parse_file()
    except _Bail:
        return None
    diags: list[Diagnostic] = []
    return assemble(source.name, raw, diags), diags
