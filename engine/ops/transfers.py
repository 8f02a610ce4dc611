"""Auditing transfer logs: which recorded transfers were not lawful on their date, and why.

A transfer log is CSV, JSON Lines or Parquet with one row per transfer and the columns source, recipient,
data, purpose and date (names mappable with `ColumnMap`). The audit reads it in chunks (constant memory),
decides each *distinct* question once (the verdict by `Policy.allowed`, which is memoised; the full decision,
for its reasons, only for the distinct questions that are unlawful), and reports:

- every unlawful row, with the decision's headline and the rules it cites;
- every row it could not judge — an unknown name, a bad or missing date, a malformed line — as *rejected*,
  with its row number (a row is never dropped silently: fail closed);
- a summary: counts, unlawful rows by organisation pair and by reason, rejections by code.

Row numbers are 1-based positions of records in their file: for CSV the header is not counted and blank
lines are skipped (row N is the N-th record); for JSON Lines row N is line N. Parquet rows count from 1.

The same `Auditor.audit_rows` judges rows for the local engine (here) and the Dask engine
(`engine.ops.dask_audit`), so the two cannot disagree on a row they both read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Optional, Sequence

from engine.policy.facade import Policy
from engine.base.diagnostics import did_you_mean, error
from engine.errors import DiagnosticsError, UnknownNameError
from engine.base.source import Span

FIELDS = ("source", "recipient", "data", "purpose", "date")
FORMATS = ("csv", "jsonl", "parquet")
DEFAULT_CHUNK_ROWS = 50_000
MEMO_LIMIT = 500_000  # distinct questions remembered; cleared when full so memory stays bounded
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.+\-Z]*)?$")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
             ".pq": "parquet"}


@dataclass(frozen=True)
class ColumnMap:
    """Which column of the log holds each field the audit needs."""

    source: str = "source"
    recipient: str = "recipient"
    data: str = "data"
    purpose: str = "purpose"
    date: str = "date"

    def names(self) -> tuple[str, ...]:
        return (self.source, self.recipient, self.data, self.purpose, self.date)


def bundle_digest(policy: Policy) -> str:
    """The bundle's content hash (`lawful bundle hash`, the decision log's `bundle_hash`) as bare hex: what the
    service reports and reloads by, and how Dask workers know which compiled Policy they hold. One hash for
    one bundle everywhere, so a service's answers can be matched to log records."""
    from engine.bundle.hashing import PREFIX, policy_hash

    return policy_hash(policy)[len(PREFIX):]


def bad_log(message: str, file: str, line: int = 0, help_: Optional[str] = None) -> DiagnosticsError:
    """An unreadable log is an error (exit 2) located at the file and line."""
    return DiagnosticsError([error("bad-log", message, Span(file, line, 1), help_)])


def detect_format(path: Path, explicit: Optional[str] = None) -> str:
    if explicit:
        return explicit
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise bad_log(f"cannot tell the format of `{path.name}` from its extension", str(path), 0,
                      "name it .csv, .jsonl or .parquet, or pass --input-format")
    return fmt


# ---- values -------------------------------------------------------------------------------------------


def as_text(value: Any) -> Optional[str]:
    """A cell as text, or None when missing. Readers differ in what they hand over (str, None, NaN, a date,
    a pandas Timestamp); both engines pass every cell through here so they read the same thing."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, dt.datetime):
        if value != value:  # NaT
            return None
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if type(value).__name__ == "datetime64":
        text = str(value)
        return None if text == "NaT" else text
    return str(value)


def parse_day(text: str) -> Optional[dt.date]:
    """`YYYY-MM-DD`, optionally followed by a time (the date part counts); None when not a real date."""
    m = _DATE.match(text)
    if not m:
        return None
    try:
        return dt.date.fromisoformat(m.group(1))
    except ValueError:
        return None


# ---- findings and the summary -------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One row the audit flags: `unlawful` (decided DENY on its date) or `rejected` (could not be judged)."""

    status: str
    file: str
    row: int
    source: Optional[str]
    recipient: Optional[str]
    data: Optional[str]
    purpose: Optional[str]
    date: Optional[str]
    code: str  # unlawful: `deny`; rejected: unknown-name | bad-date | missing-value | malformed-row
    reason: str
    rules: tuple[str, ...] = ()
    help: Optional[str] = None

    def to_dict(self) -> dict:
        return {"status": self.status, "file": self.file, "row": self.row, "source": self.source,
                "recipient": self.recipient, "data": self.data, "purpose": self.purpose, "date": self.date,
                "code": self.code, "reason": self.reason, "rules": list(self.rules), "help": self.help}

    @classmethod
    def from_dict(cls, d: dict) -> "Finding":
        return cls(**{**d, "rules": tuple(d["rules"])})


