"""Issue 2's bad inputs, through the real console scripts: each a located diagnostic, never a Python
traceback; `check` exits 1 for an error in the bundle's files (a finding) and 2 when there is no bundle to judge
(issue 16's exit codes), the other commands exit 2. Also the CLI's other error paths (unknown names, bad dates, an
engine failure)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from conftest import MINI_REGISTER, ROOT, write_bundle
from engine.review.config import CANNOT_RUN

LAWFUL = shutil.which("lawful", path=str(Path(sys.executable).parent)) or "lawful"
CAN_SHARE = shutil.which("can-share", path=str(Path(sys.executable).parent)) or "can-share"
GOOD = 'organisation LSC "Learning and Skills Council"\n'


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LAWFUL_BUNDLE"}
    env["NO_COLOR"] = "1"
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def _bad_bundles(tmp: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (bundle folder, expected code, expected location prefix)."""
    out = {}
    b = write_bundle(tmp / "latin1", {"main.policy": GOOD})
    (b / "policies" / "bad.policy").write_bytes(b'organisation X "Caf\xe9"\n')
    out["non-utf8"] = (b, "bad-encoding", "policies/bad.policy:1:")
    b = write_bundle(tmp / "big", {"main.policy": GOOD})
    (b / "policies" / "big.policy").write_bytes(b"#" * (5 * 1024 * 1024 + 1))
    out["over-5mb"] = (b, "file-too-large", "policies/big.policy:1:1")
    b = write_bundle(tmp / "empty", {})
    out["empty"] = (b, "empty-bundle", "policies")
    b = write_bundle(tmp / "noreg", {"main.policy": GOOD})
    (b / "gateways.yaml").unlink()
    out["no-register"] = (b, "missing-register", "gateways.yaml")
    b = write_bundle(tmp / "list", {"main.policy": GOOD}, "- a\n- b\n")
    out["not-a-mapping"] = (b, "schema", "gateways.yaml:1:1")
    b = write_bundle(tmp / "dup", {"main.policy": GOOD},
                     MINI_REGISTER + "  SSAA-1992:\n    title: again\n    status: proposed\n")
    out["duplicate-key"] = (b, "yaml-duplicate-key", "gateways.yaml:")
    b = write_bundle(tmp / "syntax", {"main.policy": 'gateway G "g" {\n  data\n}\n'})
    out["syntax"] = (b, "parse-error", "policies/main.policy:3:1")
    return out


BAD = ["non-utf8", "over-5mb", "empty", "no-register", "not-a-mapping", "duplicate-key", "syntax"]


@pytest.fixture(scope="module")
def bad_bundles(tmp_path_factory):
    return _bad_bundles(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", BAD)
def test_lawful_check_on_bad_input_exits_1_with_a_located_diagnostic(bad_bundles, name):
    # an error in the bundle's files is a finding (exit 1); exit 2 is for a check that could not run
    root, code, where = bad_bundles[name]
    p = run(LAWFUL, "check", "--bundle", str(root))
    out = p.stdout + p.stderr
    assert p.returncode == (2 if code in CANNOT_RUN else 1), out
    assert "Traceback" not in out
    assert f"error[{code}]" in out, out
    line = next(ln for ln in out.splitlines() if f"error[{code}]" in ln)
    assert line.startswith(where), line


@pytest.mark.parametrize("name", BAD)
def test_can_share_on_bad_input_exits_2(bad_bundles, name):
    root, code, _ = bad_bundles[name]
    r = CliRunner().invoke(cli.app, ["can-share", "LSC", "LSC", "d", "--purpose", "p", "--bundle", str(root)])
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output and f"error[{code}]" in r.output, r.output


def test_can_share_script_on_a_broken_bundle(bad_bundles):
    root, code, _ = bad_bundles["syntax"]
    p = run(CAN_SHARE, "LSC", "LSC", "d", "--purpose", "p", "--bundle", str(root))
    assert p.returncode == 2 and "Traceback" not in p.stderr and f"error[{code}]" in p.stderr + p.stdout


def test_check_json_on_bad_input(bad_bundles):
    import json

    root, code, _ = bad_bundles["syntax"]
    p = run(LAWFUL, "check", "--bundle", str(root), "--format", "json")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert doc["summary"]["errors"] >= 1
    d = next(d for d in doc["diagnostics"] if d["code"] == code)
    assert d["span"]["file"] == "policies/main.policy" and d["span"]["line"] == 3


def test_bundle_folder_that_does_not_exist(tmp_path):
    p = run(LAWFUL, "check", "--bundle", str(tmp_path / "nowhere"))
    assert p.returncode == 2 and "error[bad-bundle]" in p.stderr + p.stdout
    assert "Traceback" not in p.stderr


def test_default_bundle_checks_clean_from_any_folder(tmp_path):
    p = run(LAWFUL, "check", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 errors" in p.stdout


def test_unknown_name_exits_2_with_did_you_mean():
    r = CliRunner().invoke(cli.app, ["can-share", "JCP", "ALJ", "provider-data", "--purpose", "inspection",
                                     "--bundle", str(ROOT)])
    assert r.exit_code == 2
    assert "error[unknown-name]: unknown organisation `ALJ`" in r.output
    assert "did you mean `ALI`" in r.output


def test_bad_date_exits_2():
    r = CliRunner().invoke(cli.app, ["can-share", "JCP", "ALI", "provider-data", "--on", "2005-02-30",
                                     "--bundle", str(ROOT)])
    assert r.exit_code == 2
    assert "error[bad-date]" in r.output and "Traceback" not in r.output


def test_an_engine_failure_is_internal_error_and_never_an_allow(monkeypatch):
    import engine.policy.facade

    def boom(*_a, **_k):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(engine.policy.facade.Policy, "decide", boom)
    r = CliRunner().invoke(cli.app, ["can-share", "LSC", "ALI", "provider-data", "--purpose", "inspection",
                                     "--on", "2005-06-23", "--bundle", str(ROOT)])
    assert r.exit_code == 2
    assert "error[internal-error]" in r.output
    assert "ALLOWED" not in r.output and "Traceback" not in r.output
