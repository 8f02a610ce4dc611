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

from engine.dask_audit import audit_dask  # noqa: E402
from engine.transfers import ColumnMap, audit_local  # noqa: E402

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
