"""A compiled-bundle cache, so that a fresh `can-share` process answers without parsing and compiling.

The key is a SHA-256 over: the engine's fingerprint (the content of every engine source file, the grammar
and schemas, the engine and Python versions), today's date (the warnings a Policy carries, such as
`agreement-expired`, are judged on it), and every input file of the bundle — its path and its full text.
A cached Policy answers only when the bundle's files, read now, hash to the key it was compiled under, so a
stale entry can never answer: any edit, added or removed file, or engine change is a different key.

Safety:
- the files are enumerated exactly as `bundle.read_bundle` reads them (gateways.yaml and every `*.policy`
  under policies/, sorted); a bundle with any symbolic link, a file that is not UTF-8, or anything unusual
  is not cached at all (the normal pipeline then reports it);
- the key is computed for storing from the texts the pipeline actually compiled (`Policy.sources`), never
  from a second read, so a file changed during compilation only causes a miss;
- entries are pickles, so the cache folder must be private: created 0700, used only when owned by the
  current user and not writable by group or others; files are written atomically (0600);
- anything unexpected on reading (corrupt, truncated, unpicklable) is a miss, never an error.

Where: $LAWFUL_CACHE_DIR, else $XDG_CACHE_HOME/lawful, else ~/.cache/lawful. `LAWFUL_NO_CACHE=1` disables it.
The Lark parser's LALR tables are cached there too (`parser_cache_path`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from engine.base.cachedir import cache_dir, engine_fingerprint

MAX_ENTRIES = 16
MAX_BYTES = 100 * 1024 * 1024  # larger compiled bundles are not kept (they would take long to read anyway)

if TYPE_CHECKING:  # pragma: no cover
    from engine.policy.facade import Policy

def key_of_texts(root: str, texts: Mapping[str, str], today: str) -> str:
    """The cache key of the bundle at `root` given as {relative path: text}."""
    h = hashlib.sha256()
    h.update(engine_fingerprint().encode() + b"\0" + today.encode() + b"\0" + root.encode("utf-8", "surrogateescape") + b"\0")
    for name in sorted(texts):
        data = texts[name].encode("utf-8")
        h.update(name.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def _read_inputs(root: Path) -> Optional[dict[str, str]]:
    """The bundle's input files as read_bundle would read them, or None when anything is unusual."""
    try:
        reg = root / "gateways.yaml"
        policies = root / "policies"
        if reg.is_symlink() or policies.is_symlink() or not reg.is_file() or not policies.is_dir():
            return None
        texts: dict[str, str] = {}
        names = [(reg, "gateways.yaml")]
        for dirpath, dirnames, filenames in os.walk(policies, followlinks=False):
            here = Path(dirpath)
            for d in dirnames:
                if (here / d).is_symlink():
                    return None
            for f in filenames:
                if f.endswith(".policy"):
                    p = here / f
                    if p.is_symlink():
                        return None
                    names.append((p, p.relative_to(root).as_posix()))
        for p, name in names:
            text = p.read_bytes().decode("utf-8")
            texts[name] = text[1:] if text.startswith("\ufeff") else text
        return texts
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _today() -> str:
    import datetime as dt

    return dt.date.today().isoformat()


def load_cached(root: Path, build: Callable[[], "Policy"]) -> "Policy":
    """The compiled Policy for the bundle at `root`: from the cache when its inputs are unchanged, else
    built by `build()` (which raises on a broken bundle: nothing is cached then) and stored."""
    folder = cache_dir()
    if folder is None:
        return build()
    today = _today()
    texts = _read_inputs(Path(root))
    if texts is not None:
        key = key_of_texts(str(root), texts, today)
        entry = folder / f"bundle-{key}.pickle"
        try:
            with open(entry, "rb") as f:
                stored_key, policy = pickle.load(f)
            if stored_key == key:
                return policy
        except Exception:  # noqa: BLE001 — a missing, corrupt or foreign entry is a miss
            pass
    policy = build()
    try:
        _store(folder, policy, today)
    except Exception:  # noqa: BLE001 — failing to cache must never fail the load
        pass
    return policy


def _store(folder: Path, policy: "Policy", today: str) -> None:
    texts = {name: src.text for name, src in policy.sources.items()}
    key = key_of_texts(str(policy.root), texts, today)
    data = pickle.dumps((key, policy), protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_BYTES:
        return
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pickle")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, folder / f"bundle-{key}.pickle")
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    entries = sorted(folder.glob("bundle-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        try:
            old.unlink()
        except OSError:
            pass
