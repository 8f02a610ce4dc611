"""The service's fast route (issue 18, target 4): POST /v1/decide and GET /v1/health answered by DecideRoute
(orjson, hand-written checks, a memo) must give exactly what FastAPI's route and models give — status, headers
and bytes — for any body; the memo must never answer from another bundle; `lawful serve --workers N` must run
N processes on one port that reload and stop together.

The two apps are called in-process through ASGI (no sockets) for the differential properties; the workers run
for real on 127.0.0.1. Every loop is bounded. No timing is asserted here (benchmarks/service.py measures).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engine.ops.service import (  # noqa: E402
    AnswerMemo, BundleHolder, _decision_json, _json, create_app, decision_json, fast_body)

ROOT = Path(__file__).resolve().parent.parent
SEED = {"source": "JCP", "recipient": "ALI", "data": "provider-data", "purpose": "inspection", "on": "2005-06-23"}
ALLOW = {**SEED, "source": "LSC"}


@pytest.fixture(scope="module")
def holder():
    return BundleHolder(ROOT)


@pytest.fixture(scope="module")
def apps(holder):
    return create_app(holder, max_batch=5, max_decisions=40), create_app(holder, max_batch=5, max_decisions=40,
                                                                          fast=False)


async def _call(app, method: str, path: str, body: bytes = b"", headers=()) -> tuple[int, list, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 40000),
             "server": ("127.0.0.1", 8181)}
    given_body = False

    async def receive():
        nonlocal given_body
        if not given_body:
            given_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(30)  # nothing more comes (a client waiting for its answer)
        return {"type": "http.disconnect"}

    messages: list[dict] = []

    async def send(message):
        messages.append(message)

    await asyncio.wait_for(app(scope, receive, send), 60)
    start = messages[0]
    return start["status"], list(start["headers"]), b"".join(m.get("body", b"") for m in messages[1:])


JSON = ((b"content-type", b"application/json"),)


def call(app, method: str, path: str, body: bytes = b"", headers=JSON) -> tuple[int, list, bytes]:
    return asyncio.run(_call(app, method, path, body, headers))


def same_answer(apps, body: bytes, headers=JSON) -> tuple[int, bytes]:
    fast, slow = apps
    a = call(fast, "POST", "/v1/decide", body, headers)
    b = call(slow, "POST", "/v1/decide", body, headers)
    assert a == b, (body[:300], a[0], b[0], a[2][:300], b[2][:300])
    return a[0], a[2]


def _j(value) -> bytes:
    return json.dumps(value).encode()


EDGE_BODIES = [
    _j(SEED), _j(ALLOW), _j({**SEED, "fixes": False, "routes": False}),
    _j({k: v for k, v in SEED.items() if k != "purpose"}),
    _j({**SEED, "purpose": None}), _j({**SEED, "on": None}), _j({k: v for k, v in SEED.items() if k != "on"}),
    _j({**SEED, "assume": []}), _j({**SEED, "assume": ["DEA-2017-s35"]}), _j({**SEED, "assume": ["x"] * 21}),
    _j({"questions": [SEED, ALLOW]}), _j({"questions": [SEED, {**SEED, "source": "JPC"}]}), _j({"questions": []}),
    _j({"questions": [SEED] * 6}), _j({"questions": [SEED], "extra": 1}), _j({"questions": SEED}), _j([SEED]),
    _j({**SEED, "extra": 1}), _j({**SEED, "fixes": 1}), _j({**SEED, "routes": "true"}), _j({**SEED, "source": ""}),
    _j({**SEED, "source": "x" * 200}), _j({**SEED, "source": "x" * 201}), _j({**SEED, "on": "2005-6-23"}),
    _j({**SEED, "on": "2005-02-30"}), _j({**SEED, "on": "23/06/2005"}), _j({**SEED, "on": 20050623}),
    _j({**SEED, "source": "jcp"}), _j({**SEED, "data": "provider-dta"}), _j({"source": "JCP"}), _j(None), _j(1),
    _j("text"), _j({**SEED, "source": "Jobcentre Plus ✓"}), _j({**SEED, "source": "\u0000"}),
    b"", b"{not json", b'{"source": NaN}', b'{"source": "\\ud800", "recipient": "ALI", "data": "x"}',
    b'{"source": 123456789012345678901234567890, "recipient": "ALI", "data": "x"}', b"\xef\xbb\xbf" + _j(SEED),
    b'{"source": "JCP", "source": "LSC", "recipient": "ALI", "data": "provider-data", "purpose": "inspection"}',
    _j(SEED).decode().encode("utf-16"), b"[" * 5000 + b"]" * 5000, b"\xff\xfe", _j({"questions": [SEED] * 2})[:-1],
]


@pytest.mark.parametrize("body", EDGE_BODIES, ids=range(len(EDGE_BODIES)))
def test_the_fast_route_answers_exactly_as_the_model_route(apps, body):
    same_answer(apps, body)


@pytest.mark.parametrize("content_type", [None, b"application/json; charset=utf-8",
                                          b"application/json; charset=latin-1", b"text/plain",
                                          b"application/x-www-form-urlencoded", b"application/ld+json",
                                          b"APPLICATION/JSON"])
def test_every_content_type_is_read_as_the_model_route_reads_it(apps, content_type):
    headers = () if content_type is None else ((b"content-type", content_type),)
    for body in (_j(SEED), b"{not json"):
        same_answer(apps, body, headers)


def test_health_is_the_same_bytes_and_headers(apps):
    fast, slow = apps
    assert call(fast, "GET", "/v1/health") == call(slow, "GET", "/v1/health")
    # other methods and routes are FastAPI's in both
    assert call(fast, "GET", "/v1/decide") == call(slow, "GET", "/v1/decide")
    assert call(fast, "PUT", "/v1/health") == call(slow, "PUT", "/v1/health")


_names = st.one_of(st.sampled_from(["JCP", "ALI", "LSC", "provider-data", "inspection", "jcp", "DfES",
                                    "learner-record", "planning", ""]),
                   st.text(max_size=4), st.text(min_size=199, max_size=201), st.integers(), st.none(), st.booleans())
_question = st.fixed_dictionaries({}, optional={
    "source": _names, "recipient": _names, "data": _names, "purpose": _names,
    "on": st.one_of(st.sampled_from(["2005-06-23", "2010-01-01", "2005-02-30", "2005-6-23", None]), st.integers(),
                    st.text(max_size=10)),
    "assume": st.one_of(st.lists(_names, max_size=21), st.text(max_size=3), st.none()),
    "fixes": st.one_of(st.booleans(), st.integers(0, 1), st.none()),
    "routes": st.one_of(st.booleans(), st.just("false")),
    "given": st.one_of(st.lists(_names, max_size=51), st.text(max_size=3), st.none()),
    "express_only": st.one_of(st.booleans(), st.integers(0, 1)),
    "received_under": _names, "own_data": st.one_of(st.booleans(), st.none()), "held_for": _names,
    "other": st.integers()})
_body = st.one_of(_question, st.fixed_dictionaries({"questions": st.lists(_question, max_size=3)},
                                                   optional={"other": st.integers()}),
                  st.lists(_question, max_size=2), st.none(), st.integers())


@given(_body)
@settings(max_examples=int(os.environ.get("LAWFUL_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_any_body_is_answered_alike_by_both_routes(apps, body):
    status, _ = same_answer(apps, json.dumps(body).encode())
    assert status in (200, 413, 422)


@given(_question)
@settings(max_examples=200, deadline=None)
def test_the_fast_checks_accept_only_what_the_model_accepts(value):
    """What fast_body accepts, the model accepts, as the same values (it may decline more: the model then
    decides)."""
    from pydantic import TypeAdapter

    from engine.ops.service import DecideBody

    fast = fast_body(value)
    if fast is None:
        return
    batch, [checked] = fast
    model = TypeAdapter(DecideBody).validate_python(value)
    defaults = {"purpose": None, "on": None, "assume": [], "fixes": True, "routes": True, "given": [],
                "express_only": False, "received_under": None, "own_data": False, "held_for": None}
    assert not batch and dict(model) == {**defaults, **checked}


def test_decisions_written_by_orjson_are_the_bytes_json_writes(default_policy):
    """Every decision of the default bundle on two dates, with fixes and routes, for a spread of questions."""
    orgs = sorted(o.id.text for o in default_policy.orgs.values())
    data = sorted(d.id.text for d in default_policy.data.values())
    purposes = sorted(p.id.text for p in default_policy.purposes.values())
    n = 0
    for i, s in enumerate(orgs):
        for j, r in enumerate(orgs[i % 3::3]):
            d, p = data[(i + j) % len(data)], purposes[(i * 7 + j) % len(purposes)]
            for on in (dt.date(2005, 6, 23), dt.date(2012, 1, 1)):
                content = default_policy.decide(s, r, d, p, on=on).to_dict()
                assert _decision_json(content) == _json(content), (s, r, d, p, on)
                decision = default_policy.decide(s, r, d, p, on=on)
                assert decision_json(decision) == _json(content), (s, r, d, p, on)  # the service's, parts reused
                n += 1
    assert n > 200
    odd = {"text": "".join(chr(c) for c in range(0x100)) + "\u2028\u2029\U0001f600", "n": [0, -1, 2**63 - 1]}
    assert _decision_json(odd) == _json(odd)
    for bad in ({"lone": "\ud800"}, {"big": 2**64}):  # orjson refuses; then json decides (a lone surrogate: neither)
        try:
            want: object = _json(bad)
        except ValueError as exc:
            want = type(exc)
        try:
            got: object = _decision_json(bad)
        except ValueError as exc:
            got = type(exc)
        assert got == want


def test_a_shared_part_orjson_cannot_write_is_written_by_json(default_policy):
    """A part whose text orjson refuses (an integer past 64 bits in a reason's arguments) does not fail the
    answer: the whole decision is written as json writes it, and no text is kept on the part."""
    import dataclasses

    from engine.decision.answer import Consideration

    d = default_policy.decide("JCP", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
    odd = Consideration.made("gateway", "G", "no-agreement", "a reason", None, "no-agreement", {"n": 2**64})
    changed = dataclasses.replace(d, considered=(odd,))
    assert decision_json(changed) == _json(changed.to_dict())
    assert "_json" not in odd.__dict__
    assert b'"n":18446744073709551616' in decision_json(changed)


# ---- the memo ----------------------------------------------------------------------------------------------


def test_the_memo_answers_only_for_its_own_bundle():
    memo = AnswerMemo(keep_decisions=False)
    one, two = object(), object()
    memo.put(one, ("q",), (None,), (b"a",))
    memo.remember_answer(one, b"{}", dt.date(2005, 6, 23), b"answer")
    assert memo.get(one, ("q",)) == ((None,), (b"a",))
    assert memo.answered(one, b"{}", dt.date(2005, 6, 23))[0] == b"answer"
    assert memo.answered(one, b"{}", dt.date(2005, 6, 24)) is None  # another day: another answer
    assert memo.get(two, ("q",)) is None and memo.answered(two, b"{}", dt.date(2005, 6, 23)) is None
    memo.put(two, ("q",), (None,), (b"b",))  # the bundle changed: what was kept for the old one is gone
    assert memo.get(one, ("q",)) is None and memo.get(two, ("q",)) == ((None,), (b"b",))
    memo.put(two, (["unhashable"],), (None,), (b"c",))  # not kept, not an error
    off = AnswerMemo(keep_decisions=False, max_entries=0)
    off.put(one, ("q",), (None,), (b"a",))
    assert off.get(one, ("q",)) is None


def test_a_reload_is_never_answered_from_the_memo(tmp_path):
    from test_service import _add_lsc_jcp_gateway, _copy_default_bundle

    bundle = _copy_default_bundle(tmp_path)
    holder = BundleHolder(bundle)
    app = create_app(holder)
    body = _j({"source": "ALI", "recipient": "JCP", "data": "inspection-reports", "purpose": "planning",
               "on": "2005-06-23", "fixes": False, "routes": False})
    batch = _j({"questions": [json.loads(body)] * 3})
    for _ in range(2):  # the second time from the memo
        assert json.loads(call(app, "POST", "/v1/decide", body)[2])["decisions"][0]["verdict"] == "deny"
        assert {d["verdict"] for d in json.loads(call(app, "POST", "/v1/decide", batch)[2])["decisions"]} == {"deny"}
    _add_lsc_jcp_gateway(bundle)
    assert holder.reload("test") is True
    assert json.loads(call(app, "POST", "/v1/decide", body)[2])["decisions"][0]["verdict"] == "allow"
    assert {d["verdict"] for d in json.loads(call(app, "POST", "/v1/decide", batch)[2])["decisions"]} == {"allow"}


def test_without_the_memo_every_question_is_decided(holder, monkeypatch):
    from engine.policy.facade import Policy

    made = []
    decide = Policy.decide
    monkeypatch.setattr(Policy, "decide", lambda self, *a, **k: made.append(1) or decide(self, *a, **k))
    for entries, expected in ((0, 3), (100, 1)):
        made.clear()
        app = create_app(holder, memo_entries=entries)
        answers = {call(app, "POST", "/v1/decide", _j(SEED))[2] for _ in range(3)}
        assert len(answers) == 1 and len(made) == expected


def test_with_a_decision_log_a_remembered_answer_is_still_recorded(tmp_path, holder):
    from engine.ops.decision_log import AuditLog, verify_log

    log = AuditLog(tmp_path / "decisions.log")
    app = create_app(holder, audit_log=log)
    seqs = [json.loads(call(app, "POST", "/v1/decide", _j(SEED))[2])["records"][0]["seq"] for _ in range(3)]
    assert seqs == [1, 2, 3]  # each request recorded, even when its decision came from the memo
    assert verify_log(tmp_path / "decisions.log").ok


# ---- lawful serve --workers N ------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(x) for x in text.split()}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or not hasattr(os, "fork"), reason="needs /proc and fork")
def test_workers_share_the_port_reload_on_sighup_and_stop_together(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "adversarial"))
    from servekit import serving
    from test_service import _add_lsc_jcp_gateway, _copy_default_bundle

    bundle = _copy_default_bundle(tmp_path)
    question = {"source": "ALI", "recipient": "JCP", "data": "inspection-reports", "purpose": "planning",
                "on": "2005-06-23", "fixes": False, "routes": False}
    with serving("--workers", "2", "--watch-interval", "0", bundle=bundle) as server:
        assert "with 2 worker processes" in server.log()
        deadline = time.monotonic() + 20
        while len(_children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _children(server.proc.pid)
        assert len(workers) == 2
        first = httpx.get(server.url + "/v1/health", timeout=10).json()["bundle"]
        for _ in range(20):  # a new connection each: the kernel spreads them over the two
            assert httpx.post(server.url + "/v1/decide", json=question, timeout=10).json()["decisions"][0][
                "verdict"] == "deny"
        _add_lsc_jcp_gateway(bundle)
        server.proc.send_signal(signal.SIGHUP)  # passed on: each worker reloads

        def all_new() -> bool:
            answers = [httpx.get(server.url + "/v1/health", timeout=10).json()["bundle"] for _ in range(12)]
            return all(a != first for a in answers)

        deadline = time.monotonic() + 60
        while not all_new():
            assert time.monotonic() < deadline, "not every worker reloaded"
            time.sleep(0.2)
        assert httpx.post(server.url + "/v1/decide", json=question, timeout=10).json()["decisions"][0][
            "verdict"] == "allow"
        # A worker that dies is replaced; the service keeps answering.
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (victim in _children(server.proc.pid) or len(_children(server.proc.pid)) < 2) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_children(server.proc.pid)) == 2 and victim not in _children(server.proc.pid)
        assert httpx.get(server.url + "/v1/health", timeout=10).status_code == 200
        workers = _children(server.proc.pid)
        server.proc.terminate()
        assert server.proc.wait(timeout=30) == 0
    for pid in workers:  # no worker is left behind
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert "starting another" in server.log()


def test_workers_refuse_a_port_in_use():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([sys.executable, str(ROOT / "cli.py"), "serve", "--workers", "2", "--port", str(port)],
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "address-in-use" in p.stderr and "Traceback" not in p.stderr


# ---- one write per answer ----------------------------------------------------------------------------------


def test_the_coalescing_transport_sends_the_same_bytes_in_fewer_writes():
    from engine.ops.service import CoalescingTransport

    class Recorder:
        def __init__(self):
            self.writes: list[bytes] = []
            self.closed = self.aborted = False

        def write(self, data):
            self.writes.append(bytes(data))

        def is_closing(self):
            return self.closed or self.aborted

        def close(self):
            self.closed = True

        def abort(self):
            self.aborted = True

        def get_extra_info(self, name, default=None):
            return ("127.0.0.1", 1) if name == "peername" else default

    async def scenario():
        loop = asyncio.get_running_loop()
        raw = Recorder()
        t = CoalescingTransport(raw, loop)
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"body")  # joined with the head: one write
        assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # alone: sent at the end of this turn of the loop
        assert len(raw.writes) == 1
        await asyncio.sleep(0)
        assert raw.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"
        t.write(b"last words")
        t.close()  # a close sends what is held first
        assert raw.writes[-1] == b"last words" and raw.closed
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)
        other = Recorder()
        t2 = CoalescingTransport(other, loop)
        t2.write(b"dropped")
        t2.abort()  # an abort sends nothing more
        await asyncio.sleep(0)
        assert other.writes == [] and other.aborted

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def question_pool(holder) -> list[dict]:
    """Questions of the default bundle, ALLOWs and DENYs about evenly (random ones are nearly all DENY)."""
    import random

    from engine.policy.facade import Policy

    policy = Policy.of(holder.current.policy)  # (its own verdict memo)
    rng = random.Random(4)
    orgs = sorted(o.id.text for o in policy.orgs.values())
    data = sorted(d.id.text for d in policy.data.values())
    purposes = sorted(p.id.text for p in policy.purposes.values())
    kinds: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(60_000):
        on = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(11_000))
        q = {"source": rng.choice(orgs), "recipient": rng.choice(orgs), "data": rng.choice(data),
             "purpose": rng.choice(purposes), "on": on.isoformat()}
        kinds[policy.allowed(q["source"], q["recipient"], q["data"], q["purpose"], on=on)].append(q)
        if len(kinds[True]) >= 150 and len(kinds[False]) >= 150:
            break
    assert len(kinds[True]) >= 50
    return kinds[True][:150] + kinds[False][:150]


@given(st.data())
@settings(max_examples=int(os.environ.get("LAWFUL_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_new_questions_single_and_batch_are_the_reference_bytes(holder, question_pool, data):
    """Issue 18, target 4: the fast route's answer to questions never asked before (memo off, and on) is,
    byte for byte, `{"decisions": [json(d.to_dict()), …]}` of decisions from a policy that never answered
    anything (a fresh facade: none of the explanation's parts remembered), ALLOW and DENY, single and batch."""
    from engine.policy.facade import Policy

    questions = data.draw(st.lists(st.sampled_from(question_pool), min_size=1, max_size=5))
    fr = data.draw(st.sampled_from([{}, {"fixes": False, "routes": False}, {"fixes": True, "routes": False}]))
    questions = [{**q, **fr} for q in questions]

    def reference(q: dict) -> bytes:
        fresh = Policy.of(holder.current.policy)
        return _json(fresh.decide(q["source"], q["recipient"], q["data"], q["purpose"],
                                  on=dt.date.fromisoformat(q["on"]), fixes=q.get("fixes", True),
                                  routes=q.get("routes", True)).to_dict())

    want = [reference(q) for q in questions]
    entries = data.draw(st.sampled_from([0, 1000]))  # new to the memo too, or remembered from an earlier example
    if entries not in _NEW_APPS:
        _NEW_APPS[entries] = create_app(holder, max_batch=5, memo_entries=entries)
    app = _NEW_APPS[entries]
    status, _headers, body = call(app, "POST", "/v1/decide", _j({"questions": questions}))
    assert status == 200 and body == b'{"decisions":[' + b",".join(want) + b"]}"
    status, _headers, body = call(app, "POST", "/v1/decide", _j(questions[0]))
    assert status == 200 and body == b'{"decisions":[' + want[0] + b"]}"


_NEW_APPS: dict = {}


def test_batches_at_once_are_decided_one_after_another_in_one_thread(holder):
    """Many decisions in one request are answered in the process's one deciding thread, never two at once
    (threads deciding at once only take turns under the GIL, at the cost of each other's caches), while the
    loop thread stays free; and the answers are those of the same batches asked one at a time."""
    import threading

    from engine.ops import service

    app = create_app(holder, max_batch=5, max_decisions=40, memo_entries=0)
    inner = app.front.answer
    running, seen, overlaps = [0], set(), [0]
    lock = threading.Lock()

    def spy(*args):
        with lock:
            running[0] += 1
            overlaps[0] += running[0] > 1
            seen.add(threading.current_thread().name)
        try:
            time.sleep(0.01)  # long enough for another batch to start, were they decided at once
            return inner(*args)
        finally:
            with lock:
                running[0] -= 1

    app.front.answer = spy
    bodies = [json.dumps({"questions": [SEED, {**ALLOW, "on": f"2005-06-{day:02d}"}]}).encode()
              for day in range(10, 18)]

    async def all_at_once():
        return await asyncio.gather(*(_call(app, "POST", "/v1/decide", b, JSON) for b in bodies))

    answers = asyncio.run(all_at_once())
    assert overlaps[0] == 0
    assert len(seen) == 1 and next(iter(seen)).startswith("lawful-decide")
    app.front.answer = inner
    assert [a[2] for a in answers] == [call(app, "POST", "/v1/decide", b)[2] for b in bodies]
    assert all(a[0] == 200 for a in answers)
    # a forked worker makes its own deciding thread (the parent's is not in the child)
    made = service._decider()
    service._DECIDER[1] = -1
    try:
        assert service._decider() is not made
    finally:
        service._DECIDER[:] = [made, os.getpid()]
