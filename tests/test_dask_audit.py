"""The Dask engine gives the local engine's result, on a small LocalCluster (threads in this process).

Skipped when the `dask` extra is not installed. Small blocks force several partitions per file, so the row
numbering across partitions and the merge of tallies are exercised.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

from engine.ops.dask_audit import audit_dask  # noqa: E402
from engine.ops.transfers import ColumnMap, audit_local  # noqa: E402

# dask's own Parquet reader calls a pandas API that pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from transfer_log import generate  # noqa: E402


@pytest.fixture(scope="module")
def logs(tmp_path_factory, default_policy):
    folder = tmp_path_factory.mktemp("logs")
    out = {}
    for i, fmt in enumerate(("csv", "jsonl", "parquet")):
        path = folder / f"log.{fmt}"
        out[fmt] = (path, generate(default_policy, path, 4000, fmt, seed=20 + i, unlawful_rate=0.02,
                                   rejected_rate=0.01))
    return out


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_dask_and_local_agree_and_find_every_planted_row(default_policy, logs, fmt):
    path, plan = logs[fmt]
    local = audit_local(default_policy, [path]).to_dict()
    dask = audit_dask(default_policy, [path], blocksize=40_000, workers=2, processes=False).to_dict()
    assert dask == local
    # The workers (threads here) compiled the bundle once and kept it under its digest.
    from engine.ops import dask_audit
    from engine.ops.transfers import bundle_digest

    assert [k for k in dask_audit._AUDITORS if k[0] == bundle_digest(default_policy)] == [
        (bundle_digest(default_policy), ())]
    assert {f["row"] for f in dask["unlawful"]} == set(plan.unlawful)
    assert {f["row"]: f["code"] for f in dask["rejected"]} == plan.rejected


def test_several_files_and_mapped_columns(default_policy, logs, tmp_path):
    src = logs["csv"][0]
    renamed = tmp_path / "renamed.csv"
    text = src.read_text(encoding="utf-8").split("\n", 1)
    renamed.write_text("from,to,what,why,when\n" + text[1], encoding="utf-8")
    files = [src, renamed, logs["jsonl"][0]]
    # Mapped columns apply to every file: audit the renamed file on its own, the others with defaults.
    mapping = ColumnMap("from", "to", "what", "why", "when")
    assert audit_dask(default_policy, [renamed], mapping, blocksize=40_000, workers=2, processes=False).to_dict() == \
        audit_local(default_policy, [renamed], mapping).to_dict()
    both = [files[0], files[2]]
    assert audit_dask(default_policy, both, blocksize=40_000, workers=2, processes=False).to_dict() == \
        audit_local(default_policy, both).to_dict()


def test_a_given_scheduler_is_used_and_typed_parquet_dates_read_as_dates(default_policy, tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq
    from distributed import LocalCluster

    path = tmp_path / "typed.parquet"
    day = dt.date(2005, 6, 23)
    pq.write_table(pa.table({
        "source": ["JCP", "LSC", "LSC", None], "recipient": ["ALI"] * 4, "data": ["provider-data"] * 4,
        "purpose": ["inspection"] * 4,
        "date": pa.array([day, day, None, day], type=pa.date32())}), path)
    local = audit_local(default_policy, [path]).to_dict()
    assert [(f["row"], f["date"]) for f in local["unlawful"]] == [(1, "2005-06-23")]
    assert [(f["row"], f["code"]) for f in local["rejected"]] == [(3, "missing-value"), (4, "missing-value")]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask = audit_dask(default_policy, [path], scheduler=cluster.scheduler_address).to_dict()
    assert dask == local


def test_the_command_runs_the_dask_engine(default_policy, tmp_path):
    import json
    import subprocess

    path = tmp_path / "log.csv"
    generate(default_policy, path, 500, "csv", seed=3, unlawful_rate=0.05, rejected_rate=0.02)
    cmd = [sys.executable, str(ROOT / "cli.py"), "audit", str(path), "--format", "json"]
    local = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    dask = subprocess.run(cmd + ["--engine", "dask", "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert local.returncode == dask.returncode == 1, dask.stderr
    assert json.loads(dask.stdout) == json.loads(local.stdout)


def test_an_unreachable_scheduler_is_an_error_not_a_traceback(default_policy, logs):
    from engine import DiagnosticsError

    with pytest.raises(DiagnosticsError) as exc:
        audit_dask(default_policy, [logs["csv"][0]], scheduler="tcp://127.0.0.1:1", connect_timeout=2)
    assert exc.value.diagnostics[0].code == "dask-unavailable"
