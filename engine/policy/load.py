"""Loading a bundle: read its files -> parse -> check (named stages) -> compile -> the Policy facade.

Problems raise `DiagnosticsError` (each diagnostic located, with a stable code); warnings stay on
`policy.warnings`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
from typing import TYPE_CHECKING, Iterator, Optional

from engine.base.source import SourceFile

from engine.base.diagnostics import Diagnostic, Severity

from engine.errors import DiagnosticsError
from engine.bundle.read import ReadResult, bundle_from_texts, read_bundle, resolve_bundle
from engine.compile.compiled import compile_policy
from engine.policy.facade import Policy

if TYPE_CHECKING:  # pragma: no cover
    from engine.check.checks import Checked


def _check(result: ReadResult, on: Optional[dt.date], previous: Optional[Checked] = None
           ) -> tuple[Optional[Checked], list[Diagnostic]]:
    """The checks of what was read (None when nothing could be), even when reading found errors, so that one
    pass reports every problem it can find; and every diagnostic, reading's first. `previous`: a check of an
    earlier version of the bundle, whose unchanged parts are reused (engine/check/incremental.py)."""
    from engine.check.checks import check  # here: a bundle answered from the cache is never checked again

    diags = list(result.diagnostics)
    if result.bundle is None:
        return None, diags
    checked = check(result.bundle, on, previous=previous)
    return checked, diags + checked.diagnostics


def _finish(result: ReadResult, on: Optional[dt.date]) -> tuple[Optional[Checked], list[Diagnostic]]:
    checked, diags = _check(result, on)
    if any(d.severity is Severity.ERROR for d in result.diagnostics):
        return None, diags
    return checked, diags


def check_bundle(path: Optional[str | os.PathLike[str]] = None,
                 on: Optional[dt.date] = None) -> tuple[list[Diagnostic], dict[str, SourceFile]]:
    """Every diagnostic for a bundle (errors and warnings) and the sources, without raising."""
    result = read_bundle(resolve_bundle(path))
    _checked, diags = _finish(result, on)
    return sorted(diags, key=Diagnostic.sort_key), dict(result.sources)


_FREEZE_AFTER = 200_000  # objects allocated while paused: a large bundle's load, never a small one's


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bundle is built: loading allocates millions of objects
    that all live on, and Python's repeated full collections over them cost a third of the load time of a
    large bundle. Reference counting still frees everything short-lived; the collector is restored after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if gc.get_count()[0] > _FREEZE_AFTER:
                # Re-enabled as it is, the collector's next pass would scan every object just built (~0.5 s
                # for the large benchmark bundle) to find almost nothing; frozen, they are left out of
                # future passes. Reference counting still frees them; only cycles among them would stay.
                gc.freeze()
            gc.enable()


def _compile(result: ReadResult, checked: Optional[Checked], diags: list[Diagnostic],
             previous: Optional[Policy] = None) -> Policy:
    """The Policy of a checked bundle; DiagnosticsError when anything found an error. `previous`: the Policy of
    an earlier version of the bundle, whose unchanged parts are reused (engine/compile/compiled.py)."""
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if checked is None or errors:
        raise DiagnosticsError(errors or diags, result.sources)
    warnings = [d for d in diags if d.severity is not Severity.ERROR]
    return Policy.of(compile_policy(checked, result.sources, warnings, previous))


def _load(result: ReadResult, on: Optional[dt.date]) -> Policy:
    checked, diags = _check(result, on)
    return _compile(result, checked, diags)


def load(path: Optional[str | os.PathLike[str]] = None) -> Policy:
    """Load, check and compile a bundle folder (default: $LAWFUL_BUNDLE, the current folder when it is a
    bundle, else the bundle shipped with the engine). Raises DiagnosticsError when it has errors.

    A compiled bundle is cached by the content hash of its files (engine/cache.py; `LAWFUL_NO_CACHE=1`
    turns it off); a cached Policy answers only when every file is unchanged."""
    from engine.policy.cache import load_cached

    root = resolve_bundle(path)

    def build() -> Policy:
        with _no_gc():
            return _load(read_bundle(root), None)

    with _no_gc():
        return load_cached(root, build)


def load_texts(policies: dict[str, str], register_yaml: str) -> Policy:
    """Load a bundle given as texts: {"policies/x.policy": "…"} and the gateways.yaml text."""
    with _no_gc():
        return _load(bundle_from_texts(policies, register_yaml), None)
