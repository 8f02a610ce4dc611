"""What a command returns, and the helpers every command shares (dates, colour, failing closed).

A command is a plain function: it takes plain arguments (strings, paths, numbers) and returns a `Result`: the text
(or bytes) written to standard output and to standard error, in the order written, and the exit code. It never
prints and never exits, so it can be called from a test, a script or another front end; `cli.py` only declares
the options and writes the Result out.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from dataclasses import field

from engine.base.records import record
from io import StringIO
from typing import IO, TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

from engine.errors import DiagnosticsError, RequestError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from engine.policy.facade import Policy

EXIT_OK, EXIT_DENY, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130

# A chunk of output: text, bytes (a picture), or a writer for a body too large to hold (an audit report),
# called with the standard output stream when the Result is written out.
Writer = Callable[[IO[str]], None]
Chunk = Union[str, bytes, Writer]


@record
class Result:
    """The outcome of one command: what it writes, where, in order, and its exit code."""

    exit_code: int = EXIT_OK
    writes: list[tuple[bool, Chunk]] = field(default_factory=list)  # (to standard error?, chunk)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def out(self, text: str | bytes, nl: bool = True) -> "Result":
        """Write to standard output; text gets a newline unless `nl` is false (bytes never do)."""
        self.writes.append((False, text + "\n" if nl and isinstance(text, str) else text))
        return self

    def err(self, text: str, nl: bool = True) -> "Result":
        """Write to standard error."""
        self.writes.append((True, text + "\n" if nl else text))
        return self

    def stream(self, writer: Writer) -> "Result":
        """Write a large body to standard output when the Result is written out, without holding it."""
        self.writes.append((False, writer))
        return self

    def exit(self, code: int) -> "Result":
        self.exit_code = code
        return self

    def fail(self, message: str, help_: Optional[str] = None, code: str = "error") -> "Result":
        """A one-line diagnostic with a stable code (and a hint) on standard error, exit 2."""
        from engine.base.text import escape

        # Messages quote what was typed or read (a name, a date, a path): escaped, never printed raw.
        self.err(f"error[{code}]: {escape(message)}")
        if help_:
            self.err(f"  help: {escape(help_)}")
        return self.exit(EXIT_ERROR)

    @property
    def output(self) -> str | bytes:
        """Everything written to standard output (writers are run into a string)."""
        parts: list[str | bytes] = []
        for to_err, chunk in self.writes:
            if to_err:
                continue
            if callable(chunk):
                buf = StringIO()
                chunk(buf)
                parts.append(buf.getvalue())
            else:
                parts.append(chunk)
        if parts and all(isinstance(p, bytes) for p in parts):
            return b"".join(p for p in parts if isinstance(p, bytes))
        return "".join(p.decode("utf-8") if isinstance(p, bytes) else p for p in parts)

    @property
    def stderr(self) -> str:
        return "".join(c for to_err, c in self.writes if to_err and isinstance(c, str))

    def close(self) -> None:
        """Release what the output's writers hold (an audit report's spooled rows)."""
        while self.on_close:
            self.on_close.pop()()


F = TypeVar("F", bound=Callable[..., Result])


def json_errors(items: list[dict[str, Any]]) -> str:
    """`{"errors": [...]}` and a newline: a command's errors as the HTTP service writes them. Messages quote
    what was typed or read, so they are escaped as on a terminal (JSON would pass a bidi override raw)."""
    from engine.base.text import escape
    from engine.render.report import error_envelope

    safe = [{k: escape(v) if k in ("message", "help") and isinstance(v, str) else v for k, v in item.items()}
            for item in items]
    return error_envelope(safe) + "\n"


def _asks_json(fn: Callable[..., Result], args: tuple, kwargs: dict) -> bool:
    """Was the command called with `fmt="json"` (by keyword or position)? Looked at only on the error path."""
    import inspect

    try:
        return inspect.signature(fn).bind_partial(*args, **kwargs).arguments.get("fmt") == "json"
    except TypeError:
        return False


def command(fn: F) -> F:
    """Make a command fail closed: the engine's errors become diagnostics and exit 2, and anything unexpected
    is `internal-error` (exit 2) — never a traceback, never an ALLOW. Called with `fmt="json"`, the errors
    come on standard output as `{"errors": [{"code", "message", "help", …}]}`, the service's shape."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            return Result(EXIT_INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 — fail closed: never a traceback, never an ALLOW
            return _failure(exc, _asks_json(fn, args, kwargs))

    return wrapper  # type: ignore[return-value]


def _failure(exc: Exception, as_json: bool) -> Result:
    from engine.render.report import error_item

    if isinstance(exc, DiagnosticsError):
        if as_json:
            return Result(EXIT_ERROR).out(json_errors([error_item(d) for d in exc.diagnostics]), nl=False)
        from engine.render.diagnostics import render

        return Result(EXIT_ERROR).err(render(exc.diagnostics, exc.sources))
    extra: dict[str, Any] = {}
    if isinstance(exc, UnknownNameError):
        d = exc.to_diagnostic()
        code, message, help_ = d.code, d.message, d.help
        extra = {"kind": exc.kind, "name": exc.name, "suggestions": list(exc.suggestions)}
    elif isinstance(exc, RequestError):
        code, message, help_ = exc.code, exc.message, exc.help
    else:
        code, message, help_ = ("internal-error",
                                f"the engine failed unexpectedly ({type(exc).__name__}: {exc}); no decision was made",
                                "this is a bug in lawful; please report it with the command you ran")
    if as_json:
        return Result(EXIT_ERROR).out(json_errors([{"code": code, "message": message, "help": help_, **extra}]),
                                      nl=False)
    return Result().fail(message, help_, code)


def parse_date(value: Optional[str]) -> Optional[dt.date]:
    """A YYYY-MM-DD date from the command line, or a `bad-date` refusal."""
    if value is None:
        return None
    try:
        # YYYY-MM-DD only, as the language, the service and audit read dates: Python 3.11's fromisoformat would
        # also take `20050623` or `2005-W25-4`, so the same command would mean different things on 3.10.
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise RequestError("bad-date", f"`{value}` is not a date",
                           "write dates as YYYY-MM-DD, for example 2005-06-23") from None


# ANSI styles for a terminal, the same bytes as click.style gives for these roles (a test compares them).
_ANSI = {"allow": "\033[32m\033[1m", "deny": "\033[31m\033[1m", "dim": "\033[2m", "bold": "\033[1m",
         "warning": "\033[33m\033[1m"}
_RESET = "\033[0m"


def plain(text: str, _role: str) -> str:
    return text


def coloured(text: str, role: str) -> str:
    return _ANSI.get(role, "") + text + _RESET


def colour_wanted() -> bool:
    """Colour the answer? Only on a terminal, and never under NO_COLOR (https://no-color.org)."""
    import sys

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def styler(colour: bool) -> Callable[[str, str], str]:
    """The (text, role) -> text function the renderers take: colour only when the caller asks (a terminal)."""
    return coloured if colour else plain


def load(bundle: Optional[str | os.PathLike[str]]) -> "Policy":
    """The bundle's compiled policy (imported here, so that a command that fails on its arguments never loads it)."""
    from engine.policy.load import load as load_policy

    return load_policy(bundle)
