"""The audit of transfer logs as a Dask job: the same judgement as the local engine, partition by partition.

CSV and JSON Lines logs are cut into byte ranges; each partition reads its range with the local engine's own
reader (`transfers.TextRange`: the same decoding, the same row-size bound, the same malformed rows) and
judges the rows with `transfers.Auditor.audit_rows` — the code the local engine runs — against a Policy
compiled once per worker process from the bundle's texts (shipped to the workers once, so a remote cluster
needs no copy of the bundle; it needs `lawful` installed and the log files at the same paths). Parquet is
read with `dask.dataframe.read_parquet`. Partitions report how many records they read and where they
stopped, so the client numbers rows exactly as the local engine does and merges tallies and findings in file
and partition order. When a CSV record spans a range boundary (a quoted field holding a line break), the
client sees that a partition did not start where the one before it stopped and reads that range again from
the right place: the result is identical to the local engine's for every input.

Dask is imported here only, and only when the Dask engine runs.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from engine.policy.facade import Policy
from engine.base.diagnostics import error
from engine.errors import DiagnosticsError
from engine.ops.transfers import (MAX_ROW_BYTES, AuditReport, Auditor, ColumnMap, CsvLayout, Finding, Progress, Spool,
                                  Tally, TextRange, _missing_columns, bad_log, bundle_digest, checked_inputs,
                                  csv_layout)

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


def _judge_partition(rows: list, payload: tuple, file: str,
                     numbers: Optional[list[int]] = None) -> tuple[int, Tally, list[Finding]]:
    """Judge one partition's rows, numbered from 1 within the partition (the client adds the offset)."""
    auditor = worker_auditor(payload)
    tally = Tally()
    found: list[Finding] = []
    auditor.audit_rows(rows, file, 1, tally, found.append, numbers)
    return len(rows), tally, found


def audit_frame_partition(frame: Any, payload: tuple, file: str, names: Sequence[str]) -> tuple:
    """A pandas partition of a Parquet log."""
    rows = list(zip(*(frame[c].tolist() for c in names))) if len(frame) else []
    n, tally, found = _judge_partition(rows, payload, file)
    return n, tally, found, None, None


def audit_range_partition(file: str, fmt: str, names: Sequence[str], layout: Optional[CsvLayout], start: int,
                          stop: int, exact: bool, payload: tuple, max_row_bytes: int = MAX_ROW_BYTES) -> tuple:
    """A byte range of a CSV or JSON Lines log, read as the local engine reads it: (units read, tally,
    findings numbered within the range, where the first record started, where reading stopped)."""
    rng = TextRange(Path(file), fmt, names, start, stop, exact, layout, max_row_bytes)
    rows, where = [], []
    units = 0
    for item in rng:
        units += 1
        if item is not None:
            rows.append(item)
            where.append(units)
    _n, tally, found = _judge_partition(rows, payload, file, where)
    return units, tally, found, rng.first, rng.end


def _partitions(path: Path, fmt: str, columns: ColumnMap, payload_ref: Any, blocksize: int,
                max_row_bytes: int) -> list[tuple[Optional[tuple], Any]]:
    """(the range's arguments, or None for Parquet; the delayed audit) for each partition of one file."""
    import dask

    names = list(columns.names())
    file = str(path)
    if fmt == "parquet":
        import dask.dataframe as dd
        import pyarrow.parquet as pq

        _missing_columns(file, pq.read_schema(path).names, columns)
        ddf = dd.read_parquet(file, columns=list(dict.fromkeys(names)))
        return [(None, dask.delayed(audit_frame_partition)(part, payload_ref, file, names))
                for part in ddf.to_delayed()]
    return [(args, dask.delayed(audit_range_partition)(*args, payload_ref, max_row_bytes))
            for args in range_args(path, fmt, columns, blocksize, max_row_bytes)]


