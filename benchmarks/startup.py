"""Start-up of a fresh process (issue 18, targets 1 and 2), measured in one run beside `python -c pass`.

    python benchmarks/startup.py --venv .venv [--runs 15] [--compare-venv /tmp/t28] [--json out.json]

prints the table (medians and ratios) and the sections "Target 1" and "Target 2"; the full report takes the same
measurement with

    python benchmarks/bench.py --only startup --startup-venv .venv [--startup-compare-venv /tmp/t28] \
        --from-json benchmarks/results.json --json benchmarks/results.json --write benchmarks/RESULTS.md

- `can-share` (the README's DENY, and an ALLOW) with a warm compiled-bundle cache and with a cold one (a new,
  empty cache folder for every run: parse, check, compile and write the entries);
- the options for target 1, in the same run: the console script (engine/commands/entry.py: plain command lines
  read without typer), the same command line parsed by typer (`cli.can_share_main`, what the script did before),
  `lawful can-share` (the whole typer app), and with --compare-venv the typer path in another environment (such
  as one with typer 0.28, which needs no pydantic), against that environment's own `python -c pass`;
- the library's first answer, `import engine; engine.load(); policy.decide(...)`, warm and cold;
- `import typer` and typer's parsing machinery alone;
- every command run in turn, round after round, so that the machine's load falls on all of them alike; wall
  time and CPU time (user + system) of each process; medians;
- where the time goes: `python -X importtime` of a warm DENY (self time by package, and the heaviest modules),
  the CPU time of each phase of the same command measured inside the process, and the part of it spent
  creating the engine's dataclasses.

Python's bytecode cache is on (PYTHONDONTWRITEBYTECODE is removed from the environment), as on a user's
machine. The commands run from the repository's root with no LAWFUL_BUNDLE, as the README's first command does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
QUESTION = ["ALI", "provider-data", "--purpose", "inspection", "--on", "2005-06-23"]
DENY, ALLOW = ["JCP", *QUESTION], ["LSC", *QUESTION]
COMMAND = "can-share " + " ".join(DENY)
FIRST_ANSWER = ("import datetime, engine; policy = engine.load(); "
                "policy.decide({source!r}, 'ALI', 'provider-data', 'inspection', on=datetime.date(2005, 6, 23))")
# The same command line parsed by typer: what the console script ran before it read plain command lines itself.
TYPER_PATH = "import sys; sys.argv[0] = 'can-share'; import cli; cli.can_share_main()"

# The phases of a warm `can-share` DENY through the console script, timed inside the process (CPU time), in the
# order the command meets them.
PHASES = r"""
import gc, json, os, sys, time
gc.disable()  # as the script does
pt = time.process_time
marks = [("start", pt())]
from engine.commands import entry
from engine.commands.can_share_args import PARAMS
marks.append(("import the entry point and the generated parameters (engine.commands: Result, errors, dataclasses)",
              pt()))
kwargs = entry.plain_arguments(sys.argv[1:], PARAMS, os.environ)
assert kwargs is not None
marks.append(("read the command line", pt()))
import engine.commands.decide as decide
import engine.eval.fixes, engine.eval.routes, engine.policy.cache, engine.policy.load, engine.render.explain
marks.append(("import the engine's modules for the answer (model, compiled policy, decision, rendering)", pt()))
load = decide.load

def timed_load(bundle):
    policy = load(bundle)
    marks.append(("find the bundle, key it (engine fingerprint, bundle files), read, verify, unpickle", pt()))
    return policy

decide.load = timed_load
code = entry.write_out(decide.can_share(**kwargs, colour=False))
marks.append(("decide (with fixes and routes), render, write", pt()))
gc.freeze()
sys.stderr.write("\nPHASES " + json.dumps(marks) + "\n")
if entry._nothing_left_at_exit():  # as the console script (entry.main) leaves
    os._exit(code)
sys.exit(code)
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

