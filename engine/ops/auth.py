"""Who may ask the service, and what every answer carries (issue 15 item 7).

The service listens on 127.0.0.1 unless told otherwise. Listening on any other address needs a way to tell
callers apart: a bearer token read from a file (`--token-file`, compared in constant time), or a sign-on proxy
in front that sets a header on every request it lets through (`--trust-proxy-auth HEADER`). Without either,
`lawful serve --host 0.0.0.0` refuses to start.

With a token or a proxy header, every request needs it except the web page's own files (`/`, `/static/…`,
which hold no bundle data: the page asks the API, which does) and `GET /v1/health` (for probes). Every answer
carries a strict Content-Security-Policy (scripts, styles, images and requests from the service itself only;
no inline script; no framing) and `nosniff`.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from engine.errors import ServiceError

MIN_TOKEN_CHARS = 16
PUBLIC_PATHS = ("/", "/v1/health", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# The API docs page (vendored Swagger UI) sets styles from its script and shows data: images.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        return False
    addresses = {str(info[4][0]) for info in infos}
    try:
        return bool(addresses) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)
    except ValueError:
        return False


def read_token(path: str | os.PathLike[str]) -> str:
    """The bearer token in `path` (surrounding white space removed): at least MIN_TOKEN_CHARS characters, no
    white space inside, and the file readable by its owner only."""
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ServiceError("bad-token-file",
                           f"cannot read the token file `{p}`: {getattr(exc, 'strerror', None) or exc}",
                           "give a file holding one long random token, for example: "
                           "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
                           " > token && chmod 600 token") from exc
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ServiceError("bad-token-file", f"the token file `{p}` can be read by others "
                           f"(mode {stat.S_IMODE(st.st_mode):o})", f"chmod 600 {p}")
    token = text.strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ServiceError("bad-token-file", f"the token in `{p}` is not usable: it must be one word of at least "
                           f"{MIN_TOKEN_CHARS} characters",
                           "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token


@dataclass(frozen=True)
class Auth:
    """How a request proves it may ask: a bearer token, or a header a sign-on proxy sets (or both: either)."""

    token: Optional[str] = None
    proxy_header: Optional[str] = None

    def __post_init__(self) -> None:
        if self.proxy_header is not None and not _HEADER_NAME.match(self.proxy_header):
            raise ServiceError("bad-usage", f"`{self.proxy_header}` is not an HTTP header name",
                               "for example --trust-proxy-auth X-Forwarded-User")

    def allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if self.token is not None:
            expected = self.token.encode("utf-8")
            for k, v in headers:
                scheme, _, given = v.strip().partition(b" ")
                # constant time: the comparison says nothing about how much of a guess was right
                if k == b"authorization" and scheme.lower() == b"bearer" and \
                        hmac.compare_digest(given.strip(), expected):
                    return True
        if self.proxy_header is not None:
            name = self.proxy_header.lower().encode("latin-1")
            if any(k == name and v.strip() for k, v in headers):
                return True
        return False


def check_exposure(host: str, auth: Optional[Auth]) -> None:
    """Refuse to listen beyond loopback when nothing tells callers apart."""
    if auth is None and not is_loopback(host):
        raise ServiceError("needs-auth", f"listening on {host} would let anyone who can reach it ask the service",
                           "give --token-file FILE (callers send `Authorization: Bearer TOKEN`), or "
                           "--trust-proxy-auth HEADER behind a sign-on proxy that sets HEADER; or keep the default "
                           "--host 127.0.0.1")


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


# The headers every answer carries (Guard adds them; the service's fast routes send them themselves).
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin")]
_DOCS_SECURITY_HEADERS = [(b"content-security-policy", DOCS_CSP.encode()), *SECURITY_HEADERS[1:]]
_OWN = (b"content-security-policy", b"x-content-type-options")
UNAUTHORISED_BODY = (b'{"errors":[{"code":"unauthorised","message":"this service needs an access token",'
                     b'"help":"send Authorization: Bearer TOKEN (the token the service was started with)"}]}')
UNAUTHORISED_HEADERS = [(b"content-type", b"application/json"),
                        (b"content-length", str(len(UNAUTHORISED_BODY)).encode()),
                        (b"www-authenticate", b'Bearer realm="lawful"'), *SECURITY_HEADERS]


def needs_proof(auth: Optional[Auth], path: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """True when `auth` is set, `path` is not public and `headers` do not prove the caller may ask."""
    return auth is not None and not _public(path) and not auth.allows(headers)


async def send_unauthorised(send: Any) -> None:
    """The 401 answer, with the security headers."""
    await send({"type": "http.response.start", "status": 401, "headers": UNAUTHORISED_HEADERS})
    await send({"type": "http.response.body", "body": UNAUTHORISED_BODY})


class Guard:
    """ASGI middleware: security headers on every answer; with `auth`, 401 for a request that does not prove
    it may ask (outside the page's own files and the health probe)."""

    def __init__(self, app: Any, auth: Optional[Auth] = None):
        self.app = app
        self.auth = auth

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if needs_proof(self.auth, path, scope.get("headers", [])):
            return await send_unauthorised(send)
        extra = _DOCS_SECURITY_HEADERS if path == "/docs" else SECURITY_HEADERS

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OWN]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
