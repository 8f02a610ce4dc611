"""Loading one bundle again and again, reusing what did not change (issue 18, target 3): the path of
`lawful serve`'s reload, of the language server and of `lawful diff` (whose NEW side reuses the OLD side's).

A `BundleLoader` keeps the last check and the last compiled Policy of its bundle. Each load reads every file
(each parse comes from the parse cache when the text is unchanged: engine/bundle/parsecache.py), then checks
and compiles with the previous ones lent: an agreement file whose parse is the same object, in an unchanged
environment, keeps its checks' diagnostics (engine/check/incremental.py) and its compiled agreements
(engine/compile/compiled.py); everything else is done again. The result is exactly what `engine.load` gives
from the same files — the same diagnostics in the same order and the same compiled policy — because both run
the same functions, and what is reused is keyed by object identity: tests/test_incremental.py compares the
two on random bundles and random edits.

Unlike `engine.load`, it neither reads nor writes the compiled-bundle cache (pickling a large Policy costs
more than an incremental reload), and after its first load it writes no parse entries to the cache folder
(the process keeps them in memory).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import TYPE_CHECKING, Optional

from engine.base.diagnostics import Diagnostic
from engine.base.source import SourceFile
from engine.bundle.parsecache import ParseCache
from engine.bundle.read import ReadResult, bundle_from_texts, read_bundle, resolve_bundle
from engine.compile.compiled import compile_policy
from engine.policy.facade import Policy
from engine.policy.load import _check, _compile, _no_gc
from engine.syntax import model as m

if TYPE_CHECKING:  # pragma: no cover
    from engine.check.checks import Checked


class BundleLoader:
    """The loads of one bundle in a long-running process. Safe to share between threads: each call works on
    its own objects and reuses the last ones only by reading them."""

    def __init__(self) -> None:
        self._checked: Optional[Checked] = None
        self._policy: Optional[Policy] = None
        self._loaded = False
        self._lock = threading.Lock()

    def load(self, path: Optional[str | os.PathLike[str]] = None, on: Optional[dt.date] = None) -> Policy:
        """Read, check and compile the bundle (resolved as `engine.load` resolves it); DiagnosticsError when it
        has errors."""
        with self._lock:
            first, self._loaded = not self._loaded, True
        with _no_gc():  # no lock held: a read that blocks (a FIFO) must not stop the next load
            return self.build(read_bundle(resolve_bundle(path), parses=ParseCache(write=first)), on)

    def load_texts(self, policies: dict[str, str], register_yaml: str) -> Policy:
        """`engine.load_texts`: a bundle given as texts ({"policies/x.policy": "…"} and the gateways.yaml text)."""
        with _no_gc():
            return self.build(bundle_from_texts(policies, register_yaml))

    def build(self, result: ReadResult, on: Optional[dt.date] = None) -> Policy:
        """The Policy of a bundle already read (`read_bundle`, `bundle_from_texts`)."""
        checked, diags = _check(result, on, self._checked)
        self._keep_checked(checked)
        policy = _compile(result, checked, diags, self._policy)
        self._keep_policy(policy)
        return policy

    def check(self, bundle: m.Bundle, on: Optional[dt.date] = None) -> Checked:
        """`engine.check.checks.check(bundle, on)`, reusing the last check."""
        from engine.check.checks import check

        checked = check(bundle, on, previous=self._checked)
        self._keep_checked(checked)
        return checked

    def compile(self, checked: Checked, sources: dict[str, SourceFile], warnings: list[Diagnostic]) -> Policy:
        """The Policy of a bundle checked without errors, reusing the last one compiled."""
        policy = Policy.of(compile_policy(checked, sources, warnings, self._policy))
        self._keep_policy(policy)
        return policy

    def _keep_checked(self, checked: Optional[Checked]) -> None:
        if checked is not None:
            with self._lock:
                self._checked = checked

    def _keep_policy(self, policy: Policy) -> None:
        with self._lock:
            self._policy = policy
