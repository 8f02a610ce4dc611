"""Benchmark `lawful lsp` on a large bundle: the time from an edit to its diagnostics.

    python benchmarks/lsp_bench.py [--size large] [--edits 5] [--bundle DIR]

A bundle is generated (`benchmarks/generate.py`: 2,000 organisations and 20,000 agreements for `large`) unless
one is given. The real server, `lawful lsp`, is started over stdio and driven as an editor drives it (by a
small JSON-RPC client below):

1. open one agreements file: the time to its first diagnostics (the whole bundle read, parsed, checked,
   compiled and linted: the cold start);
2. `--edits` times: an unsaved edit that misspells the gateway an agreement relies on, timed from the change
   sent to the `unknown-name` diagnostic at that line; then the edit undone, timed to the diagnostic gone.

Each time includes the server's debounce (0.3 s, the quiet it waits for after a keystroke), as an editor user
sees it; `--debounce 0` measures the analysis alone. Figures vary with the load of the machine: compare runs
made on the same machine. Never a timed test: run it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Client:
    """A minimal LSP client over the server's stdin and stdout: JSON in, JSON out, the time each
    publishDiagnostics arrived. (pygls's own client turns every message into typed objects, which for tens
    of thousands of diagnostics costs the client seconds that an editor does not spend.)"""

    def __init__(self):
        self.diagnostics: dict[str, list[dict]] = {}
        self.pending: dict[int, asyncio.Future] = {}
        self.next_id = 0
        self.last_publish = 0.0

    async def quiet(self, seconds: float = 3.0) -> None:
        """Until no diagnostics have come for `seconds` (the rest of the bundle's files after the first)."""
        while time.perf_counter() - self.last_publish < seconds:
            await asyncio.sleep(0.05)

    async def start(self, *cmd: str) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 26
        )
        self.reader = asyncio.ensure_future(self._read())

    def _send(self, msg: dict) -> None:
        body = json.dumps(msg).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = 0
            while True:
                line = await out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(await out.readexactly(length))
            if msg.get("method") == "textDocument/publishDiagnostics":
                self.diagnostics[msg["params"]["uri"]] = msg["params"]["diagnostics"]
                self.last_publish = time.perf_counter()
            elif "method" in msg and "id" in msg:  # a request from the server: accept it
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            elif "id" in msg and msg["id"] in self.pending:
                self.pending.pop(msg["id"]).set_result(msg.get("result"))

    async def request(self, method: str, params) -> object:
        self.next_id += 1
        fut = self.pending[self.next_id] = asyncio.get_running_loop().create_future()
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return await fut

    def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def wait(self, uri: str, until, timeout: float = 600.0) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            ds = self.diagnostics.get(uri)
            if ds is not None and until(ds):
                return time.perf_counter()
            await asyncio.sleep(0.002)
        raise TimeoutError(f"no diagnostics as expected within {timeout} s")


async def run(bundle: Path, edits: int, debounce: float) -> dict:
    client = Client()
    await client.start(sys.executable, str(ROOT / "cli.py"), "lsp")
    await client.request(
        "initialize",
        {
            "processId": None,
            "rootUri": bundle.as_uri(),
            "capabilities": {},
            "initializationOptions": {"debounce": debounce},
        },
    )
    client.notify("initialized", {})

    path = sorted((bundle / "policies").glob("agreements*.policy"))[0]
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8")
    match = next(re.finditer(r"^  under (\S+)$", text, re.M))
    line = text.count("\n", 0, match.start())
    broken = text[: match.start(1)] + match.group(1) + "-TYPO" + text[match.end(1) :]

    start = time.perf_counter()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "lawful-policy", "version": 1, "text": text}},
    )
    cold = await client.wait(uri, lambda ds: True) - start
    await client.quiet()  # the other files' diagnostics follow the opened file's
    total = sum(len(v) for v in client.diagnostics.values())

    def has_typo(ds) -> bool:
        return any(d["code"] == "unknown-name" and d["range"]["start"]["line"] == line for d in ds)

    to_error, to_clear = [], []
    version = 1
    for _ in range(edits):
        for new_text, until, out in ((broken, has_typo, to_error), (text, lambda ds: not has_typo(ds), to_clear)):
            version += 1
            start = time.perf_counter()
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": new_text}]},
            )
            out.append(await client.wait(uri, until) - start)
            await client.quiet()  # the rest of the bundle's diagnostics, before the next edit

    final = sum(len(v) for v in client.diagnostics.values())
    await client.request("shutdown", None)
    client.notify("exit", None)
    await client.proc.wait()
    return {
        "cold": cold,
        "to_error": to_error,
        "to_clear": to_clear,
        "diagnostics": total,
        "final": final,
        "files": len(list((bundle / "policies").glob("*.policy"))),
        "edited": path.name,
        "line": line + 1,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="large", help="a size of benchmarks/generate.py (default: large)")
    ap.add_argument("--bundle", type=Path, help="an existing bundle instead of a generated one")
    ap.add_argument("--edits", type=int, default=5, help="edit-and-undo rounds timed (default 5)")
    ap.add_argument("--debounce", type=float, default=0.3, help="the server's debounce in seconds (default 0.3)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lsp-bench-") as tmp:
        bundle = args.bundle
        if bundle is None:
            bundle = Path(tmp) / "bundle"
            subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--size", args.size, "--out", str(bundle)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        result = asyncio.run(run(bundle.resolve(), args.edits, args.debounce))

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    med_err, med_clear = statistics.median(result["to_error"]), statistics.median(result["to_clear"])
    print(
        f"bundle: {args.bundle or args.size} ({result['files']} policy files), {result['diagnostics']:,} diagnostics "
        f"published at open ({result['final']:,} at the end); edited {result['edited']} line {result['line']}; "
        f"debounce {args.debounce} s"
    )
    print(f"open -> first diagnostics (cold):          {result['cold']:.2f} s")
    print(
        f"edit -> its unknown-name diagnostic:       median {med_err:.2f} s  "
        f"(min {min(result['to_error']):.2f}, max {max(result['to_error']):.2f}, n={len(result['to_error'])})"
    )
    print(
        f"undo -> the diagnostic gone:               median {med_clear:.2f} s  "
        f"(min {min(result['to_clear']):.2f}, max {max(result['to_clear']):.2f}, n={len(result['to_clear'])})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
