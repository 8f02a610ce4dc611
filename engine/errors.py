"""Every error the engine raises on purpose, in one place (httpx-style: one documented hierarchy).

    LawfulError                      the base: catch it to catch everything the engine means to raise
    ├── DiagnosticsError             input could not be loaded; `.diagnostics` says why, located, with codes
    │   └── FormatError              `fmt` refuses a file it cannot format without changing its meaning
    ├── UnknownNameError             a question names something the bundle does not declare (`.suggestions`)
    ├── RequestError                 a question refused as asked (a limit, a missing option); `.code`, `.help`
    ├── AuditLogError                the decision log cannot be written, or its last record is not valid
    └── ServiceError                 `lawful serve` cannot start (address in use) or a load passed its deadline

The CLI maps each to exit 2 and a diagnostic; the service to a JSON error envelope.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from engine.base.diagnostics import Diagnostic, Severity, error
from engine.base.source import SourceFile
from engine.base.text import escape

__all__ = ["AuditLogError", "DiagnosticsError", "FormatError", "LawfulError", "RequestError", "ServiceError",
           "UnknownNameError"]


class LawfulError(Exception):
    """Base of every error the engine raises on purpose."""


class DiagnosticsError(LawfulError):
    """The input could not be loaded; `diagnostics` says why, each with a location and a stable code."""

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, SourceFile] | None = None):
        self.diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        self.sources = dict(sources or {})
        first = self.diagnostics[0].headline() if self.diagnostics else "invalid input"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)


class UnknownNameError(LawfulError):
    """A question names something the bundle does not declare."""

    def __init__(self, kind: str, name: str, suggestions: Sequence[str] = ()):
        self.kind = kind
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f"; did you mean {', '.join(f'`{s}`' for s in self.suggestions)}?" if self.suggestions else ""
        # The name comes from the question, not the bundle: escaped, so a message can be printed as it is.
        super().__init__(f"unknown {kind} `{escape(name)}`{hint}")

    def to_diagnostic(self) -> Diagnostic:
        help_ = f"did you mean {', '.join(f'`{s}`' for s in self.suggestions)}?" if self.suggestions else None
        return error("unknown-name", f"unknown {self.kind} `{escape(self.name)}`", None, help_)


class FormatError(DiagnosticsError):
    """The file cannot be formatted without changing its meaning (it does not parse cleanly)."""


class RequestError(LawfulError):
    """A question the engine refuses as asked (a limit exceeded, a missing option); CLI exit 2."""

    def __init__(self, code: str, message: str, help: Optional[str] = None):
        self.code = code
        self.message = message
        self.help = help
        super().__init__(message)


class AuditLogError(LawfulError):
    """The decision log cannot be written (unwritable, or its last record is not valid): fail closed."""


class ServiceError(LawfulError):
    """The service cannot start or a load failed for a reason that is not a diagnostic of the bundle
    (the address is in use, a load passed its deadline). The CLI prints it on one line and exits 2."""

    def __init__(self, code: str, message: str, help: Optional[str] = None):
        self.code = code
        self.message = message
        self.help = help
        super().__init__(message)
