"""Issue 19, item 3 (statute status): a register entry whose `status` and dates disagree was used silently.

The attack: `status: repealed` with a `repealed:` date still to come. The engine follows the dates, so the
statute was in force and its gateways allowed flows while the register a reviewer reads said `repealed`,
with no warning. Now `statute-status-mismatch`:
- an error when the status takes away a power the dates still give (`repealed`, repeal still to come: the
  engine would allow what the register says is gone);
- a warning when the status claims a power the dates do not give (`in-force` but repealed or not yet
  commenced, `proposed` but commenced or repealed): the engine already follows the stricter reading and
  denies; the register is stale.
The status records the register's present, so it is judged on the evaluation date, or today when that is
earlier: a historical `--on` never makes a correct status wrong.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from conftest import ROOT, write_bundle
from engine.errors import DiagnosticsError
from engine.policy.load import check_bundle

runner = CliRunner()

POLICY = """\
organisation A "Body A"
organisation B "Body B"
data d "Some data"
purpose p "A purpose"
gateway G "A gateway" {
  statute ACT "section 1"
  allows A -> B
  data d
  for p
}
"""
FUTURE = "2999-01-01"  # always after today


def register(status: str, commenced: str | None = "2000-01-01", repealed: str | None = None) -> str:
    text = f"statutes:\n  ACT:\n    title: An Act\n    status: {status}\n"
    if commenced:
        text += f"    commenced: {commenced}\n"
    if repealed:
        text += f"    repealed: {repealed}\n"
    return text


def mismatches(register_text: str, on: dt.date | None = None, tmp: Path | None = None) -> list:
    root = write_bundle(tmp, {"a.policy": POLICY}, register_text)
    diags, _ = check_bundle(root, on)
    return [d for d in diags if d.code == "statute-status-mismatch"]


def test_repealed_status_with_a_repeal_still_to_come_is_an_error(tmp_path: Path):
    text = register("repealed", repealed=FUTURE)
    # The reported attack: this loaded with no diagnostic and allowed A -> B today.
    with pytest.raises(DiagnosticsError) as caught:
        engine.load_texts({"policies/a.policy": POLICY}, text)
    found = [d for d in caught.value.diagnostics if d.code == "statute-status-mismatch"]
    assert len(found) == 1
    d = found[0]
    assert d.severity.value == "error"
    assert d.message.startswith("statute `ACT` has status `repealed`, but its repeal takes effect on 2999-01-01")
    assert d.span.file == "gateways.yaml" and d.span.line == 2
    assert "status: in-force" in d.help
    root = write_bundle(tmp_path, {"a.policy": POLICY}, text)
    check = runner.invoke(app, ["check", "--bundle", str(root)])
    assert check.exit_code == 1 and "error[statute-status-mismatch]" in check.output, check.output  # a finding
    ask = runner.invoke(app, ["can-share", "A", "B", "d", "--purpose", "p", "--bundle", str(root)])
    assert ask.exit_code == 2 and "ALLOWED" not in ask.output, ask.output


def test_a_scheduled_repeal_is_written_in_force_and_loads_clean():
    policy = engine.load_texts({"policies/a.policy": POLICY}, register("in-force", repealed=FUTURE))
    assert not [w for w in policy.warnings if w.code == "statute-status-mismatch"]
    assert policy.allowed("A", "B", "d", "p")
    assert not policy.allowed("A", "B", "d", "p", on=dt.date(2999, 1, 1))


@pytest.mark.parametrize("status, commenced, repealed, words", [
    ("in-force", "2000-01-01", "2001-01-01", "has status `in-force`, but was repealed on 2001-01-01"),
    ("in-force", FUTURE, None, "has status `in-force`, but commences on 2999-01-01"),
    ("proposed", "2000-01-01", None, "has status `proposed`, but commenced on 2000-01-01"),
    ("proposed", None, "2001-01-01", "has status `proposed`, but was repealed on 2001-01-01"),
], ids=["in-force-but-repealed", "in-force-not-commenced", "proposed-but-commenced", "proposed-but-repealed"])
def test_a_status_that_claims_more_than_the_dates_is_a_warning_and_the_engine_denies(status, commenced, repealed,
                                                                                      words, tmp_path: Path):
    text = register(status, commenced, repealed)
    found = mismatches(text, None, tmp_path)
    assert [d.severity.value for d in found] == ["warning"], found
    assert words in found[0].message
    policy = engine.load_texts({"policies/a.policy": POLICY}, text)
    assert [w.code for w in policy.warnings if w.code == "statute-status-mismatch"] == ["statute-status-mismatch"]
    assert not policy.allowed("A", "B", "d", "p")  # the engine already takes the stricter reading


@pytest.mark.parametrize("status, commenced, repealed", [
    ("in-force", "2000-01-01", None),
    ("in-force", "2000-01-01", FUTURE),
    ("repealed", "2000-01-01", "2001-01-01"),
    ("proposed", None, None),
    ("proposed", FUTURE, None),
])
def test_statuses_that_agree_with_their_dates_are_clean(status, commenced, repealed, tmp_path: Path):
    assert mismatches(register(status, commenced, repealed), None, tmp_path) == []


def test_a_historical_date_does_not_make_a_current_status_wrong(tmp_path: Path):
    # Repealed in 2001: on 2000-06-01 it was in force, but the register's status speaks of today.
    assert mismatches(register("repealed", "2000-01-01", "2001-01-01"), dt.date(2000, 6, 1), tmp_path) == []


def test_a_later_evaluation_date_finds_a_register_that_will_be_stale(tmp_path: Path):
    text = register("in-force", "2000-01-01", "2998-01-01")
    assert mismatches(text, None, tmp_path) == []
    later = mismatches(text, dt.date(2998, 6, 1), tmp_path)
    assert [d.severity.value for d in later] == ["warning"]
    # And a repeal written `repealed` ahead of time is no longer an error once the evaluation date reaches it.
    assert mismatches(register("repealed", "2000-01-01", "2998-01-01"), dt.date(2998, 1, 1), tmp_path) == []


def test_the_default_register_agrees_with_itself():
    diags, _ = check_bundle(ROOT)
    assert not [d for d in diags if d.code == "statute-status-mismatch"]
