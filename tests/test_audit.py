"""`lawful audit` with the local engine: generated logs with planted rows, every format, every output."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.ops.transfers import ColumnMap, audit_local, as_text, parse_day

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from transfer_log import SEED_QUESTION, generate  # noqa: E402

ROWS = 6000


def _flagged(report) -> tuple[dict, dict]:
    return ({f.row: (f.source, f.recipient, f.data, f.purpose, f.date) for f in report.unlawful},
            {f.row: f.code for f in report.rejected})


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_audit_finds_exactly_the_planted_rows(default_policy, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    path = tmp_path / f"log.{fmt}"
    plan = generate(default_policy, path, ROWS, fmt, seed=7, unlawful_rate=0.02, rejected_rate=0.01)
    assert len(plan.unlawful) > 50 and len(plan.rejected) > 20
    report = audit_local(default_policy, [path], chunk_rows=997)  # chunks that do not divide the log
    unlawful, rejected = _flagged(report)
    assert unlawful == plan.unlawful
    assert rejected == plan.rejected
    t = report.tally
    assert (t.rows, t.unlawful, t.rejected, t.lawful) == (
        ROWS, len(plan.unlawful), len(plan.rejected), ROWS - len(plan.unlawful) - len(plan.rejected))
    assert report.failed
    # Decided once per distinct question, not once per row.
    assert report.distinct_questions < ROWS


def test_the_seed_row_is_unlawful_with_its_reason(default_policy, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("source,recipient,data,purpose,date\n" + ",".join(SEED_QUESTION) + "\n", encoding="utf-8")
    report = audit_local(default_policy, [path])
    [f] = list(report.unlawful)
    assert f.row == 1 and f.code == "deny"
    # the department's one-way position of 2005 (provider data is not about a person: not the s.123 offence)
    assert "one-way legislative block" in f.reason and f.rules[0] == "DWP-ONE-WAY-2005"
    summary = report.tally.to_dict()
    assert summary["by_pair"] == [{"source": "JCP", "recipient": "ALI", "count": 1}]
    assert summary["by_reason"][0]["reason"] == f.reason


def test_chunk_size_does_not_change_the_result(default_policy, tmp_path):
    path = tmp_path / "log.csv"
    generate(default_policy, path, 3000, "csv", seed=11)
    whole = audit_local(default_policy, [path], chunk_rows=10_000).to_dict()
    assert audit_local(default_policy, [path], chunk_rows=1).to_dict() == whole
    assert audit_local(default_policy, [path], chunk_rows=128).to_dict() == whole


def test_rows_are_rejected_with_their_numbers_never_dropped(default_policy, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "source,recipient,data,purpose,date\n"
        "LSC,ALI,provider-data,inspection,2005-06-23\n"        # 1 lawful
        "\n"                                                   # a blank line is no record
        "LSC,ALI,provider-data,inspection,2005-06-23T10:15:00\n"  # 2 lawful: a timestamp's date counts
        "LSCC,ALI,provider-data,inspection,2005-06-23\n"       # 3 unknown organisation
        "LSC,ALI,provider-data,inspection,2005-02-30\n"        # 4 impossible date
        "LSC,ALI,provider-data,inspection,23/06/2005\n"        # 5 foreign date
        "LSC,ALI,,inspection,2005-06-23\n"                     # 6 empty cell
        "LSC,ALI,provider-data\n"                              # 7 short row
        "LSC,ALI,provider-data,inspecton,2005-06-23\n",        # 8 unknown purpose
        encoding="utf-8")
    report = audit_local(default_policy, [path])
    got = {f.row: (f.code, f.help) for f in report.rejected}
    assert {k: v[0] for k, v in got.items()} == {3: "unknown-name", 4: "bad-date", 5: "bad-date", 6: "missing-value",
                                               7: "missing-value", 8: "unknown-name"}
    assert "`LSC`" in got[3][1] and "`inspection`" in got[8][1]
    assert report.tally.rows == 8 and report.tally.lawful == 2 and report.tally.unlawful == 0


def test_json_lines_rows_are_line_numbers_and_bad_lines_are_rejected(default_policy, tmp_path):
    path = tmp_path / "log.jsonl"
    good = json.dumps(dict(zip(("source", "recipient", "data", "purpose", "date"), SEED_QUESTION)))
    path.write_text(f"{good}\n\n{{not json\n[1, 2]\n{good}\n", encoding="utf-8")
    report = audit_local(default_policy, [path])
    assert [f.row for f in report.unlawful] == [1, 5]
    assert [(f.row, f.code) for f in report.rejected] == [(3, "malformed-row"), (4, "malformed-row")]


def test_columns_can_be_mapped(default_policy, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("from,to,what,why,when\n" + ",".join(SEED_QUESTION) + "\n", encoding="utf-8")
    report = audit_local(default_policy, [path], ColumnMap("from", "to", "what", "why", "when"))
    assert report.tally.unlawful == 1


def test_values_are_read_the_same_whatever_the_reader_hands_over():
    import datetime as dt

    assert as_text(" JCP ") == "JCP" and as_text("") is None and as_text(None) is None
    assert as_text(float("nan")) is None
    assert as_text(dt.date(2005, 6, 23)) == "2005-06-23"
    assert as_text(dt.datetime(2005, 6, 23, 10, 0)) == "2005-06-23"
    assert parse_day("2005-06-23") == dt.date(2005, 6, 23)
    assert parse_day("2005-06-23 10:00:00") == dt.date(2005, 6, 23)
    assert parse_day("20050623") is None and parse_day("2005-13-01") is None


# ---- the command -------------------------------------------------------------------------------------


def lawful(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


@pytest.fixture
def small_log(default_policy, tmp_path) -> tuple[Path, object]:
    path = tmp_path / "log.csv"
    plan = generate(default_policy, path, 800, "csv", seed=5, unlawful_rate=0.03, rejected_rate=0.01)
    return path, plan


def test_cli_json_csv_and_text_agree_and_exit_1(small_log):
    path, plan = small_log
    j = lawful("audit", str(path), "--format", "json")
    assert j.returncode == 1, j.stderr
    doc = json.loads(j.stdout)
    assert {f["row"] for f in doc["unlawful"]} == set(plan.unlawful)
    assert {f["row"]: f["code"] for f in doc["rejected"]} == plan.rejected
    assert doc["summary"]["rows"] == 800
    c = lawful("audit", str(path), "--format", "csv")
    assert c.returncode == 1
    rows = list(csv.DictReader(io.StringIO(c.stdout)))
    assert len(rows) == len(plan.unlawful) + len(plan.rejected)
    assert "800 rows in 1 file" in c.stderr  # the summary goes to stderr, the table stays clean
    t = lawful("audit", str(path))
    assert t.returncode == 1
    assert f"{path} row 1  JCP → ALI" in t.stdout and "unlawful by organisation pair:" in t.stdout
    assert "\r" not in t.stderr  # no progress bar when stderr is not a terminal


def test_cli_a_clean_log_exits_0(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("source,recipient,data,purpose,date\nLSC,ALI,provider-data,inspection,2005-06-23\n",
                    encoding="utf-8")
    r = lawful("audit", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 lawful, 0 unlawful, 0 rejected" in r.stdout


def test_cli_unreadable_input_is_exit_2_with_a_diagnostic(tmp_path):
    missing = lawful("audit", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "bad-log" in missing.stderr and "Traceback" not in missing.stderr
    log = tmp_path / "log.csv"
    log.write_text("source,recipient,data,purpose,day\n", encoding="utf-8")
    r = lawful("audit", str(log))
    assert r.returncode == 2 and "no column `date`" in r.stderr and "--on-column" in r.stderr
    assert lawful("audit", str(log), "--on-column", "day").returncode == 0
    odd = tmp_path / "log.txt"
    odd.write_text("x", encoding="utf-8")
    assert lawful("audit", str(odd)).returncode == 2
    r = lawful("audit", str(log), "--on-column", "day", "--assume", "NO-SUCH-ACT")
    assert r.returncode == 2 and "unknown statute" in r.stderr


def test_progress_is_shown_only_when_asked_for_a_terminal(default_policy, tmp_path):
    from engine.ops.transfers import Progress

    path = tmp_path / "log.csv"
    generate(default_policy, path, 300, "csv", seed=2)
    shown = io.StringIO()
    audit_local(default_policy, [path], chunk_rows=100, progress=Progress(shown, enabled=True))
    assert "rows (" in shown.getvalue() and "unlawful" in shown.getvalue()
    quiet = io.StringIO()
    audit_local(default_policy, [path], progress=Progress(quiet))  # a StringIO is not a terminal
    assert quiet.getvalue() == ""
