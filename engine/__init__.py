"""lawful: decide whether data may lawfully move from one organisation to another for a stated purpose.

    import engine
    policy = engine.load()                       # the default bundle, or engine.load("path/to/bundle")
    d = policy.decide("JCP", "ALI", "provider-data", "inspection", on=datetime.date(2005, 6, 23))
    d.verdict, d.headline, d.to_dict()

Loading runs the pipeline: read files -> parse -> check (named stages) -> compile. Problems raise
`DiagnosticsError` (each diagnostic located, with a stable code); warnings stay on `policy.warnings`.
A Policy is immutable and safe to share between threads.
"""

from __future__ import annotations

from engine.bundle.read import default_bundle, resolve_bundle
from engine.policy.facade import Policy
from engine.base.diagnostics import Diagnostic, Severity
from engine.errors import DiagnosticsError, LawfulError, UnknownNameError
from engine.decision.answer import Decision
from engine.base.source import SourceFile, Span

from engine.base.version import __version__
from engine.policy.load import check_bundle, load, load_texts

__all__ = [
    "Decision", "Diagnostic", "DiagnosticsError", "LawfulError", "Policy", "Severity", "SourceFile", "Span",
    "UnknownNameError", "check_bundle", "default_bundle", "load", "load_texts", "resolve_bundle", "__version__",
]
