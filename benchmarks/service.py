"""The decision service against its own HTTP stack (issue 18, target 4), with `wrk` as the load generator.

    python benchmarks/service.py [--duration 5] [--rounds 3] [--connections 8] [--batch 100] [--json FILE]
                                 [--only 'ALLOW (300,DENY with'] [--compare ../main]

Starts, on 127.0.0.1, a minimal ASGI app (reads the body, answers `{"status":"ok"}`) on the same server
`lawful serve` runs (uvicorn, httptools, uvloop, no access log), and `lawful serve` itself (`cli.py serve`, the
default bundle, its defaults: the guarded protocol, security headers, body limits, decision budget, memo) with
one worker, with one worker and `--memo-entries 0` (every question decided afresh), and with `--workers 2`;
then drives each scenario with `wrk` (POST bodies from a Lua script that cycles through distinct questions),
round after round, every scenario once per round, so that the machine's other load falls on all alike. The
figures of a scenario are its median round (by requests per second). Beside throughput and latency, the CPU
time the server processes used during the run (from /proc) gives the CPU cost of one request, which other jobs
on the machine do not inflate.

Scenarios: the minimal endpoint; ALLOW (300 distinct lawful questions of the default bundle, fixes and routes
on); DENY with explanation (100 distinct unlawful questions, fixes and routes on); `GET /v1/health`; a batch of
`--batch` questions (the same mix, 3 lawful to 1 unlawful); the same three without the memo, and the batch
without the memo with `"fixes": false, "routes": false` (verdicts with their reasons); the minimal app in
two processes and the service with two workers. `--only` runs the scenarios whose labels contain one of its
words (with their references); `--compare ROOT` also runs another checkout's `lawful serve` (e.g. main's) on
the ALLOW and DENY scenarios in the same rounds. Needs `wrk` (Debian: `apt-get install wrk`); every load is
bounded by `--duration` and sent only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MINIMAL_BODY = b'{"status":"ok"}'


# ---- the minimal app (run in its own processes by --minimal-app) -------------------------------------------


async def minimal_app(scope: dict, receive: Any, send: Any) -> None:
    """The floor: read the whole body, answer a small JSON object."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(MINIMAL_BODY)).encode())]})
    await send({"type": "http.response.body", "body": MINIMAL_BODY})


def run_minimal(port: int, processes: int, guarded: bool) -> None:
    """`minimal_app` on the server `lawful serve` uses — uvicorn's own httptools protocol, or with `guarded`
    lawful's (engine/ops/service.py: deadlines per connection, one write per answer) — in `processes`
    processes sharing the port (as `--workers` does: one SO_REUSEPORT socket each)."""
    import uvicorn

    from engine.ops.service import ConnectionGuard, ConnectionLimits, guarded_protocol, listen_all

    socks = listen_all("127.0.0.1", port, processes)

    def serve(sock: socket.socket) -> None:
        http: Any = guarded_protocol(ConnectionGuard(ConnectionLimits())) if guarded else "httptools"
        config = uvicorn.Config(minimal_app, http=http, loop="uvloop", ws="none", lifespan="off",
                                access_log=False, log_level="warning", proxy_headers=False)
        uvicorn.Server(config).run(sockets=[sock])

    if processes == 1:
        serve(socks[0])
        return
    children = []
    for sock in socks:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                serve(sock)
            finally:
                os._exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(p, signal.SIGTERM) for p in children])
    for _ in children:
        try:
            os.wait()
        except ChildProcessError:
            break


