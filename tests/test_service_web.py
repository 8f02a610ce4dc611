"""Issue 15: the service's views for people (/v1/names, /v1/timeline, /v1/reach, /v1/flows, /v1/graph), the web
page at `/` with its Content-Security-Policy, the decision record's log hash, and who may ask (a bearer token
compared in constant time, a sign-on proxy's header, loopback only without either). Served for real on
127.0.0.1; every request loop is bounded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from engine.errors import ServiceError  # noqa: E402
from engine.ops.auth import Auth, check_exposure, is_loopback, read_token  # noqa: E402
from engine.ops.service import BundleHolder, create_app  # noqa: E402

from test_service import SEED, running  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client():
    with running(create_app(BundleHolder(ROOT))) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


# ---- the views ---------------------------------------------------------------------------------------------


def test_names_list_every_kind_with_titles_and_dates(client, default_policy):
    r = client.get("/v1/names", params={"on": "2005-06-23"})
    assert r.status_code == 200
    j = r.json()
    assert len(j["organisations"]) == len(default_policy.orgs) and len(j["statutes"]) == len(default_policy.statutes)
    ali = next(o for o in j["organisations"] if o["id"] == "ALI")
    assert ali["title"] == "Adult Learning Inspectorate" and ali["end"] == "2007-03-31" and ali["status"] == "exists"
    ilr = next(d for d in j["data"] if d["id"] == "ilr-disability-fields")
    assert ilr["sensitivity"] == ["personal", "special-category"]
    agreement = next(a for a in j["agreements"] if a["id"] == "LSC-ALI-2005")
    assert agreement["details"]["owner"] == "Data Sharing Lead, Learning and Skills Council"
    only = client.get("/v1/names", params={"kind": "purpose"}).json()
    assert only["organisations"] == [] and len(only["purposes"]) == len(default_policy.purposes)
    assert client.get("/v1/names", params={"on": "2005-13-01"}).status_code == 422


def test_timeline_says_what_changed_on_1_april_2007(client):
    r = client.get("/v1/timeline", params={"from": "2007-03-31", "to": "2007-04-02"})
    assert r.status_code == 200
    [day] = r.json()["days"]
    # the ALI's and the old OfSTED's functions passed to the new Ofsted: their flows end, the new Ofsted's begin
    assert day["on"] == "2007-04-01" and len(day["ended"]) == 22 and len(day["began"]) == 12
    assert day["headline"].startswith("2007-04-01: ALI, OfSTED's functions passed to OFSTED-2007 and they ceased")
    assert day["events"][0]["text"] == "ALI, OfSTED's functions passed to OFSTED-2007 and they ceased"
    bad = client.get("/v1/timeline", params={"from": "2008-01-01", "to": "2007-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "bad-range"


def test_reach_says_why_no_one_may_receive(client):
    r = client.get("/v1/reach", params={"kind": "recipients", "organisation": "Jobcentre Plus", "data": "provider-data",
                                        "on": "2005-06-23"})
    assert r.status_code == 200
    j = r.json()
    # only its own department (issue 12: not a disclosure between bodies), so no other body: and why
    assert all(x["same_body"] for x in j["found"]) and j["organisation"] == "JCP"
    assert "one-way" in j["why_no_one"][0]["reason"] and "DWP-ONE-WAY-2005" in j["why_no_one"][0]["reason"]
    found = client.get("/v1/reach", params={"kind": "recipients", "organisation": "LSC", "data": "provider-data",
                                            "purpose": "inspection", "on": "2005-06-23"}).json()
    assert "ALI" in {x["organisation"] for x in found["found"]} and found["why_no_one"] == []
    unknown = client.get("/v1/reach", params={"kind": "sources", "organisation": "Nobody", "data": "provider-data"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "unknown-name"


def test_flows_and_the_picture(client, default_policy):
    flows = client.get("/v1/flows", params={"on": "2005-06-23"}).json()["flows"]
    assert {"source": "LSC", "recipient": "ALI"}.items() <= next(
        f for f in flows if f["agreement"] == "LSC-ALI-2005").items()
    r = client.get("/v1/graph", params={"on": "2005-06-23"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(r.content)
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert sorted(g.find("{http://www.w3.org/2000/svg}title").text for g in nodes) == sorted(default_policy.orgs)
    dot = client.get("/v1/graph", params={"on": "2005-06-23", "format": "dot"})
    assert dot.text.startswith("digraph lawful {")


# ---- the page ----------------------------------------------------------------------------------------------


def test_the_page_is_served_with_a_strict_content_security_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # nothing inline, nothing from elsewhere
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", r.text)
    assert not re.search(r"\b(src|href)=\"(https?:)?//", r.text)
    assert " on" not in re.sub(r"\s+", " ", r.text).replace(" only", "").split("<body", 1)[1].split(">", 1)[0]
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert client.get("/static/../engine/ops/service.py").status_code == 404
    assert client.get("/static/app.css").status_code == 200


def test_the_script_never_puts_bundle_values_into_html():
    """Every value from a bundle goes in as text: no innerHTML, outerHTML, insertAdjacentHTML or document.write."""
    js = (ROOT / "engine" / "ops" / "web" / "static" / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "u.protocol === \"https:\" || u.protocol === \"http:\"" in js  # links only from http(s) URLs


def test_the_api_docs_page_loads_nothing_from_elsewhere(client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert not re.search(r"\b(src|href)=\"(https?:)?//", r.text)
    assert "unsafe-eval" not in r.headers["content-security-policy"]


# ---- the decision record: the log's hash ----------------------------------------------------------------


def test_with_a_decision_log_each_answer_carries_its_records_hash(tmp_path):
    from engine.ops.decision_log import AuditLog, verify_log

    log = AuditLog(tmp_path / "decisions.jsonl")
    with running(create_app(BundleHolder(ROOT), audit_log=log)) as url, httpx.Client(base_url=url, timeout=60) as c:
        j = c.post("/v1/decide", json=SEED).json()
        both = c.post("/v1/decide", json={"questions": [SEED, {**SEED, "source": "LSC"}]}).json()
    assert j["decisions"][0]["verdict"] == "deny"
    [rec] = j["records"]
    assert rec["seq"] == 1 and rec["hash"].startswith("sha256:")
    assert [r["seq"] for r in both["records"]] == [2, 3]
    result = verify_log(tmp_path / "decisions.jsonl")
    assert result.ok and result.head == both["records"][-1]["hash"]
    assert verify_log(tmp_path / "decisions.jsonl", anchor=rec["hash"]).ok


def test_a_decision_that_cannot_be_recorded_is_not_given(tmp_path):
    from engine.ops.decision_log import AuditLog

    folder = tmp_path / "gone"
    log = AuditLog(folder / "decisions.jsonl")  # its folder does not exist: every write fails
    with running(create_app(BundleHolder(ROOT), audit_log=log)) as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/decide", json=SEED)
    assert r.status_code == 503 and r.json()["errors"][0]["code"] == "audit-log"
    assert "verdict" not in r.text


# ---- who may ask --------------------------------------------------------------------------------------------


TOKEN = "s3cret-token-0123456789abcdef"


def test_a_token_is_needed_for_everything_but_the_page_and_the_probe(tmp_path):
    with running(create_app(BundleHolder(ROOT), auth=Auth(TOKEN))) as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        assert c.get("/v1/health").status_code == 200
        for path in ("/v1/names", "/v1/bundle", "/openapi.json", "/docs", "/v1/timeline"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer") \
                and r.json()["errors"][0]["code"] == "unauthorised"
        assert c.post("/v1/decide", json=SEED).status_code == 401
        for wrong in ("Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", "Basic " + TOKEN, TOKEN, "Bearer"):
            assert c.get("/v1/names", headers={"Authorization": wrong}).status_code == 401, wrong
        ok = {"Authorization": "Bearer " + TOKEN}
        assert c.get("/v1/names", headers=ok).status_code == 200
        assert c.get("/v1/names", headers={"Authorization": "bearer " + TOKEN}).status_code == 200
        assert c.post("/v1/decide", json=SEED, headers=ok).json()["decisions"][0]["verdict"] == "deny"


def test_the_token_is_compared_in_constant_time(monkeypatch):
    import hmac as hmac_module

    import engine.ops.auth as auth_module

    calls = []
    real = hmac_module.compare_digest
    monkeypatch.setattr(auth_module.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert Auth(TOKEN).allows([(b"authorization", b"Bearer " + TOKEN.encode())])
    assert not Auth(TOKEN).allows([(b"authorization", b"Bearer guess")])
    assert calls == [(TOKEN.encode(), TOKEN.encode()), (b"guess", TOKEN.encode())]


def test_a_sign_on_proxys_header_lets_requests_in():
    auth = Auth(proxy_header="X-Forwarded-User")
    with running(create_app(BundleHolder(ROOT), auth=auth)) as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/v1/names").status_code == 401
        assert c.get("/v1/names", headers={"X-Forwarded-User": ""}).status_code == 401
        assert c.get("/v1/names", headers={"X-Forwarded-User": "officer@example.org"}).status_code == 200
    with pytest.raises(ServiceError):
        Auth(proxy_header="Bad Header:")


def test_the_token_file_must_be_private_and_long(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    f.chmod(0o600)
    assert read_token(f) == TOKEN
    f.chmod(0o644)
    with pytest.raises(ServiceError) as info:
        read_token(f)
    assert info.value.code == "bad-token-file" and "chmod 600" in (info.value.help or "")
    f.write_text("short")
    f.chmod(0o600)
    with pytest.raises(ServiceError):
        read_token(f)
    with pytest.raises(ServiceError):
        read_token(tmp_path / "missing")


def test_listening_beyond_loopback_needs_a_token_or_a_proxy():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("no-such-host.invalid")
    check_exposure("127.0.0.1", None)
    for host in ("0.0.0.0", "::"):
        with pytest.raises(ServiceError) as info:
            check_exposure(host, None)
        assert info.value.code == "needs-auth"
        check_exposure(host, Auth(TOKEN))
    # the command refuses before it loads the bundle or binds anything
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "serve", "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "error[needs-auth]" in proc.stderr and "--token-file" in proc.stderr and "Traceback" not in proc.stderr


def test_serve_refuses_a_readable_token_file(tmp_path):
    f = tmp_path / "token"
    f.write_text(TOKEN)
    os.chmod(f, 0o644)
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "serve", "--host", "0.0.0.0", "--port", "0",
                           "--token-file", str(f)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "error[bad-token-file]" in proc.stderr


# ---- lawful web ----------------------------------------------------------------------------------------------


def test_lawful_web_serves_the_page_on_loopback_and_a_free_port():
    import time

    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "web", "--no-open", "--bundle", str(ROOT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            m = re.search(r"the page is at (http://127\.0\.0\.1:(\d+)/)", line)
            if m:
                url = m.group(1)
        assert url is not None, "lawful web did not say where the page is"
        assert int(url.rsplit(":", 1)[1].rstrip("/")) > 0
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "May this data be shared?" in page.text
        assert httpx.get(url + "v1/names", timeout=30).status_code == 200  # loopback: no token needed
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_lawful_web_opens_the_browser_at_the_page(monkeypatch, capsys):
    import webbrowser

    from engine.commands.serving import open_in_browser

    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    open_in_browser("http://127.0.0.1:5555/")
    assert opened == ["http://127.0.0.1:5555/"]
    assert "the page is at http://127.0.0.1:5555/" in capsys.readouterr().err
