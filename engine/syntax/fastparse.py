"""A fast path for parsing policy text: one compiled regular expression and a recursive-descent parser.

It builds exactly the model `engine.syntax.parser` builds with Lark (the same classes, values and spans, and the
same clause diagnostics: both hand the same raw items to `engine.syntax.assemble`'s `build`), about five times faster.
Which clause words it reads in which block comes from the clause table (engine/syntax/clauses.py). It is
deliberately timid: on any syntax problem, an impossible date, or any text whose tokens Lark's contextual lexer
could split differently (a keyword glued to a following name, such as `datax`), it returns None and
`parse_source` parses the file again with Lark, which stays the reference and writes every syntax diagnostic.
tests/test_fastparse.py checks the two agree, span for span.

Lexing mirrors engine/grammar.lark with Lark's contextual lexer: a word is a keyword only where the grammar
takes that keyword, and a NAME anywhere else, so the tokenizer emits plain words and the parser decides.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import Any, Callable, Optional

from engine.syntax import clauses as T
from engine.syntax import model as m
from engine.syntax.assemble import build
from engine.base.diagnostics import Diagnostic
from engine.base.source import SourceFile, Span

# One match per token: group 1 the whitespace and comments before it (Lark's `common.WS` and COMMENT), then
# group 2 a word (NAME), 3 a STRING, 4 a DATE, 5 punctuation, or 6 any other character (the text does not
# lex: Lark reports it), or the end of the text. So `findall` covers every character, in C; a comment runs to
# the end of its line, so no run of whitespace and comments can be split two ways. NAME and STRING are
# grammar.lark's, unrolled (`a(?:b|c)*` as `a b*(?:c b*)*`) to run twice as fast. The runs are possessive (`*+`,
# Python 3.11): what follows a run never needs it shorter, so the same tokens, and no backtracking state kept
# (`findall` ~12% faster).
_TOKEN_PATTERN = (r"([ \t\f\r\n]*+(?:#[^\n]*+(?![^\n])[ \t\f\r\n]*+)*+)"
                  r'(?:([A-Za-z][A-Za-z0-9_.]*+(?:-(?!>)[A-Za-z0-9_.]*+)*+)(/[A-Za-z0-9][A-Za-z0-9_.]*(?:-(?!>)[A-Za-z0-9_.]*)*)?|'
                  r'("[^"\\\n]*+(?:\\["\\][^"\\\n]*+)*+")|'
                  r"([0-9]{4}-[0-9]{2}-[0-9]{2})|(->|[{},*])|([^ \t\f\r\n#])|\Z)")
if sys.version_info >= (3, 11):
    _TOKEN = re.compile(_TOKEN_PATTERN)
else:  # no possessive runs before 3.11: the same expression with greedy ones (the same tokens)
    _TOKEN = re.compile(_TOKEN_PATTERN.replace("*+", "*"))

# `_PATH` is a statute's provision as a test assumes it (`ESA-2008/section-15`, grammar.lark's PROVISION_REF): a
# token only `assuming` takes, so anywhere else it is not a NAME and the parser declines.
_NAME, _STRING, _DATE, _PUNCT, _PATH = 1, 2, 3, 4, 5

_DECLARATIONS = frozenset(T.DECLARATION_WORDS)


class _Bail(Exception):
    """Anything the fast parser is not sure of: Lark parses the file instead."""


def _tokens(text: str, commented: Optional[set[int]] = None) -> Optional[list[tuple[int, str, int, int]]]:
    """(kind, text, line, column) of every token, or None when some character starts no token. The indexes of
    the tokens that a comment precedes go in `commented` (Lark's look-ahead terminals do not skip comments)."""
    out: list[tuple[int, str, int, int]] = []
    append = out.append
    line = 1
    end = 1  # the column just after the last token (columns counted from the space before each token, so
    # the loop keeps no offset into the text: the cheapest per-token bookkeeping)
    findall = _TOKEN.findall
    start, size = 0, len(text)
    while start < size:
        # `findall` a chunk at a time, each ending just after a line feed (no token holds one, so none is cut;
        # a chunk's last match is its closing space, then its end as `\Z`): the matches of a chunk are used and
        # freed while they are in the processor's cache, ~25% faster than one list for the whole file.
        stop = text.find("\n", start + _CHUNK)
        stop = size if stop < 0 else stop + 1
        for space, name, path, string, date, punct, other in findall(text, start, stop):
            if "\n" in space:
                line += space.count("\n")
                col = len(space) - space.rfind("\n")
                if commented is not None and "#" in space:
                    commented.add(len(out))
            else:
                col = end + len(space)
            if name:
                if path:
                    name += path
                    append((_PATH, name, line, col))
                else:
                    append((_NAME, name, line, col))
                end = col + len(name)
            elif string:
                append((_STRING, string, line, col))
                end = col + len(string)
            elif date:
                append((_DATE, date, line, col))
                end = col + 10
            elif punct:
                append((_PUNCT, punct, line, col))
                end = col + len(punct)
            elif other:
                return None
            else:  # the end of a chunk: the next one goes on from here
                end = col
                if commented is not None and "#" in space:  # a comment that ends the text, no line feed after it
                    commented.add(len(out))
        start = stop
    if line != text.count("\n") + 1:  # never expected: every character is matched above
        return None
    return out


_CHUNK = 16_384  # characters of text per `findall` (best of 2–64 K on the large benchmark bundle)


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
            raise _Bail from None  # Lark's path reports the bad date
        if len(_DATES) < 100_000:
            _DATES[value] = day
    return day


# The constructors, as globals of this module (msgspec Structs: built in C).
_span = Span
_name = m.Name


_END = (0, "", 0, 0)  # the sentinel after the last token: it matches nothing, so no bounds checks


class _Parser:
    def __init__(self, tokens: list[tuple[int, str, int, int]], filename: str, commented: frozenset[int] = frozenset()):
        self.n = len(tokens)
        tokens.append(_END)  # the caller's list, not a copy: `parse_fast` makes it for the parser alone
        self.toks = tokens
        self.i = 0
        self.file = filename
        self.commented = commented  # tokens a comment precedes

    # ---- tokens -----------------------------------------------------------------------------------
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
        tok = self.toks[self.i]
        if tok[0] != _STRING:
            raise _Bail
        self.i += 1
        value = tok[1]
        if "\\" not in value:  # `_string`, inlined: a bundle has a string in most blocks
            return value[1:-1]
        return _string(value)

    def date(self) -> dt.date:
        tok = self.toks[self.i]
        if tok[0] != _DATE:
            raise _Bail
        self.i += 1
        day = _DATES.get(tok[1])
        return day if day is not None else _date(tok[1])

    # ---- the file ---------------------------------------------------------------------------------
    def parse_file(self, diags: list[Diagnostic]) -> list:
        """The file's model items; `assemble.build` makes each block's as soon as it is read (its raw clauses
        still in the processor's cache), so the clause diagnostics come in the order `assemble` gives them."""
        items = []
        while self.i < self.n:
            block = _BLOCKS.get(self.at_word() or "")
            if block is None:
                raise _Bail
            kind, ident, title, clauses, span = self.braced(block) if block.braced else self.declaration(block)
            items.append(build(kind, ident, title, clauses, span, diags))
        return items

    def declaration(self, block: T.Block) -> tuple:
        """`KIND ID "title" OPTION*`: the options run until the next declaration."""
        kind = block.kind
        first = self.word(kind)
        ident: m.Name | tuple[m.Name, ...]
        if block.head == "names":  # `transfer A, B …`: no title
            ident, title = self.names(), ""
        else:
            ident = self.name()
            title = self.string()
        readers = _READERS[kind]
        toks = self.toks
        options = []
        while True:
            tok = toks[self.i]
            reader = readers.get(tok[1]) if tok[0] == _NAME else None
            if reader is None:
                break
            if tok[1] == "data" and block.head == "names" and not self.data_scope():
                break  # `data NAME "title"`: the next declaration
            self.i += 1
            clause, value = reader(self, tok[1])
            last = toks[self.i - 1]
            options.append((clause, value, _span(self.file, tok[2], tok[3], last[2], last[3] + len(last[1]))))
        # What follows a declaration's options must start the next declaration (or end the file).
        if self.i < self.n and self.at_word() not in _DECLARATIONS:
            raise _Bail
        return (kind, ident, title, options, self.span_from(first))

    def braced(self, block: T.Block) -> tuple:
        """`KIND ID "title" { CLAUSE* }` (a test has no ID)."""
        kind = block.kind
        opening = self.word(kind)
        ident = self.name() if block.named else None
        title = self.string()
        self.punct("{")
        readers = _READERS[kind]
        direct = _DIRECT[kind]
        calls = _CALLS[kind]
        clauses = []
        toks = self.toks
        file = self.file
        while True:
            first = toks[self.i]
            if first[0] != _NAME:
                if first[0] == _PUNCT and first[1] == "}":
                    break
                raise _Bail
            self.i += 1
            plain = direct.get(first[1])
            if plain is not None:  # the commonest clauses: one word, then a value of a plain shape
                clause = plain[0]
                value = plain[1](self)
            else:
                called = calls.get(first[1])
                if called is not None:  # one word, then a value of its own shape (`from`, `valid`, `onward`)
                    clause = called[0]
                    value = called[1](self, first[1])
                else:
                    reader = readers.get(first[1])
                    if reader is None:
                        raise _Bail
                    clause, value = reader(self, first[1])
            last = toks[self.i - 1]
            clauses.append((clause, value, _span(file, first[2], first[3], last[2], last[3] + len(last[1]))))
        self.i += 1
        return (kind, ident, title, clauses, self.span_from(opening))

    def data_scope(self) -> bool:
        """At `data` on a transfer's line: a scope (`data a, b`) unless the name after it has a quoted title
        (a data declaration), as grammar.lark's `_DATA_SCOPE` decides. Lark's look-ahead does not skip comments:
        with one in between, Lark reads the file."""
        i = self.i
        if i + 1 in self.commented or i + 2 in self.commented:
            raise _Bail
        return not (self.toks[i + 1][0] == _NAME and self.toks[i + 2][0] == _STRING)

    # ---- clauses of their own shape: the raw value of `clauses.SHAPES`, after the opening word ----------
    def parties(self) -> tuple[m.Name, ...] | str:
        if self.at(_PUNCT, "*"):
            self.i += 1
            return m.ANY
        return self.names()

    def r_statute(self, _word: str):
        ident = self.name()
        return ident, self.string() if self.at(_STRING) else None

    def r_parties(self, _word: str):
        src = self.parties()
        src_except = self.excluded()
        self.punct("->")
        dst = self.parties()
        return src, dst, src_except, self.excluded()

    def excluded(self) -> tuple[m.Name, ...]:
        """`except NAME, …` after a party list, as grammar.lark's `_EXCEPT_PARTY` decides: not when the word
        after `except` opens a restriction's `except` clause. A comment in between: Lark decides."""
        if self.at_word() != "except":
            return ()
        after = self.toks[self.i + 1]
        if after[0] == _PATH:
            raise _Bail  # Lark reads `except`, then cannot read the provision as a name
        if after[0] != _NAME or after[1] in ("to", "for", "anonymised", "when"):
            return ()
        if self.i + 1 in self.commented:
            raise _Bail
        self.i += 1
        return self.names()

    def r_plist(self, _word: str):
        """`names (except names)?` (a `one-way` list)."""
        names = self.names()
        return names, self.excluded()

    def r_members(self, _word: str):
        out = []
        while True:
            name = self.name()
            start = end = None
            if self.at_word() == "from":
                self.i += 1
                start = self.date()
            if self.at_word() == "until":
                self.i += 1
                end = self.date()
            out.append((name, start, end))
            if not self.at(_PUNCT, ","):
                return tuple(out)
            self.i += 1

    def r_onward(self, _word: str):
        w = self.at_word()
        if w == "none" or w == "as-discloser" or w == "lawful":
            self.i += 1
            return w, (), ()
        if w == "to":
            self.i += 1
            targets = self.names()
            return w, targets, self.excluded()
        if w == "only-for" or w == "for" or w == "as":
            self.i += 1
            return w, self.names(), ()
        raise _Bail

    def r_validity(self, _word: str):
        toks, i = self.toks, self.i
        if toks[i][0] == _DATE and toks[i + 1][0] == _NAME and toks[i + 1][1] == "to" and toks[i + 2][0] == _DATE:
            self.i = i + 3  # `valid DATE to DATE`, the commonest form, in one step
            start, end = _DATES.get(toks[i][1]), _DATES.get(toks[i + 2][1])  # `date_of`, inlined
            return (start if start is not None else _date(toks[i][1]),
                    end if end is not None else _date(toks[i + 2][1]))
        if self.at(_DATE):
            start = self.date()
            self.word("to")
            return start, self.date()
        w = self.at_word()
        if w == "from":
            self.i += 1
            return self.date(), None
        if w == "until":
            self.i += 1
            return None, self.date()
        raise _Bail

    def r_from(self, word: str):
        if word == "between":
            a = self.name()
            a_except = self.excluded()
            self.word("and")
            b = self.name()
            return (a,), (b,), True, a_except, self.excluded()
        sources = self.names()
        src_except = self.excluded()
        self.word("to")
        recipients = self.names()
        return sources, recipients, False, src_except, self.excluded()

    def r_exception(self, _word: str):
        w = self.at_word()
        if w == "anonymised":
            self.i += 1
            return True, (), (), self.when(), ()
        if w == "to":
            self.i += 1
            to = self.names()
            to_except = self.excluded()
            purposes: tuple = ()
            if self.at_word() == "for":  # Lark shifts: this `for` belongs to the exception
                self.i += 1
                purposes = self.names()
            return False, to, purposes, self.when(), to_except
        if w == "for":
            self.i += 1
            return False, (), self.names(), self.when(), ()
        if w == "when":
            return False, (), (), self.when(), ()
        raise _Bail

    def when(self) -> tuple:
        """An exception's closing `when CONDITION, …` (Lark shifts: a `when` here belongs to the exception)."""
        if self.at_word() != "when":
            return ()
        self.i += 1
        return self.names()

    def assumed(self) -> tuple[m.Name, ...]:
        """`assuming` takes statutes and provisions (`ESA-2008/section-15`, a `_PATH` token), separated by commas."""
        out = []
        while True:
            tok = self.toks[self.i]
            if tok[0] != _NAME and tok[0] != _PATH:
                raise _Bail
            self.i += 1
            text, line, column = tok[1], tok[2], tok[3]
            out.append(_name(text, _span(self.file, line, column, line, column + len(text))))
            if not self.at(_PUNCT, ","):
                return tuple(out)
            self.i += 1

    def r_succeeds(self, _word: str):
        who = self.name()
        self.word("on")
        return who, self.date()

    def r_expect(self, _word: str):
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
            assuming = self.assumed()
        given: tuple = ()
        express_only = own_data = False
        received_under = held_for = None
        if self.at_word() == "given":
            self.i += 1
            given = self.names()
        if self.at_word() == "express-only":
            self.i += 1
            express_only = True
        if self.at_word() == "received-under":
            self.i += 1
            received_under = self.name()
        elif self.at_word() == "own-data":
            self.i += 1
            own_data = True
        if self.at_word() == "held-for":
            self.i += 1
            held_for = self.name()
        if self.at_word() == "because":
            self.i += 1
            because = self.names()
        return (verdict, src, dst, data, purpose, on, assuming, because, given, express_only, received_under,
                own_data, held_for)


# ---- readers from the clause table --------------------------------------------------------------------
# A reader takes the parser just past a clause's opening word (and that word) and returns (clause, raw value).

Reader = Callable[[_Parser, str], tuple[str, Any]]

# Shape -> the reader of a raw value of a shape that is not read generically (clauses.SIMPLE_SHAPES).
_CUSTOM: dict[str, Callable[[_Parser, str], Any]] = {
    "statute": _Parser.r_statute, "parties": _Parser.r_parties, "onward": _Parser.r_onward,
    "validity": _Parser.r_validity, "from": _Parser.r_from, "exception": _Parser.r_exception,
    "succeeds": _Parser.r_succeeds, "expect": _Parser.r_expect, "members": _Parser.r_members,
    "plist": _Parser.r_plist,
}


def _value_reader(clause: T.Clause) -> Callable[[_Parser, str], Any]:
    shape = clause.shape
    if shape == "names":
        return lambda p, w: p.names()
    if shape == "name":
        return lambda p, w: p.name()
    if shape == "string":
        return lambda p, w: p.string()
    if shape == "strings":
        def strings(p: _Parser, w: str) -> tuple[str, ...]:
            out = [p.string()]
            while p.at(_PUNCT, ","):
                p.i += 1
                out.append(p.string())
            return tuple(out)
        return strings
    if shape == "date":
        return lambda p, w: p.date()
    if shape == "flag":
        return lambda p, w: True
    if shape == "choice":
        if not clause.words:  # the opening word is the value (a data marker)
            return lambda p, w: w
        choices = frozenset(clause.choices)

        def choice(p: _Parser, w: str) -> str:
            word = p.at_word()
            if word not in choices:
                raise _Bail
            p.i += 1
            return word
        return choice
    return _CUSTOM[shape]


def _reader(clause: T.Clause) -> Reader:
    name, rest, value = clause.name, clause.words[1:], _value_reader(clause)
    if not rest:
        # the commonest shapes read in one call (the parser's hot path)
        if clause.shape == "names":
            return lambda p, w: (name, p.names())
        if clause.shape == "name":
            return lambda p, w: (name, p.name())
        if clause.shape == "string":
            return lambda p, w: (name, p.string())
        return lambda p, w: (name, value(p, w))

    def read(p: _Parser, w: str) -> tuple[str, Any]:
        for word in rest:
            p.word(word)
        return name, value(p, w)
    return read


# Shape -> the kind of token its value opens with (for clauses that share an opening word and nothing more).
_OPENS = {"names": _NAME, "name": _NAME, "string": _STRING, "strings": _STRING, "date": _DATE}


def _readers(clauses: tuple[T.Clause, ...]) -> dict[str, Reader]:
    """Opening word -> reader. Clauses opened by the same word (`requires agreement`, `requires "…"`) are told
    apart by the words that must follow the first; the one with none is read otherwise."""
    by_word: dict[str, list[T.Clause]] = {}
    for c in clauses:
        for w in c.openers:
            by_word.setdefault(w, []).append(c)
    out: dict[str, Reader] = {}
    for w, group in by_word.items():
        if len(group) == 1:
            out[w] = _reader(group[0])
            continue
        keyed = [(c.words[1:], _reader(c)) for c in group if c.words[1:]]
        plain = [c for c in group if not c.words[1:]]
        # Several clauses with no further words (`requires "text"`, `requires CONDITION`) are told apart by the
        # kind of token that opens their value.
        by_kind = {_OPENS.get(c.shape): _reader(c) for c in plain}
        assert len(plain) <= 1 or (len(by_kind) == len(plain) and None not in by_kind), \
            f"clauses opened by `{w}` cannot be told apart"

        # The keyed clauses by the word that must follow the opening one (looked up once per clause read).
        by_next: dict[str, list[tuple[tuple[str, ...], Reader]]] = {}
        for rest, reader in keyed:
            by_next.setdefault(rest[0], []).append((rest, reader))
        single = next(iter(by_kind.values()), None) if len(by_kind) <= 1 else None

        def pick(p: _Parser, word: str, by_next=by_next, by_kind=by_kind, single=single) -> tuple[str, Any]:
            toks, i = p.toks, p.i
            tok = toks[i]
            if tok[0] == _NAME and tok[1] in by_next:
                for rest, reader in by_next[tok[1]]:
                    if all(toks[i + k][0] == _NAME and toks[i + k][1] == r for k, r in enumerate(rest)):
                        return reader(p, word)
            fallback = single if single is not None else by_kind.get(tok[0])
            if fallback is None:
                raise _Bail
            return fallback(p, word)
        out[w] = pick
    return out


# The plain shapes' readers, called without a reader of their own (see `_direct`).
_PLAIN: dict[str, Callable[[_Parser], Any]] = {"names": _Parser.names, "name": _Parser.name,
                                               "string": _Parser.string, "date": _Parser.date}


def _direct(clauses: tuple[T.Clause, ...]) -> dict[str, tuple[str, Callable[[_Parser], Any]]]:
    """Opening word -> (clause, its value's reader) for the clauses that are their opening word and a value of
    a plain shape, the word opening no other clause: `braced` reads them with one call (the parser's hot path).
    Every other clause is read through `_readers`."""
    openers: dict[str, int] = {}
    for c in clauses:
        for w in c.openers:
            openers[w] = openers.get(w, 0) + 1
    return {w: (c.name, _PLAIN[c.shape]) for c in clauses if len(c.words) == 1 and c.shape in _PLAIN
            for w in c.openers if openers[w] == 1}


def _calls(clauses: tuple[T.Clause, ...]) -> dict[str, tuple[str, Callable[[_Parser, str], Any]]]:
    """Opening word -> (clause, its value's reader) for the other clauses that are one word and a value, the word
    opening no other clause: `braced` calls the value's reader itself (what `_reader` would, less a call)."""
    openers: dict[str, int] = {}
    for c in clauses:
        for w in c.openers:
            openers[w] = openers.get(w, 0) + 1
    return {w: (c.name, _value_reader(c)) for c in clauses if len(c.words) == 1 and c.shape not in _PLAIN
            for w in c.openers if openers[w] == 1}


_BLOCKS: dict[str, T.Block] = dict(T.BLOCK)
_READERS: dict[str, dict[str, Reader]] = {b.kind: _readers(T.syntax_of(b.kind)) for b in T.BLOCKS}
_DIRECT = {b.kind: _direct(T.syntax_of(b.kind)) for b in T.BLOCKS}
_CALLS = {b.kind: _calls(T.syntax_of(b.kind)) for b in T.BLOCKS}


def parse_fast(source: SourceFile) -> Optional[tuple[m.PolicyFile, list[Diagnostic]]]:
    """The model and clause diagnostics `parser.parse_source` gives, or None whenever the fast path is not
    sure (any syntax problem, a bad date): the caller then parses with Lark."""
    commented: set[int] = set()
    tokens = _tokens(source.text, commented)
    if tokens is None:
        return None
    diags: list[Diagnostic] = []  # dropped with the items when the parser declines
    try:
        items = _Parser(tokens, source.name, frozenset(commented)).parse_file(diags)
    except _Bail:
        return None
    return m.PolicyFile(source.name, tuple(items)), diags
