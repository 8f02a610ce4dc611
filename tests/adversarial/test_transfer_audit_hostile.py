"""Issue 19, item 9: hostile transfer logs against `lawful audit`, local and Dask engines.

The attacks:
- one JSON Lines line of 100,000 nested arrays aborted the local audit (RecursionError, exit 2) and made the
  Dask engine print a worker traceback;
- a non-UTF-8 CSV and a 300 KB field made the engines disagree (local `bad-log`, exit 2; Dask `internal-error`
  or a judged row);
- a 1 GB file with no newline took 2.1 GB of memory (here: a smaller file under a lowered row limit).
Every hostile log must give the SAME report and exit code from both engines (a differential test), and a
hostile row is a `malformed-row` finding while the audit goes on.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from conftest import ROOT
from engine.ops.transfers import ColumnMap, audit_local

runner = CliRunner()

HEADER = b"source,recipient,data,purpose,date\n"
LAWFUL = b"LSC,ALI,provider-data,inspection,2005-06-23\n"
UNLAWFUL = b"JCP,ALI,provider-data,inspection,2005-06-23\n"
J_LAWFUL = b'{"source":"LSC","recipient":"ALI","data":"provider-data","purpose":"inspection","date":"2005-06-23"}\n'
J_UNLAWFUL = b'{"source":"JCP","recipient":"ALI","data":"provider-data","purpose":"inspection","date":"2005-06-23"}\n'
DEEP = b"[" * 100_000 + b"]" * 100_000 + b"\n"

# name -> (file name, bytes): each a log an attacker (or a broken exporter) could hand over.
HOSTILE = {
    "deep-nesting": ("deep.jsonl", J_LAWFUL + DEEP + J_UNLAWFUL),
    "deep-nesting-in-an-object": ("deep2.jsonl", J_LAWFUL + b'{"source":' + DEEP[:-1] + b"}\n" + J_UNLAWFUL),
    "non-utf8-csv": ("latin1.csv", HEADER + LAWFUL + b"LS\xff,ALI,provider-data,inspection,2005-06-23\n" + UNLAWFUL),
    "non-utf8-jsonl": ("latin1.jsonl", J_LAWFUL + b'{"source":"\xe9"}\n' + J_UNLAWFUL),
    "300kb-field-csv": ("wide.csv", HEADER + LAWFUL + b"A" * 300_000 + b",ALI,provider-data,inspection,2005-06-23\n"
                        + UNLAWFUL),
    "300kb-field-jsonl": ("wide.jsonl", J_LAWFUL + b'{"source":"' + b"A" * 300_000 + b'"}\n' + J_UNLAWFUL),
    "quoted-newlines": ("quoted.csv", HEADER + b'"LSC","ALI","provider-data","ins\npection\n\n",2005-06-23\n' * 40
                        + UNLAWFUL),
    "unterminated-quote": ("open.csv", HEADER + LAWFUL + b'"JCP,ALI,provider-data,inspection,2005-06-23\n'
                           + LAWFUL * 30),
    "nul-and-cr": ("nul.csv", HEADER + b"LSC\0,ALI,provider-data,inspection,2005-06-23\nLSC,AL\rI,x,y,z\n" + LAWFUL),
    "bom-crlf-blank": ("crlf.csv", b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + b"\r\n\r\n"
                       + LAWFUL.replace(b"\n", b"\r\n") + UNLAWFUL.rstrip(b"\n")),
    "not-objects": ("mixed.jsonl", b"[1,2]\n\n  \n{bad json\n" + b"9" * 5000 + b"\nnull\n" + J_UNLAWFUL),
    "ragged-rows": ("ragged.csv", HEADER + b"LSC,ALI\n" + b"LSC,ALI,provider-data,inspection,2005-06-23,extra,more\n"
                    + b",,,,\n"),
}


def _write(tmp_path: Path, name: str) -> Path:
    fname, data = HOSTILE[name]
    path = tmp_path / fname
    path.write_bytes(data)
    return path


def _dask():
    pytest.importorskip("distributed")
    from engine.ops.dask_audit import audit_dask

    return audit_dask


def _ranges(policy, path: Path, blocksize: int, max_row_bytes: int) -> dict:
    """What the Dask engine computes, without a cluster: every byte range read as a worker reads it, then
    merged (and realigned) by the client's code."""
    from engine.ops.dask_audit import audit_range_partition, bundle_payload, merge, range_args
    from engine.ops.transfers import detect_format

    payload = bundle_payload(policy)
    args = range_args(path, detect_format(path), ColumnMap(), blocksize, max_row_bytes)
    results = [audit_range_partition(*a, payload, max_row_bytes) for a in args]
    return merge([str(path)], [(str(path), a) for a in args], results, payload, max_row_bytes).to_dict()


# ---- the reported attacks -------------------------------------------------------------------------------


def test_deeply_nested_json_is_one_malformed_row_and_the_audit_goes_on(default_policy, tmp_path):
    path = _write(tmp_path, "deep-nesting")
    report = audit_local(default_policy, [path])
    assert [(f.row, f.code) for f in report.rejected] == [(2, "malformed-row")]
    assert "nested too deeply" in next(iter(report.rejected)).reason
    assert report.tally.rows == 3 and report.tally.lawful == 1 and report.tally.unlawful == 1
    r = runner.invoke(app, ["audit", str(path), "--bundle", str(ROOT), "--format", "json"])
    assert r.exit_code == 1 and "internal-error" not in r.output and "Traceback" not in r.output
    assert json.loads(r.stdout)["summary"]["rejected_by_code"] == [{"code": "malformed-row", "count": 1}]
    dask = _dask()(default_policy, [path], workers=1, processes=False).to_dict()
    assert dask == report.to_dict()


