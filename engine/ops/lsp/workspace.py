"""The bundles an editor works on, analysed by the engine's own pipeline from the editor's texts.

A bundle is the folder holding `gateways.yaml` and `policies/` nearest above a file (else the bundle the CLI
would use: `--bundle`, `$LAWFUL_BUNDLE`, the workspace folder when it is a bundle, else the default bundle).
Its texts are the files on disk with every open document's text in place of its file, so an unsaved edit is
checked as written. A `.policy` file outside `policies/` is a test file of its bundle (as `lawful test` reads
`tests/policy/`): it may hold only `test` blocks, and its tests run against the bundle.

One analysis = what `lawful check` reports (read -> parse -> the check stages -> compile -> lint), plus the
diagnostics `lawful test` gives for open test files, built with the same functions those commands call:
`bundle_from_texts`, `parse_source`, `check`, `compile_policy` (through `engine.policy.loader.BundleLoader`, as
`lawful serve`'s reload), `lint`, `tests_of_file`. Files whose text did not change keep their parsed model
between analyses, so an edit reparses one file, and checks and compiles again only what it changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import importlib
import operator
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from engine.base.diagnostics import Diagnostic, Severity
from engine.base.source import SourceFile
from engine.bundle.read import (
    DEFAULT_LIMITS,
    POLICIES_DIR,
    REGISTER_NAME,
    _read_text,
    bundle_from_texts,
    is_bundle,
    resolve_bundle,
)
from engine.check.checks import Checked
from engine.decision.review import ExpectationResult
from engine.policy.facade import Policy
from engine.policy.loader import BundleLoader
from engine.review.lint import DEFAULT_EXPIRING_WITHIN, lint
from engine.review.testing import DEFAULT_TEST_DIR, _unknown, run_expectation, tests_of_file
from engine.syntax import model as m
from engine.syntax.parser import parse_source
from engine.syntax.register import parse_register
from engine.ops.lsp.symbols import Occurrence, Symbols, file_occurrences, register_occurrences

TEST_WALK_LIMIT = 500  # test files read from <bundle>/tests/policy for references and rename


@contextlib.contextmanager
def _no_gc():
    """The cyclic collector paused while an analysis allocates (as engine.policy.load does for a load), but
    never `gc.freeze()`: a long-running server drops each analysis for the next, and frozen objects in a
    cycle would never be freed."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _policy_files(root: Path, diags: list[Diagnostic]) -> list[tuple[str, Path]]:
    """(name, path) of every policy file of the bundle, listed by the bundle reader itself (links that leave
    the bundle and the like are reported as `lawful check` reports them)."""
    try:  # the one bundle listing, engine.bundle.files (issue 19)
        files = importlib.import_module("engine.bundle.files")
    except ImportError:  # COMPAT: before it, engine.bundle.read.policy_paths listed them; drop once merged
        read = importlib.import_module("engine.bundle.read")
        return [(p.relative_to(root).as_posix(), p) for p in read.policy_paths(root, diags)]
    listing = files.list_bundle_files(root)
    diags.extend(listing.diagnostics)
    return [(f.name, f.path) for f in listing.files if f.name != REGISTER_NAME]


def bundle_root_of(path: Path, explicit: Optional[Path] = None, folder: Optional[Path] = None) -> Path:
    """The bundle a file belongs to: the nearest folder above it holding gateways.yaml and policies/, else
    the bundle the CLI would use (`explicit` as --bundle, $LAWFUL_BUNDLE, the workspace `folder` when it is a
    bundle, the default bundle)."""
    for above in path.parents:
        if is_bundle(above):
            return above
    return Path(resolve_bundle(explicit, cwd=folder)).resolve()


def in_policies(root: Path, path: Path) -> bool:
    try:
        rel = path.relative_to(root / POLICIES_DIR)
    except ValueError:
        return False
    return path.suffix == ".policy" and ".." not in rel.parts


