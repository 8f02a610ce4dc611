"""Benchmark `lawful audit` on a generated log: rows per minute and peak memory for the local engine, the
same audit on a Dask LocalCluster, and a check that both find exactly the planted rows with identical output.

    python benchmarks/audit_bench.py [--rows 1000000] [--formats csv,parquet] [--workers 2] [--out DIR]

Each audit runs as the real command (`lawful audit FILE --format json`) in its own process; its peak
resident memory is read from the operating system after it exits. This script stays small (it generates the
log in a subprocess too), because a child's peak memory counts the pages it inherits when forked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_audit(log: Path, out: Path, *extra: str) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, exit code) of `lawful audit LOG --format json > OUT`."""
    cmd = [sys.executable, str(ROOT / "cli.py"), "audit", str(log), "--format", "json", *extra]
    start = time.perf_counter()
    with open(out, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)  # this run's own peak memory (Linux: KiB)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise RuntimeError(f"lawful audit exited {code}")
    return seconds, usage.ru_maxrss / 1024, code


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default="csv,parquet")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    folder = args.out or Path(tempfile.mkdtemp(prefix="lawful-audit-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"`lawful audit` on {args.rows:,} generated rows, {os.cpu_count()} cores; Dask: LocalCluster of "
          f"{args.workers} worker processes, one thread each\n")
    print("| format | engine | seconds | rows/minute | peak RSS MiB | unlawful | rejected | planted rows found "
          "| identical to local |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    notes = []
    for fmt in args.formats.split(","):
        log = folder / f"transfers.{fmt}"
        t = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transfer_log.py"), str(log), "--rows",
                        str(args.rows), "--format", fmt, "--seed", "1", "--bundle", str(ROOT)], check=True,
                       stdout=subprocess.DEVNULL, timeout=3600)
        gen_s = time.perf_counter() - t
        plan = json.loads(Path(str(log) + ".plan.json").read_text(encoding="utf-8"))
        planted_unlawful = {int(k) for k in plan["unlawful"]}
        planted_rejected = {int(k): v for k, v in plan["rejected"].items()}
        local_out, dask_out = folder / f"local-{fmt}.json", folder / f"dask-{fmt}.json"
        for engine_name, out, extra in (("local", local_out, ()),
                                        ("dask", dask_out, ("--engine", "dask", "--workers", str(args.workers)))):
            seconds, rss, code = run_audit(log, out, *extra)
            doc = json.loads(out.read_text(encoding="utf-8"))
            found = ({f["row"] for f in doc["unlawful"]} == planted_unlawful
                     and {f["row"]: f["code"] for f in doc["rejected"]} == planted_rejected)
            same = out.read_bytes() == local_out.read_bytes()
            print(f"| {fmt} | {engine_name} | {seconds:.1f} | {args.rows / seconds * 60:,.0f} | {rss:,.0f} | "
                  f"{doc['summary']['unlawful']:,} | {doc['summary']['rejected']:,} | "
                  f"{'yes' if found else 'NO'} ({len(planted_unlawful):,} + {len(planted_rejected):,}) | "
                  f"{'yes' if same else 'NO'} |", flush=True)
        notes.append(f"{fmt}: generated in {gen_s:.1f} s, {log.stat().st_size / 2**20:,.1f} MiB; exit code {code}")
    print()
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
