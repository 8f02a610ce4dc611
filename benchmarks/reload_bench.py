"""Issue 18, target 3: loading the large bundle from text, and loading it again after editing one file.

    python benchmarks/reload_bench.py                      # large bundle, 3 rounds; prints a Markdown table
    python benchmarks/reload_bench.py --profile            # and the top of a cProfile of a full load and a reload
    python benchmarks/reload_bench.py --json out.json --load-sizes large,large-2x,large-4x

Every figure is measured in a fresh process (so no run inherits another's memory or collector state), and
reported as CPU time (user + system of the process: what other jobs on this shared machine inflate least) and
wall time. Targets: a full load of 2,000 organisations / 20,000 agreements from text ≤ 2 s, growing linearly;
a reload after editing one file ≤ 15% of a full load, through the path `lawful serve`'s reload and the
language server take (engine/policy/loader.py `BundleLoader`).

Rows:
- full load from text (`LAWFUL_NO_CACHE=1`, as `benchmarks/bench.py` measures it), with its phases and peak RSS;
- the reload through `BundleLoader` after editing one agreement's title in one of the 10 agreement files (the
  edit a policy officer makes), after editing an organisation's or a gateway's title (the environment of every
  agreement: all checks and the compile run again), and with nothing changed;
- `lawful serve`'s own reload (`BundleHolder.reload` with the heap settled after the swap, cache folder on: as
  `lawful serve` runs it) after an agreement edit;
- the language server's analysis (`BundleState.analyse`, checks and compile, lint left out as it is published
  after) after an unsaved agreement edit;
- for the record, a fresh process after the edit (`engine.load`, cache folder on: what `can-share` pays).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import DEFAULT_WORKDIR, LOAD_SNIPPET, bundle_path, report  # noqa: E402

# One process: load, then per round edit and load again, timing each load (CPU and wall).
RELOAD_SNIPPET = r"""
import json, os, re, sys, time, cProfile, pstats, io
pt, wt = time.process_time, time.perf_counter
mode, root, rounds, profile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
from pathlib import Path
root = Path(root)
agreements = sorted((root / "policies").glob("agreements-*.policy"))
targets = {"agreement": agreements[len(agreements) // 2], "organisation": root / "policies" / "organisations.policy",
           "gateway": sorted((root / "policies").glob("gateways-*.policy"))[0]}

def edited(kind, n):
    # the title of the (n+2)-th declaration of that kind in its file gets " (edited n)" at its end
    path = targets[kind]
    text = path.read_text(encoding="utf-8")
    m = list(re.finditer(r'(?m)^%s \S+ "([^"]*)"' % kind, text))[n + 1]
    return path, text[:m.end(1)] + f" (edited {n})" + text[m.end(1):]

def edit(kind, n):
    path, text = edited(kind, n)
    path.write_text(text, encoding="utf-8")

out = {"mode": mode, "rounds": {}}
c0, t0 = pt(), wt()
import engine
if mode == "loader":
    from engine.policy.loader import BundleLoader
    loader = BundleLoader()
    loader.load(root)
    out["first_cpu_s"], out["first_wall_s"] = pt() - c0, wt() - t0
    plan = [("agreement", i) for i in range(rounds)] + [("unchanged", 0)] + \
        [("organisation", i) for i in range(rounds)] + [("gateway", i) for i in range(rounds)]
    for kind, n in plan:
        if kind != "unchanged":
            edit(kind, n)
        c1, t1 = pt(), wt()
        policy = loader.load(root)
        out["rounds"].setdefault(kind, []).append({"cpu_s": pt() - c1, "wall_s": wt() - t1})
    # the phases of one more agreement edit, step by step as BundleLoader.load takes them
    from engine.bundle.parsecache import ParseCache
    from engine.bundle.read import read_bundle
    from engine.policy.load import _check, _compile, _no_gc
    edit("agreement", rounds)
    with _no_gc():
        c1 = pt(); r = read_bundle(root, parses=ParseCache(write=False)); c2 = pt()
        checked, diags = _check(r, None, loader._checked); c3 = pt()
        p = _compile(r, checked, diags, loader._policy); c4 = pt()
    loader._checked, loader._policy = checked, p
    out["phases"] = {"read_parse_s": c2 - c1, "check_s": c3 - c2, "compile_s": c4 - c3}
    if profile:
        edit("agreement", rounds + 1)
        pr = cProfile.Profile(); pr.enable(); loader.load(root); pr.disable()
        s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(14)
        out["profile"] = s.getvalue()
elif mode == "serve":
    from engine.ops.service import BundleHolder, settle_heap
    holder = BundleHolder(root)
    holder.freeze_after_swap = True  # as `lawful serve` runs it: the heap settled after each swap
    settle_heap()
    out["first_cpu_s"], out["first_wall_s"] = pt() - c0, wt() - t0
    for n in range(rounds):
        edit("agreement", n)
        c1, t1 = pt(), wt()
        assert holder.reload("benchmark")
        out["rounds"].setdefault("agreement", []).append({"cpu_s": pt() - c1, "wall_s": wt() - t1})
elif mode == "lsp":
    from engine.ops.lsp.workspace import BundleState
    state = BundleState(root)
    state.analyse({}, with_lint=False)
    out["first_cpu_s"], out["first_wall_s"] = pt() - c0, wt() - t0
    for n in range(rounds):
        path, text = edited("agreement", n)  # unsaved: the editor's text stands in for the file
        c1, t1 = pt(), wt()
        analysis = state.analyse({path: text}, with_lint=False)
        assert analysis.policy is not None
        out["rounds"].setdefault("agreement", []).append({"cpu_s": pt() - c1, "wall_s": wt() - t1})
elif mode == "fresh":  # engine.load in a fresh process: the CLI's path
    engine.load(root)
    out["rounds"]["fresh"] = [{"cpu_s": pt() - c0, "wall_s": wt() - t0}]
out["maxrss_mb"] = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) / 1024
print(json.dumps(out))
"""

PROFILE_LOAD = r"""
import cProfile, io, pstats, sys
from engine.bundle.read import read_bundle
from engine.policy.load import _check, _compile, _no_gc
with _no_gc():
    pr = cProfile.Profile(); pr.enable()
    r = read_bundle(sys.argv[1]); checked, diags = _check(r, None); _compile(r, checked, diags)
    pr.disable()
