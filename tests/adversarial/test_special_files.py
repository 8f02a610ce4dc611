"""Issue 19, item 6: FIFOs and device files must be refused, never waited on or read for ever.

The attack: a FIFO named `x.policy` (or a device like /dev/zero) in policies/ hung `check`, `can-share`,
`bundle hash` and `test`; `lawful log verify /dev/zero` and `graph --output FIFO` hung; the service's reload
thread blocked on a FIFO for ever. Each test runs the command in a separate process with a time limit
(a hang fails it) and expects exit 2 with `not-a-file` (or the command's own error code).
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, write_bundle
from victim import assert_no_traceback, lawful

POLICY = """\
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
data provider-data "Provider data"
purpose inspection "Inspection"
gateway LSC-INSPECTION "LSC may give provider data to inspectorates" {
  statute LSA-2000 "section 1"
  allows LSC -> ALI
  data provider-data
  for inspection
}
"""

ASK = ["can-share", "LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
TIMEOUT = 30  # seconds; every command here answers in well under one


@pytest.fixture
def bundle(tmp_path) -> Path:
    return write_bundle(tmp_path / "b", {"main.policy": POLICY})


def refused(p, code: str = "not-a-file", exit_code: int = 2) -> None:
    assert_no_traceback(p)
    assert p.returncode == exit_code, p.stdout + p.stderr
    assert f"error[{code}]" in p.stdout + p.stderr, p.stdout + p.stderr
    assert "ALLOWED" not in p.stdout


def make_device(path: Path) -> bool:
    """A character device like /dev/zero at `path` (needs CAP_MKNOD); False when it cannot be made."""
    try:
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))
        return True
    except (PermissionError, OSError):
        return False


@pytest.mark.parametrize("args", [ASK, ["check"], ["bundle", "hash"], ["test"], ["flows", "--on", "2005-06-23"]],
                         ids=["can-share", "check", "bundle-hash", "test", "flows"])
def test_a_fifo_named_like_a_policy_file(bundle, tmp_path, args):
    os.mkfifo(bundle / "policies" / "pipe.policy")
    p = lawful([*args, "--bundle", str(bundle)], tmp_path, timeout=TIMEOUT)
    refused(p, exit_code=1 if args == ["check"] else 2)  # for check, a file refused is a finding (issue 16)
    assert "policies/pipe.policy" in p.stdout + p.stderr


def test_a_fifo_as_the_register(bundle, tmp_path):
    (bundle / "gateways.yaml").unlink()
    os.mkfifo(bundle / "gateways.yaml")
    refused(lawful([*ASK, "--bundle", str(bundle)], tmp_path, timeout=TIMEOUT))


def test_a_device_file_in_policies(bundle, tmp_path):
    if not make_device(bundle / "policies" / "zero.policy"):
        pytest.skip("cannot make a device node here (needs CAP_MKNOD)")
    for args in (ASK, ["bundle", "hash"]):
        p = lawful([*args, "--bundle", str(bundle)], tmp_path, timeout=TIMEOUT)
        refused(p)
        assert "character device" in p.stderr + p.stdout


def test_a_link_to_dev_zero_is_refused_without_being_read(bundle, tmp_path):
    os.symlink("/dev/zero", bundle / "policies" / "zero.policy")
    refused(lawful([*ASK, "--bundle", str(bundle)], tmp_path, timeout=TIMEOUT), "unsafe-path")


def test_test_files_and_fmt_refuse_fifos(bundle, tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    os.mkfifo(tests / "pipe.policy")
    for args in (["test", str(tests)], ["test", str(tests / "pipe.policy")], ["fmt", "--check", str(tests)]):
        p = lawful([*args, "--bundle", str(bundle)], tmp_path, timeout=TIMEOUT)
        refused(p)


@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_log_verify_refuses_fifos_and_devices(tmp_path, target):
    path = tmp_path / "log.jsonl" if target == "fifo" else Path(target)
    if target == "fifo":
        os.mkfifo(path)
    p = lawful(["log", "verify", str(path)], tmp_path, timeout=TIMEOUT)
    refused(p, "audit-log")
    assert "not a regular file" in p.stderr


def test_can_share_refuses_a_fifo_as_its_decision_log(tmp_path):
    os.mkfifo(tmp_path / "log.jsonl")
    p = lawful([*ASK, "--bundle", str(ROOT), "--audit-log", str(tmp_path / "log.jsonl")], tmp_path, timeout=TIMEOUT)
    refused(p, "audit-log")


@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_audit_refuses_fifos_and_devices_as_transfer_logs(tmp_path, target):
    path = tmp_path / "transfers.csv" if target == "fifo" else Path(target)
    if target == "fifo":
        os.mkfifo(path)
    args = ["audit", str(path), "--bundle", str(ROOT)] + (["--input-format", "csv"] if target != "fifo" else [])
    refused(lawful(args, tmp_path, timeout=TIMEOUT), "bad-log")


def test_graph_output_to_a_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "out.dot")
    p = lawful(["graph", "--bundle", str(ROOT), "--on", "2005-06-23", "--output", str(tmp_path / "out.dot")], tmp_path,
               timeout=TIMEOUT)
    refused(p, "bad-output")
    assert "not a regular file" in p.stderr
    # a regular file is still written (and an existing one replaced, not appended to)
    out = tmp_path / "graph.dot"
    out.write_text("x" * 100_000)
    p = lawful(["graph", "--bundle", str(ROOT), "--on", "2005-06-23", "--output", str(out)], tmp_path, timeout=TIMEOUT)
    assert p.returncode == 0 and out.read_text().startswith("digraph"), p.stderr
    assert "x" not in out.read_text()[-10:]


def test_a_fifo_swapped_in_after_listing_is_refused_when_opened(tmp_path):
    """What the listing checked may not be what is opened; the open itself must not block."""
    from engine.base.safeio import NotRegularFile, read_regular, write_regular

    os.mkfifo(tmp_path / "pipe")
    started = time.monotonic()
    with pytest.raises(NotRegularFile):
        read_regular(tmp_path / "pipe", 1024)
    with pytest.raises(NotRegularFile):
        write_regular(tmp_path / "pipe", b"x")
    assert time.monotonic() - started < 5


def test_reads_are_bounded_by_the_size_limit(tmp_path):
    from engine.base.safeio import read_regular

    (tmp_path / "big").write_bytes(b"#" * 2000)
    with pytest.raises(OSError, match="over the limit"):
        read_regular(tmp_path / "big", 1000)


def test_the_service_reload_does_not_block_on_a_fifo(bundle):
    from engine.ops.service import BundleHolder

    holder = BundleHolder(bundle)
    os.mkfifo(bundle / "policies" / "pipe.policy")
    result: dict = {}
    t = threading.Thread(target=lambda: result.setdefault("swapped", holder.reload("test")), daemon=True)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), "the reload blocked on a FIFO"
    assert result["swapped"] is False and holder.last_reload["ok"] is False
    assert "not-a-file" in [d["code"] for d in holder.last_reload["diagnostics"]]
    assert holder.current.policy.allowed("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 23))
