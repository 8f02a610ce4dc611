"""Issue 19 item 7: the work one request may cause is bounded, and refused with 413 before it is done.

Before the fix, a 59 KB batch (1000 questions without a purpose: one decision per declared purpose each) made
the service produce 20,000 decisions, 23.6 MB of JSON and 5.9 s of CPU for one request. Every loop here is
bounded in count and time; servers run for real on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import engine  # noqa: E402
from engine.policy.facade import Policy  # noqa: E402
from engine.ops.service import MAX_DECISIONS, BundleHolder, create_app  # noqa: E402

from servekit import ROOT, SEED, running_in_thread, serving  # noqa: E402

NO_PURPOSE = {"source": "JCP", "recipient": "ALI", "data": "provider-data", "on": "2005-06-23"}


def _compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def decisions_made(monkeypatch):
    """Count the decisions the engine makes in this process (the server runs in a thread here)."""
    made = {"n": 0}
    lock = threading.Lock()
    decide = Policy.decide

    def counting(self, *args, **kwargs):
        with lock:
            made["n"] += 1
        return decide(self, *args, **kwargs)

    monkeypatch.setattr(Policy, "decide", counting)
    return made


@pytest.fixture(scope="module")
def holder():
    return BundleHolder(ROOT)


def _check_envelope(r: httpx.Response, code: str) -> dict:
    assert r.status_code == 413, r.text[:300]
    [err] = r.json()["errors"]
    assert err["code"] == code and err["message"] and err["help"]
    return err


def test_the_59_kb_batch_of_the_issue_is_refused_before_any_decision(holder, decisions_made):
    purposes = len(engine.load(ROOT).purposes)
    body = _compact({"questions": [{k: v for k, v in NO_PURPOSE.items() if k != "on"}] * 1000})
    assert len(body) < 64 * 1024 and 1000 * purposes > MAX_DECISIONS
    with running_in_thread(create_app(holder)) as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/decide", content=body, headers={"content-type": "application/json"})
    err = _check_envelope(r, "decision-budget")
    assert f"{1000 * purposes:,} decisions" in err["message"] and f"{MAX_DECISIONS:,}" in err["message"]
    assert decisions_made["n"] == 0  # refused before the work, not after
    assert len(r.content) < 1000


def test_a_batch_within_the_budget_is_answered_in_full(holder, decisions_made):
    purposes = len(engine.load(ROOT).purposes)
    n = MAX_DECISIONS // purposes  # questions without a purpose: exactly within the budget
    with running_in_thread(create_app(holder)) as url, httpx.Client(base_url=url, timeout=120) as c:
        r = c.post("/v1/decide", json={"questions": [NO_PURPOSE] * n})
        assert r.status_code == 200, r.text[:300]
        assert len(r.json()["decisions"]) == n * purposes
        # One over: refused.
        over = c.post("/v1/decide", json={"questions": [NO_PURPOSE] * (n + 1)})
    _check_envelope(over, "decision-budget")
    assert decisions_made["n"] == n * purposes


def test_the_answer_is_the_same_bytes_as_before(holder):
    """The answer is now built from parts (to stop at the size cap): it must be the JSON it always was."""
    import datetime as dt

    decision = holder.current.policy.decide("JCP", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    want = {"decisions": [decision.to_dict()]}
    with running_in_thread(create_app(holder)) as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/decide", json=SEED)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == json.dumps(want, ensure_ascii=False, separators=(",", ":")).encode()


def test_an_answer_over_the_size_cap_is_refused_and_the_work_stops_there(holder, decisions_made):
    with running_in_thread(create_app(holder, max_response_bytes=20_000)) as url, \
            httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/decide", json={"questions": [SEED] * 200})
        err = _check_envelope(r, "response-too-large")
        assert "20,000 bytes" in err["message"]
        made = decisions_made["n"]
        assert 0 < made < 30, made  # ~1.5 KB a decision: it stopped at the cap, not after 200
        small = c.post("/v1/decide", json={"questions": [SEED] * 5})
        assert small.status_code == 200 and len(small.content) <= 20_000
        routes = c.post("/v1/routes", json={"source": "DfES", "recipient": "ALI", "data": "learner-record",
                                            "purpose": "inspection", "on": "2005-06-23"})
        assert routes.status_code in (200, 413)
        if routes.status_code == 413:
            _check_envelope(routes, "response-too-large")


def test_serve_options_set_the_budget_and_the_cap():
    # 6 KiB: five small decisions fit, five of the seed's do not (the words of issue 15 made both a little longer)
    with serving("--max-decisions", "5", "--max-response-bytes", "6144") as server, \
            httpx.Client(base_url=server.url, timeout=60) as c:
        limits = c.get("/v1/bundle").json()["limits"]
        assert limits["max_decisions"] == 5 and limits["max_response_bytes"] == 6144
        small = {**SEED, "source": "AoC", "data": "learner-record"}  # ~1 KB a decision (no gateway names it)
        assert c.post("/v1/decide", json={"questions": [small] * 5}).status_code == 200
        _check_envelope(c.post("/v1/decide", json={"questions": [small] * 6}), "decision-budget")
        _check_envelope(c.post("/v1/decide", json=NO_PURPOSE), "decision-budget")  # one per purpose: 20 > 5
        # The seed question's decision carries its fixes (~2.1 KB): five of them are over 6 KiB.
        _check_envelope(c.post("/v1/decide", json={"questions": [SEED] * 5}), "response-too-large")


def test_the_default_server_refuses_the_issue_batch_at_once():
    body = _compact({"questions": [{k: v for k, v in NO_PURPOSE.items() if k != "on"}] * 1000})
    with serving() as server, httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/v1/decide", content=body, headers={"content-type": "application/json"})
        _check_envelope(r, "decision-budget")
        assert r.elapsed.total_seconds() < 5  # before the fix: 5.9 s of CPU and 23.6 MB
        assert c.post("/v1/decide", json=SEED).status_code == 200  # and it goes on answering
