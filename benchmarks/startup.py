"""Start-up of a fresh process (issue 18, targets 1 and 2), measured in one run beside `python -c pass`.

    python benchmarks/bench.py --only startup --startup-venv .venv --from-json benchmarks/results.json \
        --json benchmarks/results.json --write benchmarks/RESULTS.md

- `can-share` (the README's DENY, and an ALLOW) with a warm compiled-bundle cache and with a cold one (a new,
  empty cache folder for every run: parse, check, compile and write the entry);
- the library's first answer, `import engine; engine.load(); policy.decide(...)`, warm and cold;
- `python -c pass` of the same interpreter, and `import typer` and typer's parsing machinery alone;
- every command run in turn, round after round, so that the machine's load falls on all of them alike; wall
  time and CPU time (user + system) of each process; medians;
- where the time goes: `python -X importtime` of a warm DENY (self time grouped by what triggered each import)
  and the CPU time of each phase of the same command, measured inside the process.

Python's bytecode cache is on (PYTHONDONTWRITEBYTECODE is removed from the environment), as on a user's
machine. The commands run from the repository's root with no LAWFUL_BUNDLE, as the README's first command does.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
QUESTION = ["ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
DENY, ALLOW = ["JCP", *QUESTION], ["LSC", *QUESTION]
FIRST_ANSWER = ("import datetime, engine; policy = engine.load(); "
                "policy.decide({source!r}, 'ALI', 'provider-data', 'inspection', on=datetime.date(2005, 6, 23))")

# The phases of a warm `can-share` DENY, timed inside the process (CPU time). Each phase is forced in the
# order the command meets it, so that the next one does not pay for it.
PHASES = r"""
import functools, json, sys, time
pt = time.process_time
marks = [("start", pt())]
import cli
marks.append(("import cli.py and typer", pt()))
try:
    import typer._adapters
except ImportError:  # a typer before 0.29 coerces without pydantic
    pass
marks.append(("import pydantic (typer._adapters, used by typer 0.29 to coerce every parameter)", pt()))
command = cli.can_share

def timed_command(*args, **kwargs):
    marks.append(("typer parses the command line (a pydantic TypeAdapter per parameter)", pt()))
    import engine.commands.decide as decide
    import engine.eval.fixes, engine.eval.routes, engine.policy.cache, engine.policy.load, engine.render.explain
    marks.append(("import the engine's modules for the answer", pt()))
    load = decide.load

    def timed_load(bundle):
        policy = load(bundle)
        marks.append(("find the bundle, key it (engine fingerprint, bundle files), read, verify, unpickle", pt()))
        return policy

    decide.load = timed_load
    return command(*args, **kwargs)

functools.update_wrapper(timed_command, command)
cli.can_share = timed_command
sys.argv = ["can-share", *sys.argv[1:]]
try:
    cli.can_share_main()
except SystemExit:
    pass