def audit_dask(policy: Policy, files: Sequence[str | Path], columns: ColumnMap = ColumnMap(),
               input_format: Optional[str] = None, assume: Sequence[str] = (), scheduler: Optional[str] = None,
               blocksize: int = DEFAULT_BLOCKSIZE, workers: Optional[int] = None, processes: bool = True,
               progress: Optional[Progress] = None, connect_timeout: float = 30.0,
               max_row_bytes: int = MAX_ROW_BYTES) -> AuditReport:
    """Audit transfer logs as a Dask job on `scheduler` (an address such as tcp://127.0.0.1:8786), or on a
    LocalCluster on this machine (loopback only) when none is given."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise unavailable("the Dask engine needs dask and distributed",
                          "pip install 'lawful[dask]', or use --engine local") from exc
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
                              "check the address (tcp://HOST:PORT), "
                              "or leave out --scheduler for a LocalCluster") from exc
    else:
        # processes=False runs the workers as threads in this process (in-process transport, no ports);
        # otherwise the scheduler and workers listen on loopback only.
        where = {} if not processes else {"host": "127.0.0.1"}
        cluster = LocalCluster(n_workers=workers or min(os.cpu_count() or 2, 4), threads_per_worker=1,
                               processes=processes, dashboard_address=None, **where)
        client = Client(cluster)
    try:
        payload_ref = client.scatter(payload, broadcast=True)
        tasks: list[tuple[str, Optional[tuple], Any]] = []
        for p, fmt in zip(paths, formats):
            tasks += [(str(p), args, d) for args, d in _partitions(p, fmt, columns, payload_ref, blocksize,
                                                                  max_row_bytes)]
        futures = client.compute([d for _f, _a, d in tasks])
        try:
            if progress and progress.enabled:
                done = Tally()
                for fut in as_completed(futures):
                    done.add(fut.result()[1])
                    progress.update(f"{len(futures)} partitions", done)
                progress.done()
            results = client.gather(futures)
        except Exception as exc:  # noqa: BLE001 — a reader's error in a partition: the log is malformed
            raise bad_log(f"the Dask job could not read the log: {type(exc).__name__}: {exc}",
                          ", ".join(map(str, paths)), 0,
                          "run with --engine local, which reports the line that cannot be read") from exc
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    report = merge([str(p) for p in paths], [(f, a) for f, a, _d in tasks], results, payload, max_row_bytes)
    report.seconds = time.monotonic() - started
    return report


def range_args(path: Path, fmt: str, columns: ColumnMap, blocksize: int,
               max_row_bytes: int = MAX_ROW_BYTES) -> list[tuple]:
    """The arguments of `audit_range_partition` (less the payload) for each byte range of a text log."""
    layout = csv_layout(path, columns, max_row_bytes) if fmt == "csv" else None
    data_start = layout.data_start if layout else 0
    size = os.path.getsize(path)
    names = list(columns.names())
    return [(str(path), fmt, names, layout, start, min(start + blocksize, size), start == data_start)
            for start in range(data_start, size, blocksize)]


def merge(files: list[str], tasks: list[tuple[str, Optional[tuple]]], results: list[tuple], payload: tuple,
          max_row_bytes: int = MAX_ROW_BYTES) -> AuditReport:
    """The report from the partitions' results, in file and partition order: rows renumbered by the records
    read before each partition, every range aligned with where the one before it stopped."""
    tally = Tally()
    report = AuditReport(files, tally, Spool(), Spool(), engine="dask")
    offsets: dict[str, int] = {}
    resume: dict[str, int] = {}  # where the ranges read so far stopped, per text file
    for (file, args), result in zip(tasks, results):
        if args is not None:
            result = _aligned(args, result, resume, payload, max_row_bytes)
        n, part_tally, found = result[:3]
        base = offsets.get(file, 0)
        tally.add(part_tally)
        for f in found:
            f = Finding(**{**f.__dict__, "row": base + f.row})
            (report.unlawful if f.status == "unlawful" else report.rejected).add(f)
        offsets[file] = base + n
    return report


def _aligned(args: tuple, result: tuple, resume: dict[str, int], payload: tuple, max_row_bytes: int) -> tuple:
    """A range's result, checked against where the range before it stopped reading. They differ only when a
    record (a quoted CSV field with a line break) ran over the boundary: then the range is read again, here,
    from the record boundary the previous range reached — or counts for nothing if that lies past its end."""
    file, fmt, names, layout, start, stop, exact = args
    expected = resume.get(file, start)
    _n, _t, _f, first, end = result
    if first == expected or (first is None and expected >= stop):
        resume[file] = end if first is not None else expected
        return result
    if expected >= stop:
        resume[file] = expected
        return 0, Tally(), [], None, expected
    result = audit_range_partition(file, fmt, names, layout, expected, stop, True, payload, max_row_bytes)
    resume[file] = result[4]
    return result
