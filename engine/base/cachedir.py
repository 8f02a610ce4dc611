"""The user's private cache folder, and the engine's fingerprint that keys everything cached in it.

Lowest in the pipeline because both the parser (Lark's LALR tables) and the compiled-bundle cache
(engine/policy/cache.py) keep files there. The folder must be private: created 0700, used only when owned
by the current user and not writable by group or others.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional

from engine.base.version import __version__

ENV_DISABLE = "LAWFUL_NO_CACHE"
ENV_DIR = "LAWFUL_CACHE_DIR"
CACHE_FORMAT = 1

_ENGINE_DIR = Path(__file__).resolve().parent.parent  # the engine package


def enabled() -> bool:
    return os.environ.get(ENV_DISABLE, "") in ("", "0")


def cache_dir() -> Optional[Path]:
    """The private cache folder, created if needed; None when caching is off or the folder is not safe."""
    if not enabled():
        return None
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        folder = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = Path(base) / "lawful"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return folder


@lru_cache(maxsize=1)
def engine_fingerprint() -> str:
    """A hash of everything that shapes a compiled Policy: engine code, grammar, schemas, versions."""
    h = hashlib.sha256()
    h.update(f"format={CACHE_FORMAT};engine={__version__};python={sys.version}".encode())
    for p in sorted(_ENGINE_DIR.rglob("*")):
        if p.suffix in (".py", ".lark", ".json") and "__pycache__" not in p.parts:
            h.update(p.relative_to(_ENGINE_DIR).as_posix().encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def parser_cache_path() -> Optional[str]:
    """Where Lark may keep its LALR tables (it checks the grammar's hash inside the file itself)."""
    folder = cache_dir()
    if folder is None:
        return None
    return str(folder / f"grammar-{engine_fingerprint()[:16]}.lark-cache")


