"""Benchmark the HTTP decision service: throughput and latency (p50, p99) for single and batch requests.

Starts `lawful serve` in its own process on 127.0.0.1 and a free port, drives it from a local client
(httpx, keep-alive, a fixed number of requests per scenario: bounded), then stops it.

    python benchmarks/serve_bench.py [--requests 2000] [--batch 100] [--batches 200] [--clients 1]

Questions are a fixed mix drawn from the default bundle (lawful and unlawful flows, the seed question among
them); a DENY answer includes verified fixes and routes unless --no-explain is given (fixes=false, routes=false).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import engine  # noqa: E402
from transfer_log import _pools  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def questions(n: int, explain: bool, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    lawful, unlawful = _pools(engine.load(), rng, lawful_size=300, unlawful_size=100)
    pool = lawful + unlawful
    out = []
    for _ in range(n):
        s, r, d, p, day = rng.choice(pool)
        q = {"source": s, "recipient": r, "data": d, "purpose": p, "on": day}
        if not explain:
            q.update(fixes=False, routes=False)
        out.append(q)
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def drive(url: str, bodies: list[dict], clients: int) -> tuple[float, list[float]]:
    """Send every body once, from `clients` threads; return (elapsed seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [bodies[i::clients] for i in range(clients)]

    def run(chunk):
        mine = []
        with httpx.Client(base_url=url, timeout=60) as c:
            for body in chunk:
                t = time.perf_counter()
                r = c.post("/v1/decide", json=body)
                mine.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(ch,)) for ch in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--no-explain", action="store_true")
    args = ap.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "serve", "--port", str(port), "--watch-interval",
                               "0", "--bundle", str(ROOT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        explain = not args.no_explain
        singles = questions(args.requests, explain)
        batch_qs = questions(args.batch * args.batches, explain, seed=2)
        batches = [{"questions": batch_qs[i * args.batch:(i + 1) * args.batch]} for i in range(args.batches)]
        drive(url, singles[:100], args.clients)  # warm-up: memo and connection set-up

        rows = []
        for label, bodies, per in (("single", singles, 1), (f"batch of {args.batch}", batches, args.batch)):
            elapsed, lat = drive(url, bodies, args.clients)
            rows.append((label, len(bodies), len(bodies) / elapsed, len(bodies) * per / elapsed,
                         statistics.median(lat) * 1000, percentile(lat, 99) * 1000))
        print(f"lawful serve on 127.0.0.1, {os.cpu_count()} cores, {args.clients} client thread(s), "
              f"{'with' if explain else 'without'} fixes/routes on a DENY")
        print()
        print("| request | requests | requests/s | decisions/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, n, rps, dps, p50, p99 in rows:
            print(f"| {label} | {n:,} | {rps:,.0f} | {dps:,.0f} | {p50:.2f} | {p99:.2f} |")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