# How much of a warm DENY is creating dataclasses (the engine's model, compiled policy and answers are ~60 of
# them; Python 3.11 compiles each one's generated methods with exec at import).
DATACLASSES = r"""
import dataclasses, json, sys, time
pt = time.process_time
spent, count, execs = [0.0], [0], [0]
process_class = dataclasses._process_class

def timed(*args, **kwargs):
    t0 = pt()
    try:
        return process_class(*args, **kwargs)
    finally:
        spent[0] += pt() - t0
        count[0] += 1

def counted_exec(*args):
    execs[0] += 1
    return exec(*args)

dataclasses._process_class = timed
dataclasses.exec = counted_exec  # dataclasses' own name lookup finds this before the builtin
from engine.commands import entry
try:
    entry.can_share_main()
except SystemExit:
    pass
sys.stderr.write("\nDATACLASSES " + json.dumps([spent[0], count[0], execs[0], pt()]) + "\n")
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


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _cases(bindir: Path, compare: Optional[Path]) -> list[tuple[str, str, list[str], bool, str]]:
    """(key, label, command, cold cache, key of the `python -c pass` it is compared with)."""
    py, can_share, lawful = str(bindir / "python"), str(bindir / "can-share"), str(bindir / "lawful")
    cases = [
        ("pass", "`python -c pass` (the same interpreter)", [py, "-c", "pass"], False, "pass"),
        ("deny", f"`{COMMAND}` (DENY), warm cache", [can_share, *DENY], False, "pass"),
        ("allow", "`can-share LSC ALI provider-data …` (ALLOW), warm cache", [can_share, *ALLOW], False, "pass"),
        ("deny_cold", "the DENY, cold cache (a new, empty cache folder)", [can_share, *DENY], True, "pass"),
        ("allow_cold", "the ALLOW, cold cache", [can_share, *ALLOW], True, "pass"),
        ("typer_deny", "the DENY's command line parsed by typer (`cli.can_share_main`: the script before), warm",
         [py, "-c", TYPER_PATH, *DENY], False, "pass"),
        ("lawful_deny", "`lawful can-share JCP ALI …` (the whole typer app), warm", [lawful, "can-share", *DENY], False,
         "pass"),
        ("lib_deny", "library: `import engine; engine.load(); policy.decide(...)` (DENY), warm cache",
         [py, "-c", FIRST_ANSWER.format(source="JCP")], False, "pass"),
        ("lib_allow", "library, the ALLOW, warm cache", [py, "-c", FIRST_ANSWER.format(source="LSC")], False, "pass"),
        ("lib_deny_cold", "library, the DENY, cold cache", [py, "-c", FIRST_ANSWER.format(source="JCP")], True, "pass"),
        ("typer", "`python -c 'import typer'`", [py, "-c", "import typer"], False, "pass"),
        ("typer_pydantic", "`python -c 'import typer, typer._adapters'` (typer 0.29's parsing imports pydantic)",
         [py, "-c", "import typer, typer._adapters"], False, "pass"),
    ]
    if compare is not None:
        cpy = str(compare / "bin" / "python")
        version = _typer_version(cpy)
        cases += [
            ("cmp_pass", f"`python -c pass` of {compare} (typer {version})", [cpy, "-c", "pass"], False, "cmp_pass"),
            ("cmp_typer_deny", f"there: the DENY parsed by typer {version} (`cli.can_share_main`), warm",
             [cpy, "-c", TYPER_PATH, *DENY], False, "cmp_pass"),
            ("cmp_deny_cold", f"there: the DENY parsed by typer {version}, cold", [cpy, "-c", TYPER_PATH, *DENY], True,
             "cmp_pass"),
        ]
        if (compare / "bin" / "can-share").exists():  # e.g. a checkout of main: the same targets, before and after
            ccs = str(compare / "bin" / "can-share")
            cases += [
                ("cmp_script_deny", "there: `can-share` DENY, warm cache", [ccs, *DENY], False, "cmp_pass"),
                ("cmp_script_allow", "there: `can-share` ALLOW, warm cache", [ccs, *ALLOW], False, "cmp_pass"),
                ("cmp_script_deny_cold", "there: `can-share` DENY, cold cache", [ccs, *DENY], True, "cmp_pass"),
                ("cmp_script_allow_cold", "there: `can-share` ALLOW, cold cache", [ccs, *ALLOW], True, "cmp_pass"),
                ("cmp_lib_deny", "there: library first answer (DENY), warm cache",
                 [cpy, "-c", FIRST_ANSWER.format(source="JCP")], False, "cmp_pass"),
                ("cmp_lib_allow", "there: library first answer (ALLOW), warm cache",
                 [cpy, "-c", FIRST_ANSWER.format(source="LSC")], False, "cmp_pass"),
            ]
    return cases


def _typer_version(py: str) -> str:
    p = subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('typer'))"], capture_output=True,
                       text=True)
    return p.stdout.strip() or "?"


def _python_version(py: str) -> str:
    p = subprocess.run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
    return p.stdout.strip() or "?"


def measure(bindir: Path, runs: int, compare: Optional[Path] = None) -> dict:
    py, can_share = str(bindir / "python"), str(bindir / "can-share")
    cases = _cases(bindir, compare)
    load_before = _loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="lawful-startup-"))  # 0700: a private parent for the cache folders
    try:
        warm = tmp / "warm"
        for _key, _label, cmd, _cold, _base in cases:  # prime the warm cache (and Python's bytecode cache)
            _run(cmd, _env(warm))
        walls: dict[str, list[float]] = {k: [] for k, *_ in cases}
        cpus: dict[str, list[float]] = {k: [] for k, *_ in cases}
        for i in range(runs):
            for key, _label, cmd, cold, _base in cases:
                cache = tmp / f"cold-{key}-{i}" if cold else warm
                wall, cpu, _err = _run(cmd, _env(cache))
                walls[key].append(wall)
                cpus[key].append(cpu)
                if cold:
                    shutil.rmtree(cache, ignore_errors=True)
        rows = {key: {"label": label, "wall_s": statistics.median(walls[key]), "cpu_s": statistics.median(cpus[key]),
                      "min_wall_s": min(walls[key]), "max_wall_s": max(walls[key]), "runs": runs, "base": base}
                for key, label, _cmd, _cold, base in cases}
        load_after = _loadavg()
        few = max(3, runs // 3)
        importtime = _importtime([can_share, *DENY], _env(warm), few)
        typer_importtime = _importtime([py, "-c", TYPER_PATH, *DENY], _env(warm), few)
        phases = _phases([py, "-c", PHASES, *DENY], _env(warm), few)
        lib_phases = _phases([py, "-c", LIB_PHASES], _env(warm), few)
        dataclasses = _dataclasses([py, "-c", DATACLASSES, *DENY], _env(warm), few)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"bindir": str(bindir), "rows": rows, "importtime": importtime, "typer_importtime": typer_importtime,
            "phases": phases, "lib_phases": lib_phases, "dataclasses": dataclasses, "packages": _count_packages(py),
            "typer": _typer_version(py), "python": _python_version(py), "loadavg": [load_before, load_after],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _count_packages(py: str) -> int:
    p = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    try:
        return len(json.loads(p.stdout))
    except ValueError:
        return 0


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def _package(name: str) -> str:
    """What a module belongs to, for the self-time table."""
    if name.startswith("engine."):
        return ".".join(name.split(".")[:2])
    top = name.split(".")[0]
    if top in ("typer", "click", "pydantic", "pydantic_core", "annotated_types", "typing_inspection", "rich",
               "shellingham", "typing_extensions", "networkx", "lark", "yaml", "jsonschema", "cli"):
        return top
    if top.startswith("__editable__") or top in ("site", "sitecustomize", "_distutils_hack", "encodings"):
        return "interpreter start-up (site; the editable install's finder)"
    return "standard library"


def _importtime(cmd: list[str], env: dict, runs: int) -> dict:
    """Self time per package and the heaviest modules (self and cumulative), medians over `runs` runs
    (importtime adds its own overhead: the shares are the information, not the absolute figures)."""
    packages: dict[str, list[int]] = {}
    selfs: dict[str, list[int]] = {}
    cums: dict[str, list[int]] = {}
    for _ in range(runs):
        _wall, _cpu, err = _run(cmd, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
        per: dict[str, int] = {}
        for line in err.splitlines():
            m = _LINE.match(line)
            if m:
                selfs.setdefault(m[4], []).append(int(m[1]))
                cums.setdefault(m[4], []).append(int(m[2]))
                per[_package(m[4])] = per.get(_package(m[4]), 0) + int(m[1])
        for g, v in per.items():
            packages.setdefault(g, []).append(v)
    med = {n: statistics.median(v) for n, v in selfs.items()}
    return {"runs": runs,
            "packages_ms": {g: statistics.median(v) / 1e3
                            for g, v in sorted(packages.items(), key=lambda x: -statistics.median(x[1]))},
            "top_modules": [(n, med[n] / 1e3, statistics.median(cums[n]) / 1e3)
                            for n in sorted(med, key=lambda n: -med[n])[:15]]}


def _phases(cmd: list[str], env: dict, runs: int) -> list[tuple[str, float]]:
    """CPU time of each phase (ms), medians over `runs` runs; the first row is the interpreter's own start
    (the CPU time the process had used when the script began), the last its exit (the process's CPU time after
    the last mark)."""
    per: dict[str, list[float]] = {}
    order: list[str] = []
    first, last = "interpreter start-up (before the first line runs)", "interpreter exit (after the last line)"
    for _ in range(runs):
        _wall, cpu, err = _run(cmd, env)
        marks = json.loads(err.rpartition("\nPHASES ")[2].splitlines()[0])
        per.setdefault(first, []).append(marks[0][1] * 1e3)
        for (_name, t0), (name, t1) in zip(marks, marks[1:]):
            per.setdefault(name, []).append((t1 - t0) * 1e3)
            if name not in order:
                order.append(name)
        per.setdefault(last, []).append(max(0.0, cpu - marks[-1][1]) * 1e3)
    return [(k, statistics.median(per[k])) for k in [first, *order, last]]


def _dataclasses(cmd: list[str], env: dict, runs: int) -> dict:
    got: list[list[float]] = []
    for _ in range(runs):
        _wall, _cpu, err = _run(cmd, env)
        got.append(json.loads(err.rpartition("\nDATACLASSES ")[2].splitlines()[0]))
    return {"ms": statistics.median(g[0] for g in got) * 1e3, "classes": int(got[0][1]), "execs": int(got[0][2]),
            "process_ms": statistics.median(g[3] for g in got) * 1e3}


# ---- report ----------------------------------------------------------------------------------------------


def _ratios(st: dict, key: str) -> tuple[float, float]:
    r = st["rows"]
    base = r[r[key].get("base", "pass")]
    return r[key]["wall_s"] / base["wall_s"], r[key]["cpu_s"] / base["cpu_s"]


def _ok(st: dict, key: str, limit: float) -> bool:
    return max(_ratios(st, key)) <= limit


def _ratio_text(st: dict, key: str) -> str:
    wall, cpu = _ratios(st, key)
    return f"{wall:.1f}× wall, {cpu:.1f}× CPU"


def _verdict(good: bool) -> str:
    return "**met**" if good else "**NOT met**"


TARGETS = [  # key, what, limit
    ("deny", "issue 18.1: `can-share` DENY, warm cache, ≤ 4× `python -c pass`", 4),
    ("allow", "issue 18.1: `can-share` ALLOW, warm cache, ≤ 4×", 4),
    ("deny_cold", "issue 18.1: `can-share` DENY, cold cache, ≤ 8×", 8),
    ("allow_cold", "issue 18.1: `can-share` ALLOW, cold cache, ≤ 8×", 8),
    ("lib_deny", "issue 18.2: `import engine; engine.load(); policy.decide(...)` first answer ≤ 5× (warm cache)", 5),
    ("lib_allow", "issue 18.2: the same, the ALLOW", 5),
]


def target_rows(st: dict) -> list[str]:
    rows = [f"| {what} | {_ratio_text(st, key)} | {_verdict(_ok(st, key, limit))} |" for key, what, limit in TARGETS
            if key in st["rows"]]
    if "lib_deny_cold" in st["rows"]:
        rows.append("| issue 18.2, for the record: the library's first answer with a cold cache (parse, check, "
                    f"compile, write the entries) | {_ratio_text(st, 'lib_deny_cold')} | — |")
    return rows


def _table(st: dict) -> list[str]:
    r = st["rows"]
    out = ["| command | wall ms | × pass | CPU ms | × pass | min–max wall ms |", "|---|---:|---:|---:|---:|---|"]
    for key, row in r.items():
        wall, cpu = _ratios(st, key)
        out.append(f"| {row['label']} | {row['wall_s'] * 1e3:.1f} | {wall:.1f}× | {row['cpu_s'] * 1e3:.1f} | "
                   f"{cpu:.1f}× | {row['min_wall_s'] * 1e3:.0f}–{row['max_wall_s'] * 1e3:.0f} |")
    return out


def _phase_table(phases: list) -> list[str]:
    total = sum(ms for _n, ms in phases) or 1.0
    out = ["| phase | CPU ms | share |", "|---|---:|---:|"]
    out += [f"| {name} | {ms:.1f} | {ms / total:.0%} |" for name, ms in phases]
    out.append(f"| total | {total:.1f} | |")
    return out


def _importtime_tables(it: dict, what: str) -> list[str]:
    out = [f"`python -X importtime` of {what} (medians of {it['runs']} runs; importtime's own overhead inflates every "
           "figure, so read the shares). Self time by package:", "",
           "| package | self ms |", "|---|---:|"]
    out += [f"| {g} | {ms:.1f} |" for g, ms in it["packages_ms"].items()]
    out += ["", "Top entries (importtime's columns: self and cumulative µs; sorted by self time):", "", "```"]
    out += [f"import time: {s * 1e3:9.0f} | {c * 1e3:10.0f} | {n}" for n, s, c in it["top_modules"]]
    out.append("```")
    return out


def render_section(st: dict) -> list[str]:
    r = st["rows"]
    p = r["pass"]
    load = st.get("loadavg", ["?", "?"])  # (older results have neither the load nor the date)
    out = ["## Start-up (issue 18, targets 1 and 2)", "",
           f"Measured {st.get('date', '?')} by `python benchmarks/startup.py --venv {st['bindir'].removesuffix('/bin')}"
           f"{' --compare-venv …' if 'cmp_pass' in r else ''} --runs {p['runs']}` with the interpreter "
           f"`{st['bindir']}/python`, in a virtual environment made by the README's first command "
           f"(`pip install -e '.[test]'`, {st.get('packages', '?')} packages, typer {st.get('typer', '?')}). "
           f"Every command run in turn, {p['runs']} rounds; medians; load average {load[0]} at the start, "
           f"{load[1]} at the end (2 cores, shared with other jobs). CPU is user + system time of the process, "
           "which other jobs inflate less than wall time (wall time includes waiting for a core); a target counts as "
           "met only when both ratios are within it. Rows marked \"there\" are compared with their own "
           "environment's `python -c pass`.",
           "", *_table(st), ""]
    out += _target1(st) + [""] + _target2(st)
    return out


def _target1(st: dict) -> list[str]:
    r = st["rows"]
    if "typer_deny" not in r or "dataclasses" not in st:  # results of an earlier version of this script
        return ["### Target 1", "", *[f"- {what}: {_ratio_text(st, key)} — {_verdict(_ok(st, key, limit))}"
                                      for key, what, limit in TARGETS[:4] if key in r]]
    dc = st["dataclasses"]
    out = ["### Target 1: `can-share`, cold start, ≤ 4× `python -c pass` (warm cache), ≤ 8× (cold cache)", "",
           f"Command: `{COMMAND}` (DENY) and `can-share LSC ALI provider-data --purpose inspection --on 2005-06-23` "
           "(ALLOW), the console script of the README's environment, run from the repository's root.", ""]
    out += [f"- {what.removeprefix('issue 18.1: ')}: {_ratio_text(st, key)} — {_verdict(_ok(st, key, limit))}"
            for key, what, limit in TARGETS[:4]]
    out += ["", "**The choice, by measurement (same run, warm cache, DENY):** "
            f"the same command line parsed by typer {st.get('typer', '?')} (what the script did before) "
            f"{_ratio_text(st, 'typer_deny')}; `lawful can-share` (the whole app) {_ratio_text(st, 'lawful_deny')}; "
            f"`import typer` alone {_ratio_text(st, 'typer')}, with typer's pydantic coercion "
            f"{_ratio_text(st, 'typer_pydantic')}"]
    if "cmp_pass" in r:
        out[-1] += (f"; in an environment with {r['cmp_pass']['label'].split('(')[-1].rstrip(')')}, the typer path "
                    f"{_ratio_text(st, 'cmp_typer_deny')} warm and {_ratio_text(st, 'cmp_deny_cold')} cold")
    out[-1] += (f"; the console script, which reads plain command lines itself, {_ratio_text(st, 'deny')}. The "
                "script's figure is the engine's own cost; any typer adds its import and its parsing on top, so only "
                "a path without typer comes near the target. The Notes (\"Start-up\") say how it keeps one "
                "declaration.")
    if not all(_ok(st, key, limit) for key, _what, limit in TARGETS[:4]):
        out += ["", "**Not met: what bounds it.** Not typer any more (it is not imported; the import profile "
                "below): the engine's imports, and within them creating its dataclasses (the phases and the line "
                "after them); with a cold cache also the register's JSON Schema and YAML. The Notes give the "
                "figures of each part and what would cut them."]
    out += ["", "Where the warm DENY spends its CPU time (phases timed inside the process, medians):", "",
            *_phase_table(st["phases"]), "",
            f"Of that, creating the engine's dataclasses ({dc['classes']} classes: the syntax model, the compiled "
            f"policy, the answers; Python {st.get('python', '?')} compiles their "
            f"{dc['execs']} generated methods with `exec`) takes {dc['ms']:.1f} ms of {dc['process_ms']:.1f} ms "
            f"({dc['ms'] / dc['process_ms']:.0%}).", ""]
    out += _importtime_tables(st["importtime"], f"the warm DENY (`PYTHONPROFILEIMPORTTIME=1 {COMMAND}`)")
    out += [""] + _importtime_tables(st["typer_importtime"], "the same command line parsed by typer "
                                     f"({st.get('typer', '?')}), for comparison")
    return out


def _target2(st: dict) -> list[str]:
    out = ["### Target 2: the library's first answer ≤ 5× `python -c pass`", "",
           f"Command: `python -c \"{FIRST_ANSWER.format(source='JCP')}\"` (and the same for LSC, the ALLOW), warm "
           "cache.", ""]
    out += [f"- {what.removeprefix('issue 18.2: ')}: {_ratio_text(st, key)} — {_verdict(_ok(st, key, limit))}"
            for key, what, limit in TARGETS[4:] if key in st["rows"]]
    out += [f"- for the record, with a cold cache (parse, check, compile, write the entries): "
            f"{_ratio_text(st, 'lib_deny_cold')}" if "lib_deny_cold" in st["rows"] else "", "",
            "Where it spends its CPU time (warm cache, DENY):", "", *_phase_table(st.get("lib_phases", []))]
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, default=Path(sys.executable).parent.parent,
                    help="the environment whose python, can-share and lawful are timed (issue 18: the one the "
                         "README's `pip install -e '.[test]'` makes)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--compare-venv", type=Path, default=None,
                    help="another environment (e.g. with typer 0.28, or of a checkout of main) whose typer path, "
                         "console script and library first answer are timed too")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    a = ap.parse_args(argv)
    st = measure(a.venv.absolute() / "bin", a.runs, a.compare_venv.absolute() if a.compare_venv else None)
    print("\n".join(render_section(st)))
    if a.json:
        a.json.write_text(json.dumps(st, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
