"""The decision log: one JSON line per decision, authenticated with a key the writer holds and chained to the
line before it, appended with O_APPEND under an exclusive file lock and fsync'd before the decision is given.

    log = AuditLog("decisions.jsonl")          # key: decisions.jsonl.key (0600), $LAWFUL_AUDIT_KEY, or key_path=
    log.record(decision, bundle_hash)          # -> the record written, as a dict
    result = verify_log("decisions.jsonl")     # -> VerifyResult(ok, records, head, problem, torn, …)

A record (format 2; keys sorted, no spaces, UTF-8, one line):

    {"bundle_hash": "sha256:…", "engine_version": "0.1.0", "event": "decision", "headline": "DENIED — …",
     "key_id": "…", "mac": "hmac-sha256:…", "prev": "sha256:…", "question": {…}, "reason_ids": […], "seq": 1,
     "time": "2026-11-28T22:15:03.123456Z", "v": 2, "verdict": "deny"}

- A line verifies only when its bytes are exactly the canonical serialisation of the record they hold (so a
  CRLF line end, a duplicated key, a space or an escaped character is an edit), and `mac` is HMAC-SHA256,
  under the writer's key, of that serialisation without `mac`. `key_id` names the key (not secret).
- `prev` is SHA-256 of the exact bytes of the previous line (64 zeros for the first); `seq` counts from 1.
  The *head* is SHA-256 of the last line: keep it elsewhere (an external timestamp, a ticket) and
  `verify_log(…, anchor=HEAD)` proves that nothing up to it was removed or rewritten since.

Why HMAC under a key file and not Ed25519 signatures: HMAC-SHA256 comes with the standard library (no new
dependency or key-pair format on the path of every audited decision). It stops what the log must stop:
someone who can write the log file but is not the writer (a group-writable folder, a log shipper, a restored
backup) cannot make a line that verifies without the 0600 key. The cost is that a verifier needs the key; a
third party who must not hold it checks the anchored head instead.

Torn writes: a writer killed mid-write leaves a torn last line (no newline). The next writer ends it and
appends a `torn-write-sealed` record naming its offset, length and SHA-256, so the chain goes on. But a torn
record is indistinguishable from a record cut short by hand (a decision that was given, erased), so every
`verify` reports each torn line, with its byte offset, as a failure until an operator who has investigated
accepts it: `accept_torn(path, [line])` appends a keyed `torn-accepted` record naming it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

try:  # POSIX advisory locks; the log is single-writer without them
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from engine.errors import AuditLogError

if TYPE_CHECKING:  # pragma: no cover
    from engine.decision.answer import Decision

FORMAT_VERSION = 2
GENESIS = "sha256:" + "0" * 64
SEALED = "torn-write-sealed"
ACCEPTED = "torn-accepted"
KEY_ENV = "LAWFUL_AUDIT_KEY"  # the path of the key file (never the key itself: the environment leaks)
KEY_SUFFIX = ".key"
MAX_LINE_BYTES = 1024 * 1024  # far above any record: a longer line is not one, and is never read whole
_FIELDS = {"v", "seq", "time", "event", "engine_version", "prev", "key_id", "mac"}
_MAC_PREFIX = "hmac-sha256:"


def canonical(obj: dict) -> bytes:
    """The one serialisation that is written and authenticated: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def line_hash(raw: bytes) -> str:
    """SHA-256 of a line's exact bytes (without its newline): what `prev` and the head are."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


# ---- the key -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    path: Path

    @property
    def key_id(self) -> str:
        """A name for the key that gives nothing of it away (SHA-256 of a label and the key, 16 hex)."""
        return hashlib.sha256(b"lawful decision log key id\0" + self.secret).hexdigest()[:16]

    def mac(self, body: bytes) -> str:
        return _MAC_PREFIX + hmac.new(self.secret, body, hashlib.sha256).hexdigest()


def key_path_for(log_path: str | os.PathLike, explicit: Optional[str | os.PathLike] = None) -> Path:
    """The key file of a log: `explicit`, else $LAWFUL_AUDIT_KEY, else the log's path + `.key`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env)
    log_path = Path(log_path)
    return log_path.with_name(log_path.name + KEY_SUFFIX)


