"""The load's shortcuts (issue 18, target 3) build exactly what the plain code builds.

- `_compile_agreement` makes each `CAgreement` without its frozen `__init__`: the instance must be the one the
  constructor makes, field for field and in field order (pickles, `repr`, `replace` read the same dictionary).
- The tokenizer's expression uses possessive runs on Python 3.11+: it must split every text as the same
  expression with greedy runs does (the form used on 3.10), hostile texts included.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
import re

from engine.policy.facade import Policy
from engine.compile.compiled import CAgreement
from engine.syntax import fastparse


def _compiled() -> Policy:
    """The shipped bundle compiled in this process (never unpickled from the compiled-bundle cache)."""
    from engine.bundle.read import read_bundle, default_bundle
    from engine.policy.load import _load

    return _load(read_bundle(default_bundle()), None)


def test_compiled_agreements_are_what_the_constructor_makes():
    policy = _compiled()
    assert policy.agreements
    names = [f.name for f in dataclasses.fields(CAgreement)]
    for ca in policy.agreements.values():
        made = CAgreement(**{n: getattr(ca, n) for n in names})
        assert list(vars(ca)) == list(vars(made)) == names
        assert all(vars(ca)[n] is vars(made)[n] or vars(ca)[n] == vars(made)[n] for n in names)
        assert repr(ca) == repr(made)
        back = pickle.loads(pickle.dumps(ca))
        assert list(vars(back)) == names and back.key == ca.key
        try:
            ca.key = "x"  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            pass
        else:  # pragma: no cover
            raise AssertionError("a compiled agreement must stay frozen")


def test_both_ways_agreement_directions():
    policy = _compiled()
    for ca in policy.agreements.values():
        (src, dst), *rest = ca.directions
        if ca.model.both_ways:
            assert rest == [(dst, src)]
        else:
            assert rest == []


_ALPHABET = ['a', 'Z', '0', '9', '-', '>', '/', '.', '_', '"', '\\', '#', ' ', '\t', '\n', '\r', '\f', ',', '{', '}',
             '*', '2005-06-23', 'agreement', '->', '"x\\"y"', '# c\n', 'é', '\x00']


def test_possessive_tokenizer_splits_as_the_greedy_one():
    greedy = re.compile(fastparse._TOKEN_PATTERN.replace("*+", "*"))
    rng = random.Random(18)
    for _ in range(3000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40)))
        assert fastparse._TOKEN.findall(text) == greedy.findall(text), repr(text)


def test_tokens_positions_and_comments():
    text = 'a  "s" # c\n\n  b, 2005-06-23 -> *\n# end'
    commented: set[int] = set()
    tokens = fastparse._tokens(text, commented)
    assert tokens == [(1, "a", 1, 1), (2, '"s"', 1, 4), (1, "b", 3, 3), (4, ",", 3, 4), (3, "2005-06-23", 3, 6),
                      (4, "->", 3, 17), (4, "*", 3, 20)]
    assert commented == {2, 7}  # `b` follows a comment; so does the end of the text
    assert fastparse._tokens("a ~ b", set()) is None
    for text in ("a # c", "a\n# c", "a # c\n", "# c"):  # a comment that ends the text marks the end
        marks: set[int] = set()
        tokens = fastparse._tokens(text, marks)
        assert tokens is not None and marks == {len(tokens)}, text


def test_tokens_by_chunks_are_the_tokens_of_the_whole_text(monkeypatch):
    """`_tokens` runs `findall` a chunk of text at a time, each chunk ending after a line feed: any chunk size
    gives the tokens, positions and comment marks of the text read whole."""
    rng = random.Random(1818)
    pieces = _ALPHABET + ["\n", "\n\n", "  \n  ", "x # note\n", "\r\n"]
    texts = ["", "\n", "# only", "a\n# c", "a\n  b\n", "agreement A \"t\" {\n  from X -> Y\n}\n"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))) for _ in range(1500)]
    for text in texts:
        monkeypatch.setattr(fastparse, "_CHUNK", 10**9)
        whole_marks: set[int] = set()
        whole = fastparse._tokens(text, whole_marks)
        for chunk in (1, 2, 5, 13):
            monkeypatch.setattr(fastparse, "_CHUNK", chunk)
            marks: set[int] = set()
            assert fastparse._tokens(text, marks) == whole, (chunk, text)
            assert marks == whole_marks, (chunk, text)
