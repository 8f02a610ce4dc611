"""The performance harness: lawful against Cedar (cedarpy), OPA Rego (regopy), Casbin (pycasbin) and a
plain-dict floor, in one run, on the same random questions, with a differential check of every answer.

    pip install -e '.[bench]'
    python benchmarks/bench.py --write benchmarks/RESULTS.md --json benchmarks/results.json   # everything (~10–25 min)
    python benchmarks/bench.py --quick                              # a tiny smoke run (seconds)

Scenarios: the default bundle and generated bundles of 25 organisations / 25 agreements (small),
200 / 2,000 (medium) and 2,000 / 20,000 (large). For each, every engine gets the policy translated by the harness
from lawful's compiled Policy (benchmarks/translate.py) and answers the same seeded questions
(source, recipient, data, purpose, date): half near an agreement (its parties or their parts, its data
and purposes, dates around its window), half uniform. Every answer is compared with lawful's explained
decision; a disagreement is reported, never dropped.

Timed per engine: one call per question, `perf_counter_ns` around each, GC off, each run capped at
--cap-s seconds (n reported); median and p99. Also: load+compile of the large bundle at 1×/2×/4× from
text (fresh processes: time and peak RSS), `routes` at the large size, `can-share` as a fresh process
beside `python3 -c pass`, and the full-universe `diff` of the default bundle when engine/review/diff.py exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from peers import MODULE_OF, PEERS, FloorEngine, as_question, available  # noqa: E402
from translate import Untranslatable, build_ir, ir_summary  # noqa: E402

DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "lawful-bench"


# ---- bundles and questions ----------------------------------------------------------------------------


def bundle_path(size: str, workdir: Path) -> Path:
    """The default bundle, or a generated one (written once per size and generator version)."""
    if size == "default":
        return ROOT
    n_orgs, n_agr = generate.SIZES[size]
    out = workdir / f"bundle-{size}"
    stamp = out / ".generated"
    sig = f"{n_orgs}/{n_agr}/{hash_file(HERE / 'generate.py')}"
    if not (stamp.is_file() and stamp.read_text() == sig):
        generate.write_bundle(out, generate.generate(n_orgs, n_agr))
        stamp.write_text(sig)
    return out


def hash_file(p: Path) -> str:
    import hashlib
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def questions(policy, n: int, seed: int) -> list[tuple]:
    """Half near an agreement (likely allowed, exercising agreements, windows, restrictions), half uniform."""
    rnd = random.Random(seed)
    orgs, data, purposes = sorted(policy.orgs), sorted(policy.data), sorted(policy.purposes)
    agreements = sorted(policy.agreements)
    desc_org = policy.org_tree.descendants
    out = []
    for _ in range(n):
        if agreements and rnd.random() < 0.5:
            a = policy.agreements[rnd.choice(agreements)]
            srcs, dsts = rnd.choice(a.directions)
            s, r = rnd.choice(sorted(srcs)), rnd.choice(sorted(dsts))
            d, p = rnd.choice(sorted(a.data)), rnd.choice(sorted(a.purposes))
            if rnd.random() < 0.2:
                p = rnd.choice(purposes)
            base = a.valid.start if a.valid and a.valid.start else dt.date(2005, 1, 1)
            on = base + dt.timedelta(days=rnd.randint(-90, 1500))
        else:
            s, r = rnd.choice(orgs), rnd.choice(orgs)
            if rnd.random() < 0.2 and desc_org.get(s):
                r = rnd.choice(sorted(desc_org[s]))
            d, p = rnd.choice(data), rnd.choice(purposes)
            on = dt.date(1998, 1, 1) + dt.timedelta(days=rnd.randint(0, 15 * 365))
        out.append((policy.org_name(s), policy.org_name(r), policy.data_name(d), policy.purpose_name(p), on))
    return out


# ---- timing -------------------------------------------------------------------------------------------


def pctl(sorted_vals: list, p: float) -> float:
    return sorted_vals[max(0, math.ceil(p * len(sorted_vals)) - 1)]


def timed(fn: Callable, qs: list, cap_s: float) -> dict:
    """One call per question, each timed; stops after cap_s seconds."""
    pc = time.perf_counter_ns
    cap = int(cap_s * 1e9)
    lat, answers = [], []
    gc.collect()
    gc.disable()
    try:
        start = pc()
        for q in qs:
            t0 = pc()
            a = fn(q)
            t1 = pc()
            lat.append(t1 - t0)
            answers.append(bool(a))
            if t1 - start > cap:
                break
    finally:
        gc.enable()
    srt = sorted(lat)
    return {"n": len(lat), "median_us": statistics.median(srt) / 1e3, "p99_us": pctl(srt, 0.99) / 1e3,
            "answers": answers}


def timed_batch(fn: Callable, qs: list, cap_s: float, size: int) -> dict:
    """Mean CPU time per decision over whole batches (process time: a mean of wall time would count the
    time other jobs hold the CPU; the per-call rows use the median of wall time, which filters that out)."""
    pc = time.process_time_ns
    total, n, answers = 0, 0, []
    start = pc()
    gc.collect()
    gc.disable()
    try:
        for i in range(0, len(qs), size):
            chunk = qs[i:i + size]
            t0 = pc()
            out = fn(chunk)
            t1 = pc()
            total += t1 - t0
            n += len(chunk)
            answers += [bool(x) for x in out]
            if t1 - start > cap_s * 1e9:
                break
    finally:
        gc.enable()
    return {"n": n, "us_per_decision": total / n / 1e3, "answers": answers}


# ---- one scenario -------------------------------------------------------------------------------------


def run_scenario(size: str, args) -> dict:
    import engine

    path = bundle_path(size, args.workdir)
    log(f"[{size}] loading {path}")
    t0 = time.perf_counter()
    policy = engine.load(path)
    load_s = time.perf_counter() - t0
    try:
        ir = build_ir(policy)
    except Untranslatable as exc:  # the peers cannot be given this policy: no comparison, said in the report
        log(f"[{size}] not compared: it uses {exc}")
        return {"size": size, "load_s": load_s, "not_compared": str(exc), "engines": []}
    n_q = args.questions
    qs = questions(policy, n_q, seed=1)
    # the peers see keys (lower-cased ids) and day numbers; lawful sees the names as a user types them
    pq = [as_question((policy.org_key(s), policy.org_key(r), policy.data_key(d), policy.purpose_key(p), on))
          for s, r, d, p, on in qs]
    res: dict = {"size": size, "load_s": load_s, "ir": ir_summary(ir), "n_questions": n_q, "engines": []}

    reference: dict[int, bool] = {}

    def ref(i: int) -> bool:
        if i not in reference:
            q = qs[i]
            reference[i] = policy.decide(*q[:4], on=q[4], fixes=False, routes=False).allowed
        return reference[i]

    # The fragment Casbin can express: no restriction that some gateway lifts fires on the question.
    from engine.eval.decide import evaluate, normalise
    overridable = {r.key for r in ir.restrictions if r.overridable}

    def in_fragment(i: int) -> bool:
        q = qs[i]
        out = evaluate(policy, normalise(policy, *q[:4], q[4], ()))
        return not any(r.key in overridable for r in out.firing) and between_bodies(i)

    # The fragment every peer's translation expresses: a flow between two bodies. The translation predates the
    # rule for a flow within one legal person (a body and its part: issue 12), which the floor follows.
    from translate import ancestors
    org_anc = ancestors(ir.org_parent)

    def between_bodies(i: int) -> bool:
        s, r = policy.org_key(qs[i][0]), policy.org_key(qs[i][1])
        return s == r or not (r in org_anc[s] or s in org_anc[r])

    engines: list[tuple[str, str, Callable, Optional[Callable], Optional[Callable]]] = []
    # (key, label, decide(i-th question), batch(list of questions) or None, fragment filter or None)
    floor = FloorEngine(ir)
    engines.append(("floor", "plain-dict floor (Python, precomputed ancestor sets)", lambda q: floor.decide(q[1]),
                    lambda chunk: floor.batch([c[1] for c in chunk]), None))

    def lawful_warm(q):
        s, r, d, p, on = q[0]
        return policy.allowed(s, r, d, p, on)

    def lawful_cold(q):
        s, r, d, p, on = q[0]
        return policy.allowed_uncached(s, r, d, p, on)

    def lawful_decide(q):
        s, r, d, p, on = q[0]
        return policy.decide(s, r, d, p, on=on, fixes=False, routes=False).allowed

    def lawful_decide_full(q):
        s, r, d, p, on = q[0]
        return policy.decide(s, r, d, p, on=on).allowed

    def lawful_batch(chunk):
        policy._memo.clear()
        policy._raw_memo.clear()
        return policy.allowed_many([c[0] for c in chunk])

    engines += [
        ("lawful-warm", "lawful `allowed` warm (memoised)", lawful_warm, None, None),
        ("lawful-cold", "lawful `allowed` cold (unmemoised: names resolved, `evaluate(first_only=True)`)",
         lawful_cold, None, None),
        ("lawful-batch", "lawful `allowed_many` (batch, memo cleared per batch)", None, lawful_batch, None),
        ("lawful-decide", "lawful `decide` (full explanation: basis, blocks, considered, headline)",
         lawful_decide, None, None),
        ("lawful-decide-full", "lawful `decide` + verified fixes + routes (CLI default)",
         lawful_decide_full, None, None),
    ]
    skipped = []
    for E in PEERS:
        if E.key not in args.peers:
            continue
        if not available(MODULE_OF[E.key]):
            skipped.append(f"{E.key} (module `{MODULE_OF[E.key]}` not installed: pip install -e '.[bench]')")
            continue
        t0 = time.perf_counter()
        eng = E(ir)
        build = time.perf_counter() - t0
        log(f"[{size}] {E.key} built in {build:.2f}s")
        frag = in_fragment if E.key == "casbin" else between_bodies
        how = ("translated; " + str(getattr(eng, "n_rules", "")) + " policy lines" if E.key == "casbin"
               else "translated")
        engines.append((E.key, f"{E.name} ({how})",
                        (lambda e: lambda q: e.decide(q[1]))(eng),
                        (lambda e: (lambda chunk: e.batch([c[1] for c in chunk])) if e.batch else None)(eng), frag))
        res.setdefault("peer_build_s", {})[E.key] = build
    res["skipped"] = skipped

    pairs = list(zip(qs, pq))
    # Warm lawful's memo once (the warm row measures the memo hit).
    for q in qs:
        policy.allowed(*q[:4], on=q[4])
    for key, label, fn, batch, frag in engines:
        row = {"key": key, "label": label}
        cap = args.cap_s if key != "lawful-decide-full" else min(args.cap_s, 10.0)
        if fn is not None:
            log(f"[{size}] timing {key}")
            t = timed(fn, pairs, cap)
            row.update(n=t["n"], median_us=t["median_us"], p99_us=t["p99_us"])
            answers = t["answers"]
        else:
            answers = None
        if batch is not None:
            size_ = args.batch_size
            if row.get("median_us"):  # a slow engine gets smaller batches, so that the cap can stop it
                size_ = max(1, min(size_, int(cap * 1e6 / row["median_us"] / 10)))
            b = timed_batch(batch, pairs, cap, size_)
            row["batch_us"] = b["us_per_decision"]
            row["batch_n"] = b["n"]
            if answers is None:
                answers = b["answers"]
                row["n"] = b["n"]
        # differential check: every answer against lawful's explained decision
        dis, outside, checked = [], 0, 0
        for i, a in enumerate(answers):
            if frag is not None and not in_fragment(i):
                outside += 1
                if a != ref(i):
                    row.setdefault("outside_fragment_disagree", 0)
                    row["outside_fragment_disagree"] += 1
                continue
            checked += 1
            if a != ref(i):
                dis.append([*qs[i][:4], qs[i][4].isoformat(), a, ref(i)])
        row.update(checked=checked, disagreements=len(dis), disagreement_examples=dis[:5], outside_fragment=outside)
        res["engines"].append(row)
        log(f"[{size}] {key}: n={row.get('n')} median={row.get('median_us', float('nan')):.1f}us "
            f"disagree={len(dis)}/{checked}")
    allow = [ref(i) for i in range(min(len(qs), 2000))]
    res["allow_rate"] = sum(allow) / len(allow)
    return res


# ---- load scaling, routes, start-up, diff ------------------------------------------------------------


LOAD_SNIPPET = r"""
import json, sys, time
c0 = time.process_time()
t0 = time.perf_counter()
import engine
t1 = time.perf_counter()
from engine.bundle.read import read_bundle
from engine.policy.load import _finish, _no_gc
from engine.compile.compiled import compile_policy
path = sys.argv[1]
with _no_gc():  # as engine.load does
    r = read_bundle(path)
    t2 = time.perf_counter()
    checked, diags = _finish(r, None)
    t3 = time.perf_counter()
    p = compile_policy(checked, r.sources, [])
    t4 = time.perf_counter()
