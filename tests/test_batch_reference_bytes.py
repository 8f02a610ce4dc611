"""Issue 18, target 4: the batch handler's answer to the benchmark's questions (benchmarks/service.py: the default
bundle's 300 lawful and 100 unlawful questions, in batches of 100, answer memo off) and to a sample of the large
generated bundle (2,000 organisations, 20,000 agreements) is, byte for byte, `{"decisions": [json(d.to_dict()),
…]}` of the decisions a policy that has answered nothing gives (a fresh facade for each question: nothing of an
explanation remembered), with fixes and routes on and off. The handler's policy answers every batch warm, its
caches full of the other questions' parts. No timing is asserted here."""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import orjson
import pytest

import engine
from engine.ops.service import BundleHolder, _json, create_app, fast_body, question_keywords
from engine.policy.facade import Policy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from transfer_log import _pools  # noqa: E402


def reference(policy: engine.Policy, q: dict) -> bytes:
    fresh = Policy.of(policy)
    return _json(fresh.decide(q["source"], q["recipient"], q["data"], q["purpose"], on=dt.date.fromisoformat(q["on"]),
                              fixes=q.get("fixes", True), routes=q.get("routes", True)).to_dict())


def same_bytes_in_batches(root: Path, questions: list[dict]) -> int:
    holder = BundleHolder(root)
    answer = create_app(holder, memo_entries=0).front.answer
    policy = holder.current.policy
    checked = 0
    for extra in ({}, {"fixes": False, "routes": False}):
        asked = [{**q, **extra} for q in questions]
        for i in range(0, len(asked), 100):
            batch = asked[i:i + 100]
            parsed = fast_body(orjson.loads(orjson.dumps({"questions": batch})))
            assert parsed is not None
            status, body = answer(holder.current, [question_keywords(q, dt.date.today()) for q in parsed[1]], True)
            assert status == 200, body[:600]
            assert body == b'{"decisions":[' + b",".join(reference(policy, q) for q in batch) + b"]}", i
            checked += len(batch)
    return checked


def questions_of(policy: engine.Policy, seed: int, lawful: int, unlawful: int) -> list[dict]:
    found_lawful, found_unlawful = _pools(policy, random.Random(seed), lawful_size=lawful, unlawful_size=unlawful)
    # (`_pools` adds one question of the default bundle's names: left out where they are unknown)
    return [{"source": s, "recipient": r, "data": d, "purpose": p, "on": str(day)}
            for s, r, d, p, day in found_lawful + found_unlawful
            if s.lower() in policy.orgs and r.lower() in policy.orgs]


def test_the_benchmarks_questions_of_the_default_bundle():
    policy = engine.load(ROOT)
    questions = questions_of(policy, 1, 300, 100)  # benchmarks/service.py `question_bodies`
    assert len(questions) >= 400
    assert same_bytes_in_batches(ROOT, questions) == 2 * len(questions)


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    from benchmarks.generate import SIZES, generate, write_bundle

    return write_bundle(tmp_path_factory.mktemp("large"), generate(*SIZES["large"]))


def test_a_sample_of_the_large_generated_bundle(large):
    policy = engine.load(large)
    questions = questions_of(policy, 3, 150, 50)
    assert len(questions) >= 200
    assert same_bytes_in_batches(large, questions) == 2 * len(questions)