@dataclass
class Tally:
    """Counts that add up across chunks, files and Dask partitions."""

    rows: int = 0
    lawful: int = 0
    unlawful: int = 0
    rejected: int = 0
    by_pair: Counter = field(default_factory=Counter)  # (source, recipient) as declared -> unlawful rows
    by_reason: Counter = field(default_factory=Counter)  # decision headline -> unlawful rows
    rejected_by_code: Counter = field(default_factory=Counter)

    def add(self, other: "Tally") -> None:
        self.rows += other.rows
        self.lawful += other.lawful
        self.unlawful += other.unlawful
        self.rejected += other.rejected
        self.by_pair.update(other.by_pair)
        self.by_reason.update(other.by_reason)
        self.rejected_by_code.update(other.rejected_by_code)

    def to_dict(self) -> dict:
        order = lambda kv: (-kv[1], kv[0])  # noqa: E731 — most first, then by name: deterministic
        return {
            "rows": self.rows, "lawful": self.lawful, "unlawful": self.unlawful, "rejected": self.rejected,
            "by_pair": [{"source": s, "recipient": r, "count": n} for (s, r), n in sorted(self.by_pair.items(), key=order)],
            "by_reason": [{"reason": k, "count": n} for k, n in sorted(self.by_reason.items(), key=order)],
            "rejected_by_code": [{"code": k, "count": n} for k, n in sorted(self.rejected_by_code.items(), key=order)],
        }


# A memoised judgement: None when lawful, else (status, code, reason, rules, help, (source, recipient)).
Judgement = Optional[tuple]


class Auditor:
    """Judges rows against one Policy, deciding each distinct question once."""

    def __init__(self, policy: Policy, assume: Sequence[str] = (), memo_limit: int = MEMO_LIMIT):
        self.policy = policy
        self.assume = tuple(assume)
        for s in self.assume:  # an unknown statute is an error for the whole audit, not a per-row rejection
            policy.statute_key(s)
        self._memo: dict[tuple, Judgement] = {}
        self.memo_limit = memo_limit
        self.distinct = 0

    def judge(self, values: tuple) -> Judgement:
        """The judgement for one row's five cells (already `as_text`)."""
        hit = self._memo.get(values, False)
        if hit is not False:
            return hit
        result = self._judge(values)
        if len(self._memo) >= self.memo_limit:
            self._memo.clear()
        self._memo[values] = result
        self.distinct += 1
        return result

    def _judge(self, values: tuple) -> Judgement:
        missing = [name for name, v in zip(FIELDS, values) if v is None]
        if missing:
            return ("rejected", "missing-value", f"no value for {', '.join(missing)}", (), None, None)
        source, recipient, data, purpose, date = values
        day = parse_day(date)
        if day is None:
            return ("rejected", "bad-date", f"`{date}` is not a date", (), "dates are YYYY-MM-DD", None)
        policy = self.policy
        try:
            if policy.allowed(source, recipient, data, purpose, on=day, assume=self.assume):
                return None
        except UnknownNameError as exc:
            help_ = f"did you mean {', '.join(f'`{s}`' for s in exc.suggestions)}?" if exc.suggestions else None
            return ("rejected", "unknown-name", f"unknown {exc.kind} `{exc.name}`", (), help_, None)
        d = policy.decide(source, recipient, data, purpose, on=day, assume=self.assume, fixes=False, routes=False)
        rules: list[str] = []
        for rid in [b.restriction.id for b in d.blocks if b.overridden_by is None] + \
                   [c.id for c in d.considered if c.kind != "organisation"]:
            if rid not in rules:
                rules.append(rid)
        reason = d.headline.removeprefix("DENIED — ")
        return ("unlawful", "deny", reason, tuple(rules), None, (d.source, d.recipient))

    def audit_rows(self, rows: Iterable[Sequence], file: str, first_row: int, tally: Tally,
                   emit: Callable[[Finding], None], numbers: Optional[Sequence[int]] = None) -> None:
        """Judge `rows` (each the five raw cells, or a `Malformed`) numbered from `first_row` (or by
        `numbers`), adding to `tally` and passing every unlawful or rejected row to `emit`."""
        judge = self.judge
        for i, raw in enumerate(rows):
            row = numbers[i] if numbers is not None else first_row + i
            tally.rows += 1
            if isinstance(raw, Malformed):
                tally.rejected += 1
                tally.rejected_by_code["malformed-row"] += 1
                emit(Finding("rejected", file, row, None, None, None, None, None, "malformed-row", raw.why))
                continue
            values = tuple(as_text(v) for v in raw)
            j = judge(values)
            if j is None:
                tally.lawful += 1
                continue
            status, code, reason, rules, help_, pair = j
            if status == "unlawful":
                tally.unlawful += 1
                tally.by_pair[pair] += 1
                tally.by_reason[reason] += 1
            else:
                tally.rejected += 1
                tally.rejected_by_code[code] += 1
            emit(Finding(status, file, row, *values, code, reason, rules, help_))


