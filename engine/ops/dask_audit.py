"""The audit of transfer logs as a Dask job: the same judgement as the local engine, partition by partition.

The log is read with Dask's own readers (`dask.dataframe.read_csv` with every column as text,
`dask.dataframe.read_parquet`, and `dask.bag.read_text` for JSON Lines, whose lines are parsed by the same
function as the local engine). Each partition is judged by `transfers.Auditor.audit_rows` — the code the
local engine runs — against a Policy compiled once per worker process from the bundle's texts (shipped to
the workers once, so a remote cluster needs no copy of the bundle; it needs `lawful` installed). Partitions
report their record count, so the client numbers rows exactly as the local engine does, and merges tallies
and findings in file and partition order: the result is identical to the local engine's.

Dask is imported here only, and only when the Dask engine runs.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from engine.policy.facade import Policy
from engine.base.diagnostics import error
from engine.errors import DiagnosticsError
from engine.ops.transfers import (AuditReport, Auditor, ColumnMap, Finding, Progress, Spool, Tally, _missing_columns,
                        bad_log, bundle_digest, checked_inputs, parse_json_line)

DEFAULT_BLOCKSIZE = 32 * 1024 * 1024

# One Auditor (Policy + memo) per worker process and bundle, built on first use.
_AUDITORS: dict[tuple, Auditor] = {}
_AUDITORS_LOCK = threading.Lock()


def unavailable(message: str, help_: str) -> DiagnosticsError:
    return DiagnosticsError([error("dask-unavailable", message, None, help_)])


def bundle_payload(policy: Policy, assume: Sequence[str] = ()) -> tuple:
    """What the workers need to rebuild the policy: its digest, the policy texts, the register, assumptions."""
    texts = {name: src.text for name, src in sorted(policy.sources.items())}
    register = texts.pop("gateways.yaml", "")
    return bundle_digest(policy), texts, register, tuple(assume)


def worker_auditor(payload: tuple) -> Auditor:
    """The Auditor for this bundle in this process, compiling the Policy only the first time."""
    digest, texts, register, assume = payload
    key = (digest, assume)
    auditor = _AUDITORS.get(key)
    if auditor is None:
        with _AUDITORS_LOCK:
            auditor = _AUDITORS.get(key)
            if auditor is None:
                from engine.policy.load import load_texts

                auditor = _AUDITORS[key] = Auditor(load_texts(texts, register), assume)
    return auditor


def _judge_partition(rows: list, payload: tuple, file: str) -> tuple[int, Tally, list[Finding]]:
    """Judge one partition's rows, numbered from 1 within the partition (the client adds the offset)."""
    auditor = worker_auditor(payload)
    tally = Tally()
    found: list[Finding] = []
    auditor.audit_rows(rows, file, 1, tally, found.append)
    return len(rows), tally, found


def audit_frame_partition(frame: Any, payload: tuple, file: str, names: Sequence[str]) -> tuple:
    """A pandas partition of a CSV or Parquet log."""
    rows = list(zip(*(frame[c].tolist() for c in names))) if len(frame) else []
    return _judge_partition(rows, payload, file)


def audit_lines_partition(lines: list[str], payload: tuple, file: str, names: Sequence[str]) -> tuple:
    """A partition of a JSON Lines log: its lines, parsed as the local engine parses them. Row numbers are
    line numbers, so the partition reports how many lines it had and where each record sat."""
    rows, where = [], []
    for i, line in enumerate(lines):
        rec = parse_json_line(line, names)
        if rec is not None:
            rows.append(rec)
            where.append(i)
    _n, tally, found = _judge_partition(rows, payload, file)
    # Renumber from record position to line position within the partition.
    found = [Finding(**{**f.__dict__, "row": where[f.row - 1] + 1}) for f in found]
    return len(lines), tally, found


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if header is None:
        raise bad_log(f"`{path.name}` is empty (no header line)", str(path), 1)
    return header