def load_key(path: Path) -> AuditKey:
    """Read a key file, refusing one that another user could have written or read: it must be a regular file
    (not a link), owned by this user, with no permission for group or others."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise AuditLogError(f"cannot open the decision log key `{path}`: {exc.strerror or exc} (a symbolic link "
                            "is refused)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AuditLogError(f"the decision log key `{path}` is not a regular file")
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise AuditLogError(f"the decision log key `{path}` belongs to another user (uid {st.st_uid})")
        if st.st_mode & 0o077:
            raise AuditLogError(f"the decision log key `{path}` is readable or writable by others "
                                f"(mode {stat.S_IMODE(st.st_mode):04o}); it must be 0600")
        raw = os.read(fd, 257)
    finally:
        os.close(fd)
    text = raw.decode("ascii", "replace").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise AuditLogError(f"the decision log key `{path}` is not a key (64 hexadecimal digits)")
    return AuditKey(secret, path)


def create_key(path: Path) -> AuditKey:
    """A new random key at `path` (0600). Written to a temporary file and linked into place, so no reader
    ever sees half a key, and an existing key is never replaced."""
    secret = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            _write_all(fd, secret.hex().encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_key(path)  # another writer made it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return AuditKey(secret, path)


def _key_for_writing(path: Path, log_is_empty: bool) -> AuditKey:
    try:
        return load_key(path)
    except FileNotFoundError:
        if not log_is_empty:
            raise AuditLogError(f"the decision log has records but its key `{path}` is missing; nothing was "
                                f"appended (restore the key, or give it with --audit-key or ${KEY_ENV})") from None
    try:
        return create_key(path)
    except OSError as exc:
        raise AuditLogError(f"cannot create the decision log key `{path}`: {exc.strerror or exc}") from None


# ---- records -------------------------------------------------------------------------------------------


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
        **_issue13(decision),
    }


def _issue13(decision: "Decision") -> dict:
    """What a decision rested on beyond its rules (issue 13), recorded only when there is something to say, so
    the records of ordinary questions keep their shape: the conditions the question gave and the ALLOW relied
    on, the implied power it rests on, the express-only reading."""
    out: dict = {}
    if decision.given:
        out["given"] = list(decision.given)
    if decision.conditions_relied_on:
        out["conditions_relied_on"] = [{"id": c.id, "kind": c.kind, "rule": c.rule}
                                       for c in decision.conditions_relied_on]
    if decision.express_only:
        out["express_only"] = True
    if decision.power == "implied":
        out["power"] = "implied"
    if decision.received_under or decision.own_data or decision.held_for or any(
            b.received_under or b.held_for for b in decision.blocks):
        out["provenance"] = decision.provenance  # the provenance assumed, when it mattered or was stated
    return out


def _is_json(raw: bytes) -> bool:
    """Whole JSON (duplicated keys allowed): a crash leaves a strict prefix of a record, which never is."""
    try:
        json.loads(raw.decode("utf-8"))
        return True
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False


def _unique_keys(pairs: list) -> dict:
    keys = [k for k, _v in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicated key")
    return dict(pairs)


def parse_line(raw: bytes, key: AuditKey) -> tuple[Optional[dict], str]:
    """(the record, "") when `raw` is exactly a record written with `key`, else (None, what is wrong)."""
    try:
        rec = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = "a key is duplicated" if "duplicated key" in str(exc) else "not a JSON record"
        return None, why
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if rec.get("v") == 1 and "mac" not in rec:
        return None, ("a record of format 1, written before the log was authenticated: it cannot be verified "
                      "(keep the file as an archive and start a new log)")
    if not _FIELDS <= rec.keys():
        return None, f"not a record (no {', '.join(sorted(_FIELDS - rec.keys()))})"
    try:
        exact = canonical(rec) == raw
    except (UnicodeEncodeError, ValueError, TypeError):
        exact = False
    if not exact:
        return None, ("its bytes are not the record's canonical form (edited: a line end, a space, a duplicated "
                      "key or an escape was changed)")
    if rec["key_id"] != key.key_id:
        return None, f"written with another key (`{rec['key_id']}`, not `{key.key_id}`): forged, or the wrong --key"
    body = canonical({k: v for k, v in rec.items() if k != "mac"})
    if not isinstance(rec["mac"], str) or not hmac.compare_digest(rec["mac"].encode("utf-8"),
                                                                  key.mac(body).encode("ascii")):
        return None, "its MAC does not match its contents (the line was edited or forged)"
    return rec, ""


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


TAIL_WINDOW = 4 * 1024 * 1024  # how far back a writer looks for the last good record


@dataclass(frozen=True)
class _Tail:
    last: Optional[dict]  # the last valid record, None when the log has none
    last_raw: bytes
    garbage: list[tuple[int, bytes]]  # (offset, bytes) of complete lines after it that are torn writes
    tail: bytes  # the unterminated bytes at the very end
    tail_offset: int


def _tail(fd: int, key: AuditKey) -> _Tail:
    """The end of the log, read backwards a little at a time. Raises AuditLogError when a line after the last
    valid record is whole JSON that does not verify (an edit, not a crash), or no valid record lies within
    TAIL_WINDOW of the end."""
    size = os.fstat(fd).st_size
    want = 16 * 1024
    while True:
        start = max(0, size - want)
        buf = os.pread(fd, size - start, start) if size else b""
        lines = buf.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        tail_offset = size - len(tail)
        offsets = []
        pos = start
        for raw in lines:
            offsets.append(pos)
            pos += len(raw) + 1
        if start > 0 and lines:
            lines.pop(0)  # the first line read may be cut
            offsets.pop(0)
        garbage: list[tuple[int, bytes]] = []
        for off, raw in zip(reversed(offsets), reversed(lines)):
            rec, _why = parse_line(raw, key)
            if rec is not None:
                return _Tail(rec, raw, garbage[::-1], tail, tail_offset)
            if _is_json(raw) or not raw:
                raise AuditLogError("a line near the end of the decision log is not a valid record (edited, "
                                    "written with another key, or not a log); nothing was appended (run `lawful "
                                    "log verify` on it)")
            garbage.append((off, raw))
        if start == 0:
            return _Tail(None, b"", garbage[::-1], tail, tail_offset)
        if want >= TAIL_WINDOW:
            raise AuditLogError("no valid record near the end of the decision log; nothing was appended")
        want *= 4


def _torn_entry(offset: int, raw: bytes) -> dict:
    return {"offset": offset, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


class AuditLog:
    """An append-only, keyed, chained decision log at `path`. Safe to share between threads and processes
    (each append takes an exclusive `flock` on the file); every append is fsync'd before it returns.

    The key is read from `key_path` (else $LAWFUL_AUDIT_KEY, else `path` + `.key`); a new, empty log gets a
    new random key (0600). A log with records whose key is missing is never extended."""

    def __init__(self, path: str | os.PathLike, engine_version: Optional[str] = None,
                 key_path: Optional[str | os.PathLike] = None):
        self.path = Path(path)
        self.key_path = key_path_for(self.path, key_path)
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
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise AuditLogError(f"the decision log `{self.path}` is not a regular file")
            key = _key_for_writing(self.key_path, st.st_size == 0)
            payload, records = self._chain(fd, key, entries)
            _write_all(fd, payload)
            os.fsync(fd)
        except OSError as exc:
            raise AuditLogError(f"cannot write the decision log `{self.path}`: {exc.strerror or exc}") from None
        finally:
            os.close(fd)  # closing releases the lock
        if created:
            _fsync_dir(self.path.parent)
        return records

    def _chain(self, fd: int, key: AuditKey, entries: list[dict]) -> tuple[bytes, list[dict]]:
        t = _tail(fd, key)
        prev, seq = (line_hash(t.last_raw), t.last["seq"]) if t.last is not None else (GENESIS, 0)
        payload = b""
        whole = parse_line(t.tail, key)[0] if t.tail and not t.garbage else None
        if whole is not None and whole["prev"] == prev and whole["seq"] == seq + 1:
            payload = b"\n"  # the last record was whole and only its newline was lost
            prev, seq = line_hash(t.tail), whole["seq"]
        elif t.tail and _is_json(t.tail):
            # A crash leaves a strict prefix of a record, which is never whole JSON: this is an edit.
            raise AuditLogError("the last line of the decision log is not a valid record (edited); nothing was "
                                "appended (run `lawful log verify` on it)")
        elif t.garbage or t.tail:
            # Torn writes left by a crash (or cut by hand): end them and name them, never drop them silently.
            # `verify` keeps reporting them until an operator accepts them.
            torn = t.garbage + ([(t.tail_offset, t.tail)] if t.tail else [])
            seal, line = self._finish(key, {"event": SEALED, "torn": [_torn_entry(o, r) for o, r in torn]}, prev, seq)
            payload = (b"\n" if t.tail else b"") + line + b"\n"
            prev, seq = line_hash(line), seal["seq"]
        records = []
        for entry in entries:
            rec, line = self._finish(key, entry, prev, seq)
            records.append(rec)
            payload += line + b"\n"
            prev, seq = line_hash(line), rec["seq"]
        return payload, records

    def _finish(self, key: AuditKey, entry: dict, prev: str, seq: int) -> tuple[dict, bytes]:
        rec = {"v": FORMAT_VERSION, "seq": seq + 1, "time": _now(), "engine_version": self.engine_version,
               **entry, "prev": prev, "key_id": key.key_id}
        rec["mac"] = key.mac(canonical(rec))
        return rec, canonical(rec)


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
class TornLine:
    """A line that is not a whole record: a write cut short, by a crash or by hand."""

    line: int  # 1-based
    offset: int  # byte offset of its first byte in the file
    bytes: int
    sha256: str
    sealed_by: Optional[int] = None  # the line of the writer's seal record, when sealed
    accepted_by: Optional[int] = None  # the line of the operator's acceptance record, when accepted

    def entry(self) -> dict:
        return {"line": self.line, "offset": self.offset, "bytes": self.bytes, "sha256": self.sha256}

    def to_dict(self) -> dict:
        return {**self.entry(), "sealed_by": self.sealed_by, "accepted_by": self.accepted_by}


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int  # records that verified (decisions, seals, acceptances)
    decisions: int
    head: str  # SHA-256 of the last line that verified (GENESIS for an empty log): anchor it elsewhere
    problem: Optional[tuple[int, str]] = None  # (1-based line, what is wrong); the first problem
    torn: tuple[TornLine, ...] = ()  # every torn line, accepted or not
    seq: int = 0  # the head record's seq
    key_id: Optional[str] = None
    offset: Optional[int] = None  # the byte offset of the problem's line
    anchored_seq: Optional[int] = None  # the seq of the record whose hash is the anchor given

    @property
    def unaccepted(self) -> tuple[TornLine, ...]:
        return tuple(t for t in self.torn if t.accepted_by is None)

    @property
    def only_torn(self) -> bool:
        """The only problem is torn lines not yet accepted (everything else verifies)."""
        return bool(self.unaccepted) and self.problem is not None and self.problem[0] == self.unaccepted[0].line \
            and self.problem[1].startswith("torn write")

    def to_dict(self) -> dict:
        return {"ok": self.ok, "records": self.records, "decisions": self.decisions, "head": self.head,
                "seq": self.seq, "key_id": self.key_id,
                "problem": None if self.problem is None else {"line": self.problem[0], "offset": self.offset,
                                                               "message": self.problem[1]},
                "torn": [t.to_dict() for t in self.torn], "anchored_seq": self.anchored_seq}


def _open_regular(path: str | os.PathLike):
    """Open a file for reading without blocking on a FIFO or a device, refusing anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"`{path}` is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _lines(f) -> Iterator[tuple[int, bytes, bool, bool]]:
    """(offset, line without its newline, terminated, too long) for each line, never holding more than
    MAX_LINE_BYTES of one line in memory."""
    offset = 0
    while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            n = len(raw)
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(64 * 1024)
                n += len(raw)
            yield offset, b"", raw.endswith(b"\n"), True
            offset += n
            continue
        terminated = raw.endswith(b"\n")
        yield offset, raw[:-1] if terminated else raw, terminated, False
        offset += len(raw)