@dataclass(frozen=True)
class Malformed:
    """A record that could not be read into the five fields (a JSON Lines line that is not a JSON object)."""

    why: str


# ---- readers (local engine) ---------------------------------------------------------------------------


OPTIONS = {"source": "--source-column", "recipient": "--recipient-column", "data": "--data-column",
           "purpose": "--purpose-column", "date": "--on-column"}


def _missing_columns(file: str, have: Sequence[str], want: ColumnMap) -> None:
    missing = [(f, c) for f, c in zip(FIELDS, want.names()) if c not in have]
    if missing:
        unused = [c for c in have if c not in want.names()]
        hints = []
        for f, c in missing:
            close = did_you_mean(c, unused)
            hints.append(f"map the {f} with {OPTIONS[f]} COLUMN" + (f" (perhaps `{close[0]}`)" if close else ""))
        raise bad_log(f"`{Path(file).name}` has no column {', '.join(f'`{c}`' for _f, c in missing)} "
                      f"(it has {', '.join(f'`{c}`' for c in have) or 'none'})", file, 1, "; ".join(hints))


# ---- reading text logs (both engines) -----------------------------------------------------------------
# CSV and JSON Lines are read by the code below in both engines: the local engine reads a file from start to
# end, the Dask engine reads byte ranges of it (a partition owns the records whose first line starts in its
# range). A row is bounded while it is read: a line or record longer than `max_row_bytes` is skipped in
# pieces and reported as `malformed-row`, never held whole. So is a line that is not UTF-8 and a line JSON or
# CSV cannot parse; the audit goes on.

MAX_ROW_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_SKIP = 64 * 1024


class _BadRow(Exception):
    """The record being read cannot be a row (too long, not UTF-8): reported as malformed, reading goes on."""


@dataclass
class _Cursor:
    pos: int  # the offset of the next line's first byte
    record_bytes: int = 0  # bytes of the record being read so far


def _text_lines(f: IO[bytes], cur: _Cursor, max_row_bytes: int) -> Iterator[str]:
    """Decoded lines (with their line ends) from `cur.pos` on. Raises _BadRow (which ends this generator:
    the caller starts a new one at `cur.pos`, the next line) for a line that is too long, after skipping the
    rest of it a piece at a time, for a record whose lines together are too long, and for a line that is not
    UTF-8."""
    readline = f.readline
    limit = max_row_bytes + 1
    while True:
        start = cur.pos
        raw = readline(limit)
        if not raw:
            return
        cur.pos += len(raw)
        if len(raw) == limit and not raw.endswith(b"\n"):
            n = len(raw)
            while raw and not raw.endswith(b"\n"):
                raw = readline(_SKIP)
                cur.pos += len(raw)
                n += len(raw)
            raise _BadRow(f"a line of {n:,} bytes, over the limit of {max_row_bytes:,} for one row")
        cur.record_bytes += len(raw)
        if cur.record_bytes > max_row_bytes:
            raise _BadRow(f"a record of more than {max_row_bytes:,} bytes (a quoted field that does not end?)")
        if start == 0 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadRow(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)") from None
        yield text


