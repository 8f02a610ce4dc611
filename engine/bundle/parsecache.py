"""Parsing a bundle's files, each remembered by its content (issue 18, target 3), so that reloading a bundle
after an edit parses only the files that changed.

`parse(source)` answers `parse_source(source)` — the parsed file (None when it does not parse) and its
diagnostics — from, in order:
1. this process's memory: the files parsed lately, keyed by a SHA-256 of the file's name and text. The model
   is immutable (frozen Structs, tuples), so one parsed file may be shared by every Policy built from it;
   this is what a long-running process (`lawful serve`'s reload, the language server, `diff` between
   revisions) reuses;
2. the user's private cache folder (engine/base/cachedir.py): one HMAC-authenticated entry per file, keyed by
   the engine's fingerprint and the file's name and text, read back with an unpickler that accepts the
   syntax model's classes only — the same rules as the compiled-bundle cache, so a fresh process after an
   edit unpickles the unchanged files instead of parsing them;
3. the parser, whose answer is stored in both.
A parse depends on nothing else (both parsers are functions of the text and the file's name), so an entry
can never be stale: any change to the text, the name or the engine is another key. `LAWFUL_NO_CACHE=1`
turns the folder off (memory still serves within the process).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import threading
from collections import OrderedDict
from typing import Callable, Optional, Union

from engine.base.cachedir import PrivateCache, engine_fingerprint
from engine.base.diagnostics import Diagnostic
from engine.base.source import SourceFile
from engine.syntax import model as m

Parsed = tuple[Optional[Union[m.PolicyFile, m.Register]], tuple[Diagnostic, ...]]

MEMORY_TEXT_LIMIT = 64 * 1024 * 1024  # characters of source whose parses are kept in memory
DISK_ENTRIES = 4096  # parse entries kept in the folder (the oldest are removed) ...
DISK_BYTES = 512 * 1024 * 1024  # ... and at most this much of them
ENTRY_MAX_BYTES = 64 * 1024 * 1024
_PREFIX = "parse-"

_STANDARD = {("datetime", "date"), ("builtins", "set"), ("builtins", "frozenset")}
_MODULES = {"engine.syntax.model", "engine.base.source", "engine.base.diagnostics"}


class _ModelUnpickler(pickle.Unpickler):
    """Only the syntax model, spans and diagnostics (and dates): an authentic entry holds nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) in _STANDARD:
            return super().find_class(module, name)
        if module in _MODULES:
            obj = super().find_class(module, name)
            if isinstance(obj, type) and obj.__module__ == module:
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a parse entry")


