"""Issue 19, item 10: inputs that used to surface as internal errors must be diagnostics (exit 2).

`check --on 9999-12-31` and `--expiring-within 3000000` overflowed the date type (OverflowError), a symbolic
link loop in policies/ raised RuntimeError, and an unreadable bundle folder raised PermissionError. Each is
now a located diagnostic with a stable code, never `internal-error` and never a traceback.
"""

from __future__ import annotations

import os
import shutil

import pytest

import engine
from conftest import ROOT, write_bundle
from victim import assert_no_traceback, lawful, make_world_readable, world_dir

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


def diagnostic(p, code: str, exit_code: int = 2) -> None:
    assert_no_traceback(p)
    assert p.returncode == exit_code, p.stdout + p.stderr
    assert f"error[{code}]" in p.stdout + p.stderr, p.stdout + p.stderr


@pytest.mark.parametrize("args", [["check", "--on", "9999-12-31"], ["check", "--expiring-within", "3000000"],
                                  ["check", "--on", "9999-10-01", "--expiring-within", "100"]],
                         ids=["on-the-last-day", "far-horizon", "horizon-past-9999"])
def test_a_horizon_past_the_last_date_is_bad_date(tmp_path, args):
    p = lawful([*args, "--bundle", str(ROOT)], tmp_path)
    diagnostic(p, "bad-date")
    assert "9999-12-31" in p.stderr


def test_the_last_representable_horizon_still_works(tmp_path):
    p = lawful(["check", "--on", "9999-12-31", "--expiring-within", "0", "--bundle", str(ROOT)], tmp_path)
    assert_no_traceback(p)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("shape", ["file-loop", "self-loop", "folder-loop"])
def test_a_symbolic_link_loop_in_policies(tmp_path, shape):
    root = write_bundle(tmp_path / "b", {"main.policy": POLICY})
    pol = root / "policies"
    if shape == "file-loop":
        os.symlink("b.policy", pol / "a.policy")
        os.symlink("a.policy", pol / "b.policy")
    elif shape == "self-loop":
        os.symlink("self.policy", pol / "self.policy")
    else:
        os.symlink("loop", pol / "loop")
    for args in (ASK, ["check"], ["bundle", "hash"]):
        p = lawful([*args, "--bundle", str(root)], tmp_path)
        diagnostic(p, "unsafe-path", 1 if args == ["check"] else 2)  # for check, a finding (issue 16)
        assert "loops" in p.stdout + p.stderr
    with pytest.raises(engine.DiagnosticsError):
        engine.load(root)


@pytest.fixture
def shared_bundle():
    top = world_dir()
    root = write_bundle(top / "b", {"main.policy": POLICY})
    make_world_readable(top)
    yield top, root
    for dirpath, _dirnames, _files in os.walk(top):
        os.chmod(dirpath, 0o755)
    shutil.rmtree(top, ignore_errors=True)


def test_an_unreadable_bundle_folder(shared_bundle):
    top, root = shared_bundle
    os.chmod(root, 0o000)
    for args in (ASK, ["check"], ["bundle", "hash"], ["test"]):
        # named by $LAWFUL_BUNDLE (`--bundle` is refused earlier, as a usage error, by the option's own check)
        p = lawful(args, top, as_nobody=True, extra_env={"LAWFUL_BUNDLE": str(root)})
        diagnostic(p, "unreadable-path")
        p = lawful([*args, "--bundle", str(root)], top, as_nobody=True)
        diagnostic(p, "bad-usage")


def test_a_bundle_folder_below_one_that_may_not_be_searched(shared_bundle):
    top, root = shared_bundle
    os.chmod(top / "b", 0o755)
    locked = top / "locked"
    locked.mkdir()
    shutil.move(str(root), str(locked / "b"))
    os.chmod(locked, 0o000)
    p = lawful(ASK, top, as_nobody=True, extra_env={"LAWFUL_BUNDLE": str(locked / "b")})
    diagnostic(p, "unreadable-path")
    assert "cannot examine the bundle folder" in p.stderr


def test_an_unreadable_current_folder_is_not_taken_for_a_bundle(shared_bundle):
    """Without --bundle the current folder is tried first; one that may not be searched used to raise."""
    top, root = shared_bundle
    os.chmod(root, 0o311)  # enterable, not listable
    p = lawful(["bundle", "hash"], root, as_nobody=True)
    assert_no_traceback(p)
    assert p.returncode in (0, 2), p.stderr  # the shipped bundle, or a diagnostic: never a traceback