def verify_log(path: str | os.PathLike, key_path: Optional[str | os.PathLike] = None,
               anchor: Optional[str] = None) -> VerifyResult:
    """Check every line of a decision log: each is a record, byte for byte in canonical form, whose MAC under
    the log's key matches, whose `prev` is the hash of the line before and whose `seq` follows it.

    Stops at the first edited, forged, reordered or damaged line (its number and what is wrong). Torn lines
    (writes cut short) are collected: each one fails the verification, with its byte offset, until a
    `torn-accepted` record names it. With `anchor` (a head printed earlier), the record it names must still be
    in the chain. Raises OSError when the file cannot be read and AuditLogError when the key cannot be."""
    with _open_regular(path) as f:
        first = f.read(1)
        if not first:
            ok = anchor is None or anchor == GENESIS
            return VerifyResult(ok, 0, 0, GENESIS, None if ok else (1, _anchor_missing(anchor)),
                                anchored_seq=0 if ok else None)
        f.seek(0)
        key = load_key_for(path, key_path)
        return _verify(f, key, anchor)


def load_key_for(log_path: str | os.PathLike, key_path: Optional[str | os.PathLike] = None) -> AuditKey:
    path = key_path_for(log_path, key_path)
    try:
        return load_key(path)
    except FileNotFoundError:
        raise AuditLogError(f"no key at `{path}`: a decision log is verified with its writer's key (give it with "
                            f"--key FILE or ${KEY_ENV})") from None


