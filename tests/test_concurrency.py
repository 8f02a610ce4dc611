"""Concurrency (issue 7): one shared Policy, decided from 8 threads at once, gives exactly the answers a single
thread gives — full decisions (reasons, fixes, routes) and the memoised `allowed`."""

from __future__ import annotations

import datetime as dt
import random
import sys
import threading

import pytest

import engine

from conftest import ROOT

THREADS = 8
DATES = [dt.date(2004, 1, 1), dt.date(2005, 6, 23), dt.date(2006, 9, 1), dt.date(2009, 1, 1)]


def _questions(policy: engine.Policy, n: int, seed: int = 11) -> list[tuple]:
    rnd = random.Random(seed)
    orgs, data, purposes = sorted(policy.orgs), sorted(policy.data), sorted(policy.purposes)
    statutes = sorted(s.id for s in policy.statutes.values() if s.status == "proposed")
    out = []
    for _ in range(n):
        assume = tuple(rnd.sample(statutes, rnd.randint(0, min(1, len(statutes)))))
        out.append((rnd.choice(orgs), rnd.choice(orgs), rnd.choice(data), rnd.choice(purposes), rnd.choice(DATES),
                    assume))
    # The questions the project grew from, which exercise blocks, lifts and fixes.
    out += [("JCP", "ALI", "provider-data", "inspection", dt.date(2005, 6, 23), ()),
            ("JCP", "ALI", "provider-data", "inspection", dt.date(2005, 6, 23), ("DCA-GATEWAY-2006",)),
            ("LSC", "ALI", "provider-data", "inspection", dt.date(2005, 6, 23), ())]
    return out


def _answer(policy: engine.Policy, q: tuple, full: bool) -> dict:
    src, dst, data, purpose, on, assume = q
    return policy.decide(src, dst, data, purpose, on=on, assume=assume, fixes=full, routes=full).to_dict()


def _run_threads(work) -> list:
    """Run `work(i)` on THREADS threads released together; re-raise the first failure."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so that they really interleave
    try:
        threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module")
def questions():
    return _questions(engine.load(ROOT), 160)


def test_decisions_from_eight_threads_equal_the_sequential_answers(questions):
    sequential_policy = engine.load(ROOT)
    full = {i: i % 8 == 0 for i in range(len(questions))}  # fixes and routes on every 8th question
    expected = [_answer(sequential_policy, q, full[i]) for i, q in enumerate(questions)]
    assert len({e["verdict"] for e in expected}) == 2  # both verdicts occur

    shared = engine.load(ROOT)

    def work(t: int) -> dict:
        order = list(range(len(questions)))
        random.Random(t).shuffle(order)  # each thread asks in its own order
        return {i: _answer(shared, questions[i], full[i]) for i in order}

    for got in _run_threads(work):
        assert [got[i] for i in range(len(questions))] == expected


def test_memoised_allowed_from_eight_threads_equals_decide(questions):
    reference = engine.load(ROOT)
    expected = [reference.decide(s, r, d, p, on=on, assume=a, fixes=False, routes=False).allowed
                for s, r, d, p, on, a in questions]
    shared = engine.load(ROOT)
    shared.memo_limit = 50  # small, so that threads also race on clearing the memo

    def work(t: int) -> list[bool]:
        order = list(range(len(questions))) * 2  # twice: the second pass answers from the memo
        random.Random(100 + t).shuffle(order)
        got: dict[int, bool] = {}
        for i in order:
            s, r, d, p, on, a = questions[i]
            v = shared.allowed(s, r, d, p, on=on, assume=a)
            assert got.setdefault(i, v) == v
        return [got[i] for i in range(len(questions))]

    for got in _run_threads(work):
        assert got == expected
    # Whatever the memo holds afterwards is right.
    keyed = {}
    from engine.eval.decide import normalise
    for (s, r, d, p, on, a), want in zip(questions, expected):
        q = normalise(shared, s, r, d, p, on, a)
        keyed[(q.source, q.recipient, q.data, q.purpose, q.on, q.assume)] = want
    assert shared._memo and all(keyed[k] == v for k, v in shared._memo.items())


def test_audit_log_shared_between_threads(tmp_path, questions):
    from engine.ops.decision_log import AuditLog, verify_log
    from engine.bundle.hashing import policy_hash

    policy = engine.load(ROOT)
    log = AuditLog(tmp_path / "log.jsonl")  # one AuditLog object shared by every thread
    h = policy_hash(policy)

    def work(t: int) -> int:
        for q in questions[t::THREADS][:10]:
            log.record(policy.decide(*q[:4], on=q[4], assume=q[5], fixes=False, routes=False), h)
        return 10

    total = sum(_run_threads(work))
    result = verify_log(tmp_path / "log.jsonl")
    assert result.ok and result.records == total


def test_shared_json_from_eight_threads_filling_a_small_explanation_cache_equals_a_fresh_policys(questions,
                                                                                                  monkeypatch):
    """The service's bytes (`to_dict(shared=True)`): the parts each policy remembers (engine/eval/decide.py
    `ExplainCache`: bases, bars, considerations, classes …) and the JSON shared on them, made by eight threads
    at once, in a cache small enough to be emptied again and again while they work."""
    from engine.eval.decide import ExplainCache
    from engine.ops.service import _decision_json

    def answer(policy: engine.Policy, i: int) -> bytes:
        src, dst, data, purpose, on, assume = questions[i]
        full = i % 8 == 0
        return _decision_json(policy.decide(src, dst, data, purpose, on=on, assume=assume, fixes=full,
                                            routes=full).to_dict(shared=True))

    reference = engine.load(ROOT)
    expected = [answer(engine.Policy.of(reference), i) for i in range(len(questions))]  # each from a fresh cache
    monkeypatch.setattr(ExplainCache, "LIMIT", 64)
    shared = engine.Policy.of(reference)

    def work(t: int) -> list[bytes]:
        order = list(range(len(questions))) * 2
        random.Random(t).shuffle(order)
        got: dict[int, bytes] = {}
        for i in order:
            b = answer(shared, i)
            assert got.setdefault(i, b) == b
        return [got[i] for i in range(len(questions))]

    for got in _run_threads(work):
        assert got == expected
