"""Fail closed (issue 7): an unexpected error while deciding is an error — the library raises, the CLI exits 2
with `internal-error` — and never an ALLOW, in text or JSON, with or without --audit-log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

import engine
import engine.eval.decide
from engine.eval.decide import Outcome

from cli import app
from conftest import D2005, ROOT

runner = CliRunner()

# LSC -> ALI provider-data for inspection is ALLOWED on the default bundle: a fault must turn it into an error.
ALLOWED_FLOW = ["LSC", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23", "--bundle", str(ROOT)]


class InjectedFault(RuntimeError):
    pass


def _boom(*args, **kwargs):
    raise InjectedFault("injected fault")


def test_the_flow_is_allowed_without_a_fault():
    out = runner.invoke(app, ["can-share", *ALLOWED_FLOW])
    assert out.exit_code == 0 and "ALLOWED" in out.output  # so the tests below can fail


# JCP -> ALI is allowed when the proposed gateway is assumed, lifting the one-way restriction: its path runs
# through restriction_check.
LIFTED_FLOW = ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23", "--assume",
               "DCA-GATEWAY-2006", "--bundle", str(ROOT)]


def test_the_lifted_flow_is_allowed_without_a_fault():
    out = runner.invoke(app, ["can-share", *LIFTED_FLOW])
    assert out.exit_code == 0 and "ALLOWED" in out.output


@pytest.mark.parametrize("flow, target", [
    (ALLOWED_FLOW, "evaluate"), (ALLOWED_FLOW, "in_force"), (ALLOWED_FLOW, "valid_on"),
    (ALLOWED_FLOW, "agreement_covers"), (ALLOWED_FLOW, "sensitivity_gap"), (LIFTED_FLOW, "restriction_check"),
    (ALLOWED_FLOW, "org_absent"),
], ids=lambda v: v if isinstance(v, str) else v[0])
@pytest.mark.parametrize("extra", [[], ["--format", "json"], ["--verbose"]])
def test_cli_fault_in_the_evaluator_exits_2_without_allow(monkeypatch, flow, target, extra):
    # The rules are looked up in the evaluator's namespace (engine/eval/decide.py imports them by name).
    monkeypatch.setattr(engine.eval.decide, target, _boom)
    out = runner.invoke(app, ["can-share", *flow, *extra])
    assert out.exit_code == 2, out.output
    assert "internal-error" in out.output and "no decision was made" in out.output
    assert "ALLOW" not in out.output.upper().replace("ALLOWS", "")
    assert '"verdict"' not in out.output


def test_cli_fault_for_every_purpose_exits_2(monkeypatch):
    monkeypatch.setattr(engine.eval.decide, "evaluate", _boom)
    out = runner.invoke(app, ["can-share", "LSC", "ALI", "provider-data", "--on", "2005-06-23", "--bundle", str(ROOT)])
    assert out.exit_code == 2 and "ALLOW" not in out.output


def test_an_evaluator_claiming_allow_without_a_basis_is_an_error(monkeypatch):
    """A broken evaluator that says `allowed` but cannot say why must not produce an ALLOW."""
    monkeypatch.setattr(engine.eval.decide, "evaluate", lambda *a, **k: Outcome(allowed=True))
    out = runner.invoke(app, ["can-share", *ALLOWED_FLOW])
    assert out.exit_code == 2 and "internal-error" in out.output and "ALLOWED" not in out.output


def test_fault_writes_no_audit_record(monkeypatch, tmp_path):
    log = tmp_path / "log.jsonl"
    monkeypatch.setattr(engine.eval.decide, "evaluate", _boom)
    out = runner.invoke(app, ["can-share", *ALLOWED_FLOW, "--audit-log", str(log)])
    assert out.exit_code == 2 and (not log.exists() or log.read_bytes() == b"")


def test_library_raises_and_memoises_nothing(monkeypatch):
    policy = engine.load(ROOT)
    # `allowed` and `decide` both run the one evaluator; a fault in it reaches both.
    monkeypatch.setattr(engine.eval.decide, "evaluate", _boom)
    with pytest.raises(InjectedFault):
        policy.decide("LSC", "ALI", "provider-data", "inspection", on=D2005)
    with pytest.raises(InjectedFault):
        policy.allowed("LSC", "ALI", "provider-data", "inspection", on=D2005)
    with pytest.raises(InjectedFault):
        policy.decide_all_purposes("LSC", "ALI", "provider-data", on=D2005)
    assert not policy._memo
    monkeypatch.undo()
    assert policy.allowed("LSC", "ALI", "provider-data", "inspection", on=D2005) is True


def test_real_console_script_fails_closed(tmp_path):
    """The installed `lawful` entry point in a fresh process, with the fault injected by sitecustomize."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent("""
        import engine.eval.decide
        def _boom(*args, **kwargs):
            raise RuntimeError("injected fault")
        engine.eval.decide.evaluate = _boom
    """))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [sys.executable, "-c", "import sys; from cli import app; sys.argv[0] = 'lawful'; app()", "can-share",
           *ALLOWED_FLOW]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "internal-error" in done.stderr and "Traceback" not in done.stderr
    assert "ALLOW" not in done.stdout + done.stderr
    clean = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and "ALLOWED" in clean.stdout  # the same command, unfaulted, allows
