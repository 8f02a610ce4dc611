"""Issue 18, target 5: the large bundle at 1x, 3x and 10x (2,000 to 20,000 organisations, 20,000 to 200,000
agreements): load from text, answer, diff; time and peak memory at each size, to show they grow linearly and
that a decision costs the same.

    python benchmarks/scale_bench.py                                   # large, large-3x, large-10x (~15 min)
    python benchmarks/scale_bench.py --sizes large,large-3x --questions 2000
    python benchmarks/scale_bench.py --json out.json ; python benchmarks/scale_bench.py --from-json out.json

Each size runs in a fresh process (`LAWFUL_NO_CACHE=1`):
1. load from text through `BundleLoader` (what `engine.load` does on a cache miss, and `lawful diff`'s first
   side): CPU and wall time, and the process's peak RSS (VmHWM) after it;
2. the same seeded questions as benchmarks/bench.py (half near an agreement, half uniform), each timed after a
   first pass that builds each pair's candidate rules (bench.py's order does the same):
   `allowed` unmemoised (`allowed_uncached`), `allowed` memoised (a second pass), `decide` with its full
   explanation, `decide` with verified fixes and routes (the CLI's default, capped), and `routes`;
3. `lawful diff OLD NEW` as `engine.review.diff.diff` runs it: NEW (OLD with one agreement removed, one
   agreement's window extended and one restriction's recipients widened, in three files) loaded through the same
   loader, then `diff_policies` over every date; and the CLI itself, `lawful diff OLD NEW --format json`, as a
   fresh process (wall time and peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import DEFAULT_WORKDIR, bundle_path, report  # noqa: E402

SNIPPET = r"""
import datetime as dt, gc, json, os, sys, time
pt, wt = time.process_time, time.perf_counter
root, new_root, n_q, cap = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sys.path.insert(0, sys.argv[5])

def rss():
    st = {l.split(":")[0]: int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("Vm")}
    return st["VmRSS"], st["VmHWM"]

out = {"rss_start_mb": rss()[0]}
import engine
from engine.policy.loader import BundleLoader
out["rss_imported_mb"] = rss()[0]
loader = BundleLoader()
c0, t0 = pt(), wt()
policy = loader.load(root)
out.update(load_cpu_s=pt() - c0, load_wall_s=wt() - t0, organisations=len(policy.orgs),
           agreements=len(policy.agreements), gateways=len(policy.gateways))
out["rss_loaded_mb"], out["peak_loaded_mb"] = rss()

import bench
qs = bench.questions(policy, n_q, seed=1)

def run(fn, questions=qs, limit=cap):
    r = bench.timed(fn, [(q,) for q in questions], limit)
    r.pop("answers")
    return r

for q in qs:  # as in bench.py, where the memoised run comes first: each pair's candidate rules are built
    policy.allowed_uncached(*q[:4], q[4])
out["allowed_cold"] = run(lambda q: policy.allowed_uncached(*q[0][:4], q[0][4]))
for q in qs:
    policy.allowed(*q[:4], q[4])
out["allowed_warm"] = run(lambda q: policy.allowed(*q[0][:4], q[0][4]))
out["decide"] = run(lambda q: policy.decide(*q[0][:4], on=q[0][4], fixes=False, routes=False).allowed)
out["decide_full"] = run(lambda q: policy.decide(*q[0][:4], on=q[0][4]).allowed)
out["routes"] = run(lambda q: policy.routes(*q[0][:4], on=q[0][4]), qs[:200])
out["rss_answered_mb"], out["peak_answered_mb"] = rss()

from engine.review.diff import diff_policies
c0, t0 = pt(), wt()
new = loader.load(new_root)
out.update(new_cpu_s=pt() - c0, new_wall_s=wt() - t0)
gc.collect()
c0, t0 = pt(), wt()
result = diff_policies(policy, new, None)
out.update(diff_cpu_s=pt() - c0, diff_wall_s=wt() - t0, diff_evaluated=result.evaluated,
           diff_flows=len(result.flows), diff_changes=len(result.changes), diff_dates=len(result.dates))
