"""`lawful test`: the default bundle's policy tests pass; a flipped expectation fails with its location and the
decision's full explanation; JUnit, JSON and GitHub output read back."""

from __future__ import annotations

import json
from pathlib import Path

import junitparser
from typer.testing import CliRunner

from cli import app
from conftest import ROOT, write_bundle

runner = CliRunner()
STORY = ROOT / "tests" / "policy" / "story.policy"
SECTOR = ROOT / "tests" / "policy" / "sector.policy"


def test_default_bundle_tests_pass(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["test"])
    assert result.exit_code == 0, result.output
    assert "93 expectations" in result.output and "93 passed, 0 failed" in result.output


def _flipped(tmp_path: Path) -> Path:
    text = STORY.read_text(encoding="utf-8")
    line = "expect deny JCP -> ALI provider-data for inspection on 2005-06-23 because DWP-ONE-WAY-2005, DWP-COMMON-LAW"
    assert line in text
    out = tmp_path / "flipped.policy"
    out.write_text(text.replace(line, line.replace("expect deny", "expect allow")), encoding="utf-8")
    return out


def test_flipped_expectation_fails_with_explanation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flipped = _flipped(tmp_path)
    result = runner.invoke(app, ["test", str(flipped), "--bundle", str(ROOT)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "FAILED  flipped.policy:6:3: expect allow JCP -> ALI provider-data for inspection" in out
    assert "expected allow, got deny" in out
    # the decision's full explanation: headline, the blocking restriction with its location and URL
    assert "DENIED — as JCP holds it for employment-services or social-security: one-way legislative block" in out
    assert "blocked   DWP-ONE-WAY-2005" in out and "policies/restrictions.policy:" in out
    assert "https://www.legislation.gov.uk/ukpga/1992/5" in out
    assert "what would make it lawful:" in out
    assert "1 failed" in out


def test_because_must_be_among_reasons(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.policy").write_text(
        'test "wrong reason" {\n'
        '  expect deny JCP -> ALI provider-data for inspection on 2005-06-23 because CRCA-2005-s18\n'
        '  expect allow LSC -> ALI provider-data for inspection on 2005-06-23 because LSC-ALI-2005, LSC-INSPECTION\n'
        '}\n', encoding="utf-8")
    result = runner.invoke(app, ["test", "t.policy", "--bundle", str(ROOT)])
    assert result.exit_code == 1
    assert "deny as expected, but not because of `CRCA-2005-s18`" in result.output
    assert "dwp-one-way-2005" in result.output  # the actual reasons are listed
    assert "1 passed, 1 failed" in result.output


def test_unknown_name_is_an_error_with_suggestion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.policy").write_text(
        'test "typo" {\n  expect deny JCPP -> ALI provider-data for inspection on 2005-06-23\n}\n', encoding="utf-8")
    result = runner.invoke(app, ["test", "t.policy", "--bundle", str(ROOT)])
    assert result.exit_code == 2
    assert "ERROR  t.policy:2:3" in result.output and "unknown organisation `JCPP` (at t.policy:2:15)" in result.output
    assert "`JCP`" in result.output


def test_declarations_outside_the_bundle_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.policy").write_text('organisation X "x"\ntest "t" {\n}\n', encoding="utf-8")
    result = runner.invoke(app, ["test", "t.policy", "--bundle", str(ROOT)])
    assert result.exit_code == 2
    assert "declaration-in-test-file" in result.output


def test_syntax_error_in_test_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.policy").write_text('test "t" {\n  expect maybe JCP -> ALI x\n}\n', encoding="utf-8")
    result = runner.invoke(app, ["test", "t.policy", "--bundle", str(ROOT)])
    assert result.exit_code == 2
    assert "t.policy:2:10: error[parse-error]" in result.output


def test_without_purpose_allow_means_some_purpose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.policy").write_text(
        'test "no purpose" {\n'
        '  expect allow LSC -> ALI provider-data on 2005-06-23\n'
        '  expect deny JCP -> ALI provider-data on 2005-06-23\n'
        '  expect deny LSC -> ALI provider-data on 2005-06-23\n'
        '}\n', encoding="utf-8")
    result = runner.invoke(app, ["test", "t.policy", "--bundle", str(ROOT)])
    assert result.exit_code == 1
    assert "2 passed, 1 failed" in result.output
    assert "expected deny, got allow (for inspection" in result.output


def test_tests_beside_the_policies_run_by_default(tmp_path, monkeypatch):
    from conftest import MINI_REGISTER

    root = write_bundle(tmp_path / "b", {"main.policy": (
        'organisation A "a"\norganisation B "b"\ndata d "d"\npurpose p "p"\n'
        'gateway G "g" {\n  statute LSA-2000 "s.1"\n  allows A -> B\n  data d\n  for p\n}\n'
        'test "beside" {\n  expect allow A -> B d for p on 2005-01-01 because G\n'
        '  expect allow B -> A d for p on 2005-01-01\n}\n')}, MINI_REGISTER)
    monkeypatch.chdir(root)
    result = runner.invoke(app, ["test"])
    assert result.exit_code == 1, result.output
    assert "FAILED  policies/main.policy:13:3" in result.output
    assert "DENIED — no legal gateway allows this flow" in result.output


def test_junit_reads_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flipped = _flipped(tmp_path)
    result = runner.invoke(app, ["test", str(flipped), str(SECTOR), "--bundle", str(ROOT), "--format", "junit"])
    assert result.exit_code == 1
    path = tmp_path / "out.xml"
    path.write_text(result.output, encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = [c for suite in xml for c in suite]
    assert len(cases) == 93
    failed = [c for c in cases if c.result and isinstance(c.result[0], junitparser.Failure)]
    assert len(failed) == 1
    assert "expect allow JCP -> ALI provider-data" in failed[0].name
    assert "DWP-ONE-WAY-2005" in failed[0].result[0].text
    suites = list(xml)
    assert sum(s.tests for s in suites) == 93 and sum(s.failures for s in suites) == 1
    assert xml.tests == 93 and xml.failures == 1 and xml.errors == 0


def test_json_and_github(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flipped = _flipped(tmp_path)
    result = runner.invoke(app, ["test", str(flipped), "--bundle", str(ROOT), "--format", "json"])
    data = json.loads(result.output)
    assert data["summary"]["failed"] == 1 and data["summary"]["passed"] == 33
    bad = [r for r in data["results"] if r["status"] == "failed"][0]
    assert bad["span"]["line"] == 6 and bad["decisions"][0]["verdict"] == "deny"
    result = runner.invoke(app, ["test", str(flipped), "--bundle", str(ROOT), "--format", "github"])
    lines = [ln for ln in result.output.splitlines() if ln.startswith("::error")]
    assert len(lines) == 1
    assert lines[0].startswith("::error file=flipped.policy,line=6,col=3,")
    assert ("title=policy test failed%3A Jobcentre Plus cannot give provider data to the ALI%3A "
            "a one-way legislative block::") in lines[0]
    assert "%0A" in lines[0] and "\n" not in lines[0]
