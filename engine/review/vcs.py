"""Which repository and commit a review ran on, for SARIF's `versionControlProvenance`: from the GitHub Actions
environment when it is there, else from git in the bundle's folder; never a credential (a remote URL's user
and password are dropped)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlsplit, urlunsplit


def _without_credentials(url: str) -> Optional[str]:
    """A remote URL safe to publish: `https://token@github.com/o/r.git` -> `https://github.com/o/r.git`;
    scp-style `git@github.com:o/r.git` -> `ssh://github.com/o/r.git`; anything else unparseable -> None."""
    url = url.strip()
    if not url:
        return None
    if "://" not in url and ":" in url and not url.startswith("/"):  # git@host:owner/repo
        host, _, path = url.partition(":")
        return f"ssh://{host.rpartition('@')[2]}/{path.lstrip('/')}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme:
        return None
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def provenance(folder: Optional[Path] = None, env: Optional[Mapping[str, str]] = None) -> Optional[dict]:
    """{"repositoryUri", "revisionId", "branch"} for the repository holding `folder`, or None outside one."""
    env = os.environ if env is None else env
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_SHA"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        return {"repositoryUri": f"{server.rstrip('/')}/{env['GITHUB_REPOSITORY']}", "revisionId": env["GITHUB_SHA"],
                "branch": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF") or None}
    from engine.errors import DiagnosticsError
    from engine.review.diff import _git

    cwd = Path(folder) if folder is not None and Path(folder).is_dir() else Path.cwd()
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
        sha = _git(["rev-parse", "--verify", "--quiet", "HEAD"], top).decode().strip()
    except DiagnosticsError:
        return None
    try:
        branch = _git(["symbolic-ref", "--short", "-q", "HEAD"], top).decode().strip() or None
    except DiagnosticsError:
        branch = None  # a detached HEAD
    try:
        remote = _without_credentials(_git(["config", "--get", "remote.origin.url"], top).decode())
    except DiagnosticsError:
        remote = None
    return {"repositoryUri": remote or top.resolve().as_uri(), "revisionId": sha, "branch": branch}