c4 = time.process_time()
print(json.dumps({"import_s": t1 - t0, "read_parse_s": t2 - t1, "check_s": t3 - t2, "compile_s": t4 - t3,
                  "load_s": t4 - t1, "cpu_s": c4 - c0,
                  # VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across exec)
                  "maxrss_mb": int([l for l in open("/proc/self/status")
                                    if l.startswith("VmHWM")][0].split()[1]) / 1024,
                  "agreements": len(p.agreements), "organisations": len(p.orgs)}))
"""


def load_scaling(args) -> list[dict]:
    out = []
    for size in args.load_sizes:
        path = bundle_path(size, args.workdir)
        log(f"[load] {size}")
        r = subprocess.run([sys.executable, "-c", LOAD_SNIPPET, str(path)], capture_output=True, text=True,
                           env={**os.environ, "LAWFUL_NO_CACHE": "1"}, timeout=3600)
        if r.returncode != 0:
            out.append({"size": size, "error": r.stderr[-500:]})
            continue
        row = json.loads(r.stdout.strip().splitlines()[-1])
        row["size"] = size
        out.append(row)
    return out


RELOAD_SNIPPET = r"""
import json, sys, time
pt, wt = time.process_time, time.perf_counter
mode, root, edit = sys.argv[1], sys.argv[2], sys.argv[3]
c0, t0 = pt(), wt()
import engine
from engine.policy.load import load

