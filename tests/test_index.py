"""The verdict alone (the evaluator stopping at the first basis, memoised by `Policy.allowed`) is the verdict
of the explained evaluation, always; the candidate buckets and the memo stay bounded under threads.

Property: on generated bundles (benchmarks/generate.py: hierarchies, dated agreements, one-way and
directional restrictions with exceptions, overrides, proposed and repealed statutes, successions) and on the
default bundle, for random questions (any organisations, categories, purposes, dates 1995–2015, sometimes
assuming a proposed statute), `Policy.allowed` (memoised), `engine.eval.decide.allowed` (first basis only)
and `decide(...).verdict` agree. Example counts are modest; set LAWFUL_LONG=1 for a long run.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.eval.decide import allowed, evaluate, normalise

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generate import generate  # noqa: E402

LONG = bool(os.environ.get("LAWFUL_LONG"))
EXAMPLES = 3000 if LONG else 150


def _load_generated(n_orgs: int, n_agreements: int, seed: int) -> engine.Policy:
    files = generate(n_orgs, n_agreements, seed)
    policies = {k: v for k, v in files.items() if k.startswith("policies/")}
    return engine.load_texts(policies, files["gateways.yaml"])


BUNDLES = {
    "small-a": (25, 60, 1),
    "small-b": (40, 150, 7),
    "medium": (150, 600, 11),
}
_cache: dict[str, engine.Policy] = {}


def policy_named(name: str) -> engine.Policy:
    if name not in _cache:
        _cache[name] = engine.load(ROOT) if name == "default" else _load_generated(*BUNDLES[name])
    return _cache[name]


def _near_agreement_question(policy: engine.Policy, draw) -> tuple:
    """A question close to an agreement: its parties (or parts of them), its data, its window ± a little,
    so that a good share of the questions are allowed and the interesting rules are exercised."""
    a = draw(st.sampled_from(sorted(policy.agreements)))
    ca = policy.agreements[a]
    src_scope, dst_scope = draw(st.sampled_from(list(ca.directions)))
    s = draw(st.sampled_from(sorted(src_scope)))
    r = draw(st.sampled_from(sorted(dst_scope)))
    d = draw(st.sampled_from(sorted(ca.data)))
    p = draw(st.sampled_from(sorted(ca.purposes)))
    v = ca.valid
    base = v.start if v and v.start else dt.date(2005, 1, 1)
    on = base + dt.timedelta(days=draw(st.integers(-60, 2000)))
    return s, r, d, p, on


@st.composite
def questions(draw, name: str):
    policy = policy_named(name)
    if policy.agreements and draw(st.booleans()):
        s, r, d, p, on = _near_agreement_question(policy, draw)
    else:
        s = draw(st.sampled_from(sorted(policy.orgs)))
        r = draw(st.sampled_from(sorted(policy.orgs)))
        d = draw(st.sampled_from(sorted(policy.data)))
        p = draw(st.sampled_from(sorted(policy.purposes)))
        on = dt.date(1995, 1, 1) + dt.timedelta(days=draw(st.integers(0, 20 * 365)))
    proposed = sorted(k for k, st_ in policy.statutes.items() if st_.status == "proposed")
    assume = tuple(draw(st.lists(st.sampled_from(proposed), max_size=2))) if proposed else ()
    return s, r, d, p, on, assume


@pytest.mark.parametrize("name", ["default", *BUNDLES])
def test_index_verdict_equals_explained_decision(name):
    policy = policy_named(name)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(questions(name))
    def check(question):
        s, r, d, p, on, assume = question
        q = normalise(policy, s, r, d, p, on, assume)
        explained = evaluate(policy, q, explain=True).allowed
        assert allowed(policy, q) == explained
        assert policy.allowed(s, r, d, p, on=on, assume=assume) == explained
        assert policy.allowed(s.upper(), r, d, p, on=on, assume=list(assume)) == explained  # memo, other spelling
        decision = policy.decide(s, r, d, p, on=on, assume=assume, fixes=False, routes=False)
        assert decision.allowed == explained

    check()


def test_generated_questions_reach_both_verdicts():
    """The property above would be vacuous if every question were denied: the near-agreement questions
    must produce allows too, and restrictions must fire on some."""
    policy = policy_named("medium")
    allows = denies = 0
    for a in sorted(policy.agreements)[:300]:
        ca = policy.agreements[a]
        src, dst = ca.directions[0]
        on = ca.valid.start if ca.valid and ca.valid.start else dt.date(2005, 1, 1)
        for s in sorted(src)[:2]:
            for r in sorted(dst)[:2]:
                d = sorted(ca.data)[0]
                p = sorted(ca.purposes)[0]
                if policy.allowed(s, r, d, p, on=on):
                    allows += 1
                else:
                    denies += 1
    assert allows > 20 and denies > 20


def test_memo_is_bounded_and_still_right():
    policy = _load_generated(25, 40, 3)
    policy.memo_limit = 5
    orgs = sorted(policy.orgs)
    on = dt.date(2006, 1, 1)
    for s in orgs[:6]:
        for r in orgs[:6]:
            q = normalise(policy, s, r, "personal", "research", on, ())
            assert policy.allowed(s, r, "personal", "research", on=on) == evaluate(policy, q).allowed
            assert len(policy._memo) <= 5 and len(policy._raw_memo) <= 5


def test_pair_table_is_bounded():
    policy = _load_generated(25, 40, 3)
    policy.pair_limit = 3
    orgs = sorted(policy.orgs)
    for s in orgs[:4]:
        for r in orgs[:4]:
            policy.candidates(s, r)
            assert len(policy._pairs) <= 3


def test_allowed_resolves_names_like_decide():
    policy = policy_named("default")
    with pytest.raises(engine.UnknownNameError):
        policy.allowed("JCPX", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    assert policy.allowed("jcp", "ali", "PROVIDER-DATA", "inspection", on=dt.date(2005, 6, 23)) is False
    assert policy.allowed("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23)) is True


def test_allowed_is_thread_safe():
    """Several threads asking overlapping questions (memo and pair table filling and clearing under them)
    all get the explained decision's verdict."""
    import random
    import threading

    policy = _load_generated(40, 150, 21)
    policy.memo_limit = 50  # force clears while other threads read
    policy.pair_limit = 20
    rnd = random.Random(4)
    orgs, data, purposes = sorted(policy.orgs), sorted(policy.data), sorted(policy.purposes)
    qs = [(rnd.choice(orgs), rnd.choice(orgs), rnd.choice(data), rnd.choice(purposes),
           dt.date(2000, 1, 1) + dt.timedelta(days=rnd.randint(0, 4000))) for _ in range(150)]
    for a in sorted(policy.agreements)[:150]:  # near agreements, so that some are allowed
        ca = policy.agreements[a]
        src, dst = ca.directions[0]
        qs.append((sorted(src)[0], sorted(dst)[0], sorted(ca.data)[0], sorted(ca.purposes)[0],
                   ca.valid.start if ca.valid and ca.valid.start else dt.date(2005, 1, 1)))
    expected = [evaluate(policy, normalise(policy, *q[:4], q[4], ())).allowed for q in qs]
    errors = []

    def worker(seed: int) -> None:
        order = list(range(len(qs)))
        random.Random(seed).shuffle(order)
        for i in order * 2:
            s, r, d, p, on = qs[i]
            if policy.allowed(s, r, d, p, on=on) != expected[i]:
                errors.append(qs[i])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and any(expected) and not all(expected)
