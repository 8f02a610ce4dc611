"""The user's private cache folder, authenticated entries in it, and the engine's fingerprint that keys them.

Lowest in the pipeline because both the parser (Lark's LALR tables) and the compiled-bundle cache
(engine/policy/cache.py) keep entries here. A compiled bundle is stored as a pickle, and unpickling runs
code, so nothing in the folder is trusted unless all of these hold (issue 19, item 4):

- the folder is owned by the current user and not writable by group or others (created 0700);
- every folder above it is owned by root or the current user and not writable by group or others — or, if
  it is (like /tmp), it has the sticky bit and the next folder down is owned by the current user or root,
  so no one else can rename, replace or plant anything on the way. A folder under another user's home, or
  under a world-writable folder without the sticky bit, is refused: the cache is simply not used;
- an entry is opened with O_NOFOLLOW (a symbolic link is refused) and O_NONBLOCK, and checked on the open
  descriptor (`fstat`): a regular file, owned by the current user, with no permission for group or others;
- an entry is authenticated with HMAC-SHA256 under a 32-byte key kept in the folder (`key`, 0600, checked
  the same way) and the tag is verified BEFORE anything is unpickled. The tag covers the entry's name, so an
  authentic entry cannot be renamed into another's place;
- what is unpickled is restricted to an allow-list of classes (engine/policy/cache.py), as a last line.

Anything that fails a check is a miss (or the cache is not used), never an error. Where the platform has no
O_NOFOLLOW or no user ids (Windows), the cache is not used.

Where: $LAWFUL_CACHE_DIR, else $XDG_CACHE_HOME/lawful, else ~/.cache/lawful. `LAWFUL_NO_CACHE=1` disables it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

from engine.base.safeio import FileTooLarge, NotRegularFile, read_fd
from engine.base.version import __version__

ENV_DISABLE = "LAWFUL_NO_CACHE"
ENV_DIR = "LAWFUL_CACHE_DIR"
CACHE_FORMAT = 2  # 2: entries are HMAC-authenticated (format 1 entries are never read)

KEY_NAME = "key"
KEY_BYTES = 32
MAGIC = b"LAWFUL-CACHE-2\n"
TAG_BYTES = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

_ENGINE_DIR = Path(__file__).resolve().parent.parent  # the engine package


def enabled() -> bool:
    return os.environ.get(ENV_DISABLE, "") in ("", "0")


def supported() -> bool:
    """The checks above need O_NOFOLLOW and user ids; without them the cache is not used."""
    return bool(_NOFOLLOW) and hasattr(os, "geteuid")


def _folder_path() -> Path:
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lawful"


def _private(st: os.stat_result, uid: int) -> bool:
    return st.st_uid == uid and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def safe_folder(folder: Path) -> bool:
    """True when `folder` (which must exist) is private to the current user and no other user can replace it
    or anything above it (the rules in the module's docstring)."""
    uid = os.geteuid()
    try:
        real = Path(os.path.realpath(folder, strict=True))
        st = os.lstat(real)
    except (OSError, RuntimeError, ValueError):
        return False
    if not stat.S_ISDIR(st.st_mode) or not _private(st, uid):
        return False
    child_uid = st.st_uid
    for parent in real.parents:
        try:
            pst = os.lstat(parent)
        except OSError:
            return False
        if not stat.S_ISDIR(pst.st_mode) or pst.st_uid not in (0, uid):
            return False  # its owner could rename what is below it
        if pst.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            # Others may write here: safe only with the sticky bit (they cannot rename or delete what they do
            # not own) and when what we rely on below it is ours or root's.
            if not pst.st_mode & stat.S_ISVTX or child_uid not in (0, uid):
                return False
        child_uid = pst.st_uid
    return True


def cache_dir() -> Optional[Path]:
    """The private cache folder, created if needed; None when caching is off or the folder is not safe."""
    if not enabled() or not supported():
        return None
    folder = _folder_path()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if safe_folder(folder) else None


def _open_private(folder: Path, name: str, flags: int = os.O_RDONLY) -> tuple[int, os.stat_result]:
    """Open an entry of the folder: never through a symbolic link, never blocking, and only a regular file
    owned by us that no one else may read or write. Raises OSError otherwise."""
    fd = os.open(folder / name, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(folder / name, "not a regular file")
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise PermissionError(f"{folder / name} is not private to the current user")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _write_private(folder: Path, data: bytes, prefix: str) -> str:
    """A new 0600 file in the folder holding `data`; returns its name (the caller renames or links it)."""
    import secrets  # here: a warm answer writes nothing, and secrets imports random (~1 ms)

    name = f".tmp-{prefix}-{secrets.token_hex(8)}"
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(folder / name)
        raise
    os.close(fd)
    return name


def _read_key(folder: Path) -> Optional[bytes]:
    try:
        fd, st = _open_private(folder, KEY_NAME)
    except OSError:
        return None
    try:
        key = read_fd(fd, KEY_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    return key if len(key) == KEY_BYTES else None


def _key(folder: Path) -> Optional[bytes]:
    """The folder's HMAC key, created (atomically: written in full, then linked into place) if there is none.
    A key that exists but fails a check is not replaced: the cache is not used (someone has been there)."""
    key = _read_key(folder)
    if key is not None:
        return key
    if os.path.lexists(folder / KEY_NAME):
        return None
    try:
        import secrets

        tmp = _write_private(folder, secrets.token_bytes(KEY_BYTES), "key")
    except OSError:
        return None
    try:
        os.link(folder / tmp, folder / KEY_NAME)  # fails if another process made one first: then use theirs
    except OSError:
        pass
    finally:
        try:
            os.unlink(folder / tmp)
        except OSError:
            pass
    return _read_key(folder)


def _tag(key: bytes, name: str, payload: bytes) -> bytes:
    return hmac.new(key, b"lawful-cache\0" + name.encode("utf-8") + b"\0" + payload, hashlib.sha256).digest()


class PrivateCache:
    """Authenticated entries in the private folder: `get` returns a payload only when its tag verifies."""

    def __init__(self, folder: Path, key: bytes):
        self.folder = folder
        self._key = key

    @classmethod
    def open(cls) -> Optional["PrivateCache"]:
        folder = cache_dir()
        if folder is None:
            return None
        key = _key(folder)
        return None if key is None else cls(folder, key)

    def get(self, name: str, max_bytes: int) -> Optional[bytes]:
        """The payload stored under `name`, or None when there is none or it is not authentic and private."""
        try:
            fd, st = _open_private(self.folder, name)
        except OSError:
            return None
        try:
            if st.st_size > len(MAGIC) + TAG_BYTES + max_bytes:
                return None
            data = read_fd(fd, len(MAGIC) + TAG_BYTES + max_bytes)
        except (OSError, FileTooLarge):
            return None
        finally:
            os.close(fd)
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + TAG_BYTES:
            return None
        tag, payload = data[len(MAGIC):len(MAGIC) + TAG_BYTES], data[len(MAGIC) + TAG_BYTES:]
        if not hmac.compare_digest(tag, _tag(self._key, name, payload)):
            return None
        return payload

    def put(self, name: str, payload: bytes) -> None:
        """Store `payload` under `name`, atomically (written 0600 beside it, then renamed over it)."""
        tmp = _write_private(self.folder, MAGIC + _tag(self._key, name, payload) + payload, "entry")
        try:
            os.replace(self.folder / tmp, self.folder / name)
        except BaseException:
            try:
                os.unlink(self.folder / tmp)
            except OSError:
                pass
            raise

    def prune(self, pattern: str, keep: int) -> None:
        """Keep the `keep` most recently written entries matching `pattern`."""
        entries = []
        for p in self.folder.glob(pattern):
            try:
                entries.append((p.lstat().st_mtime, p))
            except OSError:
                pass
        for _mtime, old in sorted(entries, reverse=True)[keep:]:
            try:
                old.unlink()
            except OSError:
                pass


def _lark_stamp() -> bytes:
    """Lark's `__init__.py` (which holds its `__version__`), found without importing Lark and without
    importlib.metadata: importing that costs a fresh process ~10 ms, more than the rest of the fingerprint."""
    try:
        from importlib.util import find_spec

        spec = find_spec("lark")
        if spec is not None and spec.origin:
            return Path(spec.origin).read_bytes()
    except (ImportError, OSError, ValueError):  # not installed or unreadable: the code still keys the entries
        pass
    return b"?"


def _tree_stamp(root: str) -> list[str]:
    """One line per source file under `root` (its .py, .lark and .json, not __pycache__): the relative path and
    the file's identity and state as the kernel records them — size, modification and change times in
    nanoseconds, inode and device.

    Not the content: reading and hashing the engine's 1.2 MB cost a fresh process ~7 ms, more than anything else
    in a warm `can-share` after the imports (issue 18), and this costs ~0.4 ms. It is still safe: any write to a
    file, and a file replaced by another (renamed over it, or copied in), gives it a new change time (`st_ctime`,
    set by the kernel; unlike the modification time no process can set it back) or a new inode, so any edit of
    the engine after an entry was written gives another fingerprint. The interpreter itself decides which code
    runs from less (a source's modification time in seconds and its size, for its bytecode cache); the change
    time's granularity is the kernel's clock tick (a few ms). A file touched without being changed only costs a
    miss."""
    lines: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        stack.append(e.path)
                elif e.name.endswith((".py", ".lark", ".json")):
                    st = e.stat()  # through a link: the file that is imported
                    rel = os.path.relpath(e.path, root).replace(os.sep, "/")
                    lines.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0{st.st_dev}")
    lines.sort()
    return lines


@lru_cache(maxsize=1)
def engine_fingerprint() -> str:
    """A hash of everything that shapes a compiled Policy: the engine's code, grammar and schemas (by the state
    of their files, `_tree_stamp`), Lark's version, the engine's and Python's versions."""
    h = hashlib.sha256()
    h.update(f"format={CACHE_FORMAT};engine={__version__};python={sys.version}".encode())
    h.update(b";lark=" + _lark_stamp())  # Lark's tables are cached too
    h.update(b";files=" + "\n".join(_tree_stamp(str(_ENGINE_DIR))).encode("utf-8", "surrogateescape"))
    return h.hexdigest()