out["rss_diffed_mb"], out["peak_diffed_mb"] = rss()
print(json.dumps(out))
"""


def edited_copy(src: Path, dst: Path) -> Path:
    """OLD with one agreement removed, one agreement's window extended (two agreement files) and one
    restriction's recipients widened: a change a pull request makes."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".generated"))
    files = sorted((dst / "policies").glob("agreements-*.policy"))
    first, second = files[len(files) // 2], files[(len(files) // 2 + 1) % len(files)]
    text = first.read_text(encoding="utf-8")
    blocks = text.split("\n\n")
    del blocks[len(blocks) // 2]  # one agreement removed
    first.write_text("\n\n".join(blocks), encoding="utf-8")
    text = second.read_text(encoding="utf-8")
    second.write_text(re.sub(r"valid (\d{4}-\d\d-\d\d) to (\d{4})", lambda m: f"valid {m[1]} to {int(m[2]) + 3}",
                             text, count=1), encoding="utf-8")
    restrictions = dst / "policies" / "restrictions.policy"
    text = restrictions.read_text(encoding="utf-8")
    unit = re.search(r"(?m)^organisation (\S+-U\d+) ", (dst / "policies" / "organisations.policy").read_text())
    assert unit is not None
    restrictions.write_text(re.sub(r"(?m)^(  forbids \S+ -> )(?!\*)", rf"\g<1>{unit[1]}, ", text, count=1),
                            encoding="utf-8")
    return dst


def _peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time, peak RSS (MB) and exit code of a command, by /usr/bin/time -v when it exists."""
    timer = Path("/usr/bin/time")
    full = [str(timer), "-v", *cmd] if timer.exists() else cmd
    t0 = time.perf_counter()
    r = subprocess.run(full, capture_output=True, text=True, env=env, timeout=7200)
    wall = time.perf_counter() - t0
    peak = 0.0
    for line in r.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split()[-1]) / 1024
    return wall, peak, r.returncode


def measure(args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LAWFUL_CACHE_DIR",)}
    env.update(LAWFUL_NO_CACHE="1", PYTHONPATH=str(HERE.parent))
    report: dict = {"load_before": os.getloadavg(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "questions": args.questions, "sizes": {}}
    tmp = Path(tempfile.mkdtemp(prefix="lawful-scale-"))
    try:
        for size in args.sizes:
            src = bundle_path(size, args.workdir)
            new = edited_copy(src, tmp / "new")
            print(f"[{size}] measuring", file=sys.stderr)
            r = subprocess.run([sys.executable, "-c", SNIPPET, str(src), str(new), str(args.questions),
                                str(args.cap_s), str(HERE)], capture_output=True, text=True, env=env, timeout=7200)
            if r.returncode != 0:
                raise SystemExit(f"[{size}] failed:\n{r.stderr[-3000:]}")
            row = json.loads(r.stdout.strip().splitlines()[-1])
            if args.cli_diff:
                lawful = Path(sys.executable).parent / "lawful"
                cmd = [str(lawful), "diff", str(src), str(new), "--format", "json", "--fail-on", "never"]
                row["cli_diff_wall_s"], row["cli_diff_peak_mb"], row["cli_diff_exit"] = _peak_of(cmd, env)
            report["sizes"][size] = row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    return report


def render(rep: dict) -> str:
    sizes = rep["sizes"]
    base = next(iter(sizes.values()))
    lines = [f"{rep['questions']:,} seeded questions per size; Python {rep['python']}, {rep['cpus']} CPUs; load "
             f"average {' '.join(f'{x:.2f}' for x in rep['load_before'])} at the start, "
             f"{' '.join(f'{x:.2f}' for x in rep['load_after'])} at the end.", "",
             "| bundle | organisations | agreements | load CPU s | × 1× | load wall s | peak RSS MB | × 1× | "
             "RSS after load − after import, KB per agreement |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for size, r in sizes.items():
        per = (r["rss_loaded_mb"] - r["rss_imported_mb"]) * 1024 / r["agreements"]
        lines.append(f"| {size} | {r['organisations']:,} | {r['agreements']:,} | {r['load_cpu_s']:.2f} | "
                     f"{r['load_cpu_s'] / base['load_cpu_s']:.2f}× | {r['load_wall_s']:.2f} | "
                     f"{r['peak_loaded_mb']:.0f} | {r['peak_loaded_mb'] / base['peak_loaded_mb']:.2f}× | {per:.1f} |")
    lines += ["", "Per decision (median µs, p99 µs in brackets; n answered within the cap):", "",
              "| bundle | `allowed` unmemoised | `allowed` memoised | `decide` (explanation) | `decide` + fixes + "
              "routes (CLI default) | `routes` (200) |", "|---|---:|---:|---:|---:|---:|"]
    for size, r in sizes.items():
        cells = [f"{r[k]['median_us']:.2f} ({r[k]['p99_us']:,.0f}) n={r[k]['n']:,}"
                 for k in ("allowed_cold", "allowed_warm", "decide", "decide_full", "routes")]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += ["", "`lawful diff OLD NEW` (NEW: one agreement removed, one window extended, one restriction widened):",
              "", "| bundle | NEW loaded through the loader, CPU s (× its full load) | `diff_policies`, every date: "
              "CPU s | questions evaluated | µs per question and date | flows changed | peak RSS after, MB | "
              "`lawful diff` as a process: wall s, peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size, r in sizes.items():
        per_q = r["diff_cpu_s"] * 1e6 / max(1, r["diff_evaluated"] * max(1, r["diff_dates"]))
        cli = (f"{r['cli_diff_wall_s']:.1f} s, {r['cli_diff_peak_mb']:.0f} MB" if "cli_diff_wall_s" in r else "—")
        lines.append(f"| {size} | {r['new_cpu_s']:.2f} ({100 * r['new_cpu_s'] / r['load_cpu_s']:.0f}%) | "
                     f"{r['diff_cpu_s']:.2f} | {r['diff_evaluated']:,} | {per_q:.1f} | {r['diff_flows']:,} | "
                     f"{r['peak_diffed_mb']:.0f} | {cli} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="large,large-3x,large-10x")
    ap.add_argument("--questions", type=int, default=5000)
    ap.add_argument("--cap-s", type=float, default=20.0, help="cap per timed run, seconds")
    ap.add_argument("--no-cli-diff", dest="cli_diff", action="store_false", help="skip `lawful diff` as a process")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--from-json", type=Path)
    args = ap.parse_args(argv)
    args.sizes = [s for s in args.sizes.split(",") if s]
    return report(args, measure, render)


if __name__ == "__main__":
    sys.exit(main())