def edit_one_file():
    text = open(edit, encoding="utf-8").read()
    open(edit, "w", encoding="utf-8").write(text.replace("Generated agreement", "Edited agreement", 1))

out = {}
if mode == "fresh":  # one load in a fresh process
    load(root)
    out = {"cpu_s": pt() - c0, "wall_s": wt() - t0}
else:  # load, edit one file, load again in the same process, as `lawful serve`'s reload and the language
    # server do: through BundleLoader (engine/policy/loader.py), step by step as its `load` takes them
    from engine.bundle.parsecache import ParseCache
    from engine.bundle.read import read_bundle
    from engine.policy.load import _check, _compile, _no_gc
    from engine.policy.loader import BundleLoader
    loader = BundleLoader()
    loader.load(root)
    out["first_cpu_s"] = pt() - c0
    edit_one_file()
    c1, t1 = pt(), wt()
    with _no_gc():
        r = read_bundle(root, parses=ParseCache(write=False))
        c2 = pt()
        checked, diags = _check(r, None, loader._checked)
        c3 = pt()
        policy = _compile(r, checked, diags, loader._policy)
        c4 = pt()
    out.update(cpu_s=c4 - c1, wall_s=wt() - t1, read_parse_s=c2 - c1, check_s=c3 - c2, compile_s=c4 - c3,
               store_s=0.0)  # a reload writes no compiled-bundle entry
