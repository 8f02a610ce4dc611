"""Issue 18, target 5: what is left of a decision's growth at 10x when the work is the same (benchmarks/
scale_profile.py: equal call counts per decision) — the cost of one memory access in a larger heap.

    python benchmarks/memory_bench.py                       # large and large-10x, each in a fresh process
    python benchmarks/memory_bench.py --sizes large,large-10x --lookups 400000 --rounds 3

In a process holding each bundle (the heap of each: ~135 MB at 1x, ~1.1 GB at 10x), the same dictionary look-ups
are timed (CPU ns per look-up, median of the rounds), the keys in a seeded random order:
- `fresh 2k` / `fresh 20k`: a dict of 2,000 or 20,000 new strings made together (compact in memory), looked up
  with those strings: the cost of the table's size alone;
- `orgs 2k` / `orgs own`: the policy's own organisation table (`policy.orgs`), looked up with its own key strings
  (made by the load, scattered through its heap), over 2,000 of them or all (2,000 at 1x, 20,000 at 10x): what a
  question's name look-ups touch;
- `agreements 20k` / `agreements own`: one agreement's recipient scope read (`a.directions[0][1]`: the object,
  its directions, one direction) for agreements picked at random among 20,000 of them or all (20,000 at 1x,
  200,000 at 10x): what a decision does to each rule it reads, the objects spread through the heap;
- `allowed memoised`: `policy.allowed` of seeded questions already answered (bench.py's), per call: a dict look-up
  and the normalisation of the names, the smallest decision.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _per_lookup(table: dict, keys: list, rounds: int) -> float:
    """CPU ns per `table[k]`, median of `rounds` passes over `keys`."""
    got = []
    for _ in range(rounds):
        t0 = time.process_time_ns()
        for k in keys:
            table[k]
        got.append((time.process_time_ns() - t0) / len(keys))
    return statistics.median(got)


def child(size: str, lookups: int, rounds: int) -> dict:
    sys.path.insert(0, str(HERE))
    import bench
    import engine

    policy = engine.load(bench.bundle_path(size, bench.DEFAULT_WORKDIR))
    rss = {ln.split(":")[0]: int(ln.split()[1]) // 1024 for ln in open("/proc/self/status") if ln.startswith("VmRSS")}
    rnd = random.Random(1)
    out: dict = {"size": size, "organisations": len(policy.orgs), "rss_mb": rss["VmRSS"]}
    for n in (2_000, 20_000):
        fresh = {f"fresh-org-{i:06d}": i for i in range(n)}
        keys = list(fresh)
        out[f"fresh {n // 1000}k"] = _per_lookup(fresh, [rnd.choice(keys) for _ in range(lookups)], rounds)
    own = list(policy.orgs)
    out["orgs 2k"] = _per_lookup(policy.orgs, [rnd.choice(own[:2_000]) for _ in range(lookups)], rounds)
    out["orgs own"] = _per_lookup(policy.orgs, [rnd.choice(own) for _ in range(lookups)], rounds)
    agreements = list(policy.agreements.values())
    for label, pool in (("agreements 20k", agreements[:20_000]), ("agreements own", agreements)):
        picked = [rnd.choice(pool) for _ in range(lookups)]
        got = []
        for _ in range(rounds):
            t0 = time.process_time_ns()
            for a in picked:
                a.directions[0][1]
            got.append((time.process_time_ns() - t0) / len(picked))
        out[label] = statistics.median(got)
    qs = bench.questions(policy, 3000, seed=1)
    for q in qs:
        policy.allowed(*q[:4], q[4])
    got = []
    for _ in range(rounds):
        t0 = time.process_time_ns()
        for q in qs:
            policy.allowed(*q[:4], q[4])
        got.append((time.process_time_ns() - t0) / len(qs))
    out["allowed memoised"] = statistics.median(got)
    return out


COLUMNS = ("fresh 2k", "fresh 20k", "orgs 2k", "orgs own", "agreements 20k", "agreements own", "allowed memoised")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="large,large-10x")
    ap.add_argument("--lookups", type=int, default=400_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.lookups, a.rounds)))
        return 0
    load0 = os.getloadavg()
    rows = []
    for size in a.sizes.split(","):
        p = subprocess.run([sys.executable, __file__, "--child", size, "--lookups", str(a.lookups), "--rounds",
                            str(a.rounds)], capture_output=True, text=True, check=True)
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {load0[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f}; CPU ns per look-up (`allowed memoised`: per call), median of {a.rounds}\n")
    print("| bundle | organisations | RSS MB | " + " | ".join(f"`{c}`" for c in COLUMNS) + " |")
    print("|---|---:|---:|" + "---:|" * len(COLUMNS))
    for r in rows:
        print(f"| {r['size']} | {r['organisations']:,} | {r['rss_mb']:,} | "
              + " | ".join(f"{r[c]:.0f}" for c in COLUMNS) + " |")
    if len(rows) == 2:
        print("| ratio |  |  | " + " | ".join(f"{rows[1][c] / rows[0][c]:.2f}×" for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