def _anchor_missing(anchor: Optional[str]) -> str:
    return (f"the anchored head `{anchor}` is not the hash of any record in the log: records up to it were "
            "removed or rewritten")


def _verify(f, key: AuditKey, anchor: Optional[str]) -> VerifyResult:
    prev, seq, records, decisions = GENESIS, 0, 0, 0
    torn: dict[int, TornLine] = {}  # by line
    pending: list[TornLine] = []  # a run of torn lines not yet followed by a record
    anchored: Optional[int] = 0 if anchor == GENESIS else None
    lineno = 0

    def result(problem: Optional[tuple[int, str]] = None, offset: Optional[int] = None) -> VerifyResult:
        all_torn = tuple(sorted(torn.values(), key=lambda t: t.line))
        unaccepted = [t for t in all_torn if t.accepted_by is None]
        if problem is None and anchor is not None and anchored is None:
            problem, offset = (max(lineno, 1), _anchor_missing(anchor)), None
        if problem is None and unaccepted:
            t = unaccepted[0]
            more = f" (and {len(unaccepted) - 1} more)" if len(unaccepted) > 1 else ""
            sealed = f", sealed by line {t.sealed_by}" if t.sealed_by else ", not yet sealed"
            problem = (t.line, f"torn write at line {t.line}, byte offset {t.offset}: {t.bytes} bytes that are not a "
                               f"whole record{sealed}{more}. A crash leaves one, and so does cutting a record by "
                               f"hand; investigate, then accept it with --accept-torn {t.line}")
            offset = t.offset
        return VerifyResult(problem is None, records, decisions, prev, problem, all_torn, seq, key.key_id, offset,
                            anchored)

    for offset, raw, terminated, too_long in _lines(f):
        lineno += 1
        if too_long:
            return result((lineno, f"a line longer than {MAX_LINE_BYTES:,} bytes, which no record is"), offset)
        rec, why = parse_line(raw, key)
        if rec is None:
            if not raw.strip():
                return result((lineno, "empty line"), offset)
            if _is_json(raw):
                return result((lineno, why), offset)
            pending.append(TornLine(lineno, offset, len(raw), hashlib.sha256(raw).hexdigest()))
            continue
        if not terminated:
            return result((lineno, f"the last record has no newline (a write was interrupted before its end; the "
                                   f"next writer completes it); the {records} record(s) before it verify"), offset)
        if pending:
            # A run of torn lines must be followed by the writer's seal naming each one: anything else is a
            # damaged or inserted line, not a crash.
            want = [{"offset": t.offset, "bytes": t.bytes, "sha256": t.sha256} for t in pending]
            if rec["event"] != SEALED or rec.get("torn") != want:
                return result((pending[0].line, "not a record (a damaged or inserted line)"), pending[0].offset)
        if rec["v"] != FORMAT_VERSION:
            return result((lineno, f"unknown record format version {rec['v']!r}"), offset)
        if rec["prev"] != prev:
            return result((lineno, "does not chain to the line before it (a line was removed, inserted, reordered "
                                   "or edited)"), offset)
        if rec["seq"] != seq + 1:
            return result((lineno, f"sequence number {rec['seq']} where {seq + 1} was due"), offset)
        if pending:
            for t in pending:
                torn[t.line] = TornLine(t.line, t.offset, t.bytes, t.sha256, sealed_by=lineno)
            pending = []
        elif rec["event"] == SEALED:
            return result((lineno, "seals a torn write that is not there"), offset)
        if rec["event"] == ACCEPTED:
            names = rec.get("torn")
            if not isinstance(names, list) or not names:
                return result((lineno, "accepts no torn write"), offset)
            for n in names:
                named = torn.get(n.get("line", -1)) if isinstance(n, dict) else None
                if named is None or named.entry() != n or named.accepted_by is not None:
                    return result((lineno, "accepts a torn write that is not there"), offset)
                torn[named.line] = TornLine(named.line, named.offset, named.bytes, named.sha256, named.sealed_by,
                                            lineno)
        prev, seq = line_hash(raw), rec["seq"]
        if anchor is not None and anchored is None and prev == anchor:
            anchored = seq
        records += 1
        decisions += rec["event"] == "decision"
    for t in pending:  # torn lines at the very end, not yet sealed by a later writer
        torn[t.line] = t
    return result()


