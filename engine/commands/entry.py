"""The `can-share` console script: the plain forms of its command line answered without importing typer.

Importing typer (0.29) and its pydantic coercion costs more than the whole answer from a warm cache (issue 18,
benchmarks/RESULTS.md), so the script reads the command line itself when it is one of the plain forms and
hands anything else to typer (`cli.can_share_main`): help, every usage error, `--`, joined short options
(`-vp`, `-pX`), empty values or values that begin with `-`, shell completion. What it reads is not a second
declaration: the spellings, kinds, defaults, choices and environment variables come from
engine/commands/can_share_args.py, generated from `can_share`'s typer declaration in cli.py (a test fails when
it is stale), and tests/test_fast_entry.py checks that every command line read here gives the command exactly
the arguments typer gives it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from engine.commands.result import Result

Param = tuple  # (name, positional?, spellings, type, choices, repeatable?, default, envvar): can_share_args.py


def plain_arguments(argv: Sequence[str], params: Sequence[Param],
                    environ: Mapping[str, str]) -> Optional[dict[str, Any]]:
    """The keyword arguments typer would pass for `argv`, or None when it is not a plain form (typer decides).

    Plain: each positional a non-empty word not starting with `-`, in the declared number; each option spelt
    exactly as declared, a flag alone, a value option followed by its value or (long spellings) `--name=value`,
    the value non-empty, not starting with `-`, one of the choices where there are choices. A repeated
    one-value option keeps its last value and a repeatable one collects them, as click does."""
    by_spelling = {s: p for p in params if not p[1] for s in p[2]}
    positionals = [p for p in params if p[1]]
    given: dict[str, Any] = {}
    words: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("-"):
            if not token:
                return None
            words.append(token)
            continue
        spelling, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        param = by_spelling.get(spelling)
        if param is None:
            return None
        name, _pos, _opts, kind, choices, repeatable, _default, _env = param
        if kind == "flag":
            if eq:
                return None
            given[name] = True
            continue
        if not eq:
            if i >= len(argv):
                return None
            value = argv[i]
            i += 1
        converted = _convert(value, kind, choices)
        if converted is None:
            return None
        if repeatable:
            given.setdefault(name, []).append(converted)
        else:
            given[name] = converted
    if len(words) != len(positionals):
        return None
    kwargs: dict[str, Any] = {p[0]: word for p, word in zip(positionals, words)}
    for name, positional, _opts, kind, choices, _rep, default, envvar in params:
        if positional:
            continue
        if name in given:
            kwargs[name] = given[name]
        elif envvar and environ.get(envvar):  # click ignores an empty variable
            converted = _convert(environ[envvar], kind, choices)
            if converted is None:
                return None
            kwargs[name] = converted
        else:
            kwargs[name] = list(default) if isinstance(default, list) else default
    return kwargs


def _convert(value: str, kind: str, choices: Sequence[str]) -> Any:
    if not value or value.startswith("-") or (kind == "choice" and value not in choices):
        return None
    if kind == "path":
        from pathlib import Path

        return Path(value)
    return value


def can_share_main() -> None:
    """`can-share SOURCE RECIPIENT DATA [OPTIONS]`: the same answers, output and exit codes as `lawful can-share`."""
    import gc

    # One question, then the process ends: the cyclic collector would only walk the engine's classes and modules
    # as they are created (~5% of the command's CPU time, benchmarks/RESULTS.md). Reference counting still frees
    # everything that is not a cycle; loading a bundle from text pauses the collector the same way.
    gc.disable()
    kwargs = None
    if "_CAN_SHARE_COMPLETE" not in os.environ:  # shell completion is typer's
        from engine.commands.can_share_args import PARAMS

        kwargs = plain_arguments(sys.argv[1:], PARAMS, os.environ)
    if kwargs is None:
        gc.enable()
        from cli import can_share_main as parsed_by_typer

        parsed_by_typer()
        return
    from engine.commands import decide
    from engine.commands.result import colour_wanted

    code = write_out(decide.can_share(**kwargs, colour=colour_wanted()))
    global _answered
    _answered = True
    # The answer is written: the interpreter's last collection, at exit, need not walk every object the engine
    # made (~7% of the command's CPU time). engine.policy.load freezes a large load the same way.
    gc.freeze()
    sys.exit(code)


def main() -> None:
    """The console script: `can_share_main`, and once a plain command line's answer is written, leave without the
    interpreter's finalisation (tearing down every module and object the engine made: ~2% of the command's CPU
    time, benchmarks/NOTES.md) — but only when it has nothing else to do (`_nothing_left_at_exit`). Tests and
    tools call `can_share_main`, which always ends with SystemExit."""
    try:
        can_share_main()
    except SystemExit as done:
        if _answered and isinstance(done.code, int) and _nothing_left_at_exit():
            os._exit(done.code)
        raise


_answered = False  # set once the fast path has written its answer (typer's path exits the usual way)


def _nothing_left_at_exit() -> bool:
    """True when finalising the interpreter would only free memory: no `atexit` callback (logging's, a
    `weakref.finalize`'s, a temporary folder's, coverage's…), no thread but this one and no thread exit hook, no
    tracer or profiler that writes its results at exit, and standard output and error flushed."""
    import atexit

    count = getattr(atexit, "_ncallbacks", None)  # CPython's; without it, exit the usual way
    if count is None or count() != 0 or sys.gettrace() is not None or sys.getprofile() is not None:
        return False
    threading = sys.modules.get("threading")
    if threading is not None and (threading.active_count() != 1 or getattr(threading, "_threading_atexits", True)):
        return False
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return False
    return True


def write_out(result: "Result") -> int:
    """Write a Result out in order, as cli.py's `_emit` does (without click), and return its exit code."""
    try:
        for to_err, chunk in result.writes:
            stream = sys.stderr if to_err else sys.stdout
            if callable(chunk):
                chunk(sys.stdout)
            elif isinstance(chunk, bytes):
                stream.flush()
                stream.buffer.write(chunk)
            else:
                stream.write(chunk)
            stream.flush()
    except BrokenPipeError:  # `can-share … | head`: the reader left; the exit code still tells
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        result.close()
    return result.exit_code
