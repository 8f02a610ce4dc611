"""Run `lawful serve` for real, in its own process, on 127.0.0.1 and a port the OS chooses.

The server gets its own process (and its own interpreter lock), so an attacking thread in the test cannot
slow it by holding the test's. Its log is drained by a thread (a full pipe would stall it) and kept.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent.parent
SEED = {"source": "JCP", "recipient": "ALI", "data": "provider-data", "purpose": "inspection", "on": "2005-06-23"}


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "".join(self.lines)


@contextmanager
def serving(*options: str, bundle: Path = ROOT, start_seconds: float = 60.0) -> Iterator[Served]:
    """`lawful serve --port 0 OPTIONS…`; yields once it listens (the port is read from its log)."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "serve", "--bundle", str(bundle), "--port", "0",
                             *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    lines: list[str] = []
    found = threading.Event()
    port: list[int] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
            if m and int(m.group(1)) and not port:  # (the port asked for is 0)
                port.append(int(m.group(1)))
                found.set()
        found.set()  # the process ended

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not found.wait(start_seconds) or not port:
            raise RuntimeError("lawful serve did not start:\n" + "".join(lines))
        served = Served(proc, port[0], lines)
        _wait_until_answering(served, start_seconds)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        reader.join(timeout=5)


def _wait_until_answering(served: Served, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(served.url + "/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("lawful serve did not answer:\n" + served.log())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def running_in_thread(app, seconds: float = 15.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1 and a free port (to watch the engine from the
    test's own process); yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
