"""Issue 16: the review tools' configuration (lawful.toml, [tool.lawful]), inline `# lawful: ignore[…]`,
--fail-level and the exit codes of check, test and diff (0 clean, 1 findings, 2 could not run), and errors as a
JSON envelope on standard output with --format json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from conftest import ROOT, write_bundle
from engine.base.diagnostics import ADJUSTABLE, CODES
from engine.review.config import load_config, parse_config
from engine.errors import DiagnosticsError

runner = CliRunner()

VOCAB = """\
organisation LSC "Learning and Skills Council"
organisation ALI "Adult Learning Inspectorate"
organisation AoC "Association of Colleges"
data provider-data "Provider data"
purpose inspection "Inspection"
gateway G "g" {
  statute LSA-2000 "s.1"
  allows LSC -> ALI
  data provider-data
  for inspection
  requires agreement
}
"""

# no review date (warning), owner given; AoC is isolated (a note)
AGREEMENT = """\
agreement A "a" {
  from LSC to ALI
  data provider-data
  for inspection
  under G
  valid 2005-01-01 to 2006-12-31
  owner "someone"
}
"""


def bundle(tmp_path: Path, text: str = VOCAB + AGREEMENT, config: str | None = None, name: str = "lawful.toml") -> Path:
    root = write_bundle(tmp_path / "b", {"main.policy": text})
    if config is not None:
        (root / name).write_text(config, encoding="utf-8")
    return root


def check(root: Path, *args: str):
    """`lawful check` on 2006-01-01 (while the agreement is in force) unless the arguments name a date."""
    when = [] if "--on" in args or (root / "lawful.toml").is_file() and "as-of" in (root / "lawful.toml").read_text() \
        else ["--on", "2006-01-01"]
    r = runner.invoke(app, ["check", "--bundle", str(root), *when, *args])
    return r.exit_code, r.output


def codes(output: str) -> list[str]:
    import re

    return re.findall(r"(?:error|warning|info)\[([a-z0-9-]+)\]", output)


# ---- the default bundle -------------------------------------------------------------------------------


def test_the_default_bundle_is_checked_on_its_as_of_date():
    config = load_config(ROOT)
    assert config.as_of is not None and config.as_of.isoformat() == "2005-06-23"
    code, out = check(ROOT)
    assert code == 0, out
    # judged on 2005-06-23, not today: nothing signed in 2005 is "expired", no body "succeeded" yet
    assert not {"agreement-expired", "review-overdue", "succeeded-organisation"} & set(codes(out)), out
    assert out.rstrip().endswith("0 errors, 0 warnings, 26 notes (info)"), out.splitlines()[-1]
    # --on still asks about another day
    code, out = check(ROOT, "--on", "2012-01-01")
    assert "agreement-expired" in codes(out)


# ---- lawful.toml and [tool.lawful] --------------------------------------------------------------------------


def test_severity_ignore_and_per_path(tmp_path):
    root = bundle(tmp_path)
    code, out = check(root)
    assert code == 0 and sorted(codes(out)) == ["isolated-organisation", "no-review-date"], out
    (root / "lawful.toml").write_text('[severity]\nno-review-date = "error"\n', encoding="utf-8")
    code, out = check(root)
    assert code == 1 and "error[no-review-date]" in out, out
    (root / "lawful.toml").write_text('ignore = ["isolated-organisation"]\n[severity]\nno-review-date = "note"\n')
    code, out = check(root, "--fail-level", "warning")
    assert code == 0 and codes(out) == ["no-review-date"] and "info[no-review-date]" in out, out
    (root / "lawful.toml").write_text('[per-path-ignores]\n'
                                      '"policies/*.policy" = ["no-review-date", "isolated-organisation"]\n')
    code, out = check(root, "--fail-level", "note")
    assert code == 0 and codes(out) == [], out
    (root / "lawful.toml").write_text('[per-path-ignores]\n"policies/other.policy" = ["no-review-date"]\n')
    assert "no-review-date" in codes(check(root)[1])


def test_pyproject_tool_table_and_precedence(tmp_path):
    root = bundle(tmp_path, config='[project]\nname = "x"\n\n[tool.lawful]\nignore = ["no-review-date"]\n',
                  name="pyproject.toml")
    assert "no-review-date" not in codes(check(root)[1])
    # lawful.toml wins over pyproject.toml
    (root / "lawful.toml").write_text('ignore = ["isolated-organisation"]\n', encoding="utf-8")
    out = check(root)[1]
    assert "no-review-date" in codes(out) and "isolated-organisation" not in codes(out)
    # a pyproject.toml without [tool.lawful] is no configuration
    (root / "lawful.toml").unlink()
    (root / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert load_config(root).path is None


def test_fail_level_from_the_configuration(tmp_path):
    root = bundle(tmp_path, config='fail-level = "warning"\n')
    assert check(root)[0] == 1
    assert check(root, "--fail-level", "error")[0] == 0  # the command line wins


@pytest.mark.parametrize("text, needle, line", [
    ('as-of = 2005-06-23\nfial-level = "warning"\n', "`fial-level` is not a setting lawful knows", 2),
    ('ignore = ["no-reveiw-date"]\n', "did you mean no-review-date", 1),
    ('ignore = ["unknown-name"]\n', "an error: errors cannot be ignored", 1),
    ('[severity]\nparse-error = "note"\n', "an error: errors cannot be ignored", 2),
    ('[severity]\nno-owner = "loud"\n', "must be error, warning, note or off", 2),
    ('as-of = "last tuesday"\n', "must be a date", 1),
    ('fail-level = "fatal"\n', "must be one of error, warning, note", 1),
    ('ignore = "no-owner"\n', "must be a list", 1),
    ('as-of = 2005-06-23\n[severity\n', "is not valid TOML", 2),
])
def test_a_bad_configuration_stops_the_command(tmp_path, text, needle, line):
    root = bundle(tmp_path, config=text)
    code, out = check(root)
    assert code == 2, out
    assert "error[bad-config]" in out and needle in out, out
    assert f"lawful.toml:{line}:" in out, out
    # and as JSON on standard output
    r = runner.invoke(app, ["check", "--bundle", str(root), "--format", "json"])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["errors"][0]["code"] == "bad-config" and doc["errors"][0]["span"]["file"] == "lawful.toml"


def test_every_adjustable_code_is_a_finding_and_every_other_an_error():
    assert set(ADJUSTABLE) <= set(CODES)
    with pytest.raises(DiagnosticsError):
        parse_config('ignore = ["bad-config"]\n')
    for code in ADJUSTABLE:
        assert code in parse_config(f'ignore = ["{code}"]\n').ignore


def test_warning_codes_found_by_check_are_adjustable(tmp_path):
    """Every code that check reports as a warning or note, on the default bundle on several dates and on the
    lint cases, is one the configuration can adjust (ADJUSTABLE names its level)."""
    from engine.review.config import NO_CONFIG
    from engine.review.lint import check_and_lint
    import datetime as dt

    seen = set()
    for day in (dt.date(2005, 6, 23), dt.date(2012, 1, 1), dt.date(2006, 6, 1)):
        diags, _ = check_and_lint(ROOT, day, 90, NO_CONFIG)
        for d in diags:
            assert d.severity.value != "error"
            assert ADJUSTABLE.get(d.code) == d.severity.value, d.headline()
            seen.add(d.code)
    assert {"agreement-expired", "agreement-expiring", "implied-power", "isolated-organisation"} <= seen


# ---- inline ignores ------------------------------------------------------------------------------------------


def test_inline_ignore_on_the_line(tmp_path):
    text = VOCAB + AGREEMENT.replace('agreement A "a" {',
                                     'agreement A "a" {  # lawful: ignore[no-review-date] reviewed yearly by the board')
    root = bundle(tmp_path, text)
    code, out = check(root)
    assert code == 0 and "no-review-date" not in codes(out), out
    text = VOCAB.replace('organisation AoC "Association of Colleges"',
                         'organisation AoC "Association of Colleges"  '
                         '# lawful: ignore[isolated-organisation] declared for tests') + AGREEMENT
    assert "isolated-organisation" not in codes(check(bundle(tmp_path / "2", text))[1])


def test_inline_ignore_on_the_block(tmp_path):
    # `agreement-expired` is reported on the `valid` clause, inside the block: a comment above the block covers it
    above = ("# the agreement was kept for the record\n"
             "# lawful: ignore[agreement-expired, no-review-date] kept for the 2005 history\n")
    root = bundle(tmp_path, VOCAB + above + AGREEMENT)
    code, out = check(root, "--on", "2008-01-01", "--fail-level", "warning")
    assert code == 0 and codes(out) == ["isolated-organisation"], out
    # the same comment further away (a blank line between) covers nothing, and says so
    root = bundle(tmp_path / "2", VOCAB + above + "\n" + AGREEMENT)
    code, out = check(root, "--on", "2008-01-01")
    assert {"agreement-expired", "no-review-date", "unused-ignore"} <= set(codes(out)), out
    # a trailing comment on a clause covers that line only
    text = VOCAB + AGREEMENT.replace("  valid 2005-01-01 to 2006-12-31",
                                     "  valid 2005-01-01 to 2006-12-31  # lawful: ignore[agreement-expired] historical")
    out = check(bundle(tmp_path / "3", text), "--on", "2008-01-01")[1]
    assert "agreement-expired" not in codes(out) and "no-review-date" in codes(out), out


def test_inline_ignores_that_are_wrong_are_reported(tmp_path):
    text = (VOCAB + AGREEMENT.replace('agreement A "a" {', 'agreement A "a" {  # lawful: ignore[no-review-date]')
            + 'data d2 "d2"  # lawful: ignore[no-ownr] typo\n'
            + 'data d3 "d3"  # lawful: ignore[no-owner] nothing to silence here\n'
            + 'data d4 "a # lawful: ignore[no-owner] inside a string is not a comment"\n')
    code, out = check(bundle(tmp_path, text))
    found = codes(out)
    assert "no-review-date" not in found  # silenced, but…
    assert "gives no reason" in out  # …without a reason
    assert "names no diagnostic code" in out and "did you mean no-owner" in out
    assert found.count("unused-ignore") == 1 and "policies/main.policy:22:15: info[unused-ignore]" in out, out
    assert code == 0 and check(bundle(tmp_path / "w", text), "--fail-level", "warning")[0] == 1


def test_an_inline_ignore_cannot_hide_an_error(tmp_path):
    text = (VOCAB + AGREEMENT + '# lawful: ignore[unknown-name] cannot hide an error\n'
            'organisation X "x" part-of Nowhere  # lawful: ignore[unknown-name] nor here\n')
    code, out = check(bundle(tmp_path, text))
    assert code == 1, out  # the unknown organisation is still an error
    assert "error[unknown-name]" in out and out.count("cannot silence an error") == 2, out
    assert "unused-ignore" not in out  # the lint did not run, so nothing is said to be unused


def test_a_suppressed_finding_does_not_fail_the_fail_level(tmp_path):
    text = VOCAB.replace('organisation AoC "Association of Colleges"',
                         'organisation AoC "Association of Colleges"  # lawful: ignore[isolated-organisation] tests') \
        + AGREEMENT.replace('agreement A "a" {', 'agreement A "a" {  # lawful: ignore[no-review-date] yearly review')
    assert check(bundle(tmp_path, text), "--fail-level", "note")[0] == 0


# ---- exit codes -------------------------------------------------------------------------------------------------


def test_check_exit_codes(tmp_path):
    root = bundle(tmp_path)
    assert check(root)[0] == 0  # a warning and a note: below the default fail level
    assert check(root, "--fail-level", "warning")[0] == 1
    assert check(root, "--strict")[0] == 1
    assert check(root, "--fail-level", "note")[0] == 1
    assert check(bundle(tmp_path / "e", VOCAB + "organisation X \"x\" part-of Nowhere\n"))[0] == 1  # error: a finding
    assert check(tmp_path / "nowhere")[0] == 2  # no bundle: could not run
    assert runner.invoke(app, ["check", "--bundle", str(root), "--fail-level", "loud"]).exit_code == 2  # usage
    assert check(bundle(tmp_path / "c", config="nonsense = 1\n"))[0] == 2  # configuration


def test_test_exit_codes_and_as_of(tmp_path):
    root = bundle(tmp_path)
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "pass.policy").write_text('test "t" {\n  expect allow LSC -> ALI provider-data for inspection\n}\n')
    # without `on`, the expectation is judged today, after the agreement ended: it fails …
    r = runner.invoke(app, ["test", str(tests), "--bundle", str(root)])
    assert r.exit_code == 1, r.output
    # … and on the bundle's as-of date it passes
    (root / "lawful.toml").write_text("as-of = 2006-01-01\n", encoding="utf-8")
    r = runner.invoke(app, ["test", str(tests), "--bundle", str(root)])
    assert r.exit_code == 0, r.output
    (tests / "bad.policy").write_text('test "t" {\n  expect allow LSC -> Nobody provider-data\n}\n')
    r = runner.invoke(app, ["test", str(tests), "--bundle", str(root)])
    assert r.exit_code == 2, r.output  # could not run
    r = runner.invoke(app, ["test", str(tests), "--bundle", str(tmp_path / "nowhere"), "--format", "json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["errors"][0]["code"] == "bad-bundle"


# ---- errors as JSON -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, code", [
    (["can-share", "JCP", "ALIX", "provider-data", "-f", "json"], "unknown-name"),
    (["can-share", "JCP", "ALI", "provider-data", "--on", "2005-13-01", "--format", "json"], "bad-date"),
    (["diff", "no-such-revision", "HEAD", "--format", "json"], "bad-revision"),
    (["check", "--bundle", "/nowhere/at/all", "--format", "json"], "bad-bundle"),
    (["check", "--format", "json", "--no-such-option"], "bad-usage"),
    (["recipients", "JCP", "provider-data", "--format=json", "--max-hops", "99"], "limit-exceeded"),
    (["flows", "--format", "json", "--on", "yesterday"], "bad-date"),
])
def test_json_errors_are_an_envelope_on_stdout(args, code, monkeypatch):
    import subprocess
    import sys

    monkeypatch.chdir(ROOT)
    lawful = shutil.which("lawful", path=str(Path(sys.executable).parent))
    p = subprocess.run([lawful, *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    assert set(doc) == {"errors"} and doc["errors"][0]["code"] == code, doc
    assert {"code", "message", "help"} <= set(doc["errors"][0])
    assert p.stderr == ""
    if code == "unknown-name":  # the same fields as the service's 422
        assert doc["errors"][0]["suggestions"] == ["ALI"] and doc["errors"][0]["kind"] == "organisation"


def test_an_error_is_never_ignored_or_relevelled_whatever_its_code():
    """A code that is usually a finding can also come as an error (statute-status-mismatch does): the error
    stays, whatever the configuration says about the code."""
    from engine.base.diagnostics import error
    from engine.base.source import Span
    from engine.review.config import apply

    config = parse_config('ignore = ["no-owner"]\n[severity]\nno-review-date = "note"\n'
                          '[per-path-ignores]\n"policies/*" = ["no-owner"]\n')
    diags = [error("no-owner", "x", Span("policies/a.policy", 1, 1)),
             error("no-review-date", "y", Span("policies/a.policy", 2, 1))]
    assert [(d.code, d.severity.value) for d in apply(diags, config)] == [("no-owner", "error"),
                                                                          ("no-review-date", "error")]


def test_a_configuration_that_cannot_be_read_stops_the_command(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    root = bundle(tmp_path, config='ignore = ["no-review-date"]\n')
    (root / "lawful.toml").chmod(0)
    try:
        code, out = check(root)
    finally:
        (root / "lawful.toml").chmod(0o644)
    assert code == 2 and "error[bad-config]" in out and "cannot read `lawful.toml`" in out, out


def test_a_bundle_folder_that_cannot_be_searched_is_left_to_the_reader(tmp_path, monkeypatch):
    """When even asking whether lawful.toml exists fails (a folder that may not be searched), no configuration
    is taken as read and reading the bundle reports the folder (so the command cannot run): never a traceback."""
    import pathlib

    from engine.review.config import NO_CONFIG

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "is_file", denied)
    assert load_config(tmp_path) is NO_CONFIG
