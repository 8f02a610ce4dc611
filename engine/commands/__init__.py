"""Each CLI command as a plain function over the library that returns a `Result` (what to write to standard
output and standard error, and the exit code); cli.py only declares the commands and writes the Result out.

One module per group: decide (can-share), reach (recipients, sources, flows, blocked, graph), review (check,
fmt, test, diff), ops (serve, log verify, audit), bundle (bundle hash), about (version). Nothing here imports
typer or click, and each function imports the engine modules it needs when it runs, so that a command starts
fast and `--help` loads no engine at all.
"""

from engine.commands.result import EXIT_DENY, EXIT_ERROR, EXIT_OK, Result

__all__ = ["EXIT_DENY", "EXIT_ERROR", "EXIT_OK", "Result"]
