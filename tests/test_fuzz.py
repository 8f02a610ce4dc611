"""Fuzzing and differential testing (issue 7).

Three properties, each case bounded in time (a hang fails the case):

- grammar: texts generated from engine/grammar.lark (hypothesis.extra.lark.from_lark) load into a Policy or
  raise DiagnosticsError with located diagnostics — never another exception;
- mutation: the default bundle's files with tokens deleted, duplicated or swapped, lines dropped, truncation,
  random bytes, or a file deleted — the same property, through the file-reading path;
- differential: random valid bundles and random questions: `decide` never raises on known names, always gives a
  verdict with a reason, and agrees with the independent reference evaluator in tests/fuzzkit.py (verdict,
  blocking restrictions, and the basis chosen); `allowed` agrees with `decide`.

CI runs a few dozen examples of each; `LAWFUL_FUZZ=100000` runs 100,000 cases in all (grammar 40%,
mutation 20%, differential 40%), and
`LAWFUL_FUZZ_REPORT=file.jsonl` records the counts (docs/operations.md, "Fuzzing and differential testing").
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import random
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

import engine
import engine.bundle.read
from engine.errors import DiagnosticsError
from engine.syntax.parser import parser

from conftest import MINI_REGISTER
from fuzzkit import (DEFAULT_BUNDLE, _up, FUZZ_TOTAL, Counter, make_spec, fuzz_examples, question_dates,
                     reference_decide, render, time_limit)

CASE_SECONDS = 20.0  # generous: a case is milliseconds; only a hang gets near it

FUZZ_SETTINGS = dict(deadline=None, database=None, derandomize=not FUZZ_TOTAL,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.filter_too_much, HealthCheck.large_base_example])


def assert_load_property(load) -> engine.Policy | None:
    """`load()` gives a Policy, or DiagnosticsError with at least one located diagnostic."""
    try:
        with time_limit(CASE_SECONDS):
            policy = load()
    except DiagnosticsError as exc:
        assert exc.diagnostics, "DiagnosticsError without diagnostics"
        # Located: a file:line in a file that exists, or the name of a file or folder that is missing.
        located = [d for d in exc.diagnostics if d.span is not None and d.span.file
                   and (d.span.line >= 1 or d.span.file not in exc.sources)]
        assert located, f"no located diagnostic among {[d.headline() for d in exc.diagnostics]}"
        for d in exc.diagnostics:
            str(d.headline())  # every diagnostic renders
        return None
    assert isinstance(policy, engine.Policy)
    return policy


def ask_something(policy: engine.Policy) -> None:
    """A loaded policy answers a question about its own names, with a reason."""
    if not (policy.orgs and policy.data and policy.purposes):
        return
    orgs = sorted(policy.orgs)
    with time_limit(CASE_SECONDS):
        d = policy.decide(orgs[0], orgs[-1], sorted(policy.data)[0], sorted(policy.purposes)[0],
                          on=dt.date(2005, 6, 23))
    assert d.verdict in ("allow", "deny") and d.headline


# ---- grammar-aware generation --------------------------------------------------------------------

_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,6}", fullmatch=True)
_SPACE = st.sampled_from([" ", "\n", "  ", "\t"])
GRAMMAR_TEXTS = from_lark(parser(), explicit={
    # Names and literals come padded with whitespace most of the time, so that many texts lex and parse
    # and reach the later stages; sometimes not, so that the lexer's errors are fuzzed too.
    "NAME": st.tuples(_SPACE, _NAME, _SPACE).map("".join) | _NAME,
    "STRING": st.from_regex(r'"[a-zA-Z0-9 ,.éü\\]{0,8}"', fullmatch=True).filter(lambda s: not s.endswith('\\"'))
              .map(lambda s: f" {s} "),
    "DATE": st.tuples(st.integers(1990, 2030), st.integers(0, 13), st.integers(0, 32)).map(
        lambda t: " %04d-%02d-%02d " % t),
    "COMMENT": st.from_regex(r"#[^\n]{0,12}", fullmatch=True).map(lambda s: s + "\n"),
    "WS": _SPACE,
})


@pytest.mark.fuzz
def test_fuzz_grammar_texts():
    counter = Counter("grammar")

    @settings(max_examples=fuzz_examples(0.4, 60), **FUZZ_SETTINGS)
    @given(text=GRAMMAR_TEXTS, split=st.integers(1, 3))
    def prop(text: str, split: int):
        counter.cases += 1
        # The same text as one file, or cut at declaration boundaries into several.
        parts = re.split(r"(?=\b(?:organisation|gateway|agreement|restriction)\b)", text)
        files = {f"policies/f{i}.policy": "".join(parts[i::split]) for i in range(split)}
        policy = assert_load_property(lambda: engine.load_texts(files, MINI_REGISTER))
        if policy is not None:
            ask_something(policy)

    prop()
    counter.done()


def test_grammar_generator_reaches_a_policy():
    """The generator is not vacuous: some generated texts parse, and some load into a Policy."""
    parsed = loaded = 0

    @settings(max_examples=80, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(text=GRAMMAR_TEXTS)
    def prop(text):
        nonlocal parsed, loaded
        try:
            parser().parse(text)
            parsed += 1
        except Exception:
            return
        try:
            engine.load_texts({"policies/x.policy": text}, MINI_REGISTER)
            loaded += 1
        except DiagnosticsError:
            pass

    prop()
    print(parsed, loaded)
    assert parsed > 5 and loaded > 0, (parsed, loaded)


# ---- mutations of the default bundle --------------------------------------------------------------

DEFAULT_FILES = sorted(
    [p.relative_to(DEFAULT_BUNDLE).as_posix() for p in (DEFAULT_BUNDLE / "policies").glob("*.policy")]
    + ["gateways.yaml"])
_TOKEN = re.compile(rb'"[^"\n]*"|[A-Za-z0-9_.\-]+|\s+|.', re.S)


@st.composite
def mutations(draw):
    """A list of (file, operation, arguments) applied in order to the default bundle's bytes."""
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        file = draw(st.sampled_from(DEFAULT_FILES))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "truncate", "bytes", "drop-line",
                                   "delete-file"]))
        ops.append((file, op, draw(st.integers(0, 10**9)), draw(st.integers(0, 10**9)),
                    draw(st.binary(min_size=1, max_size=6))))
    return ops