marks.append(("decide (with fixes and routes), render, write", pt()))
sys.stderr.write("\nPHASES " + json.dumps(marks) + "\n")
"""

LIB_PHASES = r"""
import datetime, json, sys, time
pt = time.process_time
marks = [("start", pt())]
import engine
from engine.policy import load
marks.append(("import engine and its load pipeline", pt()))
from engine.base.cachedir import engine_fingerprint
engine_fingerprint()
marks.append(("the engine's fingerprint (hash of its source files)", pt()))
policy = engine.load()
marks.append(("key the bundle, read, verify and unpickle the cache entry", pt()))
policy.decide("JCP", "ALI", "provider-data", "inspection", on=datetime.date(2005, 6, 23))
marks.append(("decide (DENY: with fixes and routes)", pt()))
sys.stderr.write("\nPHASES " + json.dumps(marks) + "\n")
"""


def _env(cache: Optional[Path]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LAWFUL_BUNDLE", "PYTHONDONTWRITEBYTECODE", "LAWFUL_NO_CACHE", "PYTHONPROFILEIMPORTTIME")}
    if cache is not None:
        env["LAWFUL_CACHE_DIR"] = str(cache)
    return env


def _run(cmd: list[str], env: dict) -> tuple[float, float, str]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p.stderr


def measure(bindir: Path, runs: int) -> dict:
    py, can_share = str(bindir / "python"), str(bindir / "can-share")
    cases: list[tuple[str, str, list[str], bool]] = [  # key, label, command, cold cache
        ("pass", "`python -c pass` (the same interpreter)", [py, "-c", "pass"], False),
        ("deny", "`can-share JCP ALI provider-data --purpose inspection --on 2005-06-23` (DENY), warm cache",
         [can_share, *DENY], False),
        ("allow", "`can-share LSC ALI provider-data …` (ALLOW), warm cache", [can_share, *ALLOW], False),
        ("deny_cold", "the DENY, cold cache (a new, empty cache folder)", [can_share, *DENY], True),
        ("allow_cold", "the ALLOW, cold cache", [can_share, *ALLOW], True),
        ("lib_deny", "library: `import engine; engine.load(); policy.decide(...)` (DENY), warm cache",
         [py, "-c", FIRST_ANSWER.format(source="JCP")], False),
        ("lib_allow", "library, the ALLOW, warm cache", [py, "-c", FIRST_ANSWER.format(source="LSC")], False),
        ("lib_deny_cold", "library, the DENY, cold cache", [py, "-c", FIRST_ANSWER.format(source="JCP")], True),
        ("typer", "`python -c 'import typer'` (for the profile)", [py, "-c", "import typer"], False),
        ("typer_pydantic", "`python -c 'import typer, typer._adapters'` (typer's parsing imports pydantic)",
         [py, "-c", "import typer, typer._adapters"], False),
    ]
    tmp = Path(tempfile.mkdtemp(prefix="lawful-startup-"))  # 0700: a private parent for the cache folders
    try:
        warm = tmp / "warm"
        for _key, _label, cmd, _cold in cases:  # prime the warm cache (and Python's bytecode cache)
            _run(cmd, _env(warm))
        walls: dict[str, list[float]] = {k: [] for k, *_ in cases}
        cpus: dict[str, list[float]] = {k: [] for k, *_ in cases}
        for i in range(runs):
            for key, _label, cmd, cold in cases:
                cache = tmp / f"cold-{key}-{i}" if cold else warm
                wall, cpu, _err = _run(cmd, _env(cache))
                walls[key].append(wall)
                cpus[key].append(cpu)
                if cold:
                    shutil.rmtree(cache, ignore_errors=True)
        rows = {key: {"label": label, "wall_s": statistics.median(walls[key]), "cpu_s": statistics.median(cpus[key]),
                      "min_wall_s": min(walls[key]), "max_wall_s": max(walls[key]), "runs": runs}
                for key, label, _cmd, _cold in cases}
        importtime = _importtime([can_share, *DENY], _env(warm), max(3, runs // 3))
        phases = _phases([py, "-c", PHASES, *DENY], _env(warm), max(3, runs // 3))
        lib_phases = _phases([py, "-c", LIB_PHASES], _env(warm), max(3, runs // 3))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"bindir": str(bindir), "rows": rows, "importtime": importtime, "phases": phases,
            "lib_phases": lib_phases, "packages": _count_packages(py)}


def _count_packages(py: str) -> int:
    p = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    try:
        return len(json.loads(p.stdout))
    except ValueError:
        return 0


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def _group(top: str) -> str:
    """Who is responsible for an import, from the top-level import that triggered it."""
    if top in ("site", "encodings", "sitecustomize", "usercustomize") or top.startswith(("__editable__", "_distutils")):
        return "interpreter start-up (site, .pth files: the editable install's finder)"
    if top == "cli" or top.startswith("typer") and top != "typer._adapters":
        return "cli.py and typer"
    if top == "typer._adapters" or top.startswith(("pydantic", "annotated_types", "typing_inspection")):
        return "pydantic (imported by typer's parsing)"
    if top.startswith("engine"):
        return "the engine"
    if top.startswith("importlib.metadata"):
        return "importlib.metadata"
    return "other (standard library)"


def _importtime(cmd: list[str], env: dict, runs: int) -> dict:
    """Self time per group and the heaviest modules, medians over `runs` runs (importtime adds its own
    overhead: the shares are the information, not the absolute figures)."""
    groups: dict[str, list[int]] = {}
    modules: dict[str, list[int]] = {}
    for _ in range(runs):
        _wall, _cpu, err = _run(cmd, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
        per_group: dict[str, int] = {}
        top = ""
        for line in err.splitlines():
            m = _LINE.match(line)
            if not m:
                continue
            self_us, name, depth = int(m[1]), m[4], len(m[3]) // 2
            # importtime prints children before their parent; the parent (depth 0) names the group
            modules.setdefault(name, []).append(self_us)
            per_group.setdefault("?pending", 0)
            per_group["?pending"] += self_us
            if depth == 0:
                top = name
                g = _group(top)
                per_group[g] = per_group.get(g, 0) + per_group.pop("?pending")
        for g, v in per_group.items():
            if g != "?pending":
                groups.setdefault(g, []).append(v)
    return {"runs": runs,
            "groups_ms": {g: statistics.median(v) / 1e3
                          for g, v in sorted(groups.items(), key=lambda x: -statistics.median(x[1]))},
            "top_modules_ms": [(n, statistics.median(v) / 1e3) for n, v in
                               sorted(modules.items(), key=lambda x: -statistics.median(x[1]))[:15]]}


def _phases(cmd: list[str], env: dict, runs: int) -> list[tuple[str, float]]:
    """CPU time of each phase (ms), medians over `runs` runs; the first row is the interpreter's own start
    (the CPU time the process had used when the script began)."""
    per: dict[str, list[float]] = {}
    order: list[str] = []
    for _ in range(runs):
        _wall, _cpu, err = _run(cmd, env)
        marks = json.loads(err.rpartition("\nPHASES ")[2].splitlines()[0])
        per.setdefault("interpreter start-up (before the first line runs)", []).append(marks[0][1] * 1e3)
        for (_name, t0), (name, t1) in zip(marks, marks[1:]):
            per.setdefault(name, []).append((t1 - t0) * 1e3)
            if name not in order:
                order.append(name)
    keys = ["interpreter start-up (before the first line runs)", *order]
    return [(k, statistics.median(per[k])) for k in keys]


# ---- report ----------------------------------------------------------------------------------------------

def target_rows(st: dict) -> list[str]:
    r = st["rows"]
    base_w, base_c = r["pass"]["wall_s"], r["pass"]["cpu_s"]

    def ratio(key: str) -> str:
        return f"{r[key]['wall_s'] / base_w:.1f}× wall, {r[key]['cpu_s'] / base_c:.1f}× CPU"

    def ok(key: str, limit: float) -> bool:
        return r[key]["cpu_s"] / base_c <= limit and r[key]["wall_s"] / base_w <= limit

    def v(good: bool) -> str:
        return "**met**" if good else "**NOT met**"

    return [
        f"| issue 18.1: `can-share` DENY, warm cache, ≤ 4× `python -c pass` | {ratio('deny')} | {v(ok('deny', 4))} |",
        f"| issue 18.1: `can-share` ALLOW, warm cache, ≤ 4× | {ratio('allow')} | {v(ok('allow', 4))} |",
        f"| issue 18.1: `can-share` DENY, cold cache, ≤ 8× | {ratio('deny_cold')} | {v(ok('deny_cold', 8))} |",
        f"| issue 18.1: `can-share` ALLOW, cold cache, ≤ 8× | {ratio('allow_cold')} | {v(ok('allow_cold', 8))} |",
        f"| issue 18.2: `import engine; engine.load(); policy.decide(...)` first answer ≤ 5× (warm cache) | "
        f"{ratio('lib_deny')} | {v(ok('lib_deny', 5))} |",
        f"| issue 18.2: the same, cold cache (for the record: parse, check, compile, write the entry) | "
        f"{ratio('lib_deny_cold')} | {v(ok('lib_deny_cold', 5))} |",
    ]


def render_section(st: dict) -> list[str]:
    r = st["rows"]
    base_w, base_c = r["pass"]["wall_s"], r["pass"]["cpu_s"]
    out = ["## Start-up (issue 18, targets 1 and 2)", "",
           f"Interpreter `{st['bindir']}/python` in a virtual environment made by the README's first command "
           f"(`pip install -e '.[test]'`, {st['packages']} packages). Every command run in turn, "
           f"{r['pass']['runs']} rounds; medians. CPU is user + system time of the process, which other jobs on "
           "the machine do not inflate; wall time includes waiting for a core.", "",
           "| command | wall ms | × pass | CPU ms | × pass | min–max wall ms |", "|---|---:|---:|---:|---:|---|"]
    for row in r.values():
        out.append(f"| {row['label']} | {row['wall_s'] * 1e3:.1f} | {row['wall_s'] / base_w:.1f}× | "
                   f"{row['cpu_s'] * 1e3:.1f} | {row['cpu_s'] / base_c:.1f}× | "
                   f"{row['min_wall_s'] * 1e3:.0f}–{row['max_wall_s'] * 1e3:.0f} |")
    for title, phases in (("Where a warm `can-share` DENY spends its CPU time (phases timed inside the process, "
                           "medians)", st["phases"]),
                          ("Where the library's first answer (warm cache, DENY) spends its CPU time",
                           st["lib_phases"])):
        total = sum(ms for _n, ms in phases)
        out += ["", f"{title}:", "", "| phase | CPU ms | share |", "|---|---:|---:|"]
        out += [f"| {name} | {ms:.1f} | {ms / total:.0%} |" for name, ms in phases]
        out.append(f"| total | {total:.1f} | |")
    it = st["importtime"]
    out += ["", f"`python -X importtime` of the warm DENY (`PYTHONPROFILEIMPORTTIME=1 can-share JCP ALI …`, medians of "
            f"{it['runs']} runs; importtime's own overhead inflates every figure, so read the shares):", "",
            "| imports triggered by | self ms |", "|---|---:|"]
    out += [f"| {g} | {ms:.1f} |" for g, ms in it["groups_ms"].items()]
    out += ["", "Heaviest modules (self ms): " + ", ".join(f"`{n}` {ms:.1f}" for n, ms in it["top_modules_ms"]) + "."]
    return out
