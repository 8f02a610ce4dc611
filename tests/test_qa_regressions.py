"""Regressions found in the QA pass (a policy officer at a terminal, a reviewer reading the README, a service
importing the engine). Each test pins one fix."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.render.explain import explain_grouped

BIN = Path(sys.executable).parent
CAN_SHARE = shutil.which("can-share", path=str(BIN)) or "can-share"
LAWFUL = shutil.which("lawful", path=str(BIN)) or "lawful"
JUNE_2005 = dt.date(2005, 6, 23)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def policy():
    return engine.load()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k != "LAWFUL_BUNDLE"}
    env["NO_COLOR"] = "1"

    def go(*args: str, script: str = LAWFUL, cwd_: Path | None = None) -> subprocess.CompletedProcess:
        p = subprocess.run([script, *args], capture_output=True, text=True, cwd=cwd_ or cwd, env=env, timeout=120)
        assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
        return p

    return go


def test_grouped_answers_offer_a_fix_only_with_the_purposes_it_fixes(policy):
    # The proposed DCA gateway covers inspection only: its fix must not be listed beside `funding`.
    text = explain_grouped(policy.decide_all_purposes("JCP", "ALI", "provider-data", on=JUNE_2005))
    blocks = text.split("\n  DENIED")[1:]
    with_fix = [b for b in blocks if "DCA-GATEWAY-2006" in b]
    assert with_fix and all("funding" not in b for b in with_fix)
    assert all("inspection" in b for b in with_fix)
    # and the purposes are not listed twice when one answer covers them all
    lsc = explain_grouped(policy.decide_all_purposes("JCP", "DWP", "provider-data", on=JUNE_2005))
    assert lsc.count("admissions") == 1, lsc


def test_can_share_usage_names_the_command_once(run):
    p = run("--help", script=CAN_SHARE)
    assert "Usage: can-share [OPTIONS] " in p.stdout and "can-share can-share" not in p.stdout, p.stdout
    p = run("JCP", "ALI", "--format", "xml", script=CAN_SHARE)
    assert "see `can-share --help`" in p.stderr and "can-share can-share" not in p.stderr, p.stderr
    p = run("can-share", "--help")
    assert "Usage: lawful can-share [OPTIONS] " in p.stdout and "SOURCE" in p.stdout


def test_a_restriction_not_yet_in_force_does_not_say_so_twice(policy):
    d = policy.decide("JCP", "ALI", "provider-data", "inspection", on=dt.date(1990, 1, 1))
    (c,) = [c for c in d.considered if c.id == "DWP-ONE-WAY-2005"]
    assert c.reason == "not in force until 1992-07-01", c.reason


def test_lawful_test_names_the_folder_it_searched_and_counts_in_english(run, tmp_path):
    empty = tmp_path / "no-tests"
    empty.mkdir()
    p = run("test", str(empty))
    assert p.returncode == 0 and p.stdout.strip() == f"no policy tests found (looked in {empty})", p.stdout
    flipped = tmp_path / "flipped.policy"
    flipped.write_text('test "t" {\n  expect allow JCP -> ALI provider-data for inspection on 2005-06-23\n}\n')
    p = run("test", str(flipped), "--format", "github")
    assert p.returncode == 1 and p.stdout.splitlines()[-1] == "1 expectation: 0 passed, 1 failed, 0 errors", p.stdout


def test_diff_of_a_side_that_is_neither_folder_nor_revision_says_so_in_words(run, tmp_path):
    p = run("diff", str(ROOT), str(tmp_path / "nowhere"), cwd_=tmp_path)
    assert p.returncode == 2
    first = p.stderr.splitlines()[0]
    assert first.startswith("error[bad-revision]: ") and "is neither a bundle folder nor a git revision" in first, \
        p.stderr
    p = run("diff", "HEAD", "no-such-revision", cwd_=ROOT)
    assert p.returncode == 2 and "`no-such-revision` is neither a bundle folder nor a git revision" in p.stderr, \
        p.stderr
    assert "rev-parse" not in p.stderr


def test_fmt_of_a_missing_file_does_not_talk_about_tests(run, tmp_path):
    p = run("fmt", "--check", str(tmp_path / "missing.policy"))
    assert p.returncode == 2 and f"error[bad-bundle]: `{tmp_path / 'missing.policy'}` does not exist" in p.stderr
    assert "`test` blocks" not in p.stderr and "could not be read or parsed" in p.stderr, p.stderr


def test_every_code_the_cli_prints_is_explained(run, tmp_path):
    # `lawful log verify` prints audit-log-broken; `lawful serve` without its extra prints missing-extra.
    for code in ("audit-log-broken", "missing-extra", "audit-log"):
        p = run("check", "--explain", code)
        assert p.returncode == 0 and p.stdout.startswith(f"{code}: "), p.stdout + p.stderr
    p = run("log", "verify", str(tmp_path / "absent.jsonl"))
    assert p.returncode == 2 and p.stderr.startswith("error[audit-log]: cannot read "), p.stderr
    p = run("audit", str(tmp_path / "absent.csv"), "--chunk-rows", "0")
    assert p.returncode == 2 and "error[error]" not in p.stderr and "--chunk-rows" in p.stderr, p.stderr


def test_audit_text_says_row_not_file_colon_line(run, tmp_path):
    log = tmp_path / "t.csv"
    log.write_text("source,recipient,data,purpose,date\nLSC,ALI,provider-data,inspection,2005-06-23\n"
                   "JCP,ALI,provider-data,inspection,2005-06-23\nJCPX,ALI,provider-data,inspection,2005-06-23\n")
    p = run("audit", str(log))
    assert p.returncode == 1
    assert f"UNLAWFUL  {log} row 2  JCP → ALI" in p.stdout and f"REJECTED  {log} row 3  unknown-name" in p.stdout, \
        p.stdout
    assert f"{log}:2" not in p.stdout


def test_command_help_paragraphs_are_not_broken_at_source_line_ends():
    import cli

    infos = list(cli.app.registered_commands)
    for group in cli.app.registered_groups:
        infos += group.typer_instance.registered_commands
    for info in infos:
        assert info.help, info.name
        for para in info.help.split("\n\n"):
            assert "\n" not in para, (info.name, para)


def test_library_arguments_of_the_wrong_type_are_named(policy):
    with pytest.raises(TypeError, match="`purpose` must be a name"):
        policy.decide("JCP", "ALI", "provider-data", None)
    with pytest.raises(TypeError, match="`on` must be a datetime.date, not str"):
        policy.decide("JCP", "ALI", "provider-data", "inspection", on="2005-06-23")
    with pytest.raises(TypeError, match="`assume` must be a list"):
        policy.allowed("JCP", "ALI", "provider-data", "inspection", on=JUNE_2005, assume="DCA-GATEWAY-2006")
    # a datetime is read as its date, by decide and allowed alike
    at_ten = dt.datetime(2005, 6, 23, 10, 0)
    assert policy.decide("LSC", "ALI", "provider-data", "inspection", on=at_ten).on == JUNE_2005
    assert policy.allowed("LSC", "ALI", "provider-data", "inspection", on=at_ten) is True


def test_the_library_reference_example_runs_and_says_what_it_shows():
    import re

    reference = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"## The library\n\n```python\n(.*?)```", reference, re.S)
    ns: dict = {}
    results = []
    for line in block.splitlines():
        code = line.split("  #")[0].strip()
        if code:
            if code.startswith("import ") or "=" in code.split("(")[0]:
                exec(code, ns)
            else:
                results.append((code, eval(code, ns), line))
    d = ns["d"]
    assert d.verdict == "deny" and "one-way legislative block: Social Security" in d.headline
    import json

    json.dumps(d.to_dict())
    by_code = {code.split("(")[0]: value for code, value, _ in results}
    assert by_code["policy.allowed"] is True
    routes = by_code["policy.routes"]
    assert [str(r) for r in routes] == ["DfES → LSC → ALI"], routes


def test_the_service_reports_the_same_bundle_hash_as_lawful_bundle_hash(policy):
    from engine.bundle.hashing import bundle_hash
    from engine.ops.service import BundleHolder

    holder = BundleHolder(None)
    assert "sha256:" + holder.current.digest == bundle_hash(None) == "sha256:" + __import__(
        "engine.ops.transfers", fromlist=["bundle_digest"]).bundle_digest(policy)


@pytest.mark.parametrize("day", ["20050623", "2005-W25-4", "2005-06-23T10:00", "٢٠٠٥-٠٦-٢٣"])
def test_cli_dates_are_yyyy_mm_dd_only_whatever_the_python(run, day):
    for args in (["can-share", "LSC", "ALI", "provider-data", "-p", "inspection", "--on", day],
                 ["flows", "--on", day]):
        p = run(*args)
        assert p.returncode == 2 and p.stderr.startswith("error[bad-date]: "), p.stdout + p.stderr
    p = run("LSC", "ALI", "provider-data", "-p", "inspection", "--on", day, script=CAN_SHARE)
    assert p.returncode == 2 and p.stderr.startswith("error[bad-date]: "), p.stdout + p.stderr


def test_a_bundle_that_is_a_file_is_not_said_to_be_missing(run, tmp_path):
    f = tmp_path / "gateways.yaml"
    f.write_text("statutes: {}\n")
    p = run("check", "--bundle", str(f))
    assert p.returncode == 2 \
        and f"error[bad-bundle]: bundle folder `{f}` is a file, not a folder" in p.stdout + p.stderr


def test_check_summary_counts_the_info_it_printed(run):
    p = run("check", "--on", "2005-06-23", "--bundle", str(ROOT))
    infos = p.stdout.count("info[")
    assert infos and p.stdout.rstrip().splitlines()[-1].endswith(f", {infos} notes (info)"), p.stdout[-300:]


def test_the_library_ships_its_type_hints():
    # PEP 561: without the marker, type checkers ignore the annotations of an installed `engine`.
    assert (ROOT / "engine" / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert set(engine.__all__) >= {"load", "Policy", "Decision", "UnknownNameError", "DiagnosticsError"}


@pytest.mark.parametrize("args,script", [
    (["can-share", "JCP", "ALI", "--format", "xml"], LAWFUL),
    (["can-share", "JCP"], LAWFUL),
    (["flows", "--bogus"], LAWFUL),
    (["bogus"], LAWFUL),
    (["check", "--expiring-within", "-3"], LAWFUL),
    (["recipients", "DfES", "provider-data", "--max-hops", "x"], LAWFUL),
    (["JCP", "ALI", "provider-data", "--format", "xml"], CAN_SHARE),
])
def test_usage_errors_are_one_line_diagnostics_with_a_code(run, args, script):
    p = run(*args, script=script)
    assert p.returncode == 2 and p.stdout == "", p.stdout
    lines = p.stderr.splitlines()
    assert lines[0].startswith("error[bad-usage]: ") and "╭" not in p.stderr, p.stderr
    assert all(line.startswith("  help: ") for line in lines[1:]), p.stderr


def test_help_and_exit_codes_survive_the_usage_wrapper(run):
    assert run("--help").returncode == 0
    assert run("version").returncode == 0
    assert run().returncode == 2  # bare `lawful`: the help, exit 2
    assert run("can-share", "JCP", "ALI", "provider-data", "-p", "inspection", "--on", "2005-06-23").returncode == 1
    assert run("can-share", "LSC", "ALI", "provider-data", "-p", "inspection", "--on", "2005-06-23").returncode == 0


def test_diff_says_when_a_newly_allowed_flow_lifts_a_statutory_bar(run, tmp_path):
    import shutil as sh

    old, new = tmp_path / "old", tmp_path / "new"
    for side in (old, new):
        sh.copytree(ROOT / "policies", side / "policies")
        sh.copy(ROOT / "gateways.yaml", side / "gateways.yaml")
    reg = (new / "gateways.yaml").read_text(encoding="utf-8")
    at = reg.index("status: proposed", reg.index("DCA-GATEWAY-2006:"))
    (new / "gateways.yaml").write_text(reg[:at] + "status: in-force\n    commenced: 2006-01-01" +
                                       reg[at + len("status: proposed"):], encoding="utf-8")
    p = run("diff", str(old), str(new), "--on", "2006-06-23")
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert lines[0].startswith("statute DCA-GATEWAY-2006: status proposed → in-force; commenced none → 2006-01-01"), \
        lines[0]
    assert any("; 1 rule change, " in line for line in lines), p.stdout
    # provider data passes the department's one-way position of 2005 only by the override; that position covers
    # anonymised statistics too (the framework said "any data"), so they are lifted by it as well
    allowed = [lines[i + 1] for i, line in enumerate(lines) if "now ALLOWED JCP → ALI: provider-data for" in line]
    assert allowed and all("lifting restriction `DWP-ONE-WAY-2005`" in line for line in allowed), p.stdout
    stats = [lines[i + 1] for i, line in enumerate(lines) if "now ALLOWED JCP → ALI: provider-statistics for" in line]
    assert not stats or all("lifting restriction `DWP-ONE-WAY-2005`" in line for line in stats), p.stdout


def test_a_missing_bundle_named_by_the_environment_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items()}
    env["LAWFUL_BUNDLE"] = str(tmp_path / "gone")
    p = subprocess.run([LAWFUL, "flows"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert p.returncode == 2
    assert f"bundle folder `{tmp_path / 'gone'}` (from $LAWFUL_BUNDLE) does not exist" in p.stderr, p.stderr
    assert "set $LAWFUL_BUNDLE" in p.stderr


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_service_answers_400_for_a_body_that_is_not_json():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from engine.ops.service import BundleHolder, create_app

    client = TestClient(create_app(BundleHolder(None)))
    r = client.post("/v1/decide", content=b"xx", headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    (err,) = r.json()["errors"]
    assert err["code"] == "bad-request" and err["message"].startswith("the body is not JSON text")
    r = client.post("/v1/decide", json={"source": "JCP"})  # JSON, but not a question: still 422
    assert r.status_code == 422 and all(e["code"] == "bad-request" for e in r.json()["errors"])


def test_a_considered_exception_names_its_place_once(policy):
    from engine.render.explain import explain

    d = policy.decide("JCP", "JCP", "provider-data", "inspection", on=JUNE_2005)
    (c,) = [c for c in d.considered if c.kind == "restriction" and "exception" in c.reason]
    line = next(line for line in explain(d).splitlines() if f"restriction {c.id}:" in line)
    assert line.count(str(c.span)) == 1, line
    assert str(c.span) in c.reason  # the JSON keeps its reason whole


@pytest.mark.parametrize("args", [["graph", "--max-nodes", "-5"], ["serve", "--port", "99999"],
                                  ["serve", "--max-batch", "5000"], ["serve", "--watch-interval", "-1"],
                                  ["audit", "x.csv", "--workers", "0"]])
def test_numeric_options_out_of_range_are_usage_errors(run, args):
    p = run(*args)
    assert p.returncode == 2 and p.stderr.startswith("error[bad-usage]: Invalid value for"), p.stderr


def test_check_json_summary_counts_info_too(run):
    import json

    p = run("check", "--on", "2005-06-23", "--bundle", str(ROOT), "--format", "json")
    doc = json.loads(p.stdout)
    infos = sum(1 for d in doc["diagnostics"] if d["severity"] == "info")
    assert infos and doc["summary"] == {"errors": 0, "warnings": len(doc["diagnostics"]) - infos, "info": infos}


def test_the_public_policy_methods_declare_what_they_return():
    import inspect

    for name in ("decide", "decide_all_purposes", "allowed", "routes"):
        sig = inspect.signature(getattr(engine.Policy, name))
        assert sig.return_annotation is not inspect.Signature.empty, name
        assert getattr(engine.Policy, name).__doc__, name


def test_log_verify_says_how_many_records_verify_once(run, tmp_path):
    from engine.ops.decision_log import create_key

    log = tmp_path / "torn.jsonl"
    log.write_bytes(b"\xff\xfe garbage\n")
    create_key(tmp_path / "torn.jsonl.key")  # since issue 19 a log is verified with its key (without: exit 2)
    p = run("log", "verify", str(log))
    assert p.returncode == 1 and p.stdout.count("record(s)") == 1, p.stdout
    assert "0 record(s) verify; head sha256:" in p.stdout and "byte offset 0" in p.stdout


def test_lawful_dash_dash_version(run):
    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip() == engine.__version__


def test_lawful_test_prints_one_summary_line(run, tmp_path):
    bad = tmp_path / "t.policy"
    bad.write_text('test "t" {\n  expect maybe JCP -> ALI provider-data\n}\n')
    p = run("test", str(bad))
    assert p.returncode == 2 and "error[parse-error]" in p.stdout
    assert "warnings" not in p.stdout and p.stdout.rstrip().endswith("0 passed, 0 failed, 1 error"), p.stdout


def test_audit_text_never_writes_a_logs_control_characters_raw(run, tmp_path):
    log = tmp_path / "evil.csv"
    log.write_text('source,recipient,data,purpose,date\n"\x1b[2J\x1b[31mEVIL\nx",ALI,provider-data,inspection,2005-06-23\n',
                   encoding="utf-8")
    p = run("audit", str(log))
    assert p.returncode == 1 and "\x1b" not in p.stdout, repr(p.stdout)
    assert "\\x1b[2J\\x1b[31mEVIL\\nx" in p.stdout and "1 row in 1 file" in p.stdout, p.stdout


def test_grouped_answers_keep_fixes_nearest_first(policy):
    ds = policy.decide_all_purposes("LSC", "ALI", "provider-data", on=dt.date(2005, 6, 21))
    (d,) = [d for d in ds if d.purpose == "inspection"]
    assert [f.kind for f in d.fixes][:2] == ["renew-agreement", "new-agreement"], d.fixes
    lines = [line.strip() for line in explain_grouped(ds).splitlines() if "to make it lawful" in line]
    assert lines.index(f"to make it lawful: {d.fixes[0].description}") < \
        lines.index(f"to make it lawful: {d.fixes[1].description}")


def test_a_purpose_written_as_a_fourth_word_gets_a_hint(run):
    for script, args in ((CAN_SHARE, ["JCP", "ALI", "provider-data", "inspection"]),
                         (LAWFUL, ["can-share", "JCP", "ALI", "provider-data", "inspection"])):
        p = run(*args, script=script)
        assert p.returncode == 2 and p.stderr.startswith("error[bad-usage]: ")
        assert "help: the purpose is an option: " in p.stderr and "--purpose PURPOSE" in p.stderr, p.stderr


def test_check_lists_errors_before_warnings(run, tmp_path):
    import shutil as sh

    sh.copytree(ROOT / "policies", tmp_path / "policies")
    sh.copy(ROOT / "gateways.yaml", tmp_path / "gateways.yaml")
    (tmp_path / "policies" / "x.policy").write_text('agreement X "x" {\n  from LSC to ALI\n  data\n}\n')
    p = run("check", "--bundle", str(tmp_path))
    assert p.returncode == 1  # errors in the files are findings
    assert p.stdout.startswith("policies/x.policy:4:1: error[parse-error]: "), p.stdout[:300]
    assert "warning[" in p.stdout


def test_onward_clauses_are_said_in_words(policy):
    from engine.render.explain import explain

    d = policy.decide("HMRC", "Connexions", "child-benefit-data", "youth-support", on=JUNE_2005)
    assert d.allowed and "what they may do with it next: pass it on only where HMRC could itself lawfully " \
                         "share it directly" in explain(d)
    d = policy.decide("LSC", "ALI", "provider-data", "inspection", on=JUNE_2005)
    assert "what they may do with it next: not pass it on (it may not leave ALI)" in explain(d)
    assert d.to_dict()["basis"]["onward"] == "none"  # the JSON keeps the clause as written


def test_an_agreement_not_yet_begun_is_brought_forward_not_renewed(policy):
    d = policy.decide("LSC", "ALI", "provider-data", "inspection", on=dt.date(2005, 6, 21))
    (fix,) = [f for f in d.fixes if f.kind == "renew-agreement"]
    assert fix.description == ("Ask the owner of agreement LSC-ALI-2005 (Data Sharing Lead, Learning and Skills "
                               "Council) to bring its start forward to 2005-06-21 (it starts on 2005-06-22)"), \
        fix.description


@pytest.mark.parametrize("asked", ["UNSUPPORTED-AGREEMENT", "error[unsupported-agreement]",
                                   "error[unsupported-agreement]:", " unsupported-agreement "])
def test_check_explain_takes_a_code_as_printed_or_in_any_case(run, asked):
    p = run("check", "--explain", asked)
    assert p.returncode == 0 and p.stdout.startswith("unsupported-agreement: "), p.stdout + p.stderr


def test_a_bad_register_date_is_reported_once(tmp_path):
    import shutil as sh

    sh.copytree(ROOT / "policies", tmp_path / "policies")
    reg = (ROOT / "gateways.yaml").read_text(encoding="utf-8").replace("commenced: 1992-07-01",
                                                                       'commenced: "2005-W25-4"', 1)
    (tmp_path / "gateways.yaml").write_text(reg, encoding="utf-8")
    with pytest.raises(engine.DiagnosticsError) as exc:
        engine.load(tmp_path)
    dates = [d for d in exc.value.diagnostics if "is not a real date" in d.message]
    assert len(dates) == 1, [d.message for d in exc.value.diagnostics]


def test_assuming_a_gateway_suggests_the_statute_it_cites():
    import pytest

    import engine

    with pytest.raises(engine.UnknownNameError) as info:
        engine.load().decide("JCP", "ALI", "provider-data", "inspection", assume=["DCA-PROVIDER-DATA"])
    assert info.value.suggestions == ("DCA-GATEWAY-2006",)


def test_csv_outputs_never_carry_a_spreadsheet_formula(tmp_path):
    """A transfer log is outside input: a value like `=HYPERLINK(…)` comes back as text, not a formula."""
    import csv
    import io

    from typer.testing import CliRunner

    from cli import app
    from engine.render.report import csv_cell

    assert csv_cell("=1+1") == "'=1+1" and csv_cell("@SUM(A1)") == "'@SUM(A1)" and csv_cell("LSC") == "LSC"
    log = tmp_path / "log.csv"
    log.write_text("source,recipient,data,purpose,date\n"
                   "=HYPERLINK(\"http://x\"),ALI,provider-data,inspection,2005-06-23\n"
                   "JCP,ALI,provider-data,inspection,2005-06-23\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["audit", str(log), "--format", "csv"])
    assert result.exit_code == 1, result.output
    cells = [c for row in csv.reader(io.StringIO(result.stdout)) for c in row]
    assert not any(c[:1] in "=+-@" for c in cells if c), cells
    assert any(c.startswith("'=HYPERLINK") for c in cells), cells


def test_fmt_and_test_refuse_a_folder_far_bigger_than_a_bundle(tmp_path, monkeypatch):
    """`lawful fmt ../..` must not walk a whole disk: the walk is bounded and says so (exit 2)."""
    from typer.testing import CliRunner

    import engine.review.testing
    from cli import app

    for i in range(30):
        (tmp_path / f"junk-{i}.txt").write_text("x")
    monkeypatch.setattr(engine.review.testing, "MAX_WALK_ENTRIES", 10)
    for command in (["fmt", "--check", str(tmp_path)], ["test", str(tmp_path)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "too-many-files" in result.output and "Traceback" not in result.output
