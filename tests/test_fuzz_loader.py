"""Hypothesis: whatever text is fed to the loader, it either loads or raises the engine's own
`DiagnosticsError` (every diagnostic with a known code) — nothing else, never another exception.

Examples per property: LAWFUL_EXAMPLES (default 150); raise it for long runs.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from conftest import MINI_REGISTER
from engine.base.diagnostics import CODES
from engine.render.diagnostics import render
from engine.syntax.parser import parser

TERMINALS = {t.name for t in parser().terminals} | {"$END"}
_SHOUTING = re.compile(r"__ANON_\d+|\$END|\b[A-Z][A-Z0-9_]{2,}\b")
EXAMPLES = int(os.environ.get("LAWFUL_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = ["organisation", "data", "purpose", "gateway", "restriction", "agreement", "test", "part-of", "aka",
            "succeeds", "on", "under", "personal", "special-category", "criminal-offence", "anonymised",
            "statute", "allows", "forbids", "one-way", "for", "requires", "agreement", "lawful-basis",
            "public-task", "article-9", "article-10", "onward", "none", "to", "only-for", "as-discloser",
            "overrides", "valid", "from", "until", "review", "owner", "between", "and", "except", "note",
            "expect", "allow", "deny", "assuming", "because"]
NAMES = ["A", "B", "LSC", "ALI", "d", "p", "G", "R", "X", "SSAA-1992", "LSA-2000", "DCA-GATEWAY-2006",
         "OLD-1990", "a.b", "x_y"]
PUNCT = ["{", "}", "->", ",", "*", "#c\n", "\n", '"t"', '"', "2005-06-23", "2005-02-30", "1999-13-01", "-",
         "\t", "é", "\x00", "\\"]
TOKEN = st.sampled_from(KEYWORDS + NAMES + PUNCT)
# Streams of the language's own tokens reach deep into the parser and the checks.
TOKEN_TEXT = st.lists(TOKEN, max_size=60).map(" ".join)
ANY_TEXT = st.text(max_size=300)

# A valid bundle to mutate: small edits of real text find the errors near valid input.
VALID = """\
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
organisation JCP "Jobcentre Plus" aka "JobCentrePlus"
data personal "Personal data" personal
data d "D" under personal
purpose p "P"
gateway G "g" {
  statute LSA-2000 "section 1"
  allows LSC -> ALI
  data d
  for p
  requires agreement
  lawful-basis public-task
}
restriction R "r" {
  statute SSAA-1992 "section 123"
  one-way JCP
  except anonymised
}
agreement A "a" {
  from LSC to ALI
  data d
  for p
  under G
  valid 2005-01-01 to 2006-01-01
  owner "x"
}
test "t" {
  expect allow LSC -> ALI d for p on 2005-06-23 because A
}
"""


@st.composite
def mutated(draw, base: str = VALID) -> str:
    text = base
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 20)))
        text = text[:i] + draw(st.one_of(st.just(""), TOKEN, st.text(max_size=5))) + text[j:]
    return text


def _loads_or_diagnoses(policies: dict[str, str], register: str) -> None:
    try:
        policy = engine.load_texts(policies, register)
    except engine.DiagnosticsError as exc:
        assert exc.diagnostics, "a DiagnosticsError always says why"
        for d in exc.diagnostics:
            assert d.code in CODES, d.code
            if d.code == "parse-error":
                # say what was expected in words, never with the grammar's terminal names
                words = re.sub(r"`[^`]*`", "", d.message + " " + (d.help or ""))  # user input is quoted
                leaked = [w for w in _SHOUTING.findall(words) if w in TERMINALS]
                assert not leaked, d.message
                assert d.span is not None and d.span.line >= 1 and d.span.column >= 1
        render(exc.diagnostics, exc.sources)  # rendering never fails either
        return
    assert isinstance(policy, engine.Policy)


@SETTINGS
@given(ANY_TEXT)
def test_arbitrary_policy_text(text):
    _loads_or_diagnoses({"policies/x.policy": text}, MINI_REGISTER)


@SETTINGS
@given(TOKEN_TEXT)
def test_token_soup(text):
    _loads_or_diagnoses({"policies/x.policy": text}, MINI_REGISTER)


@SETTINGS
@given(mutated())
def test_mutated_valid_bundle(text):
    _loads_or_diagnoses({"policies/x.policy": text}, MINI_REGISTER)


@SETTINGS
@given(st.one_of(ANY_TEXT, mutated(MINI_REGISTER)))
def test_arbitrary_register_text(register):
    _loads_or_diagnoses({"policies/x.policy": VALID}, register)


@SETTINGS
@given(st.dictionaries(st.text(min_size=1, max_size=12), TOKEN_TEXT, max_size=3), ANY_TEXT)
def test_arbitrary_file_names_and_both_texts(policies, register):
    _loads_or_diagnoses(policies, register)


def test_the_valid_base_loads():
    assert engine.load_texts({"policies/x.policy": VALID}, MINI_REGISTER).decide(
        "LSC", "ALI", "d", "p", on=__import__("datetime").date(2005, 6, 23)).allowed