def _csv_records(f: IO[bytes], cur: _Cursor, stop: float, max_row_bytes: int) -> Iterator[Any]:
    """CSV records (lists of fields; [] for a blank line) or Malformed, for the records whose first line starts
    before `stop`."""
    if csv.field_size_limit() < max_row_bytes:
        csv.field_size_limit(max_row_bytes)  # the row limit is the one that applies
    while cur.pos < stop:
        reader = csv.reader(_text_lines(f, cur, max_row_bytes))
        try:
            while cur.pos < stop:
                cur.record_bytes = 0
                rec = next(reader, None)
                if rec is None:
                    return
                yield rec
            return
        except _BadRow as bad:
            yield Malformed(str(bad))
        except csv.Error as exc:
            yield Malformed(f"not well-formed CSV ({exc})")


def _jsonl_items(f: IO[bytes], cur: _Cursor, stop: float, names: Sequence[str], max_row_bytes: int) -> Iterator[Any]:
    """One item per line starting before `stop`: the five cells, a Malformed, or None (a blank line)."""
    while cur.pos < stop:
        lines = _text_lines(f, cur, max_row_bytes)
        try:
            while cur.pos < stop:
                cur.record_bytes = 0
                line = next(lines, None)
                if line is None:
                    return
                yield parse_json_line(line, names)
            return
        except _BadRow as bad:
            yield Malformed(str(bad))


def _first_line_start(f: IO[bytes], start: int, stop: float) -> Optional[int]:
    """The offset of the first line that starts in [start, stop), or None; reads at most the range."""
    if start == 0:
        return 0
    pos = start - 1  # a newline here or later (before stop - 1) starts a line in the range
    f.seek(pos)
    while pos < stop - 1:
        chunk = f.read(int(min(_SKIP, stop - 1 - pos)))
        if not chunk:
            return None
        i = chunk.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(chunk)
    return None


@dataclass(frozen=True)
class CsvLayout:
    """Where the mapped columns sit in a CSV log's records, and where its data starts."""

    index: tuple[int, ...]
    width: int
    data_start: int


def _open_log(path: Path) -> IO[bytes]:
    """A transfer log opened for reading: a regular file only (opened without blocking and checked on the
    descriptor, so a FIFO or device swapped in after `checked_inputs` is refused rather than waited on)."""
    from engine.base.safeio import NotRegularFile, open_regular

    try:
        fd, _st = open_regular(path)
    except NotRegularFile as exc:
        raise bad_log(f"`{_shown(path)}` is {exc.kind}, not a regular file", str(path))
    return os.fdopen(fd, "rb")


def csv_layout(path: Path, columns: ColumnMap, max_row_bytes: int = MAX_ROW_BYTES) -> CsvLayout:
    """Read a CSV log's header (its first record): a `bad-log` error when there is none, it cannot be read,
    or a mapped column is missing."""
    name = str(path)
    with _open_log(path) as f:
        cur = _Cursor(0)
        header = next(_csv_records(f, cur, float("inf"), max_row_bytes), None)
    if header is None:
        raise bad_log(f"`{path.name}` is empty (no header line)", name, 1)
    if isinstance(header, Malformed):
        raise bad_log(f"the header line of `{path.name}` cannot be read: {header.why}", name, 1,
                      "save the log as UTF-8 CSV with a header line")
    _missing_columns(name, header, columns)
    idx = tuple(header.index(c) for c in columns.names())
    return CsvLayout(idx, max(idx) + 1, cur.pos)


