"""Benchmark `lawful audit` on a generated log: rows per minute and peak memory for the local engine, the
same audit on a Dask LocalCluster, and a check that both find exactly the planted rows with identical output.

    python benchmarks/audit_bench.py [--rows 1000000] [--formats csv,parquet] [--workers 2] [--out DIR]

Each audit runs as the real command (`lawful audit FILE --format json`) in its own process; its peak
resident memory is read from the operating system after it exits.
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
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import engine  # noqa: E402
from transfer_log import generate  # noqa: E402


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
    policy = engine.load(ROOT)
    print(f"`lawful audit` on {args.rows:,} generated rows, {os.cpu_count()} cores; Dask: LocalCluster of "
          f"{args.workers} worker processes, one thread each\n")
    print("| format | engine | seconds | rows/minute | peak RSS MiB | unlawful | rejected | planted rows found | identical to local |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    for fmt in args.formats.split(","):
        log = folder / f"transfers.{fmt}"
        t = time.perf_counter()
        plan = generate(policy, log, args.rows, fmt, seed=1)
        gen_s = time.perf_counter() - t
        local_out, dask_out = folder / f"local-{fmt}.json", folder / f"dask-{fmt}.json"
        results = {}
        for engine_name, out, extra in (("local", local_out, ()),
                                        ("dask", dask_out, ("--engine", "dask", "--workers", str(args.workers)))):
            seconds, rss, code = run_audit(log, out, *extra)
            doc = json.loads(out.read_text(encoding="utf-8"))
            found = ({f["row"] for f in doc["unlawful"]} == set(plan.unlawful)
                     and {f["row"]: f["code"] for f in doc["rejected"]} == plan.rejected)
            same = out.read_bytes() == local_out.read_bytes()
            results[engine_name] = doc
            print(f"| {fmt} | {engine_name} | {seconds:.1f} | {args.rows / seconds * 60:,.0f} | {rss:,.0f} | "
                  f"{doc['summary']['unlawful']:,} | {doc['summary']['rejected']:,} | "
                  f"{'yes' if found else 'NO'} ({len(plan.unlawful):,} + {len(plan.rejected):,}) | "
                  f"{'yes' if same else 'NO'} |", flush=True)
        print(f"<!-- {fmt}: generated in {gen_s:.1f}s, {log.stat().st_size / 2**20:,.0f} MiB, exit code {code} -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
