"""The decision log: one JSON line per decision, each carrying the hash of the line before it (a hash chain),
appended with O_APPEND under an exclusive file lock and fsync'd before the decision is given.

    log = AuditLog("decisions.jsonl")
    log.record(decision, bundle_hash)          # -> the record written, as a dict
    result = verify_log("decisions.jsonl")     # -> VerifyResult(ok, records, head, problem, sealed)

A record (keys sorted, no spaces, UTF-8, one line):

    {"bundle_hash": "sha256:…", "engine_version": "0.1.0", "event": "decision", "hash": "sha256:…",
     "headline": "DENIED — …", "prev": "sha256:…", "question": {"assume": [], "data": "provider-data",
     "on": "2005-06-23", "purpose": "inspection", "recipient": "ALI", "source": "JCP"},
     "reason_ids": ["dca-provider-data", "ssaa-1992-s123"], "seq": 1, "time": "2026-11-28T22:15:03.123456Z",
     "v": 1, "verdict": "deny"}

`hash` is SHA-256 over the record's canonical JSON without `hash`; `prev` is the previous record's `hash`
(for the first, 64 zeros); `seq` counts from 1. Editing, removing, inserting or reordering a line breaks the
chain at that line; to detect truncation of the tail too, keep the head hash (`lawful log verify` prints it)
somewhere else.

Crashes: a writer killed mid-write can leave a torn last line (no newline). `verify` reports it (the records
before it still verify). The next writer does not hide it: it ends the torn line and appends a
`torn-write-sealed` record naming the torn bytes' length and SHA-256, chained to the last good record;
`verify` then accepts the torn line only because that record accounts for it, and reports it as a note.
A torn line's decision was never given: `record` returns (and the CLI answers) only after the fsync.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

try:  # POSIX advisory locks; the log is single-writer without them
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from engine.errors import AuditLogError

if TYPE_CHECKING:  # pragma: no cover
    from engine.decision.answer import Decision

FORMAT_VERSION = 1
GENESIS = "sha256:" + "0" * 64
SEALED = "torn-write-sealed"
_FIELDS = {"v", "seq", "time", "event", "engine_version", "prev", "hash"}


def canonical(obj: dict) -> bytes:
    """The one serialisation that is hashed and written: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict) -> str:
    """SHA-256 of the record's canonical JSON without its own `hash`."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decision_entry(decision: "Decision", bundle_hash: str) -> dict:
    """The part of a record that describes one decision (the chain fields are added when it is written)."""
    return {
        "event": "decision",
        "question": {"source": decision.source, "recipient": decision.recipient, "data": decision.data,
                     "purpose": decision.purpose, "on": decision.on.isoformat(), "assume": list(decision.assume)},
        "verdict": decision.verdict,
        "reason_ids": sorted(decision.reason_ids()),
        "headline": decision.headline,
        "bundle_hash": bundle_hash,
    }


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _parse(raw: bytes) -> Optional[dict]:
    """A record if `raw` is one whose hash matches its contents, else None."""
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(rec, dict) or not _FIELDS <= rec.keys() or rec.get("hash") != record_hash(rec):
        return None
    return rec


TAIL_WINDOW = 4 * 1024 * 1024  # how far back a writer looks for the last good record


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
        return True
    except (UnicodeDecodeError, ValueError):
        return False


def _tail(fd: int) -> tuple[Optional[dict], list[bytes], bytes]:
    """(the last valid record or None if the log has none, the complete lines after it that are torn writes,
    the unterminated bytes at the very end). Reads backwards from the end, a little at a time. Raises
    AuditLogError when a line after the last valid record is whole JSON that fails its hash (an edit, not a
    crash), or no valid record lies within TAIL_WINDOW of the end."""
    size = os.fstat(fd).st_size
    want = 16 * 1024
    while True:
        start = max(0, size - want)
        buf = os.pread(fd, size - start, start) if size else b""
        lines = buf.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if start > 0 and lines:
            lines.pop(0)  # the first line read may be cut
        garbage: list[bytes] = []
        for raw in reversed(lines):
            rec = _parse(raw)
            if rec is not None:
                return rec, garbage[::-1], tail
            if _is_json(raw) or not raw:
                raise AuditLogError("a line near the end of the decision log is not a valid record (edited, or "
                                    "not a log); nothing was appended (run `lawful log verify` on it)")
            garbage.append(raw)
        if start == 0:
            return None, garbage[::-1], tail
        if want >= TAIL_WINDOW:
            raise AuditLogError("no valid record near the end of the decision log; nothing was appended")
        want *= 4


class AuditLog:
    """An append-only, hash-chained decision log at `path`. Safe to share between threads and processes
    (each append takes an exclusive `flock` on the file); every append is fsync'd before it returns."""

    def __init__(self, path: str | os.PathLike, engine_version: Optional[str] = None):
        self.path = Path(path)
        if engine_version is None:
            from engine.base.version import __version__ as engine_version
        self.engine_version = engine_version

    def record(self, decision: "Decision", bundle_hash: str) -> dict:
        """Append one decision; returns the record as written."""
        return self.record_all([decision], bundle_hash)[0]

    def record_all(self, decisions: Iterable["Decision"], bundle_hash: str) -> list[dict]:
        """Append several decisions in one locked write (e.g. one per purpose)."""
        return self.append([decision_entry(d, bundle_hash) for d in decisions])

    def append(self, entries: list[dict]) -> list[dict]:
        """Append entries (dicts without the chain fields) as records; returns them with the chain fields."""
        created = not self.path.exists()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AuditLogError(f"cannot open the decision log `{self.path}`: {exc.strerror or exc}") from None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            payload, records = self._chain(fd, entries)
            _write_all(fd, payload)
            os.fsync(fd)
        except OSError as exc:
            raise AuditLogError(f"cannot write the decision log `{self.path}`: {exc.strerror or exc}") from None
        finally:
            os.close(fd)  # closing releases the lock
        if created:
            _fsync_dir(self.path.parent)
        return records

    def _chain(self, fd: int, entries: list[dict]) -> tuple[bytes, list[dict]]:
        last, garbage, tail = _tail(fd)
        prev, seq = (last["hash"], last["seq"]) if last is not None else (GENESIS, 0)
        payload = b""
        whole = _parse(tail) if tail and not garbage else None
        if whole is not None and whole["prev"] == prev and whole["seq"] == seq + 1:
            payload = b"\n"  # the last record was whole and only its newline was lost
            prev, seq = whole["hash"], whole["seq"]
        elif tail and _is_json(tail):
            # A crash leaves a strict prefix of a record, which is never whole JSON: this is an edit.
            raise AuditLogError("the last line of the decision log is not a valid record (edited); nothing was "
                                "appended (run `lawful log verify` on it)")
        elif garbage or tail:
            # Torn writes left by a crash: end them and account for them, never drop them silently.
            torn = garbage + ([tail] if tail else [])
            seal = self._finish({"event": SEALED, "torn": [
                {"bytes": len(t), "sha256": hashlib.sha256(t).hexdigest()} for t in torn]}, prev, seq)
            payload = (b"\n" if tail else b"") + canonical(seal) + b"\n"
            prev, seq = seal["hash"], seal["seq"]
        records = []
        for entry in entries:
            rec = self._finish(entry, prev, seq)
            records.append(rec)
            payload += canonical(rec) + b"\n"
            prev, seq = rec["hash"], rec["seq"]
        return payload, records

    def _finish(self, entry: dict, prev: str, seq: int) -> dict:
        rec = {"v": FORMAT_VERSION, "seq": seq + 1, "time": _now(), "engine_version": self.engine_version,
               **entry, "prev": prev}
        rec["hash"] = record_hash(rec)
        return rec


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int  # records that verified (decisions and seals), before any problem
    decisions: int
    head: str  # the hash of the last record that verified (GENESIS for an empty log)
    problem: Optional[tuple[int, str]] = None  # (1-based line, what is wrong)
    sealed: tuple[int, ...] = field(default=())  # lines that are torn writes accounted for by a seal

    def to_dict(self) -> dict:
        return {"ok": self.ok, "records": self.records, "decisions": self.decisions, "head": self.head,
                "problem": None if self.problem is None else {"line": self.problem[0], "message": self.problem[1]},
                "sealed_torn_lines": list(self.sealed)}


