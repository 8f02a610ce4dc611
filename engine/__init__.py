"""lawful: decide whether data may lawfully move from one organisation to another for a stated purpose.

    import engine
    policy = engine.load()                       # the default bundle, or engine.load("path/to/bundle")
    d = policy.decide("JCP", "ALI", "provider-data", "inspection", on=datetime.date(2005, 6, 23))
    d.verdict, d.headline, d.to_dict()

Loading runs the pipeline (docs/architecture.md): read files -> parse -> check (named stages) -> compile ->
the `Policy` facade. Problems raise `DiagnosticsError` (each diagnostic located, with a stable code); warnings
stay on `policy.warnings`. A Policy is immutable and safe to share between threads.

This module re-exports the public API and nothing else, each name imported on first use (PEP 562), so
`import engine` — and importing any one step, such as engine.base.text — stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.base.version import __version__

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from engine.base.diagnostics import Diagnostic, Severity
    from engine.base.source import SourceFile, Span
    from engine.bundle.hashing import bundle_hash, policy_hash
    from engine.bundle.read import default_bundle, resolve_bundle
    from engine.decision.answer import Decision
    from engine.errors import (AuditLogError, DiagnosticsError, FormatError, LawfulError, RequestError, ServiceError,
                               UnknownNameError)
    from engine.ops.decision_log import AuditLog, verify_log
    from engine.policy.facade import Policy
    from engine.policy.load import check_bundle, load, load_texts

_PUBLIC = {
    "Diagnostic": "engine.base.diagnostics", "Severity": "engine.base.diagnostics",
    "SourceFile": "engine.base.source", "Span": "engine.base.source",
    "bundle_hash": "engine.bundle.hashing", "policy_hash": "engine.bundle.hashing",
    "default_bundle": "engine.bundle.read", "resolve_bundle": "engine.bundle.read",
    "Decision": "engine.decision.answer",
    "AuditLogError": "engine.errors", "DiagnosticsError": "engine.errors", "FormatError": "engine.errors",
    "LawfulError": "engine.errors", "RequestError": "engine.errors", "ServiceError": "engine.errors",
    "UnknownNameError": "engine.errors",
    "AuditLog": "engine.ops.decision_log", "verify_log": "engine.ops.decision_log",
    "Policy": "engine.policy.facade",
    "check_bundle": "engine.policy.load", "load": "engine.policy.load", "load_texts": "engine.policy.load",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
