"""engine/commands: each CLI command as a plain function returning a Result (issue 11, item 6). cli.py only
declares the commands; these tests call the functions directly, and check that they match the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import cli
from conftest import ROOT
from engine.commands import about, bundle, decide, ops, reach, review
from engine.commands.result import EXIT_ERROR, Result, coloured, parse_date, styler

runner = CliRunner()
COMMANDS = ROOT / "engine" / "commands"


def test_no_command_module_imports_typer_or_click():
    for path in COMMANDS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import typer" not in text and "import click" not in text and "from typer" not in text, path
    code = ("import sys, pathlib\nfrom engine.commands import decide, reach, review, ops, bundle, about\n"
            "r = decide.can_share('JCP', 'ALI', 'provider-data', 'inspection', on='2005-06-23',"
            " bundle=pathlib.Path(sys.argv[1]))\n"
            "assert r.exit_code == 1, r.stderr\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'rich', 'pydantic'}))")
    p = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


@pytest.mark.parametrize("role", ["allow", "deny", "dim", "bold", "warning", "other"])
def test_colours_are_the_bytes_typer_would_write(role):
    colours = {"allow": dict(fg="green", bold=True), "deny": dict(fg="red", bold=True), "dim": dict(dim=True),
               "bold": dict(bold=True), "warning": dict(fg="yellow", bold=True)}
    assert coloured("DENIED", role) == typer.style("DENIED", **colours.get(role, {}))
    assert styler(False)("DENIED", role) == "DENIED"


def test_can_share_returns_what_the_cli_prints():
    args = ["JCP", "ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23", "--bundle", str(ROOT)]
    res = decide.can_share("JCP", "ALI", "provider-data", "inspection", on="2005-06-23", bundle=ROOT)
    cli_res = runner.invoke(cli.app, ["can-share", *args])
    assert (res.exit_code, res.output, res.stderr) == (cli_res.exit_code, cli_res.stdout, cli_res.stderr)
    assert res.exit_code == 1 and res.output.startswith("DENIED")


def test_errors_are_results_with_exit_2_never_exceptions():
    res = decide.can_share("JCPX", "ALI", "provider-data", "inspection", bundle=ROOT)
    assert res.exit_code == EXIT_ERROR and res.output == ""
    assert res.stderr.startswith("error[unknown-name]: unknown organisation `JCPX`")
    res = decide.can_share("JCP", "ALI", "provider-data", on="2005-02-30", bundle=ROOT)
    assert res.exit_code == EXIT_ERROR and res.stderr.startswith("error[bad-date]: `2005-02-30` is not a date")
    res = reach.recipients("DfES", "provider-data", max_hops=9, bundle=ROOT)
    assert res.exit_code == EXIT_ERROR and "error[limit-exceeded]" in res.stderr
    res = decide.can_share("JCP", "ALI", "provider-data", bundle=ROOT / "nowhere")
    assert res.exit_code == EXIT_ERROR and "error[bad-bundle]" in res.stderr


def test_an_unexpected_failure_is_internal_error_not_a_traceback(monkeypatch):
    import engine.policy.facade

    def boom(*_a, **_k):
        raise RuntimeError("simulated")

    monkeypatch.setattr(engine.policy.facade.Policy, "decide", boom)
    res = decide.can_share("LSC", "ALI", "provider-data", "inspection", on="2005-06-23", bundle=ROOT)
    assert res.exit_code == EXIT_ERROR and res.output == ""
    assert res.stderr.startswith("error[internal-error]: the engine failed unexpectedly (RuntimeError: simulated)")


def test_parse_date_takes_only_yyyy_mm_dd():
    import datetime as dt

    from engine.errors import RequestError

    assert parse_date("2005-06-23") == dt.date(2005, 6, 23) and parse_date(None) is None
    for bad in ("20050623", "2005-W25-4", "2005-02-30", "23/06/2005"):
        with pytest.raises(RequestError):
            parse_date(bad)


def test_fmt_keeps_the_order_of_its_two_streams(tmp_path):
    (tmp_path / "bad.policy").write_text('gateway G "g" {\n  data\n}\n', encoding="utf-8")
    (tmp_path / "messy.policy").write_text('purpose   p "P"\n', encoding="utf-8")
    res = review.fmt([tmp_path], check=True)
    assert res.exit_code == EXIT_ERROR
    kinds = [("err" if to_err else "out", str(chunk).split(":")[0].split(" ")[0]) for to_err, chunk in res.writes]
    assert [k for k, _ in kinds] == ["err", "out", "err"], kinds  # diagnostics, the list, the summary
    cli_res = runner.invoke(cli.app, ["fmt", "--check", str(tmp_path)])
    assert cli_res.exit_code == res.exit_code
    out = cli_res.output
    assert out.index("error[parse-error]") < out.index("would reformat") < out.index("1 file would be reformatted")


def test_graph_is_bytes_and_png_is_refused_on_a_terminal():
    res = reach.graph(on="2005-06-23", bundle=ROOT)
    assert res.exit_code == 0 and isinstance(res.output, bytes) and res.output.startswith(b"digraph")
    res = reach.graph(on="2005-06-23", fmt="png", bundle=ROOT, stdout_is_terminal=True)
    assert res.exit_code == EXIT_ERROR and "error[missing-option]" in res.stderr


def test_audit_streams_its_report_and_releases_it(tmp_path):
    log = tmp_path / "t.csv"
    log.write_text("source,recipient,data,purpose,date\nLSC,ALI,provider-data,inspection,2005-06-23\n"
                   "JCP,ALI,provider-data,inspection,2005-06-23\n", encoding="utf-8")
    res = ops.audit([log], fmt="csv", bundle=ROOT)
    assert res.exit_code == 1
    assert any(callable(chunk) for _, chunk in res.writes)  # not held as text
    assert "JCP" in res.output and res.stderr.startswith("2 rows in 1 file: 1 lawful, 1 unlawful")
    closed = []
    res.on_close.append(lambda: closed.append(True))
    res.close()
    assert closed == [True] and res.on_close == []


def test_small_commands():
    assert about.version().output.strip() == __import__("engine").__version__
    digest = bundle.bundle_hash(ROOT).output.strip()
    assert digest == runner.invoke(cli.app, ["bundle", "hash", "--bundle", str(ROOT)]).stdout.strip()
    assert review.check(explain="ERROR[Parse-Error]:").output.startswith("parse-error: ")
    res = review.check(explain="parse-eror")
    assert res.exit_code == EXIT_ERROR and "did you mean parse-error?" in res.stderr
    res = ops.log_verify(Path("/nonexistent/decisions.log"))
    assert res.exit_code == EXIT_ERROR and res.stderr.startswith("error[audit-log]: cannot read")


def test_a_result_writes_in_order():
    r = Result().out("a").err("b", nl=False).out(b"c")
    assert r.writes == [(False, "a\n"), (True, "b"), (False, b"c")]
    assert r.stderr == "b" and r.output == "a\nc"
