"""A compiled-bundle cache, so that a fresh `can-share` process answers without parsing and compiling.

The key is a SHA-256 over: the engine's fingerprint (the state of every engine source file, grammar and schema:
size, times, inode; the engine and Python versions), today's date (the warnings a Policy carries, such as
`agreement-expired`, are judged on it), and every input file of the bundle — its path and its full text.
A cached Policy answers only when the bundle's files, read now, hash to the key it was compiled under, so a
stale entry can never answer: any edit, added or removed file, or engine change is a different key.

Safety (issue 19, item 4; the rules are in engine/base/cachedir.py):
- the files are listed exactly as `bundle.read_bundle` lists them (`engine.bundle.files.list_bundle_files`)
  and read the same way (regular files only, bounded); a bundle with any symbolic link or anything the
  listing reports is not cached at all (the normal pipeline then reports it);
- the key is computed for storing from the texts the pipeline actually compiled (`Policy.sources`), never
  from a second read, so a file changed during compilation only causes a miss;
- entries live in a private folder no one else can reach, are opened without following links and checked
  on the open descriptor, and are authenticated with HMAC-SHA256 under the folder's 0600 key BEFORE they are
  unpickled; unpickling then accepts only the engine's own data classes (`_SafeUnpickler`);
- anything unexpected on reading (corrupt, truncated, foreign, unauthentic) is a miss, never an error.

Where: $LAWFUL_CACHE_DIR, else $XDG_CACHE_HOME/lawful, else ~/.cache/lawful. `LAWFUL_NO_CACHE=1` disables it.
The Lark parser's LALR tables are kept there too, the same way (engine/syntax/parser.py), and each policy
file's parse (engine/bundle/parsecache.py), so that a bundle edited in one file parses only that file.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from engine.base.cachedir import PrivateCache, engine_fingerprint
from engine.base.safeio import read_regular
from engine.bundle.files import list_bundle_files
from engine.bundle.read import DEFAULT_LIMITS

MAX_ENTRIES = 16
MAX_BYTES = 100 * 1024 * 1024  # larger compiled bundles are not kept (they would take long to read anyway)

if TYPE_CHECKING:  # pragma: no cover
    from engine.policy.facade import Policy


# What a compiled Policy is made of: the engine's data classes (not its tools: nothing from ops/, review/,
# policy/ or render/, whose constructors touch files or the network) and a few standard value types.
_DATA_MODULES = ("engine.base.", "engine.syntax.model", "engine.check.", "engine.compile.", "engine.eval.",
                 "engine.decision.", "engine.policy.facade")  # the last: the Policy facade over a compiled policy
_STANDARD = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timedelta"), ("datetime", "timezone"),
             ("builtins", "set"), ("builtins", "frozenset"), ("collections", "OrderedDict")}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only classes of the allow-list: a last line behind the HMAC (a verified entry was written by
    this user's engine, so nothing else should ever be asked for)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _STANDARD:
            return super().find_class(module, name)
        if module.startswith(_DATA_MODULES):
            obj = super().find_class(module, name)
            if isinstance(obj, type) and obj.__module__ == module:
                return obj
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache entry")


def safe_loads(data: bytes):
    return _SafeUnpickler(io.BytesIO(data)).load()


def key_of_texts(root: str, texts: Mapping[str, str], today: str) -> str:
    """The cache key of the bundle at `root` given as {relative path: text}."""
    h = hashlib.sha256()
    h.update(engine_fingerprint().encode() + b"\0" + today.encode() + b"\0"
             + root.encode("utf-8", "surrogateescape") + b"\0")
    for name in sorted(texts):
        data = texts[name].encode("utf-8")
        h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def _read_inputs(root: Path) -> Optional[dict[str, str]]:
    """The bundle's input files as read_bundle would read them, or None when anything is unusual."""
    listing = list_bundle_files(root)
    if not listing.ok or not listing.has_register or not listing.has_policies:
        return None
    texts: dict[str, str] = {}
    try:
        for f in listing.files:
            if stat.S_ISLNK(f.path.lstat().st_mode):
                return None
            text = read_regular(f.path, DEFAULT_LIMITS.max_file_bytes).decode("utf-8")
            texts[f.name] = text[1:] if text.startswith("\ufeff") else text
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return texts


def _today() -> str:
    import datetime as dt

    return dt.date.today().isoformat()


def _entry_name(key: str) -> str:
    return f"bundle-{key}.pickle"


def load_cached(root: Path, build: Callable[[], "Policy"]) -> "Policy":
    """The compiled Policy for the bundle at `root`: from the cache when its inputs are unchanged, else
    built by `build()` (which raises on a broken bundle: nothing is cached then) and stored."""
    store = PrivateCache.open()
    if store is None:
        return build()
    today = _today()
    texts = _read_inputs(Path(root))
    if texts is not None:
        key = key_of_texts(str(root), texts, today)
        payload = store.get(_entry_name(key), MAX_BYTES)  # None unless private and authentic
        if payload is not None:
            try:
                stored_key, policy = safe_loads(payload)
                if stored_key == key:
                    return policy
            except Exception:  # noqa: BLE001 — an entry this engine cannot read back is a miss
                pass
    policy = build()
    try:
        _store(store, policy, today)
    except Exception:  # noqa: BLE001 — failing to cache must never fail the load
        pass
    return policy


def _store(store: PrivateCache, policy: "Policy", today: str) -> None:
    texts = {name: src.text for name, src in policy.sources.items()}
    key = key_of_texts(str(policy.root), texts, today)
    data = pickle.dumps((key, policy), protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_BYTES:
        return
    store.put(_entry_name(key), data)
    store.prune("bundle-*.pickle", MAX_ENTRIES)