@dataclass
class Analysis:
    """One analysis of a bundle: immutable once published (requests read it from other threads)."""

    root: Path
    sources: dict[str, SourceFile]  # every file analysed, bundle files and test files, by name
    models: dict[str, m.PolicyFile]  # the files that parsed
    bundle_files: frozenset[str]  # policy files of the bundle and gateways.yaml
    open_tests: frozenset[str]  # the test files open in the editor (they get diagnostics)
    register: Optional[m.Register]
    checked: Optional[Checked]
    policy: Optional[Policy]  # compiled when the bundle has no errors
    diagnostics: dict[str, list[Diagnostic]]  # by file name; "" holds those that name no file
    symbols: Symbols
    lint_pending: bool = False  # the bundle has no errors and its lint is still to come (BundleState.lint)
    lint_found: dict[str, list[Diagnostic]] = field(default_factory=dict)  # the lint's part of `diagnostics`
    file_index: dict[int, tuple[m.PolicyFile, list[Occurrence]]] = field(default_factory=dict)  # BundleState's
    _occurrences: dict[str, list[Occurrence]] = field(default_factory=dict)
    _results: dict[str, list[tuple[m.PolicyTest, list[ExpectationResult]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- names and files ----------------------------------------------------------------------------

    def path_of(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else self.root / p

    def occurrences(self, name: str) -> list[Occurrence]:
        """Every name written in one file (cached per analysis)."""
        with self._lock:
            hit = self._occurrences.get(name)
        if hit is not None:
            return hit
        if name == REGISTER_NAME:
            src = self.sources.get(name)
            out = register_occurrences(self.register, src.text) if self.register and src else []
        elif name in self.models:
            pf = self.models[name]
            known = self.file_index.get(id(pf))  # shared between analyses: an unchanged file keeps its list
            if known is not None and known[0] is pf:
                out = known[1]
            else:
                out = file_occurrences(pf)
                self.file_index[id(pf)] = (pf, out)
        else:
            out = []
        with self._lock:
            self._occurrences[name] = out
        return out

    def indexed_files(self) -> list[str]:
        return sorted(set(self.models) | ({REGISTER_NAME} if self.register else set()))

    def at(self, name: str, line: int, column: int) -> Optional[Occurrence]:
        """The name written at (1-based) line and column of a file."""
        for o in self.occurrences(name):
            if o.contains(line, column):
                return o
        return None

    def references(self, target: tuple[str, str]) -> list[tuple[str, Occurrence]]:
        """Every place a declaration is named (its declaration included), in file and line order."""
        out = []
        for name in self.indexed_files():
            for o in self.occurrences(name):
                if self.symbols.resolve(o.kind, o.text) == target:
                    out.append((name, o))
        return out

    # ---- policy tests -------------------------------------------------------------------------------

    def test_results(
        self, name: str, today: Optional[dt.date] = None
    ) -> list[tuple[m.PolicyTest, list[ExpectationResult]]]:
        """Each `test` block of a file with the result of each expectation (empty when the bundle did not
        compile). Run as `lawful test` runs them; cached per analysis."""
        with self._lock:
            hit = self._results.get(name)
        if hit is not None:
            return hit
        pf = self.models.get(name)
        out = []
        if pf is not None and self.policy is not None:
            for t in pf.of(m.PolicyTest):
                out.append((t, [run_expectation(self.policy, t.name, e, today) for e in t.expectations]))
        with self._lock:
            self._results[name] = out
        return out


class BundleState:
    """One bundle the editor works on: its disk and parse caches, and the latest analysis."""

    def __init__(self, root: Path, on: Optional[dt.date] = None, expiring_within: int = DEFAULT_EXPIRING_WITHIN):
        self.root = root
        self.on = on
        self.expiring_within = expiring_within
        self._disk: dict[str, tuple[tuple[int, int], Optional[SourceFile], list[Diagnostic]]] = {}
        self._parsed: dict[str, tuple[str, tuple[Optional[m.PolicyFile], list[Diagnostic]]]] = {}
        self._last_good: dict[str, m.PolicyFile] = {}
        self._last_register: Optional[m.Register] = None
        self._register: Optional[tuple[str, tuple[Optional[m.Register], list[Diagnostic]]]] = None
        self._file_index: dict[int, tuple[m.PolicyFile, list[Occurrence]]] = {}
        self._loader = BundleLoader()  # an edit is checked and compiled again only where it changed (issue 18)
        self._symbol_cache: dict = {}  # each file's symbol tables, by the parsed file's identity
        # each file's diagnostics as the last analysis found them and sorted
        self._sorted: dict[str, tuple[tuple[Diagnostic, ...], tuple[Diagnostic, ...]]] = {}
        self.current: Optional[Analysis] = None

    def name_of(self, path: Path) -> str:
        """How a file is named in diagnostics: relative to the bundle when inside it, else absolute."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def is_bundle_file(self, path: Path) -> bool:
        return path == self.root / REGISTER_NAME or in_policies(self.root, path)

    # ---- reading --------------------------------------------------------------------------------------

    def _read(self, path: Path, name: str) -> tuple[Optional[SourceFile], list[Diagnostic]]:
        """A file's text from disk through the bundle reader's own checks (size, UTF-8), cached by mtime."""
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (-1, -1)
        hit = self._disk.get(name)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        diags: list[Diagnostic] = []
        src = _read_text(path, name, DEFAULT_LIMITS, diags)
        self._disk[name] = (stamp, src, diags)
        return src, diags

    def _parse(self, src: SourceFile) -> tuple[Optional[m.PolicyFile], list[Diagnostic]]:
        hit = self._parsed.get(src.name)
        if hit is not None and hit[0] == src.text:
            return hit[1]
        result = parse_source(src)
        self._parsed[src.name] = (src.text, result)
        return result

    def _parse_register(self, src: SourceFile) -> tuple[Optional[m.Register], list[Diagnostic]]:
        hit = self._register
        if hit is not None and hit[0] == src.text:
            return hit[1]
        result = parse_register(src)
        self._register = (src.text, result)
        return result

    def _disk_tests(self) -> list[Path]:
        folder = self.root / DEFAULT_TEST_DIR
        if not folder.is_dir():
            return []
        found: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
            dirnames.sort()
            found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".policy")]
            if len(found) > TEST_WALK_LIMIT:
                return found[:TEST_WALK_LIMIT]
        return found

    # ---- analysing ------------------------------------------------------------------------------------

    def analyse(self, open_docs: dict[Path, str], with_lint: bool = True) -> Analysis:
        """Analyse the bundle with the open documents' texts in place of their files. Without `with_lint`,
        the lint of a bundle without errors is left for `lint` (`lint_pending`): the server publishes the
        checks' diagnostics first."""
        with _no_gc():
            analysis = self._analyse(open_docs)
        return self.lint(analysis) if with_lint else analysis

    def lint(self, analysis: Analysis) -> Analysis:
        """The analysis with the lint's diagnostics added (`lawful check` lints a bundle without errors)."""
        if not analysis.lint_pending or analysis.policy is None:
            return analysis
        with _no_gc():
            found = lint(analysis.policy, self.on, self.expiring_within)
        by_file = {name: list(ds) for name, ds in analysis.diagnostics.items()}
        lint_found: dict[str, list[Diagnostic]] = {}
        for d in found:
            file = d.span.file if d.span is not None and d.span.file in analysis.sources else ""
            by_file.setdefault(file, []).append(d)
            lint_found.setdefault(file, []).append(d)
        for file_diags in by_file.values():
            file_diags.sort(key=Diagnostic.sort_key)
        linted = replace(
            analysis,
            diagnostics=by_file,
            lint_pending=False,
            lint_found=lint_found,
            _occurrences={},
            _results={},
            _lock=threading.Lock(),
        )
        if self.current is analysis:
            self.current = linted
        return linted

    def _analyse(self, open_docs: dict[Path, str]) -> Analysis:
        diags: list[Diagnostic] = []
        texts: dict[str, str] = {}
        overlay = {self.name_of(p): t for p, t in open_docs.items() if self.is_bundle_file(p)}
        for name, path in _policy_files(self.root, diags):
            if name in overlay:
                continue
            src, read_diags = self._read(path, name)
            diags += read_diags
            if src is not None:
                texts[name] = src.text
        for name, text in overlay.items():
            if name != REGISTER_NAME:
                texts[name] = text.removeprefix("\ufeff")
        register_text = overlay.get(REGISTER_NAME)
        if register_text is None:
            src, read_diags = self._read(self.root / REGISTER_NAME, REGISTER_NAME)
            diags += read_diags
            register_text = src.text if src is not None else None
        result = bundle_from_texts(
            texts,
            register_text if register_text is not None else "",
            parse=self._parse,
            parse_register=self._parse_register,
        )
        if register_text is not None:
            diags += result.diagnostics
        else:  # unreadable: its own diagnostic says so; the empty text's "is empty" would only repeat it
            diags += [d for d in result.diagnostics if not (d.span and d.span.file == REGISTER_NAME)]
        sources = dict(result.sources)
        models: dict[str, m.PolicyFile] = {}
        if result.bundle is not None:
            models.update({f.path: f for f in result.bundle.files})
        else:
            for name in texts:
                cached = self._parsed.get(name)
                if cached and cached[1][0] is not None:
                    models[name] = cached[1][0]

        # The checks, then (without errors) the compiled policy and the lint: `lawful check`.
        checked = self._loader.check(result.bundle, self.on) if result.bundle is not None else None
        if checked is not None:
            diags += checked.diagnostics
        policy = None
        if checked is not None and not any(d.severity is Severity.ERROR for d in diags):
            warnings = [d for d in diags if d.severity is not Severity.ERROR]
            policy = self._loader.compile(checked, sources, warnings)

        # Test files: open ones are checked as `lawful test` reads them; those on disk are indexed.
        test_paths = {p: t for p, t in open_docs.items() if p.suffix == ".policy" and not self.is_bundle_file(p)}
        open_tests = frozenset(self.name_of(p) for p in test_paths)
        for p in self._disk_tests():
            if p not in test_paths:
                src, _read_diags = self._read(p, self.name_of(p))
                if src is not None:
                    test_paths[p] = src.text
        for p, text in sorted(test_paths.items()):
            name = self.name_of(p)
            src = SourceFile(name, text.removeprefix("\ufeff"))
            sources[name] = src
            parsed, file_diags = self._parse(src)
            if parsed is not None:
                models[name] = parsed
            if name not in open_tests:
                continue
            diags += [d for d in file_diags if d.severity is Severity.ERROR]
            if parsed is not None:
                diags += tests_of_file(parsed, False)[1]
        # Names in expectations the bundle does not declare (`lawful test` reports them as errors).
        if policy is not None:
            for name, pf in models.items():
                if name in open_tests or name in texts:
                    for t in pf.of(m.PolicyTest):
                        for e in t.expectations:
                            bad = _unknown(policy, e)
                            if bad is not None:
                                diags.append(bad)

        # Names keep resolving while a file is broken: its last model that parsed stands in for it.
        self._last_good = {
            name: models.get(name) or self._last_good[name]
            for name in texts
            if name in models or name in self._last_good
        }
        register = result.bundle.register if result.bundle is not None else None
        if register is not None:
            self._last_register = register
        symbol_files = list(self._last_good.values())
        by_file: dict[str, list[Diagnostic]] = {}
        known = set(sources)
        for d in diags:
            file = d.span.file if d.span is not None and d.span.file in known else ""
            by_file.setdefault(file, []).append(d)
        for file, file_diags in by_file.items():
            # a file whose diagnostics are the very objects of the last analysis, in the same order (its
            # checks were reused), keeps their sorted list; sorting ~30,000 warnings each time cost ~30 ms
            last = self._sorted.get(file)
            if last is not None and len(last[0]) == len(file_diags) and all(map(operator.is_, last[0], file_diags)):
                by_file[file] = list(last[1])
                continue
            unsorted = tuple(file_diags)
            file_diags.sort(key=Diagnostic.sort_key)
            self._sorted[file] = (unsorted, tuple(file_diags))
        for gone in set(self._sorted) - set(by_file):
            del self._sorted[gone]
        analysis = Analysis(
            root=self.root,
            sources=sources,
            models=models,
            bundle_files=frozenset([*texts, REGISTER_NAME]),
            open_tests=open_tests,
            register=register or self._last_register,
            checked=checked,
            policy=policy,
            diagnostics=by_file,
            symbols=Symbols(symbol_files, register or self._last_register, self._symbol_cache),
            lint_pending=policy is not None,
            file_index=self._file_index,
        )
        live = {id(pf) for pf in models.values()}
        for key in list(self._file_index):  # files that changed or went (list(): a request may be adding)
            if key not in live:
                self._file_index.pop(key, None)
        kept = {id(pf) for pf in symbol_files}
        for key in list(self._symbol_cache):
            if key not in kept:
                del self._symbol_cache[key]
        self.current = analysis
        return analysis