def mutate(original: dict[str, bytes], ops) -> dict[str, bytes | None]:
    files: dict[str, bytes | None] = dict(original)
    for file, op, i, j, blob in ops:
        raw = files.get(file)
        if raw is None:
            continue
        toks = _TOKEN.findall(raw) or [b""]
        a, b = i % len(toks), j % len(toks)
        if op == "delete":
            del toks[a]
        elif op == "duplicate":
            toks.insert(a, toks[a])
        elif op == "swap":
            toks[a], toks[b] = toks[b], toks[a]
        elif op == "replace":
            toks[a] = toks[b]
        if op in ("delete", "duplicate", "swap", "replace"):
            files[file] = b"".join(toks)
        elif op == "truncate":
            files[file] = raw[: i % (len(raw) + 1)]
        elif op == "bytes":
            k = i % (len(raw) + 1)
            files[file] = raw[:k] + blob + raw[k:]
        elif op == "drop-line":
            lines = raw.split(b"\n")
            del lines[i % len(lines)]
            files[file] = b"\n".join(lines)
        elif op == "delete-file":
            files[file] = None
    return files


@pytest.mark.fuzz
def test_fuzz_mutated_default_bundle(monkeypatch):
    counter = Counter("mutation")
    original = {name: (DEFAULT_BUNDLE / name).read_bytes() for name in DEFAULT_FILES}
    # Parsing one file is a pure function of its name and text, so the files a case leaves unchanged are
    # parsed once and remembered; every mutated text still goes through the real parser and every case
    # through the real reading, checking and compiling of the whole bundle.
    # (engine.bundle.read imports both from their modules when it reads, so the modules' names are patched.)
    import engine.syntax.parser
    import engine.syntax.register

    monkeypatch.setattr(engine.syntax.parser, "parse_source",
                        functools.lru_cache(maxsize=256)(engine.syntax.parser.parse_source))
    monkeypatch.setattr(engine.syntax.register, "parse_register",
                        functools.lru_cache(maxsize=64)(engine.syntax.register.parse_register))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bundle"
        (root / "policies").mkdir(parents=True)

        @settings(max_examples=fuzz_examples(0.2, 40), **FUZZ_SETTINGS)
        @given(ops=mutations())
        def prop(ops):
            counter.cases += 1
            files = mutate(original, ops)
            for name, raw in files.items():
                path = root / name
                if raw is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(raw)
            policy = assert_load_property(lambda: engine.load(root))
            if policy is not None:
                ask_something(policy)

        prop()
    counter.done()


def test_mutations_do_change_the_bundle():
    """The mutator is not vacuous: most mutations break loading, and the unmutated bundle loads."""
    original = {name: (DEFAULT_BUNDLE / name).read_bytes() for name in DEFAULT_FILES}
    assert mutate(original, []) == original
    broken = mutate(original, [("policies/gateways.policy", "truncate", 100, 0, b"x")])
    assert broken["policies/gateways.policy"] == original["policies/gateways.policy"][:100]
    texts = {k: v.decode() for k, v in broken.items() if k != "gateways.yaml"}
    with pytest.raises(DiagnosticsError):
        engine.load_texts(texts, original["gateways.yaml"].decode())


# ---- differential testing against the reference evaluator -----------------------------------------