# ---- servers -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, label: str, argv: list[str]):
        self.label = label
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([*argv, "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if s.recv(100).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.log.seek(0)
        raise RuntimeError(f"{self.label} did not start:\n{self.log.read().decode(errors='replace')[-2000:]}")

    def pids(self) -> list[int]:
        """The server's processes: itself and its children (the workers)."""
        out = [self.proc.pid]
        try:
            out += [int(x) for x in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        except OSError:
            pass
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.log.close()


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


# ---- wrk -------------------------------------------------------------------------------------------------------

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"status_errors\":%d,\"socket_errors\":%d," ..
    "\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"p999_us\":%d,\"max_us\":%d,\"mean_us\":%.1f}\n",
    summary.requests, summary.duration, summary.bytes, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def lua_script(folder: Path, name: str, bodies: Optional[list[bytes]]) -> Path:
    """A wrk script: POST each body in turn (pre-formatted requests), or GET; and a JSON summary line."""
    out = []
    if bodies:
        out.append("local bodies = {")
        for b in bodies:
            text = b.decode()
            assert "]==]" not in text
            out.append(f"[==[{text}]==],")
        out.append("}")
        out.append("""
local reqs = {}
local i = 0
init = function(args)
  for k, b in ipairs(bodies) do
    reqs[k] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, b)
  end
end
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
""")
    out.append(LUA_DONE)
    path = folder / f"{name}.lua"
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def run_wrk(url: str, script: Path, duration: float, connections: int, threads: int) -> dict:
    seconds = max(1, round(duration))  # wrk takes whole seconds
    p = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                        url], capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^WRKJSON (\{.*\})$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    out = json.loads(m.group(1))
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    return out


# ---- questions --------------------------------------------------------------------------------------------------


def question_bodies(seed: int = 1) -> tuple[list[bytes], list[bytes], list[dict], list[dict]]:
    """(ALLOW bodies, DENY bodies, lawful questions, unlawful questions) from the default bundle."""
    import engine
    from transfer_log import _pools

    policy = engine.load(ROOT)
    rng = random.Random(seed)
    lawful, unlawful = _pools(policy, rng, lawful_size=300, unlawful_size=100)

    def q(t: tuple) -> dict:
        s, r, d, p, day = t
        return {"source": s, "recipient": r, "data": d, "purpose": p, "on": str(day)}

    lq, uq = [q(t) for t in lawful], [q(t) for t in unlawful]
    for x in lq:  # what the scenarios say they ask
        assert policy.allowed(x["source"], x["recipient"], x["data"], x["purpose"], on=dt.date.fromisoformat(x["on"]))
    for x in uq:
        assert not policy.allowed(x["source"], x["recipient"], x["data"], x["purpose"],
                                  on=dt.date.fromisoformat(x["on"]))
    compact = {"separators": (",", ":")}
    return ([json.dumps(x, **compact).encode() for x in lq], [json.dumps(x, **compact).encode() for x in uq],
            lq, uq)


def batch_bodies(lawful: list[dict], unlawful: list[dict], size: int, count: int, seed: int = 2,
                 **extra: bool) -> list[bytes]:
    """`count` batches of `size` questions drawn 3 lawful to 1 unlawful; `extra`: fields added to each question
    (`fixes=False, routes=False`: verdicts with their reasons, no what-ifs)."""
    rng = random.Random(seed)
    pool = lawful + unlawful  # 3 lawful to 1 unlawful
    return [json.dumps({"questions": [{**rng.choice(pool), **extra} for _ in range(size)]},
                       separators=(",", ":")).encode() for _ in range(count)]


# ---- the run ---------------------------------------------------------------------------------------------------


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk per scenario before the rounds (0: none)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each scenario's median round is reported")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--batch", type=int, default=100, help="questions per batch request")
    ap.add_argument("--workers", type=int, default=2, help="workers of the scaling scenario (0: skip it)")
    ap.add_argument("--json", type=Path, help="write the raw results here")
    ap.add_argument("--profile", action="store_true", help="also profile unmemoised decisions in this process")
    ap.add_argument("--handler", action="store_true", help="only the batch handler in this process, without HTTP "
                    "(new questions, no memo): decisions per CPU second, --rounds rounds (no wrk needed)")
    ap.add_argument("--engine", type=Path, help="with --handler: the engine of another checkout (its root, e.g. "
                    "main's worktree), to compare in one run; the bundle and questions stay this checkout's")
    ap.add_argument("--only", help="comma-separated words: run only the scenarios whose label contains one of them "
                    "(case-insensitive; e.g. 'ALLOW (300,DENY with fixes and routes (100,minimal JSON endpoint'); "
                    "their references run too")
    ap.add_argument("--compare", type=Path, help="another checkout's root (e.g. main's worktree): also run its "
                    "`lawful serve` (its engine, this checkout's bundle) on the ALLOW and DENY scenarios, paired with "
                    "the minimal app like this checkout's, in the same rounds")
    ap.add_argument("--minimal-app", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--guarded", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.minimal_app:
        run_minimal(a.port, a.processes, a.guarded)
        return 0
    if a.handler:
        if a.engine is not None:
            sys.path.insert(0, str(a.engine.resolve()))
        allow, deny, lawful, unlawful = question_bodies()
        print(render_handler(handler_rates(lawful, unlawful, a.batch, a.rounds)))
        return 0
    if shutil.which("wrk") is None:
        print("benchmarks/service.py needs wrk (Debian: apt-get install wrk)", file=sys.stderr)
        return 2

    allow, deny, lawful, unlawful = question_bodies()
    batches = batch_bodies(lawful, unlawful, a.batch, 30)
    plain_batches = batch_bodies(lawful, unlawful, a.batch, 30, fixes=False, routes=False)
    py = sys.executable
    serve = [py, str(ROOT / "cli.py"), "serve", "--bundle", str(ROOT), "--watch-interval", "0"]
    servers = {
        "minimal": Server("minimal app", [py, __file__, "--minimal-app"]),
        "minimal-g": Server("minimal app, lawful's protocol", [py, __file__, "--minimal-app", "--guarded"]),
        "service": Server("lawful serve", serve),
        "no-memo": Server("lawful serve --memo-entries 0", [*serve, "--memo-entries", "0"]),
    }
    if a.compare is not None:
        servers["compare"] = Server(f"lawful serve of {a.compare}",
                                    [py, str(a.compare.resolve() / "cli.py"), *serve[2:]])
    if a.workers > 1:
        servers["minimal-n"] = Server(f"minimal app, {a.workers} processes",
                                      [py, __file__, "--minimal-app", "--processes", str(a.workers)])
        servers["service-n"] = Server(f"lawful serve --workers {a.workers}", [*serve, "--workers", str(a.workers)])
    folder = Path(tempfile.mkdtemp(prefix="lawful-wrk-"))
    try:
        for s in servers.values():
            s.wait_ready()
        scripts = {"minimal": lua_script(folder, "minimal", allow[:1]), "allow": lua_script(folder, "allow", allow),
                   "deny": lua_script(folder, "deny", deny), "get": lua_script(folder, "get", None),
                   "batch": lua_script(folder, "batch", batches),
                   "batch-plain": lua_script(folder, "batch-plain", plain_batches)}
        # (label, server, path, script, decisions per request, connections, reference run or None): a scenario
        # with a reference is run right after it, each round, and compared with it (a paired ratio).
        c = a.connections
        minimal = ("minimal", "/", "minimal")
        scenarios: list[tuple[str, str, str, str, int, int, Optional[tuple[str, str, str]]]] = [
            ("minimal JSON endpoint", "minimal", "/", "minimal", 0, c, None),
            ("minimal JSON endpoint on lawful's protocol", "minimal-g", "/", "minimal", 0, c, minimal),
            ("ALLOW (300 questions)", "service", "/v1/decide", "allow", 1, c, minimal),
            ("DENY with fixes and routes (100 questions)", "service", "/v1/decide", "deny", 1, c, minimal),
            ("GET /v1/health", "service", "/v1/health", "get", 0, c, minimal),
            (f"batch of {a.batch} (3 lawful : 1 unlawful)", "service", "/v1/decide", "batch", a.batch, c, None),
            ("ALLOW, no memo", "no-memo", "/v1/decide", "allow", 1, c, minimal),
            ("DENY with fixes and routes, no memo", "no-memo", "/v1/decide", "deny", 1, c, minimal),
            (f"batch of {a.batch}, no memo", "no-memo", "/v1/decide", "batch", a.batch, c, None),
            (f"batch of {a.batch}, no memo, fixes and routes off", "no-memo", "/v1/decide", "batch-plain", a.batch, c,
             None),
        ]
        if a.workers > 1:
            scenarios += [
                (f"minimal JSON endpoint, {a.workers} processes (vs 1)", "minimal-n", "/", "minimal", 0, 2 * c,
                 minimal),
                (f"ALLOW, --workers {a.workers} (vs 1 worker)", "service-n", "/v1/decide", "allow", 1, 2 * c,
                 ("service", "/v1/decide", "allow")),
            ]
        if a.compare is not None:
            scenarios += [(f"ALLOW (300 questions), {a.compare}", "compare", "/v1/decide", "allow", 1, c, minimal),
                          (f"DENY with fixes and routes (100 questions), {a.compare}", "compare", "/v1/decide",
                           "deny", 1, c, minimal)]
        if a.only:
            words = [w.strip().lower() for w in a.only.split(",") if w.strip()]
            scenarios = [s for s in scenarios if any(w in s[0].lower() for w in words)]
        needed = {s[1] for s in scenarios} | {s[6][0] for s in scenarios if s[6] is not None}
        for name in [n for n in servers if n not in needed]:
            servers.pop(name).stop()
        print(f"warming up (load average {loadavg()}) …", file=sys.stderr)
        for _label, server, path, script, _per, conns, _ref in scenarios if a.warmup else []:  # the memo fills
            run_wrk(servers[server].url + path, scripts[script], a.warmup, conns, a.threads)

        def measure(server: str, path: str, script: str, conns: int) -> dict:
            pids = servers[server].pids()
            before = cpu_by_pid(pids)
            out = run_wrk(servers[server].url + path, scripts[script], a.duration, conns, a.threads)
            after = cpu_by_pid(pids)
            out["cpu_s"] = sum(after.values()) - sum(before.values())
            out["cpu_us"] = 1e6 * out["cpu_s"] / out["requests"] if out["requests"] else None
            out["worker_cpu_s"] = [round(after[p] - before.get(p, 0.0), 2) for p in pids[1:] if p in after]
            if out["status_errors"] or out["socket_errors"]:
                raise RuntimeError(f"{server} {path}: {out['status_errors']} non-2xx answers, "
                                   f"{out['socket_errors']} socket errors")
            return out

        runs: dict[str, list[dict]] = {s[0]: [] for s in scenarios}
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        loads = [loadavg()]
        for r in range(a.rounds):
            for label, server, path, script, _per, conns, ref in scenarios:
                out = measure(server, path, script, conns)
                if ref is not None:
                    out["ref"] = measure(*ref, conns)
                runs[label].append(out)
            loads.append(loadavg())
            print(f"round {r + 1} of {a.rounds} done (load average {loads[-1]})", file=sys.stderr)
        report = summarise(runs, scenarios, a)
        if a.profile:
            report["profile"] = profile_decisions(lawful, unlawful)
        report.update({"date": started, "loadavg": loads, "cpus": os.cpu_count(), "python": sys.version.split()[0],
                       "versions": versions(), "command": "python benchmarks/service.py " + " ".join(
                           sys.argv[1:] if argv is None else argv)})
        print(render(report))
        if a.json:
            a.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def summarise(runs: dict[str, list[dict]], scenarios: list, a: argparse.Namespace) -> dict:
    """Per scenario: its median round by requests per second (throughput, latency, CPU), and the medians of
    its paired ratios to its reference run."""
    rows = []
    for label, server, _path, _script, per, conns, ref in scenarios:
        done = runs[label]
        ordered = sorted(done, key=lambda o: o["rps"])
        mid = ordered[len(ordered) // 2]
        row = {"label": label, "server": server, "connections": conns, "per": per, "rps": mid["rps"],
               "p50_us": mid["p50_us"], "p99_us": mid["p99_us"], "p999_us": mid["p999_us"],
               "cpu_us_per_request": mid["cpu_us"], "decisions_per_s": mid["rps"] * per if per else None,
               "worker_cpu_s": mid["worker_cpu_s"], "rps_all": [round(o["rps"]) for o in done],
               "reference": f"{ref[0]} {ref[1]} ({ref[2]} questions)" if ref else None}
        if ref is not None:
            ratios = [o["rps"] / o["ref"]["rps"] for o in done]
            cpu = [o["cpu_us"] / o["ref"]["cpu_us"] for o in done if o["cpu_us"] and o["ref"]["cpu_us"]]
            refs = sorted((o["ref"] for o in done), key=lambda o: o["rps"])
            ref_mid = refs[len(refs) // 2]
            row.update({"ratio": statistics.median(ratios), "ratios": [round(x, 2) for x in ratios],
                        "cpu_ratio": statistics.median(cpu) if cpu else None, "ref_rps": ref_mid["rps"],
                        "ref_p99_over_p50": ref_mid["p99_us"] / max(ref_mid["p50_us"], 1)})
        rows.append(row)
    return {"rows": rows, "duration": a.duration, "rounds": a.rounds, "threads": a.threads,
            "connections": a.connections, "batch": a.batch, "workers": a.workers}


def handler_rates(lawful: list[dict], unlawful: list[dict], size: int, rounds: int) -> dict:
    """The batch route's own work, in this process: `answer_questions` (what DecideRoute runs in its worker
    thread) for the scenarios' batches of questions never asked before (`--memo-entries 0`), from the parsed
    body (orjson, `fast_body`, `question_keywords`) to the answer's bytes. Decisions per CPU second of this
    thread (other jobs on the machine do not inflate it as much as wall time), each round's figure."""
    import orjson

    from engine.ops.service import BundleHolder, _today, create_app, fast_body, question_keywords

    holder = BundleHolder(ROOT)
    answer = create_app(holder, memo_entries=0).front.answer
    kinds = {"fixes and routes on (the API's defaults)": batch_bodies(lawful, unlawful, size, 30),
             "fixes and routes off": batch_bodies(lawful, unlawful, size, 30, fixes=False, routes=False)}

    def run(bodies: list[bytes]) -> int:
        n = 0
        for body in bodies:
            parsed = fast_body(orjson.loads(body))
            assert parsed is not None
            today = _today()
            status, _content = answer(holder.current, [question_keywords(q, today) for q in parsed[1]], parsed[0])
            assert status == 200, status
            n += len(parsed[1])
        return n

    import engine

    out: dict = {"loadavg": [loadavg()], "rows": [], "engine": str(Path(engine.__file__).parent.parent)}
    for bodies in kinds.values():
        run(bodies[:3])  # warm: the buckets and the route index are built on first use
    for label, bodies in kinds.items():
        rates = []
        for _ in range(max(1, rounds)):
            t0 = time.thread_time()
            n = run(bodies)
            rates.append(n / (time.thread_time() - t0))
        out["rows"].append({"label": label, "rates": rates, "median": statistics.median(rates)})
    out["loadavg"].append(loadavg())
    return out


def render_handler(h: dict) -> str:
    out = ["| batch of new questions, in-process handler | decisions per CPU second (median) | each round |",
           "|---|---:|---|"]
    for row in h["rows"]:
        out.append(f"| {row['label']} | {row['median']:,.0f} | {', '.join(f'{x:,.0f}' for x in row['rates'])} |")
    return "\n".join(out + ["", f"engine {h['engine']}; load average {h['loadavg'][0]} → {h['loadavg'][-1]}"])


def profile_decisions(lawful: list[dict], unlawful: list[dict]) -> dict:
    """Where an unmemoised answer's time goes, in this process: CPU per decision of `Policy.decide`,
    `to_dict` and the JSON, for the scenarios' questions; and cProfile's heaviest functions under `decide`."""
    import cProfile
    import pstats

    import engine
    from engine.ops.service import _decision_json

    policy = engine.load(ROOT)

    def args(q: dict) -> tuple:
        return q["source"], q["recipient"], q["data"], q["purpose"], dt.date.fromisoformat(q["on"])

    rows = []
    for label, pool, kw in (("ALLOW", lawful, {}), ("DENY with fixes and routes", unlawful, {}),
                            ("DENY without fixes and routes", unlawful, {"fixes": False, "routes": False})):
        for q in pool[:20]:  # warm: the buckets and the route index are built on first use
            policy.decide(*args(q), **kw)
        spent = [0.0, 0.0, 0.0]
        for _ in range(3):
            for q in pool:
                t0 = time.process_time()
                d = policy.decide(*args(q), **kw)
                t1 = time.process_time()
                content = d.to_dict()
                t2 = time.process_time()
                _decision_json(content)
                t3 = time.process_time()
                spent[0] += t1 - t0
                spent[1] += t2 - t1
                spent[2] += t3 - t2
        n = 3 * len(pool)
        rows.append({"label": label, "decide_us": 1e6 * spent[0] / n, "to_dict_us": 1e6 * spent[1] / n,
                     "json_us": 1e6 * spent[2] / n})
    top = {}
    for label, pool in (("ALLOW", lawful), ("DENY with fixes and routes", unlawful)):
        prof = cProfile.Profile(time.process_time)  # CPU time: other jobs' turns are not charged to a function
        calls = [args(q) for q in pool]
        prof.enable()
        for _ in range(5):
            for call in calls:
                policy.decide(*call)
        prof.disable()
        stats = pstats.Stats(prof)
        entries = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
        total = sum(v[2] for _, v in entries)
        top[label] = [{"function": f"{_short(k[0])}:{k[1]}({k[2]})", "self_share": v[2] / total}
                      for k, v in entries[:10]]
        inclusive = sorted(((k, v) for k, v in stats.stats.items()  # type: ignore[attr-defined]
                            if k[0].startswith(str(ROOT / "engine")) and k[2] not in ("decide", "decide_question")),
                           key=lambda kv: -kv[1][3])
        top[label + " (inclusive)"] = [{"function": f"{_short(k[0])}:{k[1]}({k[2]})", "self_share": v[3] / total}
                                       for k, v in inclusive[:6]]
    return {"rows": rows, "top": top}


def _short(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return Path(path).name


def render_profile(profile: dict) -> str:
    out = ["Unmemoised, in one process (CPU µs per decision, the scenarios' questions):", "",
           "| questions | `Policy.decide` | `to_dict` | JSON (orjson) |", "|---|---:|---:|---:|"]
    for r in profile["rows"]:
        out.append(f"| {r['label']} | {r['decide_us']:.1f} | {r['to_dict_us']:.1f} | {r['json_us']:.1f} |")
    for label, entries in profile["top"].items():
        kind = "with what they call" if label.endswith("(inclusive)") else "self time"
        out += ["", f"Heaviest functions ({kind}; cProfile, CPU time) of `Policy.decide` for "
                f"{label.removesuffix(' (inclusive)')}: "
                + ", ".join(f"`{e['function']}` {100 * e['self_share']:.0f}%" for e in entries) + "."]
    return "\n".join(out)


def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for name in ("uvicorn", "httptools", "uvloop", "starlette", "fastapi", "orjson"):
        try:
            out[name] = version(name)
        except Exception:  # noqa: BLE001 — not installed: not reported
            pass
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    out["wrk"] = (wrk.stdout or wrk.stderr).split("[")[0].replace("wrk", "").strip()
    return out


def render(report: dict) -> str:
    out = [f"{report['date']}: {report['cpus']} CPUs, Python {report['python']}, "
           + ", ".join(f"{k} {v}" for k, v in report["versions"].items())
           + f"; wrk -t{report['threads']}, {report['duration']:g} s a run, {report['rounds']} rounds; load average "
           f"{report['loadavg'][0]} at the start, {report['loadavg'][-1]} at the end.", "",
           "Each scenario with a reference was run right after its reference, every round; × reference is the "
           "median of those paired ratios, the other figures are from the scenario's median round.", "",
           "| scenario | conns | req/s | decisions/s | × reference | p50 ms | p99 ms | p99/p50 | reference's p99/p50 "
           "| server CPU µs/req | CPU × reference | × reference in each round |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]

    def text(x: Optional[float], form: str) -> str:
        return format(x, form) if x else ""

    for r in report["rows"]:
        out.append(f"| {r['label']} | {r['connections']} | {r['rps']:,.0f} | {text(r['decisions_per_s'], ',.0f')} | "
                   f"{text(r.get('ratio'), '.2f')} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | "
                   f"{r['p99_us'] / max(r['p50_us'], 1):.1f} | {text(r.get('ref_p99_over_p50'), '.1f')} | "
                   f"{text(r['cpu_us_per_request'], '.0f')} | {text(r.get('cpu_ratio'), '.2f')} | "
                   f"{', '.join(f'{x:.2f}' for x in r.get('ratios', []))} |")
    refs = sorted({r["reference"] for r in report["rows"] if r["reference"]})
    out += ["", "References: " + "; ".join(refs) + " (`minimal`: the minimal app; `service`: `lawful serve`, one "
            "worker)."]
    workers = [r for r in report["rows"] if r["server"] == "service-n"]
    if workers and workers[0]["worker_cpu_s"]:
        out.append(f"CPU seconds of each worker in the median `--workers` run: "
                   f"{', '.join(f'{x:.2f}' for x in workers[0]['worker_cpu_s'])}.")
    if report.get("profile"):
        out += ["", render_profile(report["profile"])]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
