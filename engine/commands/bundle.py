"""`bundle hash`: facts about a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from engine.commands.result import EXIT_OK, Result, command


@command
def bundle_hash(bundle: Optional[Path] = None) -> Result:
    """The bundle's content hash (SHA-256 over every policy file and gateways.yaml), as written into each
    `--audit-log` record."""
    from engine.bundle.hashing import bundle_hash as content_hash
    from engine.bundle.read import resolve_bundle

    return Result(EXIT_OK).out(content_hash(resolve_bundle(bundle)))