@pytest.mark.parametrize("name", ["non-utf8-csv", "300kb-field-csv"])
def test_the_two_engines_now_agree_on_the_reported_logs_through_the_cli(tmp_path, name):
    """Through `lawful audit` itself, each engine in its own process: same exit code, same report."""
    pytest.importorskip("distributed")
    path = _write(tmp_path, name)
    out = {}
    for engine_name in ("local", "dask"):
        r = runner.invoke(app, ["audit", str(path), "--bundle", str(ROOT), "--format", "json", "--engine",
                                engine_name, "--workers", "1"])
        assert "internal-error" not in r.output and "Traceback" not in r.output, r.output
        out[engine_name] = (r.exit_code, json.loads(r.stdout))
    assert out["local"] == out["dask"]
    assert out["local"][0] == 1 and out["local"][1]["summary"]["rows"] == 3


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_differential_every_hostile_log_gives_the_same_report_in_both_engines(default_policy, tmp_path, name):
    path = _write(tmp_path, name)
    local = audit_local(default_policy, [path])
    expected = local.to_dict()
    assert local.failed  # every one of these logs holds a row that is not lawful or cannot be judged
    assert expected["summary"]["rows"] >= 2  # ... and the rows around it were still read
    for blocksize in (7, 97, 4096):  # ranges that cut records, lines and fields anywhere
        assert _ranges(default_policy, path, blocksize, 1024 * 1024) == expected, blocksize
    # And once through a real (threaded) Dask cluster.
    dask = _dask()(default_policy, [path], workers=2, processes=False, blocksize=4096).to_dict()
    assert dask == expected


def test_a_row_over_the_limit_is_malformed_in_both_engines_at_the_same_row(default_policy, tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(J_LAWFUL + b'{"source":"' + b"x" * 5000 + b'"}\n' + J_UNLAWFUL)
    local = audit_local(default_policy, [path], max_row_bytes=1000)
    assert [(f.row, f.code) for f in local.rejected] == [(2, "malformed-row")]
    assert "over the limit of 1,000" in next(iter(local.rejected)).reason
    assert _ranges(default_policy, path, 333, 1000) == local.to_dict()
    dask = _dask()(default_policy, [path], workers=1, processes=False, blocksize=333, max_row_bytes=1000)
    assert dask.to_dict() == local.to_dict()


# ---- memory is bounded while reading ---------------------------------------------------------------------


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_file_with_no_newline_is_read_in_bounded_memory(default_policy, tmp_path, fmt):
    """The 1 GB attack, scaled: 24 MB with no newline under a 64 KiB row limit must not be held whole."""
    size = 24 * 1024 * 1024
    path = tmp_path / f"one-line.{fmt}"
    with open(path, "wb") as f:
        f.write(HEADER if fmt == "csv" else b"")
        block = b"A" * (1024 * 1024)
        for _ in range(size // len(block)):
            f.write(block)
    limit = 64 * 1024
    reports = []
    peak = _peak(lambda: reports.append(audit_local(default_policy, [path], max_row_bytes=limit)))
    assert peak < 2 * 1024 * 1024, peak  # a few row limits, not the file
    assert [(f.row, f.code) for f in reports[0].rejected] == [(1, "malformed-row")]
    # A Dask worker reading its range of the same file is bounded the same way (and so is the client's merge).
    peak = _peak(lambda: reports.append(_ranges(default_policy, path, 4 * 1024 * 1024, limit)))
    assert peak < 2 * 1024 * 1024, peak
    assert reports[1] == reports[0].to_dict()


def test_a_quote_that_never_closes_is_bounded_too(default_policy, tmp_path):
    path = tmp_path / "open-quote.csv"
    with open(path, "wb") as f:
        # 3 MB of short lines after an opening quote: the csv module alone would join them into one field.
        f.write(HEADER + b'"JCP' + b"\n" * (3 * 1024 * 1024) + LAWFUL)
    reports = []
    peak = _peak(lambda: reports.append(audit_local(default_policy, [path], max_row_bytes=64 * 1024)))
    assert peak < 1024 * 1024, peak
    first = next(iter(reports[0].rejected))
    assert first.row == 1 and first.code == "malformed-row" and "quoted field" in first.reason
    assert _ranges(default_policy, path, 256 * 1024, 64 * 1024) == reports[0].to_dict()


# ---- a differential property -----------------------------------------------------------------------------

_PIECES = [HEADER, LAWFUL, UNLAWFUL, b"\n", b"\r\n", b'"', b",", b"\xff", b"\xef\xbb\xbf", b"LSC", b"\0",
           b'"a\nb"', b"A" * 300, b"[[[[", J_LAWFUL, J_UNLAWFUL, b"{", b"}"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=40), st.sampled_from(["csv", "jsonl"]),
       st.integers(min_value=1, max_value=200), st.sampled_from([64, 256, 1024 * 1024]))
def test_property_ranges_read_exactly_what_the_local_engine_reads(default_policy, tmp_path, pieces, fmt, blocksize,
                                                                   limit):
    """Any log, cut into ranges of any size: the Dask engine's reading and merge equal the local engine."""
    path = tmp_path / f"gen.{fmt}"
    path.write_bytes((HEADER if fmt == "csv" else b"") + b"".join(pieces))
    try:
        local = audit_local(default_policy, [path], max_row_bytes=limit).to_dict()
    except Exception as exc:  # a header that cannot be read is a bad-log error, the same for both engines
        from engine import DiagnosticsError

        assert isinstance(exc, DiagnosticsError) and exc.diagnostics[0].code == "bad-log"
        with pytest.raises(DiagnosticsError):
            _ranges(default_policy, path, blocksize, limit)
        return
    assert _ranges(default_policy, path, blocksize, limit) == local