def make_questions(spec, rnd: random.Random) -> list[tuple]:
    """Random questions over the spec's names: half aimed at a gateway's scopes (so allows are common)."""
    dates = question_dates(spec)
    questions = []
    for _ in range(rnd.randint(5, 20)):
        assume = set(rnd.sample(sorted(spec.statutes), rnd.randint(0, min(2, len(spec.statutes)))))
        if rnd.random() < 0.5:
            g = rnd.choice(spec.gateways)
            srcs, dsts = rnd.choice(g["allows"])
            src = rnd.choice(_inside(spec.org_parent, srcs))
            dst = rnd.choice(_inside(spec.org_parent, dsts))
            data = rnd.choice(_inside(spec.data_parent, g["data"]))
            purpose = rnd.choice(_inside(spec.purpose_parent, g["purposes"]))
            if rnd.random() < 0.5:
                assume.add(g["statute"])
        else:
            src, dst = rnd.choice(spec.orgs), rnd.choice(spec.orgs)
            data, purpose = rnd.choice(spec.data), rnd.choice(spec.purposes)
        questions.append((src, dst, data, purpose, rnd.choice(dates), frozenset(assume),
                          rnd.random() < 0.5, rnd.random() < 0.5))
    return questions


def _case(seed: int):
    rnd = random.Random(seed)
    spec = make_spec(rnd)
    return spec, make_questions(spec, rnd)


# Hypothesis draws one seed per case; the bundle and questions come from it (cheap, and reproducible).
bundle_and_questions = st.integers(0, 2**63 - 1).map(_case)


def _inside(parent: dict, scope) -> list[str]:
    """Every name at or below one of `scope` (None: every name)."""
    if scope is None:
        return sorted(parent)
    return sorted(n for n in parent if any(s in scope for s in _up(parent, n)))


def check_against_reference(spec, questions) -> None:
    policies, register = render(spec)
    try:
        policy = engine.load_texts(policies, register)
    except DiagnosticsError as exc:  # the generator only makes valid bundles
        raise AssertionError("generated bundle did not load:\n" + "\n".join(d.headline() for d in exc.diagnostics)
                             + "\n" + "\n".join(policies.values()) + register) from exc
    for n, (src, dst, data, purpose, on, assume, alias, lower) in enumerate(questions):
        ask_src = spec.aliases[src] if alias and src in spec.aliases else src
        ask_dst, ask_data = (dst.lower(), data.lower()) if lower else (dst, data)
        full = n < 2  # fixes and routes for the first questions; the verdict path for the rest
        d = policy.decide(ask_src, ask_dst, ask_data, purpose, on=on, assume=sorted(assume), fixes=full, routes=full)
        want = reference_decide(spec, src, dst, data, purpose, on, set(assume))
        where = f"question {src} -> {dst} {data} for {purpose} on {on} assuming {sorted(assume)}"
        if os.environ.get("LAWFUL_FUZZ_SHOW"):
            where += "\n" + "\n".join(policies.values()) + register
        assert d.verdict in ("allow", "deny") and d.headline.startswith(("ALLOWED — ", "DENIED — ")), where
        assert d.allowed == want.allowed, f"{where}: engine says {d.headline!r}, reference says {want}"
        assert {b.restriction.id.lower() for b in d.blocks} == want.firing, f"{where}: {d.headline!r} vs {want}"
        if d.allowed and want.basis is None:  # within one legal person
            assert d.same_body and d.basis is None, f"{where}: {d.headline!r}, reference: the same body"
        elif d.allowed:
            got = (d.basis.gateway.id.lower(), d.basis.agreement.id.lower() if d.basis.agreement else None)
            assert got == want.basis, f"{where}: basis {got} vs reference {want.basis}"
        else:
            assert d.basis is None
        assert policy.allowed(ask_src, ask_dst, ask_data, purpose, on=on, assume=sorted(assume)) == d.allowed


@pytest.mark.fuzz
def test_fuzz_differential():
    counter = Counter("differential")

    @settings(max_examples=fuzz_examples(0.4, 40), **FUZZ_SETTINGS)
    @given(case=bundle_and_questions)
    def prop(case):
        counter.cases += 1
        spec, questions = case
        with time_limit(CASE_SECONDS):
            check_against_reference(spec, questions)

    prop()
    counter.done()


def test_differential_generator_is_not_vacuous():
    """Both verdicts occur, restrictions fire, and lifted restrictions occur, across generated cases."""
    seen = {"allow": 0, "deny": 0, "blocked": 0, "lifted": 0}

    @settings(max_examples=60, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=bundle_and_questions)
    def prop(case):
        spec, questions = case
        for src, dst, data, purpose, on, assume, *_ in questions:
            want = reference_decide(spec, src, dst, data, purpose, on, set(assume))
            seen["allow" if want.allowed else "deny"] += 1
            seen["blocked"] += bool(want.firing)
            seen["lifted"] += bool(want.allowed and want.firing)

    prop()
    print(seen)
    assert all(v > 0 for v in seen.values()), seen
