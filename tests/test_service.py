"""The HTTP decision service, run for real on loopback (127.0.0.1, a free port chosen by the OS).

Every request loop here is bounded in count and time. Skipped when the `serve` extra is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from engine.ops.service import MAX_BATCH, BundleHolder, create_app, openapi_document  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = {"source": "JCP", "recipient": "ALI", "data": "provider-data", "purpose": "inspection", "on": "2005-06-23"}


@contextmanager
def running(app):
    """Serve `app` with uvicorn in a thread on 127.0.0.1 and a free port; yield the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_until(predicate, seconds: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.fixture(scope="module")
def base_url():
    holder = BundleHolder(ROOT)
    with running(create_app(holder, max_body_bytes=64 * 1024, max_batch=50)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def test_the_seed_question_over_http_is_the_library_decision(client, default_policy):
    r = client.post("/v1/decide", json=SEED)
    assert r.status_code == 200
    [d] = r.json()["decisions"]
    assert d["verdict"] == "deny"
    assert d["blocks"][0]["restriction"]["id"] == "DWP-ONE-WAY-2005"
    import datetime as dt

    library = default_policy.decide("JCP", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23)).to_dict()
    assert d == json.loads(json.dumps(library))


def test_a_batch_answers_in_order_and_a_question_without_purpose_answers_per_purpose(client, default_policy):
    allow = {**SEED, "source": "LSC"}
    r = client.post("/v1/decide", json={"questions": [SEED, allow]})
    assert r.status_code == 200
    assert [d["verdict"] for d in r.json()["decisions"]] == ["deny", "allow"]
    no_purpose = {k: v for k, v in SEED.items() if k != "purpose"}
    r = client.post("/v1/decide", json=no_purpose)
    assert r.status_code == 200
    assert len(r.json()["decisions"]) == len(default_policy.purposes)


def test_unknown_names_are_422_with_suggestions_and_the_index_in_a_batch(client):
    r = client.post("/v1/decide",
                    json={"questions": [SEED, {**SEED, "source": "JPC"}, {**SEED, "data": "provider-dta"}]})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert [(e["index"], e["kind"], e["name"], e["suggestions"][0]) for e in errors] == [
        (1, "organisation", "JPC", "JCP"), (2, "data category", "provider-dta", "provider-data")]
    r = client.post("/v1/routes", json={**SEED, "purpose": "inspecton"})
    assert r.status_code == 422 and r.json()["errors"][0]["suggestions"][0] == "inspection"


def test_malformed_questions_are_422(client):
    for body in ({**SEED, "on": "23/06/2005"}, {**SEED, "on": "2005-02-30"}, {**SEED, "extra": 1},
                 {"source": "JCP"}, {"questions": []}, [SEED]):
        r = client.post("/v1/decide", json=body)
        assert r.status_code == 422, body
        assert r.json()["errors"][0]["code"] == "bad-request"
    r = client.post("/v1/decide", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400  # not JSON text at all: 400, as docs/library.md and the OpenAPI document say


def test_oversized_bodies_and_batches_are_refused(client):
    big = b'{"source": "' + b"x" * (65 * 1024) + b'"}'
    r = client.post("/v1/decide", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "body-too-large"

    def chunks():  # no Content-Length: the limit must hold for a streamed body too
        for _ in range(70):
            yield b" " * 1024

    r = client.post("/v1/decide", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/v1/decide", json={"questions": [SEED] * 51})
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "batch-too-large"
    r = client.post("/v1/decide", json={"questions": [SEED] * 50})
    assert r.status_code == 200 and len(r.json()["decisions"]) == 50


def test_routes_health_and_bundle(client, default_policy):
    r = client.post("/v1/routes", json={**SEED, "max_hops": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["question"]["source"] == "JCP" and isinstance(body["routes"], list)
    health = client.get("/v1/health").json()
    info = client.get("/v1/bundle").json()
    assert health["status"] == "ok" and health["bundle"] == info["digest"] and len(info["digest"]) == 64
    assert info["counts"]["organisations"] == len(default_policy.orgs)
    assert info["counts"]["agreements"] == len(default_policy.agreements)
    assert info["limits"] == {"max_body_bytes": 64 * 1024, "max_batch": 50, "max_decisions": 1000,
                              "max_response_bytes": 4 * 1024 * 1024, "body_timeout": 20.0, "reload_timeout": 60.0}


def test_the_committed_openapi_document_is_the_generated_one(client):
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_document(), "regenerate: lawful serve --openapi > docs/openapi.json"
    served = client.get("/openapi.json").json()
    assert served["paths"].keys() == json.loads(committed)["paths"].keys()
    assert json.loads(committed)["components"]["schemas"]["Batch"]["properties"]["questions"]["maxItems"] == MAX_BATCH


# ---- reload ------------------------------------------------------------------------------------------


def _copy_default_bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(ROOT / "policies", dst / "policies")
    shutil.copy(ROOT / "gateways.yaml", dst / "gateways.yaml")
    return dst


def _add_lsc_jcp_gateway(bundle: Path) -> None:
    """A change that makes a denied flow lawful, to see the swap in the answers."""
    with open(bundle / "policies" / "extra.policy", "w", encoding="utf-8") as f:
        f.write('gateway TEST-GATEWAY "test" {\n  statute LSA-2000 "section 1"\n  allows ALI -> JCP\n'
                '  data inspection-reports\n  for planning\n}\n')


def test_a_file_change_swaps_in_a_good_bundle_and_never_a_broken_one(tmp_path):
    bundle = _copy_default_bundle(tmp_path)
    holder = BundleHolder(bundle)
    holder.watch(interval=0.05)
    question = {"source": "ALI", "recipient": "JCP", "data": "inspection-reports", "purpose": "planning",
                "on": "2005-06-23", "fixes": False, "routes": False}
    try:
        with running(create_app(holder)) as url, httpx.Client(base_url=url, timeout=30) as c:
            first = c.get("/v1/health").json()["bundle"]
            assert c.post("/v1/decide", json=question).json()["decisions"][0]["verdict"] == "deny"
            # A broken file: the reload is refused and logged; the good bundle keeps answering.
            (bundle / "policies" / "broken.policy").write_text("gateway {\n", encoding="utf-8")
            assert wait_until(lambda: (c.get("/v1/bundle").json()["last_reload"] or {}).get("ok") is False)
            info = c.get("/v1/bundle").json()
            assert info["digest"] == first
            assert info["last_reload"]["diagnostics"][0]["code"] == "parse-error"
            assert info["last_reload"]["diagnostics"][0]["span"]["file"] == "policies/broken.policy"
            assert c.post("/v1/decide", json=SEED).json()["decisions"][0]["verdict"] == "deny"
            # Mend it and make a real change: the new bundle is swapped in.
            (bundle / "policies" / "broken.policy").unlink()
            _add_lsc_jcp_gateway(bundle)
            assert wait_until(lambda: c.get("/v1/health").json()["bundle"] != first)
            assert c.get("/v1/bundle").json()["last_reload"]["ok"] is True
            assert c.post("/v1/decide", json=question).json()["decisions"][0]["verdict"] == "allow"
    finally:
        holder.stop()


def test_reload_keeps_the_old_policy_for_requests_in_flight(tmp_path):
    bundle = _copy_default_bundle(tmp_path)
    holder = BundleHolder(bundle)
    old = holder.current
    _add_lsc_jcp_gateway(bundle)
    assert holder.reload("test") is True
    assert holder.current is not old and holder.current.digest != old.digest
    assert holder.reload("test") is False  # nothing changed: nothing swapped
    (bundle / "gateways.yaml").write_text("statutes: [", encoding="utf-8")
    current = holder.current
    assert holder.reload("test") is False
    assert holder.current is current and holder.last_reload["ok"] is False


def test_requests_during_repeated_reloads_always_get_a_whole_answer(tmp_path):
    """Swap bundles back and forth while a client keeps asking: every answer is a 200 from one bundle or
    the other (deny before the extra gateway, allow with it), never an error."""
    bundle = _copy_default_bundle(tmp_path)
    holder = BundleHolder(bundle)
    question = {"source": "ALI", "recipient": "JCP", "data": "inspection-reports", "purpose": "planning",
                "on": "2005-06-23", "fixes": False, "routes": False}
    seen: list[tuple[int, str]] = []
    with running(create_app(holder)) as url:
        stop = threading.Event()

        def ask():
            with httpx.Client(base_url=url, timeout=30) as c:
                for _ in range(300):  # bounded
                    if stop.is_set():
                        return
                    r = c.post("/v1/decide", json=question)
                    seen.append((r.status_code, r.json()["decisions"][0]["verdict"] if r.status_code == 200 else ""))

        t = threading.Thread(target=ask)
        t.start()
        deadline = time.monotonic() + 30  # the reloads must overlap the requests: wait for the first answer
        while not seen and time.monotonic() < deadline:
            time.sleep(0.005)
        extra = bundle / "policies" / "extra.policy"
        for i in range(8):
            if i % 2 == 0:
                _add_lsc_jcp_gateway(bundle)
            else:
                extra.unlink()
            assert holder.reload("test") is True
        stop.set()
        t.join(timeout=60)
    assert seen and all(code == 200 for code, _ in seen)
    assert {v for _, v in seen} <= {"allow", "deny"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_lawful_serve_reloads_on_sighup_and_survives_a_broken_bundle(tmp_path):
    bundle = _copy_default_bundle(tmp_path)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "serve", "--bundle", str(bundle),
                             "--port", str(port), "--watch-interval", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            def up():
                try:
                    return c.get("/v1/health").status_code == 200
                except httpx.TransportError:
                    return False

            assert wait_until(up, 30), "lawful serve did not start"
            first = c.get("/v1/health").json()["bundle"]
            (bundle / "policies" / "broken.policy").write_text("organisation\n", encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: (c.get("/v1/bundle").json()["last_reload"] or {}).get("ok") is False)
            assert c.get("/v1/health").json()["bundle"] == first
            assert c.post("/v1/decide", json=SEED).json()["decisions"][0]["verdict"] == "deny"
            (bundle / "policies" / "broken.policy").unlink()
            _add_lsc_jcp_gateway(bundle)
            proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: c.get("/v1/health").json()["bundle"] != first)
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "refused" in out and "policies/broken.policy" in out  # the broken bundle's diagnostics are logged


def test_serve_refuses_to_start_on_a_broken_bundle(tmp_path):
    bundle = _copy_default_bundle(tmp_path)
    (bundle / "policies" / "broken.policy").write_text("gateway {\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "serve", "--bundle", str(bundle), "--port",
                           str(_free_port())], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "parse-error" in proc.stderr and "Traceback" not in proc.stderr


# ---- fuzzing from the OpenAPI document ---------------------------------------------------------------

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

FUZZ_EXAMPLES = int(os.environ.get("LAWFUL_FUZZ_EXAMPLES", "40"))
# A question the document allows may still be refused: names are free text, so an unknown name is 422, and
# a body over the server's size limit or a batch over its cap is 413. Invalid input must be 400 (unreadable),
# 413 or 422.
CONFIG = schemathesis.Config.from_dict({"checks": {
    "negative_data_rejection": {"expected-statuses": [400, 413, 422]},
    "positive_data_acceptance": {"expected-statuses": [200, 413, 422]},
}})
schema = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.json"), config=CONFIG)


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_the_service_from_its_openapi_document(case, base_url):
    """No 5xx, every answer (200, 413, 422) conforms to the document, for generated valid and invalid input."""
    case.call_and_validate(base_url=base_url)
