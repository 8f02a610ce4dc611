"""The review tools' configuration: `lawful.toml` at the bundle root, or `[tool.lawful]` in the bundle root's
`pyproject.toml` (lawful.toml wins when both exist), and inline `# lawful: ignore[code] reason` comments.

```toml
as-of = 2005-06-23            # the date check judges expiry and review on (a historical bundle); tests without `on`
fail-level = "warning"        # what makes `lawful check` exit 1: error (default), warning or note
ignore = ["isolated-organisation"]          # codes never reported

[severity]                    # a finding's level: error, warning, note, or off
no-review-date = "error"

[per-path-ignores]            # glob (relative to the bundle root) -> codes not reported in those files
"policies/proposed.policy" = ["statute-proposed"]
```

Only findings (warning and note codes, `ADJUSTABLE`) can be re-levelled or ignored: an error means the bundle
cannot be read or decided on as written, so no setting or comment can hide it (fail closed). A setting the
engine does not know, a code that does not exist, or a malformed file is `bad-config` and the command does
not run (exit 2). An inline ignore applies to the diagnostics on its own line, or — written on a block's
first line or in the comment lines right above it — to every diagnostic inside that block. It must give a
reason; one that names an unknown or error code, or gives no reason, is `bad-ignore`; one that silences
nothing is `unused-ignore`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from engine.base.diagnostics import ADJUSTABLE, CODES, Diagnostic, Severity, did_you_mean, error, warning
from engine.base.source import SourceFile, Span
from engine.errors import DiagnosticsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

CONFIG_NAME = "lawful.toml"
PYPROJECT = "pyproject.toml"
MAX_CONFIG_BYTES = 1024 * 1024

# SARIF's levels; `info` is the engine's own name for a note.
LEVELS = {"error": Severity.ERROR, "warning": Severity.WARNING, "note": Severity.INFO, "info": Severity.INFO}
RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
FAIL_LEVELS = ("error", "warning", "note")

# Diagnostics that mean there was no bundle to judge: the command could not run (exit 2), whatever the level.
CANNOT_RUN = frozenset({"bad-bundle", "missing-register", "missing-policies", "unreadable-path", "bad-config"})

EXIT_CLEAN, EXIT_FINDINGS, EXIT_COULD_NOT_RUN = 0, 1, 2

_KEYS = {"as-of", "fail-level", "ignore", "severity", "per-path-ignores"}


@dataclass(frozen=True)
class Config:
    """The settings of one bundle (all optional)."""

    as_of: Optional[dt.date] = None
    fail_level: Optional[str] = None
    ignore: frozenset[str] = frozenset()
    severity: Mapping[str, Optional[Severity]] = field(default_factory=dict)  # None: off
    per_path_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    path: Optional[str] = None  # the file it was read from, for messages

    def ignored(self, code: str, file: Optional[str]) -> bool:
        if code in self.ignore or (code in self.severity and self.severity[code] is None):
            return True
        if file:
            return any(code in codes and fnmatch.fnmatchcase(file, pattern) for pattern, codes in self.per_path_ignores)
        return False


NO_CONFIG = Config()


def _line_of(text: str, key: str) -> int:
    """The line a key is written on (tomllib gives no positions): the first line that starts with it."""
    pattern = re.compile(r"^\s*(?:\"?)" + re.escape(key) + r"(?:\"?)\s*=", re.M)
    mt = pattern.search(text)
    return text.count("\n", 0, mt.start()) + 1 if mt else 0


class _Reader:
    def __init__(self, name: str, text: str, prefix: str):
        self.name, self.text, self.prefix = name, text, prefix
        self.problems: list[Diagnostic] = []

    def fail(self, key: str, message: str, help_: Optional[str] = None) -> None:
        line = _line_of(self.text, key.split(".")[-1])
        where = Span(self.name, line, 1) if line else Span(self.name, 0, 0)
        self.problems.append(error("bad-config", f"`{self.prefix}{key}` {message}", where, help_))

    def code(self, key: str, value: Any, what: str = "code") -> Optional[str]:
        if not isinstance(value, str) or value not in CODES:
            sugg = did_you_mean(str(value), CODES) if isinstance(value, str) else []
            self.fail(key, f"names `{value}`, which is not a diagnostic {what}",
                      f"did you mean {', '.join(sugg)}?" if sugg
                      else "`lawful check --explain CODE` lists what each means")
            return None
        if value not in ADJUSTABLE:
            self.fail(key, f"names `{value}`, an error: errors cannot be ignored or re-levelled",
                      "fix the bundle instead; only warnings and notes can be configured")
            return None
        return value

    def codes(self, key: str, value: Any) -> frozenset[str]:
        if not isinstance(value, list):
            self.fail(key, "must be a list of diagnostic codes", 'for example ["isolated-organisation"]')
            return frozenset()
        return frozenset(c for c in (self.code(key, v) for v in value) if c)


def parse_config(text: str, name: str = CONFIG_NAME, table: Optional[str] = None) -> Config:
    """Read a configuration's text (the whole `lawful.toml`, or the `[tool.lawful]` table of a pyproject.toml
    when `table` is "tool.lawful"). Raises DiagnosticsError (`bad-config`) on anything it does not accept."""
    source = SourceFile(name, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or _tomli_line(str(exc))
        raise DiagnosticsError([error("bad-config", f"`{name}` is not valid TOML: {_first_clause(str(exc))}",
                                      Span(name, line or 0, getattr(exc, "colno", None) or 1 if line else 0),
                                      "see https://toml.io for the syntax")], {name: source}) from None
    prefix = ""
    if table:
        for part in table.split("."):
            data = data.get(part, {}) if isinstance(data, dict) else {}
        prefix = table + "."
        if not isinstance(data, dict):
            raise DiagnosticsError([error("bad-config", f"`{table}` in `{name}` must be a table", Span(name, 0, 0))],
                                   {name: source})
    r = _Reader(name, text, prefix)
    for key in sorted(set(data) - _KEYS):
        sugg = did_you_mean(key, _KEYS)
        r.fail(key, "is not a setting lawful knows",
               f"did you mean {', '.join(sugg)}?" if sugg else f"settings: {', '.join(sorted(_KEYS))}")
    as_of = data.get("as-of")
    if isinstance(as_of, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", as_of):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            pass
    if as_of is not None and (not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime)):
        r.fail("as-of", f"must be a date (YYYY-MM-DD), not `{as_of}`", "for example: as-of = 2005-06-23")
        as_of = None
    fail_level = data.get("fail-level")
    if fail_level is not None and fail_level not in FAIL_LEVELS:
        r.fail("fail-level", f"must be one of {', '.join(FAIL_LEVELS)}, not `{fail_level}`")
        fail_level = None
    ignore = r.codes("ignore", data.get("ignore", []))
    severity: dict[str, Optional[Severity]] = {}
    sev = data.get("severity", {})
    if not isinstance(sev, dict):
        r.fail("severity", "must be a table of code = level")
    else:
        for code, level in sev.items():
            c = r.code(f"severity.{code}", code)
            if c is None:
                continue
            if level == "off":
                severity[c] = None
            elif level in LEVELS:
                severity[c] = LEVELS[level]
            else:
                r.fail(f"severity.{code}", f"must be error, warning, note or off, not `{level}`")
    per_path: list[tuple[str, frozenset[str]]] = []
    ppi = data.get("per-path-ignores", {})
    if not isinstance(ppi, dict):
        r.fail("per-path-ignores", "must be a table of glob = [codes]")
    else:
        for pattern, codes in ppi.items():
            per_path.append((pattern, r.codes(f"per-path-ignores.{pattern}", codes)))
    if r.problems:
        raise DiagnosticsError(r.problems, {name: source})
    return Config(as_of, fail_level, ignore, severity, tuple(per_path), name)


def _tomli_line(message: str) -> Optional[int]:
    mt = re.search(r"line (\d+)", message)
    return int(mt.group(1)) if mt else None


def _first_clause(message: str) -> str:
    return message.split(" (at ")[0].rstrip(".").lower()


def load_config(root: Optional[Path]) -> Config:
    """The configuration of the bundle at `root`: its lawful.toml, else `[tool.lawful]` in its pyproject.toml,
    else none. Raises DiagnosticsError (`bad-config`) when the file cannot be read or is not accepted."""
    if root is None:
        return NO_CONFIG
    for name, table in ((CONFIG_NAME, None), (PYPROJECT, "tool.lawful")):
        path = Path(root) / name
        try:
            if not path.is_file():
                continue
        except OSError:
            # The folder itself cannot be searched: there is no bundle to judge either, and reading it says so
            # (the command cannot run, exit 2); no configuration is taken as read.
            return NO_CONFIG
        try:
            raw = path.read_bytes()[: MAX_CONFIG_BYTES + 1]
            if len(raw) > MAX_CONFIG_BYTES:
                raise DiagnosticsError([error("bad-config", f"`{name}` is over {MAX_CONFIG_BYTES:,} bytes",
                                              Span(name, 0, 0))])
            text = raw.decode("utf-8")
        except OSError as exc:
            raise DiagnosticsError([error("bad-config", f"cannot read `{name}`: {exc.strerror or exc}",
                                          Span(name, 0, 0))]) from None
        except UnicodeDecodeError:
            raise DiagnosticsError([error("bad-config", f"`{name}` is not valid UTF-8", Span(name, 0, 0),
                                          "save it as UTF-8")]) from None
        if table and not _has_table(text):
            continue  # a pyproject.toml without [tool.lawful]
        return parse_config(text, name, table)
    return NO_CONFIG


def _has_table(text: str) -> bool:
    """Does a pyproject.toml hold [tool.lawful]? One that does not parse counts when it seems to (fail closed:
    a broken configuration is reported, not skipped)."""
    try:
        tool = tomllib.loads(text).get("tool", {})
        return isinstance(tool, dict) and "lawful" in tool
    except tomllib.TOMLDecodeError:
        return re.search(r"^\s*\[\s*tool\s*\.\s*lawful", text, re.M) is not None


# ---- applying it ---------------------------------------------------------------------------------------------


_IGNORE = re.compile(r"#\s*lawful:\s*ignore\[([^\]]*)\]\s*(.*)$")


@dataclass
class _Ignore:
    file: str
    line: int  # of the comment
    column: int
    codes: tuple[str, ...]
    reason: str
    lines: tuple[int, int]  # the lines it covers (first, last)
    used: set = field(default_factory=set)


def _comments(text: str) -> Iterable[tuple[int, int, str, bool]]:
    from engine.review.fmt import scan_comments

    for c in scan_comments(text):
        yield c.line, c.column, c.text, c.full_line


def _blocks(files: Iterable[Any]) -> dict[str, list[tuple[int, int]]]:
    """(first line, last line) of every declaration, per file."""
    out: dict[str, list[tuple[int, int]]] = {}
    for f in files:
        for item in f.items:
            span = getattr(item, "span", None)
            if span is not None and span.line > 0:
                out.setdefault(f.path, []).append((span.line, max(span.end_line, span.line)))
    return out


def inline_ignores(sources: Mapping[str, SourceFile],
                   files: Iterable[Any] = ()) -> tuple[list[_Ignore], list[Diagnostic]]:
    """Every `# lawful: ignore[code, …] reason` comment with the lines it covers, and the problems with them."""
    blocks = _blocks(files)
    found: list[_Ignore] = []
    problems: list[Diagnostic] = []
    for name, src in sorted(sources.items()):
        if "lawful:" not in src.text:
            continue
        lines = src.text.split("\n")
        for line, column, text, full_line in _comments(src.text):
            mt = _IGNORE.search(text)
            if mt is None:
                continue
            span = Span(name, line, column + mt.start(), line, column + len(text))
            codes = tuple(c.strip() for c in mt.group(1).split(",") if c.strip())
            reason = mt.group(2).strip()
            good = []
            for c in codes:
                if c not in CODES:
                    sugg = did_you_mean(c, CODES)
                    problems.append(warning("bad-ignore", f"`lawful: ignore[{c}]` names no diagnostic code", span,
                                            f"did you mean {', '.join(sugg)}?" if sugg
                                            else "name a warning or note code"))
                elif c not in ADJUSTABLE:
                    problems.append(warning("bad-ignore", f"`lawful: ignore[{c}]` cannot silence an error", span,
                                            "errors mean the bundle cannot be read or decided on as written: fix it"))
                else:
                    good.append(c)
            if not codes:
                problems.append(warning("bad-ignore", "`lawful: ignore[]` names no code", span,
                                        "write `# lawful: ignore[CODE] why it does not apply here`"))
            if codes and not reason:
                problems.append(warning("bad-ignore", f"`lawful: ignore[{', '.join(codes)}]` gives no reason", span,
                                        "say why the finding does not apply, after the brackets: a reviewer will ask"))
            if not good:
                continue
            covered = (line, line)
            # On a block's first line, or in the run of full-line comments right above it: the whole block.
            target = line
            if full_line:
                nxt = line
                while nxt < len(lines) and lines[nxt].lstrip().startswith("#"):
                    nxt += 1
                target = nxt + 1
            for first, last in blocks.get(name, []):
                if first == target:
                    covered = (first, last)
                    break
            found.append(_Ignore(name, line, column, tuple(good), reason, covered))
    return found, problems


def apply(diags: Iterable[Diagnostic], config: Config, sources: Optional[Mapping[str, SourceFile]] = None,
          files: Iterable[Any] = (), complete: bool = True) -> list[Diagnostic]:
    """The diagnostics as configured: errors untouched; findings ignored (by the config, by path, or inline)
    or given the configured level; plus `bad-ignore` and `unused-ignore` about the inline comments (the latter
    only when every check and lint ran, `complete`: with errors in the bundle the lint does not run, and an
    ignore of a lint finding is not unused for that)."""
    ignores, problems = inline_ignores(sources or {}, files)
    out: list[Diagnostic] = []
    for d in list(diags) + problems:
        if d.severity is Severity.ERROR:  # an error is never ignored or re-levelled, whatever its code
            out.append(d)
            continue
        file = d.span.file if d.span else None
        if config.ignored(d.code, file):
            continue
        hit = None
        if d.span is not None and d.span.line > 0 and d.code not in ("bad-ignore",):
            hit = next((i for i in ignores if i.file == d.span.file and d.code in i.codes
                        and i.lines[0] <= d.span.line <= i.lines[1]), None)
        if hit is not None:
            hit.used.add(d.code)
            continue
        level = config.severity.get(d.code) or d.severity  # (None, "off", was filtered out by `ignored`)
        out.append(dataclasses.replace(d, severity=level) if level is not d.severity else d)
    for i in ignores if complete else ():
        unused = [c for c in i.codes if c not in i.used]
        if unused and not config.ignored("unused-ignore", i.file):
            d = Diagnostic("unused-ignore", f"`lawful: ignore[{', '.join(unused)}]` silences nothing here",
                           Span(i.file, i.line, i.column), Severity.INFO,
                           "remove it, or move it to the line or block of the finding it is about")
            level = config.severity.get(d.code) or d.severity
            out.append(dataclasses.replace(d, severity=level) if level is not d.severity else d)
    return sorted(out, key=Diagnostic.sort_key)


def exit_code(diags: Iterable[Diagnostic], fail_level: str = "error") -> int:
    """0 clean, 1 findings at or above `fail_level`, 2 when there was no bundle to judge (CANNOT_RUN)."""
    diags = list(diags)
    if any(d.code in CANNOT_RUN for d in diags):
        return EXIT_COULD_NOT_RUN
    bar = RANK[LEVELS[fail_level]]
    return EXIT_FINDINGS if any(RANK[d.severity] <= bar for d in diags) else EXIT_CLEAN


def fail_level_of(asked: Optional[str], strict: bool, config: Config) -> str:
    """--fail-level, else --strict (warning), else the configuration's, else error."""
    if asked:
        return asked
    if strict:
        return "warning"
    return config.fail_level or "error"