class _Memory:
    """The parses of this process, least recently used dropped first, bounded by the size of their texts."""

    def __init__(self, limit: int):
        self.limit = limit
        self.size = 0
        self.items: OrderedDict[str, tuple[int, Parsed]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Optional[Parsed]:
        with self.lock:
            hit = self.items.get(key)
            if hit is None:
                return None
            self.items.move_to_end(key)
            return hit[1]

    def put(self, key: str, size: int, parsed: Parsed) -> None:
        with self.lock:
            if key in self.items or size > self.limit:
                return
            self.items[key] = (size, parsed)
            self.size += size
            while self.size > self.limit:
                _k, (old, _p) = self.items.popitem(last=False)
                self.size -= old


_memory = _Memory(MEMORY_TEXT_LIMIT)


def _key(source: SourceFile, kind: str = "policy") -> str:
    h = hashlib.sha256(engine_fingerprint().encode() + b"\0" + kind.encode() + b"\0")
    name = source.name.encode("utf-8", "surrogateescape")
    text = source.text.encode("utf-8", "surrogateescape")
    h.update(str(len(name)).encode() + b"\0" + name + b"\0" + text)
    return h.hexdigest()


class ParseCache:
    """One bundle's worth of parses: opens the private folder once, and prunes it once when done."""

    def __init__(self, write: bool = True) -> None:
        """`write=False`: read the folder but add nothing to it (a long-running process reloading after an edit:
        pickling a large file's model costs about as much as parsing it, and this process keeps it in memory)."""
        self._store: Optional[PrivateCache] = PrivateCache.open()
        self._write_new = write
        self._wrote = False

    def parse(self, source: SourceFile) -> tuple[Optional[m.PolicyFile], list[Diagnostic]]:
        """A policy file: `engine.syntax.parser.parse_source`, remembered."""
        def parse_source(src: SourceFile) -> tuple[Optional[m.PolicyFile], list[Diagnostic]]:
            # What parse_source answers (the hand-written parser, or Lark when it declines), without importing
            # Lark (~20 ms of a fresh process) when the hand-written parser accepts the file, as it does every
            # valid file it is given (tests/test_fastparse.py).
            from engine.syntax.fastparse import parse_fast

            fast = parse_fast(src)
            if fast is not None:
                return fast
            from engine.syntax.parser import parse_source as parse

            return parse(src)

        parsed, diags = self._cached("policy", source, parse_source)
        assert parsed is None or isinstance(parsed, m.PolicyFile)
        return parsed, diags

    def register(self, source: SourceFile) -> tuple[Optional[m.Register], list[Diagnostic]]:
        """gateways.yaml: `engine.syntax.register.parse_register`, remembered (so that a bundle edited in a
        policy file is loaded without importing YAML and JSON Schema)."""
        def parse_register(src: SourceFile) -> tuple[Optional[m.Register], list[Diagnostic]]:
            from engine.syntax.register import parse_register as parse

            return parse(src)

        parsed, diags = self._cached("register", source, parse_register)
        assert parsed is None or isinstance(parsed, m.Register)
        return parsed, diags

    def _cached(self, kind: str, source: SourceFile, compute: Callable[[SourceFile], tuple]
                ) -> tuple[Optional[Union[m.PolicyFile, m.Register]], list[Diagnostic]]:
        key = _key(source, kind)
        hit = _memory.get(key)
        if hit is None and self._store is not None:
            hit = self._read(key)
            if hit is not None:
                _memory.put(key, len(source.text), hit)
        if hit is not None:
            return hit[0], list(hit[1])
        parsed, diags = compute(source)
        value: Parsed = (parsed, tuple(diags))
        _memory.put(key, len(source.text), value)
        if self._store is not None and self._write_new:
            self._write(key, value)
        return parsed, list(diags)

    def _read(self, key: str) -> Optional[Parsed]:
        assert self._store is not None
        payload = self._store.get(_PREFIX + key + ".pickle", ENTRY_MAX_BYTES)  # None unless private and authentic
        if payload is None:
            return None
        try:
            stored_key, value = _ModelUnpickler(io.BytesIO(payload)).load()
        except Exception:  # noqa: BLE001 — an entry this engine cannot read back is a miss
            return None
        if stored_key != key or not isinstance(value, tuple) or len(value) != 2:
            return None
        return value

    def _write(self, key: str, value: Parsed) -> None:
        assert self._store is not None
        try:
            data = pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL)
            if len(data) <= ENTRY_MAX_BYTES:
                self._store.put(_PREFIX + key + ".pickle", data)
                self._wrote = True
        except Exception:  # noqa: BLE001 — failing to cache must never stop a load
            pass

    def close(self) -> None:
        """Prune the folder's parse entries (once per bundle, and only after writing): the newest are kept, up
        to DISK_ENTRIES of them and DISK_BYTES in all."""
        if not self._wrote or self._store is None:
            return
        self._wrote = False
        entries = []
        for path in self._store.folder.glob(_PREFIX + "*.pickle"):
            try:
                st = path.lstat()
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, path))
        kept = total = 0
        for _mtime, size, path in sorted(entries, reverse=True):
            kept += 1
            total += size
            if kept > DISK_ENTRIES or total > DISK_BYTES:
                try:
                    path.unlink()
                except OSError:
                    pass


def forget() -> None:
    """Empty this process's memory of parses (tests; a long-running process never needs to)."""
    global _memory
    _memory = _Memory(MEMORY_TEXT_LIMIT)