def verify_log(path: str | os.PathLike) -> VerifyResult:
    """Check every line of a decision log: each is a record whose hash matches its contents, whose `prev` is
    the hash of the record before and whose `seq` follows it. Stops at the first problem (its line number and
    what is wrong). Raises OSError when the file cannot be read."""
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    terminated = data.endswith(b"\n")
    if terminated or not data:
        lines = lines[:-1]
    prev, seq, records, decisions = GENESIS, 0, 0, 0
    sealed: list[int] = []
    torn_before: Optional[bytes] = None

    def fail(line: int, message: str) -> VerifyResult:
        return VerifyResult(False, records, decisions, prev, (line, message), tuple(sealed))

    n = len(lines)
    i = 1
    while i <= n:
        raw = lines[i - 1]
        rec = _parse(raw)
        if rec is None:
            if _is_json(raw) or not raw.strip():
                return fail(i, "its hash does not match its contents (the line was edited)" if raw.strip()
                            else "empty line")
            # A run of torn writes (partial JSON) is accepted only when a seal right after it accounts for
            # every line of it, byte count and SHA-256.
            j = i
            while j <= n and _parse(lines[j - 1]) is None and not _is_json(lines[j - 1]) and lines[j - 1]:
                j += 1
            run = lines[i - 1:j - 1]
            if j > n or (j == n and not terminated):
                where = f"line {i}" if i == n else f"lines {i}–{n}"
                return fail(i, f"torn write at {where}: an interrupted write, not a complete record, not yet "
                               f"sealed; the {records} record(s) before it verify")
            seal = _parse(lines[j - 1])
            want = [{"bytes": len(t), "sha256": hashlib.sha256(t).hexdigest()} for t in run]
            if seal is None or seal.get("event") != SEALED or seal.get("torn") != want:
                return fail(i, "not a JSON record (a damaged line)")
            sealed.extend(range(i, j))
            torn_before = run[-1]
            i = j
            continue
        if i == n and not terminated:
            return fail(i, f"torn write at line {i}: {len(raw)} bytes without a newline (an interrupted write); "
                           f"the {records} record(s) before it verify")
        if rec["v"] != FORMAT_VERSION:
            return fail(i, f"unknown record format version {rec['v']!r}")
        if rec["prev"] != prev:
            return fail(i, "does not chain to the record before it (a line was removed, inserted, reordered or "
                           "edited)")
        if rec["seq"] != seq + 1:
            return fail(i, f"sequence number {rec['seq']} where {seq + 1} was due")
        if rec["event"] == SEALED and torn_before is None:
            return fail(i, "seals a torn write that is not there")
        torn_before = None
        prev, seq = rec["hash"], rec["seq"]
        records += 1
        decisions += rec["event"] == "decision"
        i += 1
    return VerifyResult(True, records, decisions, prev, None, tuple(sealed))