s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(16); print(s.getvalue())
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=7200)
    if r.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _copy(src: Path, tmp: Path) -> Path:
    b = tmp / "bundle"
    shutil.rmtree(b, ignore_errors=True)
    shutil.copytree(src, b, ignore=shutil.ignore_patterns(".generated"))
    return b


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def measure(args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LAWFUL_NO_CACHE", "LAWFUL_CACHE_DIR")}
    env["PYTHONPATH"] = str(HERE.parent)
    no_cache = {**env, "LAWFUL_NO_CACHE": "1"}
    report: dict = {"size": args.size, "rounds": args.rounds, "load_before": os.getloadavg(),
                    "python": platform.python_version(), "cpus": os.cpu_count()}
    src = bundle_path(args.size, args.workdir)
    snippet = "import sys; sys.path.insert(0, %r)\n" % str(HERE.parent) + LOAD_SNIPPET
    report["full"] = [_run(snippet, [str(src)], no_cache) for _ in range(args.rounds)]
    report["scaling"] = {size: _run(snippet, [str(bundle_path(size, args.workdir))], no_cache)
                         for size in args.load_sizes if size}
    tmp = Path(tempfile.mkdtemp(prefix="lawful-reload-"))
    try:
        report["loader"] = _run(RELOAD_SNIPPET, ["loader", str(_copy(src, tmp)), str(args.rounds),
                                                 "1" if args.profile else "0"], no_cache)
        serve_env = {**env, "LAWFUL_CACHE_DIR": str(tmp / "cache-serve")}  # serve's default: the folder on
        report["serve"] = _run(RELOAD_SNIPPET, ["serve", str(_copy(src, tmp)), str(args.rounds), "0"], serve_env)
        report["lsp"] = _run(RELOAD_SNIPPET, ["lsp", str(_copy(src, tmp)), str(args.rounds), "0"], no_cache)
        # the CLI's path after an edit: a warm cache folder, one file edited, a fresh process
        b = _copy(src, tmp)
        cli_env = {**env, "LAWFUL_CACHE_DIR": str(tmp / "cache-cli")}
        _run(RELOAD_SNIPPET, ["fresh", str(b), "1", "0"], cli_env)
        agreements = sorted((b / "policies").glob("agreements-*.policy"))
        edit = agreements[len(agreements) // 2]
        edit.write_text(edit.read_text(encoding="utf-8").replace('" {', ' (edited)" {', 1), encoding="utf-8")
        report["fresh_after_edit"] = _run(RELOAD_SNIPPET, ["fresh", str(b), "1", "0"], cli_env)
        if args.profile:
            r = subprocess.run([sys.executable, "-c", PROFILE_LOAD, str(src)], capture_output=True, text=True,
                               env=no_cache, timeout=3600)
            report["full_profile"] = r.stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    return report


def render(rep: dict) -> str:
    full_cpu = _median(rep["full"], "cpu_s")
    full_wall = _median(rep["full"], "load_s")

    def pct(x: float) -> str:
        return f"{100 * x / full_cpu:.1f}%"

    lines = [f"Bundle `{rep['size']}`; {rep['rounds']} rounds, medians; Python {rep['python']}, {rep['cpus']} CPUs; "
             f"load average {' '.join(f'{x:.2f}' for x in rep['load_before'])} at the start, "
             f"{' '.join(f'{x:.2f}' for x in rep['load_after'])} at the end.", "",
             "| load | CPU s | × full load (CPU) | wall s | target |", "|---|---:|---:|---:|---|"]
    f = rep["full"]
    lines.append(f"| full load from text, fresh process, no cache (read+parse {_median(f, 'read_parse_s'):.2f} s, "
                 f"check {_median(f, 'check_s'):.2f} s, compile {_median(f, 'compile_s'):.2f} s wall; peak "
                 f"{_median(f, 'maxrss_mb'):.0f} MB) | {full_cpu:.2f} | 100% | {full_wall:.2f} | ≤ 2 s: "
                 f"**{'met' if full_cpu <= 2.0 else 'NOT met'}** |")
    loader = rep["loader"]["rounds"]
    labels = [("agreement", "reload after editing one agreement's title in one of the agreement files "
               "(`BundleLoader`: serve's and the language server's path)", True),
              ("unchanged", "reload with nothing changed", False),
              ("organisation", "reload after editing an organisation's title (the environment: every check "
               "and the compile again)", False),
              ("gateway", "reload after editing a gateway's title (the environment)", False)]
    for key, label, target in labels:
        rows = loader.get(key, [])
        if not rows:
            continue
        cpu = _median(rows, "cpu_s")
        verdict = f"≤ 15%: **{'met' if cpu <= 0.15 * full_cpu else 'NOT met'}**" if target else ""
        lines.append(f"| {label} | {cpu:.3f} | {pct(cpu)} | {_median(rows, 'wall_s'):.3f} | {verdict} |")
    for key, label in (("serve", "`lawful serve`'s reload (`BundleHolder.reload`, cache folder on), one agreement "
                                 "edited"),
                       ("lsp", "language server analysis (`BundleState.analyse`, no lint) of an unsaved "
                               "agreement edit")):
        rows = rep[key]["rounds"]["agreement"]
        cpu = _median(rows, "cpu_s")
        lines.append(f"| {label} | {cpu:.3f} | {pct(cpu)} | {_median(rows, 'wall_s'):.3f} | "
                     f"≤ 15%: **{'met' if cpu <= 0.15 * full_cpu else 'NOT met'}** |")
    fresh = rep["fresh_after_edit"]["rounds"]["fresh"][0]
    lines.append(f"| for the record: a fresh process after the edit (`engine.load`, cache folder warm: 15 parses "
                 f"unpickled, checks, compile, the new compiled-bundle entry written) | {fresh['cpu_s']:.2f} | "
                 f"{pct(fresh['cpu_s'])} | {fresh['wall_s']:.2f} | |")
    ph = rep["loader"]["phases"]
    lines += ["", f"Phases of a reload after an agreement edit (CPU s): read and parse {ph['read_parse_s']:.3f} "
              f"(16 files read and hashed, one parsed), check {ph['check_s']:.3f}, compile {ph['compile_s']:.3f}."]
    if rep["scaling"]:
        lines += ["", "| bundle | organisations | agreements | CPU s | × large | read+parse s | check s | compile s | "
                  "peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for size, row in rep["scaling"].items():
            lines.append(f"| {size} | {row['organisations']:,} | {row['agreements']:,} | {row['cpu_s']:.2f} | "
                         f"{row['cpu_s'] / full_cpu:.2f}× | {row['read_parse_s']:.2f} | {row['check_s']:.2f} | "
                         f"{row['compile_s']:.2f} | {row['maxrss_mb']:.0f} |")
    if rep["loader"].get("profile"):
        lines += ["", "cProfile of a reload after an agreement edit (top entries by own time):", "", "```",
                  rep["loader"]["profile"].strip(), "```"]
    if rep.get("full_profile"):
        lines += ["", "cProfile of a full load from text (top entries by own time):", "", "```",
                  rep["full_profile"].strip(), "```"]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="large")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--load-sizes", default="", help="also load these sizes from text (linearity), e.g. "
                    "large-2x,large-4x")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--from-json", type=Path, help="print the table of an earlier run")
    args = ap.parse_args(argv)
    args.load_sizes = [s for s in args.load_sizes.split(",") if s]
    return report(args, measure, render)


if __name__ == "__main__":
    sys.exit(main())
