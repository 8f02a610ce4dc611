"""`lawful lsp`: a language server for policy files (issue 17), built on pygls and the engine's own pipeline.

- workspace.py: the bundle a file belongs to, analysed from the editor's texts (`lawful check` + lint, and
  the checks `lawful test` makes of an open test file);
- symbols.py: where every name is declared and used;
- features.py: hover, completion, definition, references, rename, formatting, the decision command and the
  policy-test lenses, as plain functions;
- vocabulary.py: the keywords (from the clause table);
- server.py: the protocol (pygls, lsprotocol), debounced analysis and publishing.

pygls is an optional extra (`pip install 'lawful[lsp]'`); nothing here is imported unless the server runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def main(tcp: Optional[int] = None, host: str = "127.0.0.1", bundle: Optional[Path] = None) -> None:
    """Serve the language server protocol on stdin/stdout, or on `host:tcp`."""
    import logging

    from engine.ops.lsp.server import build

    logging.basicConfig(level=logging.WARNING, format="lawful lsp: %(levelname)s %(message)s")
    server = build(bundle)
    if tcp is not None:
        server.start_tcp(host, tcp)
    else:
        server.start_io()
