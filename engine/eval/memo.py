"""Named tables of what the evaluation derives from one compiled policy (the route search's backward pass and
next hops, the fixes' agreements by start date and narrower parts): a policy is immutable, so an entry never goes
stale, and every table goes with its policy (weak keys). Readers take no lock — a dict read is atomic, and a
racing writer at worst computes the same value twice."""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, TypeVar

T = TypeVar("T")

LOCK = threading.Lock()
TABLES: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()


def table(policy: object, name: str) -> dict:
    """The table `name` of `policy`, made empty on first use."""
    tables = TABLES.get(policy)
    if tables is None:
        with LOCK:
            tables = TABLES.setdefault(policy, {})
    hit = tables.get(name)
    if hit is None:
        with LOCK:
            hit = tables.setdefault(name, {})
    return hit


def whole(policy: object, name: str, build: Callable[[], T]) -> T:
    """The value `name` of `policy`, built once and published whole (a racing thread builds its own and the first
    one wins), so no reader sees it half built."""
    tables = TABLES.get(policy)
    hit = tables.get(name) if tables is not None else None
    if hit is not None:
        return hit
    value = build()
    with LOCK:
        return TABLES.setdefault(policy, {}).setdefault(name, value)
