"""Issue 18, target 5: is a decision the same WORK at 10x as at 1x? cProfile call counts per decision.

    python benchmarks/scale_profile.py --bundle large --json /tmp/p1.json
    python benchmarks/scale_profile.py --bundle large-10x --json /tmp/p10.json
    python benchmarks/scale_profile.py --compare /tmp/p1.json /tmp/p10.json     # where the counts differ

The questions are scale_bench.py's (benchmarks/bench.py's seeded questions), every pair's candidate rules built
first as there. Each mode is profiled on a fresh `decide` (or `allowed`) call per question: `decide_full` the
first time (the CLI's default, with fixes and routes: what scale_bench.py times), `decide_full_again` (everything
built once), `decide` (explanation, no fixes or routes) and `allowed_cold` (`allowed_uncached`). Per function:
calls per question, and the function's own CPU per question. Equal call counts at both sizes mean the same work:
what then remains between the sizes is the cost of each operation (memory), not more of them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODES = ("decide_full", "decide_full_again", "decide", "allowed_cold")


def _label(func: tuple) -> str:
    file, line, name = func
    if file == "~":  # a built-in: without the address of its type, which differs from process to process
        return re.sub(r" at 0x[0-9a-f]+", "", name)
    path = Path(file)
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        rel = Path(path.name)
    return f"{rel}:{line}({name})"


def measure(bundle: str, n: int) -> dict:
    sys.path.insert(0, str(HERE))
    import bench
    import engine

    policy = engine.load(bench.bundle_path(bundle, bench.DEFAULT_WORKDIR))
    qs = bench.questions(policy, n, seed=1)
    for q in qs:  # as scale_bench.py: each pair's candidate rules built first
        policy.allowed_uncached(*q[:4], q[4])
    calls = {
        "decide_full": lambda q: policy.decide(*q[:4], on=q[4]),
        "decide_full_again": lambda q: policy.decide(*q[:4], on=q[4]),
        "decide": lambda q: policy.decide(*q[:4], on=q[4], fixes=False, routes=False),
        "allowed_cold": lambda q: policy.allowed_uncached(*q[:4], q[4]),
    }
    out: dict = {"bundle": bundle, "questions": len(qs),
                 "denied": sum(1 for q in qs if not policy.allowed(*q[:4], on=q[4])), "modes": {}}
    for mode in MODES:
        fn = calls[mode]
        prof = cProfile.Profile(time.process_time)
        t0 = time.process_time()
        prof.enable()
        for q in qs:
            fn(q)
        prof.disable()
        total = time.process_time() - t0
        st = pstats.Stats(prof)
        funcs = {_label(f): {"calls": v[1] / len(qs), "own_us": 1e6 * v[2] / len(qs), "cum_us": 1e6 * v[3] / len(qs)}
                 for f, v in st.stats.items()}  # type: ignore[attr-defined]
        out["modes"][mode] = {"us_profiled": 1e6 * total / len(qs),
                              "calls": sum(v["calls"] for v in funcs.values()), "funcs": funcs}
    return out


def compare(a: dict, b: dict, top: int) -> str:
    lines = [f"{a['bundle']} ({a['questions']} questions, {a['denied']} DENY) vs {b['bundle']} "
             f"({b['questions']} questions, {b['denied']} DENY): calls per question"]
    for mode in MODES:
        ma, mb = a["modes"][mode], b["modes"][mode]
        lines.append(f"\n## {mode}: {ma['calls']:.1f} -> {mb['calls']:.1f} calls per question "
                     f"({mb['calls'] / ma['calls']:.3f}x); profiled CPU {ma['us_profiled']:.1f} -> "
                     f"{mb['us_profiled']:.1f} us ({mb['us_profiled'] / ma['us_profiled']:.2f}x)")
        names = set(ma["funcs"]) | set(mb["funcs"])
        zero = {"calls": 0.0, "own_us": 0.0, "cum_us": 0.0}
        rows = []
        for k in names:
            ca, cb = ma["funcs"].get(k, zero), mb["funcs"].get(k, zero)
            rows.append((cb["calls"] - ca["calls"], k, ca, cb))
        rows.sort(key=lambda r: -abs(r[0]))
        for d, k, ca, cb in rows[:top]:
            if abs(d) < 0.01:
                break
            lines.append(f"  {d:+9.2f}  {ca['calls']:9.2f} -> {cb['calls']:9.2f}  own us {ca['own_us']:7.2f} -> "
                         f"{cb['own_us']:7.2f}  cum us {ca.get('cum_us', 0):7.2f} -> {cb.get('cum_us', 0):7.2f}  {k}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default="large")
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--compare", nargs=2, type=Path)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    if a.compare:
        print(compare(*(json.loads(p.read_text()) for p in a.compare), a.top))
        return 0
    res = measure(a.bundle, a.questions)
    text = json.dumps(res)
    if a.json:
        a.json.write_text(text)
    for mode, r in res["modes"].items():
        print(f"{mode}: {r['us_profiled']:.1f} us, {r['calls']:.1f} calls per question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