class TextRange:
    """The rows of a CSV or JSON Lines log whose first line starts in [start, stop): iterate for one item per
    *unit* — a record for CSV (blank lines are not records), a line for JSON Lines (None for a blank line) —
    each the five raw cells or a Malformed. `exact` says `start` is known to be where a record starts.
    After iterating, `first` is where the first owned record started (None if none) and `end` where reading
    stopped: the start of the next range's first record when ranges are read one after another."""

    def __init__(self, path: Path, fmt: str, names: Sequence[str], start: int, stop: float, exact: bool,
                 layout: Optional[CsvLayout], max_row_bytes: int = MAX_ROW_BYTES):
        self.path, self.fmt, self.names = path, fmt, tuple(names)
        self.start, self.stop, self.exact, self.layout = start, stop, exact, layout
        self.max_row_bytes = max_row_bytes
        self.first: Optional[int] = None
        self.end: int = start

    def __iter__(self) -> Iterator[Any]:
        with _open_log(self.path) as f:
            first = self.start if self.exact else _first_line_start(f, self.start, self.stop)
            if first is None or first >= self.stop:
                return
            self.first = first
            f.seek(first)
            cur = _Cursor(first)
            try:
                if self.fmt == "jsonl":
                    yield from _jsonl_items(f, cur, self.stop, self.names, self.max_row_bytes)
                    return
                idx, width = self.layout.index, self.layout.width
                for rec in _csv_records(f, cur, self.stop, self.max_row_bytes):
                    if isinstance(rec, Malformed):
                        yield rec
                    elif not rec:
                        continue  # a blank line is not a record
                    # Fields past the header's are ignored; missing trailing fields are empty, and an empty
                    # cell is rejected as a missing value.
                    elif len(rec) >= width:
                        yield tuple(rec[i] for i in idx)
                    else:
                        yield tuple(rec[i] if i < len(rec) else None for i in idx)
            finally:
                self.end = cur.pos


def _chunks(items: Iterable[Any], chunk_rows: int, skip_none: bool) -> Iterator[tuple[list, list[int]]]:
    rows: list = []
    numbers: list[int] = []
    for n, item in enumerate(items, 1):
        if item is None and skip_none:
            continue
        rows.append(item)
        numbers.append(n)
        if len(rows) >= chunk_rows:
            yield rows, numbers
            rows, numbers = [], []
    if rows:
        yield rows, numbers


def read_csv(path: Path, columns: ColumnMap, chunk_rows: int,
             max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[tuple[list, list[int]]]:
    """Chunks of (rows, row numbers) from a CSV file with a header line; row N is the N-th record."""
    layout = csv_layout(path, columns, max_row_bytes)
    rng = TextRange(path, "csv", columns.names(), layout.data_start, float("inf"), True, layout, max_row_bytes)
    yield from _chunks(rng, chunk_rows, skip_none=False)


def parse_json_line(line: str, names: Sequence[str]):
    """One JSON Lines record as the five raw cells, a Malformed, or None for a blank line."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        msg = getattr(exc, "msg", None)
        return Malformed(f"not valid JSON ({msg} at column {exc.colno})" if msg else f"not valid JSON ({exc})")
    except RecursionError:  # e.g. 100,000 nested arrays: a row, not a reason to stop the audit
        return Malformed("not valid JSON (nested too deeply)")
    if not isinstance(obj, dict):
        return Malformed(f"a JSON {type(obj).__name__}, not an object")
    return tuple(obj.get(c) for c in names)


def read_jsonl(path: Path, columns: ColumnMap, chunk_rows: int,
               max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[tuple[list, list[int]]]:
    """Chunks of (rows, line numbers) from a JSON Lines file: one JSON object per line."""
    rng = TextRange(path, "jsonl", columns.names(), 0, float("inf"), True, None, max_row_bytes)
    yield from _chunks(rng, chunk_rows, skip_none=True)


def read_parquet(path: Path, columns: ColumnMap, chunk_rows: int,
                 max_row_bytes: int = MAX_ROW_BYTES) -> Iterator[tuple[list, list[int]]]:
    """Chunks of (rows, row numbers) from a Parquet file, read batch by batch."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise bad_log("reading Parquet needs pyarrow", str(path), 0, "pip install 'lawful[dask]' (or pyarrow)")
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 — pyarrow raises several types for a corrupt file
        raise bad_log(f"`{path.name}` is not a readable Parquet file: {exc}", str(path))
    _missing_columns(str(path), pf.schema_arrow.names, columns)
    n = 0
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(dict.fromkeys(columns.names()))):
        cols = [batch.column(batch.schema.get_field_index(c)).to_pylist() for c in columns.names()]
        rows = list(zip(*cols))
        yield rows, list(range(n + 1, n + len(rows) + 1))
        n += len(rows)


