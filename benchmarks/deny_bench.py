"""CPU per DENY with verified fixes and routes (`Policy.decide`'s default, the CLI's on a DENY), and its parts.

    python benchmarks/deny_bench.py [--bundle default|large|large-10x] [--questions N] [--profile]
    python benchmarks/deny_bench.py --ref /path/to/other/checkout [--rounds 5]   # before/after, paired

Questions: on the default bundle, the 100 unlawful questions of benchmarks/service.py (the service bench's
DENY scenario); on a generated bundle, the DENY answers among bench.py's seeded questions. Each decision is timed
on a fresh `decide` call (the library memoises verdicts, not decisions), CPU time, mean per question:
`decide_full` the first time (the questions' own pairs' candidate rules built beforehand, as scale_bench.py does;
those of the other pairs the fixes and routes decide are built during it), `decide_full_again` the same questions
again (every pair's candidates built), `decide_bare` without fixes and routes, then `find_fixes` and
`find_routes` alone. With `--ref`, this checkout and the other are measured in alternating child processes
(paired rounds) and the medians compared.
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
ROOT = HERE.parent


def _questions(policy, bundle: str, n: int) -> list[tuple]:
    sys.path.insert(0, str(HERE))
    if bundle == "default":
        from transfer_log import _pools

        _lawful, unlawful = _pools(policy, random.Random(1), lawful_size=300, unlawful_size=100)
        return [(s, r, d, p, day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)))
                for s, r, d, p, day in unlawful][:n]
    import bench

    qs = bench.questions(policy, 4 * n, seed=1)
    return [q for q in qs if not policy.allowed(*q[:4], on=q[4])][:n]


def measure(bundle: str, n: int, profile: bool) -> dict:
    import engine
    from engine.eval.decide import evaluate, normalise
    from engine.eval.fixes import find_fixes
    from engine.eval.routes import find_routes

    if bundle == "default":
        policy = engine.load(ROOT)
    else:
        sys.path.insert(0, str(HERE))
        import bench

        policy = engine.load(bench.bundle_path(bundle, bench.DEFAULT_WORKDIR))
    qs = _questions(policy, bundle, n)
    for q in qs:  # warm, as scale_bench.py does: each pair's candidate rules are built on first use
        policy.decide(*q[:4], on=q[4], fixes=False, routes=False)

    def per(fn) -> float:
        t0 = time.process_time()
        for q in qs:
            fn(q)
        return 1e6 * (time.process_time() - t0) / len(qs)

    norm = [normalise(policy, *q[:4], q[4], (), (), False, None, False, None) for q in qs]
    outs = [evaluate(policy, x, explain=True) for x in norm]
    res = {"bundle": bundle, "questions": len(qs),
           "decide_full_us": per(lambda q: policy.decide(*q[:4], on=q[4])),
           "decide_full_again_us": per(lambda q: policy.decide(*q[:4], on=q[4])),
           "decide_bare_us": per(lambda q: policy.decide(*q[:4], on=q[4], fixes=False, routes=False))}
    it = iter(range(len(qs)))
    res["fixes_us"] = per(lambda q: (lambda i: find_fixes(policy, norm[i], outs[i]))(next(it)))
    it = iter(range(len(qs)))
    res["routes_us"] = per(lambda q: (lambda i: find_routes(policy, norm[i]))(next(it)))
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile(time.process_time)
        prof.enable()
        for q in qs:
            policy.decide(*q[:4], on=q[4])
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default="default")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--ref", type=Path, help="another checkout to compare with, in paired rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child or a.ref is None:
        res = measure(a.bundle, a.questions, a.profile)
        print(json.dumps(res) if a.child else json.dumps(res, indent=1))
        return 0
    trees = {"this": ROOT, "ref": a.ref.resolve()}
    got: dict[str, list[dict]] = {k: [] for k in trees}
    load0 = os.getloadavg()
    for _ in range(a.rounds):
        for name, tree in trees.items():
            env = dict(os.environ, PYTHONPATH=str(tree))
            p = subprocess.run([sys.executable, str(HERE / "deny_bench.py"), "--child", "--bundle", a.bundle,
                                "--questions", str(a.questions)], env=env, cwd=tree, capture_output=True, text=True,
                               check=True)
            got[name].append(json.loads(p.stdout.strip().splitlines()[-1]))
    print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, bundle {a.bundle}, {a.rounds} paired rounds, "
          f"load average {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    for key in ("decide_full_us", "decide_full_again_us", "decide_bare_us", "fixes_us", "routes_us"):
        mine = statistics.median(r[key] for r in got["this"])
        ref = statistics.median(r[key] for r in got["ref"])
        ratios = [t[key] / max(r[key], 1e-9) for t, r in zip(got["this"], got["ref"])]
        print(f"{key:16} this {mine:9.1f}  ref {ref:9.1f}  paired median ratio {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
