"""`version`: the engine's version."""

from __future__ import annotations

from engine.commands.result import EXIT_OK, Result


def version() -> Result:
    from engine.base.version import __version__

    return Result(EXIT_OK).out(__version__)