def _partitions(path: Path, fmt: str, columns: ColumnMap, payload_ref: Any, blocksize: int) -> list:
    """Delayed per-partition audits of one file."""
    import dask

    names = list(columns.names())
    file = str(path)
    if fmt == "csv":
        import dask.dataframe as dd

        _missing_columns(file, _csv_header(path), columns)
        ddf = dd.read_csv(file, dtype=str, keep_default_na=False, na_filter=False, usecols=list(dict.fromkeys(names)),
                          blocksize=blocksize, encoding="utf-8-sig", skip_blank_lines=True)
        return [dask.delayed(audit_frame_partition)(part, payload_ref, file, names) for part in ddf.to_delayed()]
    if fmt == "parquet":
        import dask.dataframe as dd
        import pyarrow.parquet as pq

        _missing_columns(file, pq.read_schema(path).names, columns)
        ddf = dd.read_parquet(file, columns=list(dict.fromkeys(names)))
        return [dask.delayed(audit_frame_partition)(part, payload_ref, file, names) for part in ddf.to_delayed()]
    import dask.bag as db

    bag = db.read_text(file, blocksize=blocksize, encoding="utf-8-sig", linedelimiter="\n")
    return [dask.delayed(audit_lines_partition)(part, payload_ref, file, names) for part in bag.to_delayed()]


def audit_dask(policy: Policy, files: Sequence[str | Path], columns: ColumnMap = ColumnMap(),
               input_format: Optional[str] = None, assume: Sequence[str] = (), scheduler: Optional[str] = None,
               blocksize: int = DEFAULT_BLOCKSIZE, workers: Optional[int] = None, processes: bool = True,
               progress: Optional[Progress] = None, connect_timeout: float = 30.0) -> AuditReport:
    """Audit transfer logs as a Dask job on `scheduler` (an address such as tcp://127.0.0.1:8786), or on a
    LocalCluster on this machine (loopback only) when none is given."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise unavailable("the Dask engine needs dask and distributed", "pip install 'lawful[dask]', or use --engine local")
    started = time.monotonic()
    paths, formats = checked_inputs(files, input_format)
    Auditor(policy, assume)  # an unknown --assume fails here, before any cluster starts
    payload = bundle_payload(policy, assume)

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise unavailable(f"cannot reach the Dask scheduler at `{scheduler}` ({type(exc).__name__}: {exc})",
                              "check the address (tcp://HOST:PORT), or leave out --scheduler for a LocalCluster")
    else:
        import os

        # processes=False runs the workers as threads in this process (in-process transport, no ports);
        # otherwise the scheduler and workers listen on loopback only.
        where = {} if not processes else {"host": "127.0.0.1"}
        cluster = LocalCluster(n_workers=workers or min(os.cpu_count() or 2, 4), threads_per_worker=1,
                               processes=processes, dashboard_address=None, **where)
        client = Client(cluster)
    try:
        payload_ref = client.scatter(payload, broadcast=True)
        tasks: list[tuple[str, str, Any]] = []
        for p, fmt in zip(paths, formats):
            tasks += [(str(p), fmt, d) for d in _partitions(p, fmt, columns, payload_ref, blocksize)]
        futures = client.compute([d for _f, _fmt, d in tasks])
        try:
            if progress and progress.enabled:
                done = Tally()
                for fut in as_completed(futures):
                    done.add(fut.result()[1])
                    progress.update(f"{len(futures)} partitions", done)
                progress.done()
            results = client.gather(futures)
        except Exception as exc:  # noqa: BLE001 — a reader's error in a partition: the log is malformed
            raise bad_log(f"the Dask job could not read the log: {type(exc).__name__}: {exc}", ", ".join(map(str, paths)),
                          0, "run with --engine local, which reports the line that cannot be read")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    tally = Tally()
    report = AuditReport([str(p) for p in paths], tally, Spool(), Spool(), engine="dask")
    offsets: dict[str, int] = {}
    for (file, _fmt, _d), (n, part_tally, found) in zip(tasks, results):
        base = offsets.get(file, 0)
        tally.add(part_tally)
        for f in found:
            f = Finding(**{**f.__dict__, "row": base + f.row})
            (report.unlawful if f.status == "unlawful" else report.rejected).add(f)
        offsets[file] = base + n
    report.seconds = time.monotonic() - started
    return report