def accept_torn(path: str | os.PathLike, lines: list[int], key_path: Optional[str | os.PathLike] = None,
                engine_version: Optional[str] = None) -> VerifyResult:
    """Accept torn lines after investigation: append a keyed `torn-accepted` record naming each (line, offset,
    length, SHA-256), then verify again. Only lines that `verify_log` reports as unaccepted torn writes can be
    accepted, and only when nothing else is wrong with the log."""
    before = verify_log(path, key_path)
    if before.problem is not None and not before.only_torn:
        raise AuditLogError(f"line {before.problem[0]} of the decision log does not verify "
                            f"({before.problem[1]}); only a log whose sole problem is torn writes can accept them")
    open_torn = {t.line: t for t in before.unaccepted}
    wrong = [n for n in lines if n not in open_torn]
    if wrong:
        listed = ", ".join(str(t) for t in sorted(open_torn)) or "none"
        raise AuditLogError(f"line {wrong[0]} is not a torn write awaiting acceptance (those are: {listed})")
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):  # no login name known: the uid says who
        operator = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    entry = {"event": ACCEPTED, "operator": operator, "torn": [open_torn[n].entry() for n in sorted(set(lines))]}
    AuditLog(path, engine_version, key_path).append([entry])
    return verify_log(path, key_path)
