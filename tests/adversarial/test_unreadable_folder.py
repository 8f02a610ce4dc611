"""Issue 19, item 1: a folder inside policies/ that the loader cannot read must stop the load, not vanish.

The attack: a restriction that bars LSC -> ALI lives in policies/extra/. When extra/ cannot be listed by the
user running lawful, `os.walk` used to skip it in silence: `can-share` said ALLOWED (exit 0), `check`
passed, `bundle hash` hashed the bundle without it, and the service reloaded it and reported ok. Each test
below performs that attack as a user without root's power to read anything (`nobody`), and expects the
load to fail closed with `unreadable-path` (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import LSC_ALI_POLICY, write_bundle
from victim import assert_no_traceback, lawful, make_world_readable, python, world_dir

POLICY = LSC_ALI_POLICY

BAR = """\
restriction BAR "LSC may not give provider data to ALI" {
  statute LSA-2000 "section 2"
  forbids LSC -> ALI
  data provider-data
}
"""

ASK = ["can-share", "LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]


@pytest.fixture
def bundle():
    """A bundle in a world-readable folder whose policies/extra/ holds the restriction."""
    top = world_dir()
    root = write_bundle(top / "b", {"main.policy": POLICY, "extra/bar.policy": BAR})
    make_world_readable(top)
    yield root
    for dirpath, dirnames, _files in os.walk(top):
        for d in dirnames:
            os.chmod(Path(dirpath) / d, 0o755)
    shutil.rmtree(top, ignore_errors=True)


def test_the_restriction_denies_when_it_can_be_read(bundle):
    p = lawful([*ASK, "--bundle", str(bundle)], bundle.parent, as_nobody=True)
    assert p.returncode == 1 and "DENIED" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("mode", [0o000, 0o311], ids=["no-permission", "searchable-not-listable"])
def test_can_share_check_and_bundle_hash_fail_closed_on_an_unlistable_folder(bundle, mode):
    os.chmod(bundle / "policies" / "extra", mode)
    for args in (ASK, ["check"], ["bundle", "hash"], ["flows", "--on", "2005-06-23"], ["test"]):
        p = lawful([*args, "--bundle", str(bundle)], bundle.parent, as_nobody=True)
        assert_no_traceback(p)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "ALLOWED" not in p.stdout and "sha256:" not in p.stdout, p.stdout
        assert "error[unreadable-path]" in p.stderr + p.stdout, p.stderr
        assert "policies/extra" in p.stderr + p.stdout


def test_an_unreadable_policy_file_fails_closed(bundle):
    os.chmod(bundle / "policies" / "extra" / "bar.policy", 0o000)
    p = lawful([*ASK, "--bundle", str(bundle)], bundle.parent, as_nobody=True)
    assert_no_traceback(p)
    assert p.returncode == 2 and "error[unreadable-path]" in p.stderr and "ALLOWED" not in p.stdout, p.stderr
    assert "policies/extra/bar.policy" in p.stderr


def test_the_library_raises_rather_than_loading_without_the_folder(bundle):
    os.chmod(bundle / "policies" / "extra", 0o000)
    code = textwrap.dedent(f"""
        import json, engine
        from engine.bundle.files import list_bundle_files
        listing = list_bundle_files({str(bundle)!r})
        out = {{"listed": [f.name for f in listing.files], "codes": [d.code for d in listing.diagnostics]}}
        try:
            engine.load({str(bundle)!r})
            out["loaded"] = True
        except engine.DiagnosticsError as exc:
            out["loaded"] = False
            out["errors"] = [d.code for d in exc.diagnostics]
        print(json.dumps(out))
    """)
    proc = python(code, bundle.parent, as_nobody=True)
    out, err = proc.communicate(timeout=60)
    result = json.loads(out)
    assert result["codes"] == ["unreadable-path"], err
    assert result["loaded"] is False and "unreadable-path" in result["errors"]


SERVICE = """
import json, sys
from engine.ops.service import BundleHolder, fingerprint
holder = BundleHolder(sys.argv[1] if len(sys.argv) > 1 else {root!r})
before = holder.current.digest
allowed = lambda: holder.current.policy.allowed("LSC", "ALI", "provider-data", "inspection",
                                                on=__import__("datetime").date(2005, 6, 23))
print(json.dumps({{"allowed": allowed()}}), flush=True)
sys.stdin.readline()  # the attacker makes policies/extra unreadable now
changed = fingerprint(holder.root) != holder._fingerprint
swapped = holder.reload("test")
print(json.dumps({{"watcher_noticed": changed, "swapped": swapped, "ok": holder.last_reload["ok"],
                  "codes": [d["code"] for d in holder.last_reload["diagnostics"]],
                  "same_bundle": holder.current.digest == before, "allowed": allowed()}}), flush=True)
"""


def test_the_service_refuses_to_reload_a_bundle_it_cannot_read_whole(bundle):
    proc = python(SERVICE.format(root=str(bundle)), bundle.parent, as_nobody=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first == {"allowed": False}, proc.stderr.read() if not first else first
        os.chmod(bundle / "policies" / "extra", 0o000)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        after = json.loads(line)
    finally:
        proc.kill()
        proc.wait()
    assert after["watcher_noticed"] is True
    assert after["swapped"] is False and after["ok"] is False, after
    assert "unreadable-path" in after["codes"]
    assert after["same_bundle"] is True and after["allowed"] is False  # still serving the bundle with the bar
