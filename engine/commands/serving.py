"""What `lawful serve` and `lawful web` share: who may ask (a token, a sign-on proxy's header), the decision
log the service records in, and opening the web page in a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional


def service_guards(audit_log: Optional[Path] = None, audit_key: Optional[Path] = None,
                   token_file: Optional[Path] = None, trust_proxy_auth: Optional[str] = None) -> tuple[Any, Any]:
    """(AuditLog or None, Auth or None) from the command line's options; ServiceError on a bad token file."""
    from engine.ops.auth import Auth, read_token

    auth = None
    if token_file is not None or trust_proxy_auth is not None:
        auth = Auth(read_token(token_file) if token_file is not None else None, trust_proxy_auth)
    log = None
    if audit_log is not None:
        from engine.ops.decision_log import AuditLog

        log = AuditLog(audit_log, key_path=audit_key)
    return log, auth


def open_in_browser(url: str) -> None:
    """Open the page in the user's browser (and say where it is, for when no browser can be opened)."""
    import sys
    import webbrowser

    print(f"lawful: the page is at {url} (Ctrl-C stops the service)", file=sys.stderr, flush=True)
    try:
        webbrowser.open(url)
    except Exception:  # noqa: BLE001 — no browser here: the address printed above is enough
        pass
