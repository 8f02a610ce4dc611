"""Issue 19 item 6 (the service): a load that blocks must not block the reloader for ever, nor be hidden.

Before the fix, a FIFO appearing in `policies/` blocked the reload thread for ever (opening a FIFO waits for
a writer) while `GET /v1/bundle` still said the last reload was fine. Now each load has a deadline; past it
the reload is reported failed in `/v1/bundle` and `/v1/health`, and the last good bundle keeps answering.
Every loop here is bounded in count and time.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from engine.ops.service import MAX_STUCK_LOADS, BundleHolder, ServiceError, create_app  # noqa: E402

from servekit import ROOT, SEED, running_in_thread, serving  # noqa: E402


def wait_until(predicate, seconds: float = 20.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _copy_default_bundle(tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(ROOT / "policies", dst / "policies")
    shutil.copy(ROOT / "gateways.yaml", dst / "gateways.yaml")
    return dst


def test_a_load_that_never_returns_is_reported_failed_and_the_good_bundle_kept(tmp_path, monkeypatch):
    holder = BundleHolder(_copy_default_bundle(tmp_path), reload_timeout=0.5)
    good = holder.current
    release = threading.Event()
    monkeypatch.setattr(holder, "_compile", lambda: release.wait(60) and good)  # blocks like a FIFO read
    try:
        with running_in_thread(create_app(holder)) as url, httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/v1/health").json()["status"] == "ok"
            started = time.monotonic()
            assert holder.reload("test") is False
            assert time.monotonic() - started < 5  # the reloader came back, at its deadline
            info = c.get("/v1/bundle").json()
            assert info["digest"] == good.digest and info["last_reload"]["ok"] is False
            [d] = info["last_reload"]["diagnostics"]
            assert d["code"] == "reload-timeout" and "0.5 s" in d["message"] and d["help"]
            health = c.get("/v1/health").json()
            assert health["status"] == "degraded" and health["bundle"] == good.digest
            assert health["last_reload"]["code"] == "reload-timeout"
            assert c.post("/v1/decide", json=SEED).json()["decisions"][0]["verdict"] == "deny"
            # Loads still blocked are bounded: past MAX_STUCK_LOADS no new one is started.
            for _ in range(MAX_STUCK_LOADS - 1):
                assert holder.reload("test") is False
            started = time.monotonic()
            assert holder.reload("test") is False
            assert time.monotonic() - started < 0.4  # refused at once, not after another deadline
            assert "still blocked" in holder.last_reload["diagnostics"][0]["message"]
            # When loads return again, a good reload makes the service healthy again.
            release.set()
            monkeypatch.undo()
            assert wait_until(lambda: holder.reload("test") is not None and holder.last_reload["ok"], 20)
            assert c.get("/v1/health").json() == {"status": "ok", "version": health["version"],
                                                  "bundle": good.digest, "last_reload": None}
    finally:
        release.set()
        holder.stop()


def test_a_bundle_that_does_not_load_in_time_at_start_is_an_error(tmp_path, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(BundleHolder, "_compile", lambda self: release.wait(60))
    try:
        with pytest.raises(ServiceError) as caught:
            BundleHolder(_copy_default_bundle(tmp_path), reload_timeout=0.3)
        assert caught.value.code == "reload-timeout"
    finally:
        release.set()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_appearing_in_the_bundle_is_reported_and_the_service_recovers_when_it_goes(tmp_path):
    """The attack end to end, against `lawful serve`. Whether the loader refuses the FIFO at once (a
    diagnostic) or blocks on it (then the deadline), the reload must be reported failed, the good bundle must
    keep answering, and once the FIFO is gone the next reload must succeed."""
    bundle = _copy_default_bundle(tmp_path)
    fifo = bundle / "policies" / "zz-fifo.policy"
    with serving("--watch-interval", "0.1", "--reload-timeout", "5", bundle=bundle) as server, \
            httpx.Client(base_url=server.url, timeout=30) as c:
        first = c.get("/v1/health").json()["bundle"]
        os.mkfifo(fifo)
        try:
            assert wait_until(lambda: (c.get("/v1/bundle").json()["last_reload"] or {}).get("ok") is False, 30), \
                server.log()
            info = c.get("/v1/bundle").json()
            assert info["digest"] == first
            health = c.get("/v1/health").json()
            assert health["status"] == "degraded" and health["bundle"] == first
            assert c.post("/v1/decide", json=SEED).json()["decisions"][0]["verdict"] == "deny"
        finally:
            # Free a load blocked in open() (a writer arrives and leaves at once), then remove the FIFO.
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader blocked on it
            fifo.unlink()
        assert wait_until(lambda: c.get("/v1/health").json()["status"] == "ok", 30), server.log()
        assert c.get("/v1/bundle").json()["last_reload"]["ok"] is True
        assert c.get("/v1/health").json()["bundle"] == first
