"""The bundle's content hash: one SHA-256 over every policy file and `gateways.yaml`, independent of the order
the files were written in or the operating system lists them in.

The hash is taken over a manifest, one line per file sorted by path (code-point order, which is byte order
for UTF-8), in the format `sha256sum` prints:

    <sha256 of the file's UTF-8 text>  <path relative to the bundle>\\n

so an auditor can recompute it without the engine:

    cd BUNDLE && find gateways.yaml policies -type f \\( -name '*.policy' -o -name gateways.yaml \\) \\
        | LC_ALL=C sort | xargs sha256sum | sha256sum

The text hashed is the text the engine decided on (a leading UTF-8 byte-order mark is not part of it).
The result is written `sha256:<64 hex digits>`.
"""

from __future__ import annotations

import hashlib
import os
from typing import Mapping, Optional

from engine.bundle.read import read_bundle, resolve_bundle
from engine.base.diagnostics import Severity
from engine.errors import DiagnosticsError
from engine.base.source import SourceFile

PREFIX = "sha256:"

# Problems that leave a file out of what was read: a hash over the rest would not be the bundle's hash.
_UNREAD = {"bad-bundle", "missing-register", "missing-policies", "unsafe-path", "file-too-large", "too-many-files",
           "bad-encoding", "limit-exceeded", "empty-bundle", "unreadable-path", "not-a-file", "bad-file-name"}


def manifest(sources: Mapping[str, SourceFile]) -> str:
    """The sorted `sha256sum`-style manifest the content hash is taken over."""
    lines = []
    for name in sorted(sources):
        digest = hashlib.sha256(sources[name].text.encode("utf-8")).hexdigest()
        lines.append(f"{digest}  {name}\n")
    return "".join(lines)


def content_hash(sources: Mapping[str, SourceFile]) -> str:
    """The content hash of a set of source files (for a loaded Policy: `content_hash(policy.sources)`)."""
    return PREFIX + hashlib.sha256(manifest(sources).encode("utf-8")).hexdigest()


def policy_hash(policy) -> str:
    """The content hash of the files a compiled Policy was built from."""
    return content_hash(policy.sources)


def bundle_hash(path: Optional[str | os.PathLike] = None) -> str:
    """The content hash of a bundle folder (resolved like `engine.load`). Files that do not parse still count
    — the hash is of the text, not of its meaning — but a file that could not be read at all (too large, not
    UTF-8, a link out of the bundle) raises DiagnosticsError: a hash that silently skipped it would lie."""
    result = read_bundle(resolve_bundle(path))
    unread = [d for d in result.diagnostics if d.severity is Severity.ERROR and d.code in _UNREAD]
    if unread:
        raise DiagnosticsError(unread, result.sources)
    return content_hash(result.sources)