READERS = {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}


# ---- spooling findings (constant memory) -------------------------------------------------------------


class Spool:
    """Findings kept in order in a temporary file that stays in memory while small."""

    def __init__(self, max_memory: int = 8 * 1024 * 1024):
        self._f = tempfile.SpooledTemporaryFile(max_size=max_memory, mode="w+", encoding="utf-8")
        self.count = 0

    def add(self, finding: Finding) -> None:
        self._f.write(json.dumps(finding.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[Finding]:
        self._f.seek(0)
        for line in self._f:
            yield Finding.from_dict(json.loads(line))

    def close(self) -> None:
        self._f.close()


@dataclass
class AuditReport:
    """The outcome of an audit: the tally and the flagged rows (in file and row order)."""

    files: list[str]
    tally: Tally
    unlawful: Spool
    rejected: Spool
    engine: str = "local"
    distinct_questions: Optional[int] = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """Fail closed: a row that could not be judged is not shown lawful either."""
        return self.tally.unlawful > 0 or self.tally.rejected > 0

    def to_dict(self) -> dict:
        """Plain data (held in memory: use `write_json` for very large outputs)."""
        return {"files": self.files, "summary": self.tally.to_dict(),
                "unlawful": [f.to_dict() for f in self.unlawful], "rejected": [f.to_dict() for f in self.rejected]}

    def close(self) -> None:
        self.unlawful.close()
        self.rejected.close()


# ---- progress on a terminal --------------------------------------------------------------------------


class Progress:
    """A one-line progress report on stderr, only when stderr is a terminal, at most a few times a second."""

    def __init__(self, stream: IO[str] = sys.stderr, enabled: Optional[bool] = None):
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, file: str, tally: Tally, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        rate = tally.rows / max(now - self.start, 1e-9)
        self.stream.write(f"\r\033[K{Path(file).name}: {tally.rows:,} rows ({rate:,.0f}/s), "
                          f"{tally.unlawful:,} unlawful, {tally.rejected:,} rejected")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


# ---- the local engine ---------------------------------------------------------------------------------


def checked_inputs(files: Sequence[str | Path], input_format: Optional[str]) -> tuple[list[Path], list[str]]:
    """The log files as paths with their formats; a missing file is a `bad-log` error before any work."""
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():  # follows links; False for a FIFO, a device or a folder
            raise bad_log(f"`{_shown(p)}` does not exist or is not a regular file", str(p))
    return paths, [detect_format(p, input_format) for p in paths]


def audit_local(policy: Policy, files: Sequence[str | Path], columns: ColumnMap = ColumnMap(),
                input_format: Optional[str] = None, assume: Sequence[str] = (),
                chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Optional[Progress] = None,
                max_row_bytes: int = MAX_ROW_BYTES) -> AuditReport:
    """Audit transfer logs on this machine, streaming each file in chunks of `chunk_rows` rows. A CSV or JSON
    Lines row longer than `max_row_bytes` is rejected as malformed without being held in memory."""
    started = time.monotonic()
    paths, formats = checked_inputs(files, input_format)
    auditor = Auditor(policy, assume)
    tally = Tally()
    report = AuditReport([str(p) for p in paths], tally, Spool(), Spool())

    def emit(f: Finding) -> None:
        (report.unlawful if f.status == "unlawful" else report.rejected).add(f)

    for p, fmt in zip(paths, formats):
        for rows, numbers in READERS[fmt](p, columns, chunk_rows, max_row_bytes):
            auditor.audit_rows(rows, str(p), 0, tally, emit, numbers)
            if progress:
                progress.update(str(p), tally)
    if progress:
        progress.done()
    report.distinct_questions = auditor.distinct
    report.seconds = time.monotonic() - started
    return report


# ---- rendering ----------------------------------------------------------------------------------------


CSV_FIELDS = ("status", "file", "row", "source", "recipient", "data", "purpose", "date", "code", "reason", "rules",
              "help")


def write_json(report: AuditReport, out: IO[str]) -> None:
    """The report as one JSON document, streamed finding by finding."""
    out.write('{\n  "files": ' + json.dumps(report.files, ensure_ascii=False))
    out.write(',\n  "summary": ' + json.dumps(report.tally.to_dict(), ensure_ascii=False))
    for key, spool in (("unlawful", report.unlawful), ("rejected", report.rejected)):
        out.write(f',\n  "{key}": [')
        for i, f in enumerate(spool):
            out.write(("," if i else "") + "\n    " + json.dumps(f.to_dict(), ensure_ascii=False))
        out.write("\n  ]" if spool.count else "]")
    out.write("\n}\n")


def write_csv(report: AuditReport, out: IO[str]) -> None:
    """Every flagged row (unlawful, then rejected) as CSV; the summary is not part of the table. Cells that a
    spreadsheet would run as formulas are written as text (report.csv_cell)."""
    from engine.render.report import csv_cell

    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for spool in (report.unlawful, report.rejected):
        for f in spool:
            d = f.to_dict()
            d["rules"] = " ".join(f.rules)
            w.writerow([csv_cell("" if d[k] is None else d[k]) for k in CSV_FIELDS])


def _shown(value: object) -> str:
    """A value read from a log, made safe for a terminal: control characters (an escape sequence, a line
    break inside a quoted field) and bidirectional controls are shown as escapes, never written raw."""
    from engine.base.text import escape

    return escape(str(value))


def summary_text(report: AuditReport) -> str:
    t = report.tally
    lines = [f"{t.rows:,} row{'s' if t.rows != 1 else ''} in {len(report.files)} file{'s' if len(report.files) != 1 else ''}: "
             f"{t.lawful:,} lawful, {t.unlawful:,} unlawful, {t.rejected:,} rejected"]
    d = t.to_dict()
    if d["by_pair"]:
        lines.append("unlawful by organisation pair:")
        lines += [f"  {p['count']:>10,}  {_shown(p['source'])} → {_shown(p['recipient'])}" for p in d["by_pair"]]
    if d["by_reason"]:
        lines.append("unlawful by reason:")
        lines += [f"  {r['count']:>10,}  {_shown(r['reason'])}" for r in d["by_reason"]]
    if d["rejected_by_code"]:
        lines.append("rejected by code:")
        lines += [f"  {r['count']:>10,}  {r['code']}" for r in d["rejected_by_code"]]
    return "\n".join(lines)


def write_text(report: AuditReport, out: IO[str], style: Callable[[str, str], str] = lambda s, _r: s) -> None:
    """Every flagged row, then the summary, for a person at a terminal.

    Rows are written `FILE row N`, never `FILE:N`: row N of a CSV is on line N+1 (the header), and `FILE:N`
    reads as a line number."""
    for f in report.unlawful:
        out.write(f"{style('UNLAWFUL', 'deny')}  {_shown(f.file)} row {f.row}  {_shown(f.source)} → "
                  f"{_shown(f.recipient)}  {_shown(f.data)} for {_shown(f.purpose)} on {_shown(f.date)}\n"
                  f"          {_shown(f.reason)}\n")
    for f in report.rejected:
        out.write(f"{style('REJECTED', 'warning')}  {_shown(f.file)} row {f.row}  {f.code}: {_shown(f.reason)}"
                  f"{'  (' + _shown(f.help) + ')' if f.help else ''}\n")
    if report.unlawful.count or report.rejected.count:
        out.write("\n")
    out.write(summary_text(report) + "\n")


def render(report: AuditReport, fmt: str, out: IO[str], style=lambda s, _r: s) -> None:
    {"json": write_json, "csv": write_csv}.get(fmt, lambda r, o: write_text(r, o, style))(report, out)


def json_text(report: AuditReport) -> str:
    buf = io.StringIO()
    write_json(report, buf)
    return buf.getvalue()