print(json.dumps(out))
"""


def reload_timing(args) -> dict:
    """Issue 18 target 3: loading the large bundle again after editing one of its files, against a full load
    from text; fresh processes (CPU time), with and without the cache folder, and a reload in one process."""
    src = bundle_path(args.reload_size, args.workdir)
    tmp = Path(tempfile.mkdtemp(prefix="lawful-reload-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "LAWFUL_NO_CACHE")}
    rows: dict = {}
    try:
        def fresh_copy() -> tuple[Path, Path]:
            b = tmp / "bundle"
            shutil.rmtree(b, ignore_errors=True)
            shutil.copytree(src, b, ignore=shutil.ignore_patterns(".generated"))
            files = sorted((b / "policies").glob("agreements-*.policy"))
            return b, files[len(files) // 2]

        def run(mode: str, b: Path, edit: Path, **extra: str) -> dict:
            r = subprocess.run([sys.executable, "-c", RELOAD_SNIPPET, mode, str(b), str(edit)], capture_output=True,
                               text=True, env={**env, **extra}, timeout=3600)
            if r.returncode != 0:
                return {"error": r.stderr[-500:]}
            return json.loads(r.stdout.strip().splitlines()[-1])

        for _ in range(args.reload_runs):
            b, edit = fresh_copy()
            cache = str(tmp / f"cache-{len(rows.get('full', []))}")
            steps = [
                ("full", run("fresh", b, edit, LAWFUL_NO_CACHE="1")),
                ("first", run("fresh", b, edit, LAWFUL_CACHE_DIR=cache)),
                ("hit", run("fresh", b, edit, LAWFUL_CACHE_DIR=cache)),
            ]
            text = edit.read_text(encoding="utf-8")
            edit.write_text(text.replace("Generated agreement", "Edited agreement", 1), encoding="utf-8")
            steps.append(("edited", run("fresh", b, edit, LAWFUL_CACHE_DIR=cache)))
            b, edit = fresh_copy()
            steps.append(("in_process", run("in_process", b, edit, LAWFUL_NO_CACHE="1")))
            b, edit = fresh_copy()
            steps.append(("in_process_cache", run("in_process", b, edit, LAWFUL_CACHE_DIR=str(tmp / "cache-serve"))))
            shutil.rmtree(tmp / "cache-serve", ignore_errors=True)
            for k, v in steps:
                rows.setdefault(k, []).append(v)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {}
    for k, runs in rows.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            med[k] = runs[0]
            continue
        med[k] = {f: statistics.median(r[f] for r in ok) for f in ok[0]}
    return {"size": args.reload_size, "runs": args.reload_runs, "rows": med}


def routes_timing(size: str, args, n: int = 200) -> dict:
    import engine
    policy = engine.load(bundle_path(size, args.workdir))
    qs = questions(policy, n, seed=3)
    lat = []
    found = 0
    for s, r, d, p, on in qs:
        t0 = time.perf_counter_ns()
        routes = policy.routes(s, r, d, p, on=on)
        lat.append(time.perf_counter_ns() - t0)
        found += bool(routes)
    lat.sort()
    return {"size": size, "n": n, "median_ms": statistics.median(lat) / 1e6, "p99_ms": pctl(lat, 0.99) / 1e6,
            "with_routes": found}


def startup(args) -> dict:
    """Start-up of fresh processes beside `python -c pass` (benchmarks/startup.py), with the interpreter of
    --startup-venv (default: the one running this harness)."""
    import startup as st

    venv = args.startup_venv or Path(sys.executable).parent.parent
    compare = args.startup_compare_venv
    return st.measure(Path(venv).absolute() / "bin", args.startup_runs, Path(compare).absolute() if compare else None)


def diff_timing() -> dict:
    """The full-universe diff of the default bundle: against the same bundle with every agreement and
    restriction (and so every `overrides`) removed — a change whose scope is every gateway's flows — timed
    for the scoped diff and for brute force over every question, which must find the same flows."""
    if not (ROOT / "engine" / "review" / "diff.py").is_file():
        return {"present": False}
    try:
        import re

        from engine.bundle.read import bundle_from_texts, read_bundle
        from engine.policy.load import _load
        from engine.review import diff as d

        def load(texts: dict, register: str):
            return _load(bundle_from_texts(texts, register), None)

        read = read_bundle(ROOT)
        register = read.sources["gateways.yaml"].text
        texts = {n: s.text for n, s in read.sources.items() if n.endswith(".policy")}
        stripped = {n: re.sub(r"(?m)^\s*overrides .*$", "", t) for n, t in texts.items()
                    if not n.endswith(("agreements.policy", "restrictions.policy"))}
        old, new = load(texts, register), load(stripped, register)
        on = dt.date(2005, 6, 23)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            result = d.diff_policies(old, new, on)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        brute = d.brute_force(old, new, on)
        brute_s = time.perf_counter() - t0
        universe = len(old.orgs) ** 2 * len(old.data) * len(old.purposes)
        return {"present": True, "median_s": statistics.median(times), "flows": len(result.flows),
                "brute_s": brute_s, "brute_flows": len(brute), "universe": universe,
                "agree": brute == {(f.source.lower(), f.recipient.lower(), f.data.lower(), f.purpose.lower())
                                   for f in result.flows}}
    except Exception as exc:  # noqa: BLE001 — report, do not crash the run
        return {"present": True, "error": f"{type(exc).__name__}: {exc}"}


# ---- report -------------------------------------------------------------------------------------------


def machine() -> dict:
    import importlib.metadata as md
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for p in ("lark", "networkx", "typer", "cedarpy", "regopy", "casbin"):
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = "not installed"
    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = []
    return {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
            "loadavg": " ".join(load),
            "cpu": cpu, "python": sys.version.split()[0], "platform": platform.platform(), "versions": versions}


def fmt(x: Optional[float], nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.{nd}f}"


def scenario_table(s: dict) -> list[str]:
    rows = {r["key"]: r for r in s["engines"]}
    floor = rows["floor"].get("median_us")
    peer_keys = [k for k in ("cedar", "rego", "casbin") if k in rows]
    head = "| engine | n | median µs | p99 µs | × floor | " + " | ".join(f"{k} ÷ this" for k in peer_keys) + \
           " | batch µs/decision | agree |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in s["engines"]:
        med = r.get("median_us")
        ratios = []
        for k in peer_keys:
            pm = rows[k].get("median_us")
            ratios.append(fmt(pm / med, 1) + "×" if pm and med else "—")
        agree = f"{r['checked'] - r['disagreements']}/{r['checked']}"
        if r.get("outside_fragment"):
            agree += f" (+{r['outside_fragment']} outside fragment, {r.get('outside_fragment_disagree', 0)} differ)"
        lines.append(f"| {r['label']} | {r.get('n', 0):,} | {fmt(med, 2)} | {fmt(r.get('p99_us'), 1)} | "
                     f"{fmt(med / floor, 2) + '×' if med and floor else '—'} | " + " | ".join(ratios) +
                     f" | {fmt(r.get('batch_us'), 2)} | {agree} |")
    return lines


def verdict(ok: Optional[bool]) -> str:
    return "**met**" if ok else ("not measured" if ok is None else "**NOT met**")


def targets(report: dict) -> list[str]:
    lines = ["| target | measured | |", "|---|---|---|"]
    by = {s["size"]: {r["key"]: r for r in s["engines"]} for s in report["scenarios"]}
    for size in [s["size"] for s in report["scenarios"] if not s.get("not_compared")]:
        rows = by[size]
        floor = rows["floor"]["median_us"]
        warm = rows["lawful-warm"]["median_us"]
        dec = rows["lawful-decide"]["median_us"]
        lines.append(f"| [{size}] warm `allowed` ≤ 3× floor | {warm:.2f} µs vs {floor:.2f} µs = {warm / floor:.2f}× | "
                     f"{verdict(warm <= 3 * floor)} |")
        cold = rows["lawful-cold"]["median_us"]
        lines.append(f"| [{size}] cold `allowed` (no memo) ≤ 3× floor | {cold:.2f} µs vs {floor:.2f} µs = "
                     f"{cold / floor:.2f}× | {verdict(cold <= 3 * floor)} |")
        if "cedar" in rows:
            c = rows["cedar"]["median_us"]
            lines.append(f"| [{size}] unmemoised `decide` (full explanation) ≥ 3× faster than cedarpy | "
                         f"{dec:.1f} µs vs {c:.1f} µs = {c / dec:.1f}× | {verdict(c / dec >= 3)} |")
        if "casbin" in rows:
            k = rows["casbin"]["median_us"]
            lines.append(f"| [{size}] warm `allowed` and `decide` ≥ 10× faster than pycasbin | "
                         f"{k / warm:,.0f}× and {k / dec:,.0f}× | {verdict(k / warm >= 10 and k / dec >= 10)} |")
    for row in report.get("load", []):
        if row.get("size") == "large" and "load_s" in row:
            cpu = row.get("cpu_s", row["load_s"])
            lines.append(f"| load + compile of 2,000 orgs / 20,000 agreements from text ≤ 2 s (judged on CPU time) | "
                         f"{cpu:.2f} s CPU ({row['load_s']:.2f} s wall) | {verdict(cpu <= 2)} |")
            lines.append(f"| peak memory there ≤ 300 MB | {row['maxrss_mb']:.0f} MB | "
                         f"{verdict(row['maxrss_mb'] <= 300)} |")
    loads = [r for r in report.get("load", []) if "load_s" in r]
    if len(loads) >= 2:
        base = loads[0]
        t = lambda r: r.get("cpu_s", r["load_s"])  # noqa: E731 — CPU time: other jobs do not inflate it
        ratios = ", ".join(f"{r['size']} {t(r) / t(base):.2f}×" for r in loads[1:])
        sizes = {"large": 1, "large-2x": 2, "large-4x": 4}
        linear = all(t(r) / t(base) <= 1.25 * sizes.get(r["size"], 1) / sizes.get(base["size"], 1)
                     for r in loads[1:])
        lines.append(f"| load grows linearly (1×/2×/4×, CPU time) | {ratios} | {verdict(linear)} |")
    rl = report.get("reload", {}).get("rows", {})
    if "cpu_s" in rl.get("full", {}):
        full = rl["full"]["cpu_s"]
        for key, what in (("in_process", "in the same process (`lawful serve`'s reload), no cache folder"),
                          ("in_process_cache", "in the same process with the cache folder (serve's default)")):
            if "cpu_s" in rl.get(key, {}):
                x = rl[key]["cpu_s"]
                lines.append(f"| issue 18.3: reload after editing one file ≤ 15% of a full load — {what} | "
                             f"{x:.2f} s vs {full:.2f} s CPU = {x / full:.0%} | {verdict(x <= 0.15 * full)} |")
        if "cpu_s" in rl.get("edited", {}):
            # Not a reload: a new process keeps only the parse cache from the last, so it checks and compiles
            # the whole bundle again, then writes the compiled bundle the next process reads (benchmarks/NOTES.md)
            x = rl["edited"]["cpu_s"]
            lines.append(f"| for the record: a new process after editing one file (`can-share`'s path, cache folder "
                         f"on: checks and compile in full, then the compiled bundle written for the next run) | "
                         f"{x:.2f} s vs {full:.2f} s CPU = {x / full:.0%} | — |")
    if report.get("routes"):
        r = report["routes"]
        lines.append(f"| `routes` at the {r['size']} size ≤ 1 ms median | "
                     f"{r['median_ms']:.3f} ms (p99 {r['p99_ms']:.2f} ms) | {verdict(r['median_ms'] <= 1)} |")
    d = report.get("diff", {})
    if d.get("present") and "median_s" in d:
        lines.append(f"| full-universe `diff` of the default bundle ≤ 1 s | {d['median_s']:.2f} s | "
                     f"{verdict(d['median_s'] <= 1)} |")
    else:
        lines.append(f"| full-universe `diff` of the default bundle ≤ 1 s | "
                     f"{'engine/review/diff.py not in this branch' if not d.get('present') else d.get('error')}"
                     " | not measured |")
    st = report.get("startup")
    if st and "rows" in st:
        import startup

        cs = st["rows"]["deny"]
        lines.append(f"| `can-share JCP ALI provider-data` fresh process ≤ 0.3 s median (judged on CPU time) | "
                     f"CPU {cs['cpu_s']:.3f} s, wall {cs['wall_s']:.3f} s | {verdict(cs['cpu_s'] <= 0.3)} |")
        lines += startup.target_rows(st)
    return lines


def render(report: dict) -> str:
    m = report["machine"]
    out = ["# Benchmark results", "",
           f"Generated by `python benchmarks/bench.py --write benchmarks/RESULTS.md --json benchmarks/results.json` "
           f"on {m['date']} (re-render without re-running: `--from-json benchmarks/results.json`).", "",
           f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['platform']}; load average at the "
           f"start {m.get('loadavg', '?')} (the machine is shared with other jobs: absolute times vary with them; "
           f"ratios within one run are the comparison). "
           f"Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".", ""]
    if report.get("ran"):
        out += ["Parts re-run after that with `--only PART --from-json benchmarks/results.json` (the rest is the run "
                "above): " + "; ".join(f"{k} on {v['date']} (load average {v['loadavg']})"
                                       for k, v in sorted(report["ran"].items())) + ".", ""]
    out += ["## Targets", ""] + targets(report) + [""]
    summary = HERE / "SUMMARY.md"  # issue 18 target by target, kept by hand: targets 4 and 5 have their own runs
    if summary.is_file():
        out += [summary.read_text(encoding="utf-8").rstrip("\n"), ""]
    for s in report["scenarios"]:
        if s.get("not_compared"):
            out += [f"## Scenario `{s['size']}`", "",
                    f"Not compared with the peers: the bundle uses {s['not_compared']}, which benchmarks/translate.py "
                    "does not encode (the peers could not be given the same policy). Its own figures: "
                    "benchmarks/NOTES.md (Target 5, `deny_bench.py`) and the service's (SERVICE.md).", ""]
            continue
        ir = s["ir"]
        out += [f"## Scenario `{s['size']}`", "",
                f"{ir['organisations']:,} organisations, {ir['data']} data categories, {ir['purposes']} purposes; "
                f"translated into {ir['permits']:,} permits (gateway alone or gateway + agreement) and "
                f"{ir['restrictions']} restrictions ({ir['overridable_restrictions']} lifted by some gateway). "
                f"Load (read, parse, check, compile) {s['load_s']:.2f} s. {s['n_questions']:,} questions, "
                f"{s['allow_rate']:.0%} allowed. Peer build times: "
                + (", ".join(f"{k} {v:.2f} s" for k, v in s.get("peer_build_s", {}).items()) or "—") + ".", ""]
        out += scenario_table(s)
        if s.get("skipped"):
            out += ["", "Skipped: " + "; ".join(s["skipped"])]
        dis = [r for r in s["engines"] if r["disagreements"]]
        out += ["", "Differential check: " + ("every engine gave lawful's verdict on every question it answered "
                                              "(inside its fragment)." if not dis else
                                              "DISAGREEMENTS: " + "; ".join(
                                                  f"{r['key']} {r['disagreements']} "
                                                  f"(e.g. {r['disagreement_examples'][:2]})" for r in dis)), ""]
    if report.get("load"):
        out += ["## Load and compile from text (fresh process each)", "",
                "| bundle | organisations | agreements | read+parse s | check s | compile s | load total s | CPU s "
                "| peak RSS MB |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in report["load"]:
            if "error" in r:
                out.append(f"| {r['size']} | error: {r['error']} |")
                continue
            out.append(f"| {r['size']} | {r['organisations']:,} | {r['agreements']:,} | {r['read_parse_s']:.2f} | "
                       f"{r['check_s']:.2f} | {r['compile_s']:.2f} | {r['load_s']:.2f} | "
                       f"{r.get('cpu_s', float('nan')):.2f} | {r['maxrss_mb']:.0f} |")
        out.append("")
    rl = report.get("reload", {})
    if rl.get("rows"):
        rows = rl["rows"]
        full = rows.get("full", {}).get("cpu_s")
        out += ["## Reload after editing one file (issue 18, target 3)", "",
                f"`python benchmarks/bench.py --only reload` (bundle `{rl['size']}`: a copy of it; one agreement's "
                f"title edited in one of its 16 files; medians of {rl['runs']} rounds; CPU time of the process, from "
                "its start for a fresh process):", "",
                "| load | CPU s | × full load | wall s |", "|---|---:|---:|---:|"]
        labels = {"full": "full load from text, fresh process, no cache (`LAWFUL_NO_CACHE=1`)",
                  "first": "first load with an empty cache folder (parses; writes every file's parse and the "
                           "compiled bundle)",
                  "hit": "the unchanged bundle again (compiled-bundle entry)",
                  "edited": "after editing one file, fresh process: 15 parses from the folder, 1 parsed; checks, "
                            "compile; the new compiled bundle written",
                  "in_process": "after editing one file, in the same process through `BundleLoader` (serve's "
                                "reload, the language server), no cache folder: 15 parses from memory, the edited "
                                "file's agreements checked and compiled",
                  "in_process_cache": "the same with the cache folder on (serve's default; a reload writes no "
                                      "entry)"}
        for key, label in labels.items():
            r = rows.get(key, {})
            if "cpu_s" not in r:
                out.append(f"| {label} | error: {r.get('error', 'not run')} | | |")
                continue
            out.append(f"| {label} | {r['cpu_s']:.2f} | {r['cpu_s'] / full:.0%} | {r['wall_s']:.2f} |" if full else
                       f"| {label} | {r['cpu_s']:.2f} | — | {r['wall_s']:.2f} |")
        for key in ("in_process", "in_process_cache"):
            r = rows.get(key, {})
            if "read_parse_s" in r:
                out.append("")
                out.append(f"Steps of the reload {'with' if key.endswith('cache') else 'without'} the cache folder "
                           f"(CPU s): read and parse {r['read_parse_s']:.2f}, check {r['check_s']:.2f}, "
                           f"compile {r['compile_s']:.2f}"
                           + (f", write the compiled-bundle entry {r['store_s']:.2f}." if r.get("store_s") else "."))
        out.append("")
    if report.get("routes"):
        r = report["routes"]
        out += [f"`routes` on the `{r['size']}` bundle: {r['n']} random questions, median {r['median_ms']:.3f} ms, "
                f"p99 {r['p99_ms']:.2f} ms ({r['with_routes']} with at least one route).", ""]
    st = report.get("startup")
    if st and "rows" in st:
        import startup

        out += startup.render_section(st) + [""]
    d = report.get("diff", {})
    if d.get("median_s") is not None:
        text = (f"Full-universe diff of the default bundle on 2005-06-23: the bundle against itself with every "
                f"agreement and restriction removed (a change whose scope is every gateway's flows). Scoped `diff`: "
                f"{d['median_s']:.3f} s median, {d['flows']} flows changed. Brute force over every question "
                f"({d['universe']:,}): {d['brute_s']:.2f} s, {d['brute_flows']} flows; "
                f"{'the same flows' if d['agree'] else 'DIFFERENT FLOWS'}.")
    else:
        text = "Not measured: " + ("engine/review/diff.py is not in this branch." if not d.get("present")
                                   else d.get("error", ""))
    out += ["## `diff`", "", text, ""]
    if report.get("notes"):
        out += ["## Notes", ""] + report["notes"]
    out += ["", "## Service", "",
            "The HTTP decision service (`benchmarks/serve_bench.py`: throughput and p99 for single and batch "
            "requests) and",
            "the audit of transfer logs (`benchmarks/audit_bench.py`: 1,000,000 rows locally and on a Dask "
            "LocalCluster,",
            "every planted unlawful row found, identical results) are recorded in "
            "[RESULTS-service.md](RESULTS-service.md)."]
    service = HERE / "SERVICE.md"  # issue 18 target 4 (benchmarks/service.py), kept by hand: it has its own run
    if service.is_file():
        out += ["", service.read_text(encoding="utf-8").rstrip("\n")]
    return "\n".join(out) + "\n"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rerun_parts(a) -> int:
    """Re-run some parts of the report and merge them into earlier raw results (each part keeps the date and
    load average of its own run: `ran` records them)."""
    report = (json.loads(a.from_json.read_text(encoding="utf-8")) if a.from_json
              else {"machine": machine(), "scenarios": []})
    a.peers = {p for p in a.peers.split(",") if p}
    a.load_sizes = [s for s in a.load_sizes.split(",") if s]
    a.workdir.mkdir(parents=True, exist_ok=True)
    parts = {p for p in a.only.split(",") if p}
    unknown = parts - {"scenarios", "load", "reload", "routes", "startup", "diff"}
    if unknown:
        raise SystemExit(f"--only: unknown part(s) {', '.join(sorted(unknown))}")
    ran = report.setdefault("ran", {})
    for part in sorted(parts):
        ran[part] = {k: machine()[k] for k in ("date", "loadavg")}
    if "scenarios" in parts:
        report["scenarios"] = [run_scenario(size, a) for size in a.sizes.split(",") if size]
    if "load" in parts:
        report["load"] = load_scaling(a)
    if "reload" in parts:
        report["reload"] = reload_timing(a)
    if "routes" in parts:
        report["routes"] = routes_timing(a.routes_size, a)
    if "startup" in parts:
        report["startup"] = startup(a)
    if "diff" in parts:
        report["diff"] = diff_timing()
    if a.notes and a.notes.is_file():
        report["notes"] = [a.notes.read_text(encoding="utf-8")]
    text = render(report)
    print(text)
    if a.write:
        a.write.write_text(text, encoding="utf-8")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    disagreements = sum(r["disagreements"] for s in report["scenarios"] for r in s["engines"])
    return 1 if disagreements else 0


def report(args, measure, render) -> int:
    """The end of a benchmark script: measure (or read an earlier run's `--from-json`), keep the figures
    (`--json`), print the table."""
    rep = json.loads(args.from_json.read_text()) if args.from_json else measure(args)
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1))
    print(render(rep))
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="default,small,medium,large", help="scenarios: default and/or generator sizes")
    ap.add_argument("--questions", type=int, default=20_000)
    ap.add_argument("--cap-s", type=float, default=20.0, help="cap per timed run, seconds")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--peers", default="cedar,rego,casbin")
    ap.add_argument("--load-sizes", default="large,large-2x,large-4x", help="'' to skip the load scaling")
    ap.add_argument("--routes-size", default="large", help="'' to skip")
    ap.add_argument("--reload-size", default="large", help="bundle for the reload-after-one-edit timing ('' to skip)")
    ap.add_argument("--reload-runs", type=int, default=3)
    ap.add_argument("--startup-runs", type=int, default=15, help="0 to skip")
    ap.add_argument("--startup-venv", type=Path, default=None,
                    help="virtual environment whose python and can-share are timed (default: this interpreter's); "
                         "issue 18 asks for the one the README's `pip install -e '.[test]'` makes")
    ap.add_argument("--startup-compare-venv", type=Path, default=None,
                    help="another environment of this checkout (e.g. with typer 0.28) whose typer path is timed too")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--write", type=Path, help="write the Markdown report here")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--notes", type=Path, default=HERE / "NOTES.md",
                    help="Markdown appended to the report (the profiles that explain the results)")
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, few questions, no scaling")
    ap.add_argument("--from-json", type=Path, help="re-render a report from raw results (--json) without re-running")
    ap.add_argument("--only", default="", help="re-run only these parts (scenarios,load,routes,startup,diff) and "
                    "keep the rest from --from-json's results; e.g. --only load --from-json benchmarks/results.json")
    a = ap.parse_args(argv)
    if a.only:
        return rerun_parts(a)
    if a.from_json:
        report = json.loads(a.from_json.read_text(encoding="utf-8"))
        if a.notes and a.notes.is_file():
            report["notes"] = [a.notes.read_text(encoding="utf-8")]
        text = render(report)
        print(text)
        if a.write:
            a.write.write_text(text, encoding="utf-8")
        return 0
    if a.quick:
        a.sizes, a.questions, a.cap_s, a.load_sizes, a.routes_size, a.startup_runs = "small", 200, 2.0, "", "", 0
        a.reload_size = ""
    a.peers = {p for p in a.peers.split(",") if p}
    a.load_sizes = [s for s in a.load_sizes.split(",") if s]
    a.workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": machine(), "scenarios": []}
    for size in [s for s in a.sizes.split(",") if s]:
        report["scenarios"].append(run_scenario(size, a))
    if a.load_sizes:
        report["load"] = load_scaling(a)
    if a.reload_size:
        report["reload"] = reload_timing(a)
    if a.routes_size:
        report["routes"] = routes_timing(a.routes_size, a)
    if a.startup_runs:
        report["startup"] = startup(a)
    report["diff"] = diff_timing()
    if a.notes and a.notes.is_file() and not a.quick:
        report["notes"] = [a.notes.read_text(encoding="utf-8")]
    text = render(report)
    print(text)
    if a.write:
        a.write.write_text(text, encoding="utf-8")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    disagreements = sum(r["disagreements"] for s in report["scenarios"] for r in s["engines"])
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
