"""lawful: decide whether data may lawfully move from one organisation to another for a stated purpose.

    import engine
    policy = engine.load()                       # the default bundle, or engine.load("path/to/bundle")
    d = policy.decide("JCP", "ALI", "provider-data", "inspection", on=datetime.date(2005, 6, 23))
    d.verdict, d.headline, d.to_dict()

Loading runs the pipeline (docs/architecture.md): read files -> parse -> check (named stages) -> compile ->
the `Policy` facade. Problems raise `DiagnosticsError` (each diagnostic located, with a stable code); warnings
stay on `policy.warnings`. A Policy is immutable and safe to share between threads.

This module re-exports the public API and nothing else; the decision log and hashing helpers are imported on
first use, so `import engine` stays cheap.
"""

from __future__ import annotations

from typing import Any

from engine.base.diagnostics import Diagnostic, Severity
from engine.base.source import SourceFile, Span
from engine.base.version import __version__
from engine.bundle.read import default_bundle, resolve_bundle
from engine.decision.answer import Decision
from engine.errors import (AuditLogError, DiagnosticsError, FormatError, LawfulError, RequestError, ServiceError,
                           UnknownNameError)
from engine.policy.facade import Policy
from engine.policy.load import check_bundle, load, load_texts

__all__ = [
    "AuditLog", "AuditLogError", "Decision", "Diagnostic", "DiagnosticsError", "FormatError", "LawfulError",
    "Policy", "RequestError", "ServiceError", "Severity", "SourceFile", "Span", "UnknownNameError", "bundle_hash",
    "check_bundle", "default_bundle", "load", "load_texts", "policy_hash", "resolve_bundle", "verify_log",
    "__version__",
]

_LAZY = {
    "AuditLog": ("engine.ops.decision_log", "AuditLog"),
    "verify_log": ("engine.ops.decision_log", "verify_log"),
    "bundle_hash": ("engine.bundle.hashing", "bundle_hash"),
    "policy_hash": ("engine.bundle.hashing", "policy_hash"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
