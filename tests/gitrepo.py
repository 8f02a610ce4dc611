"""A git repository made from the default bundle, for the tests of `lawful diff` and of a pull-request review:
one commit of the bundle on `main`, then (optionally) a branch with one change committed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional

import pytest

from conftest import ROOT

IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, **IDENTITY, HOME=str(repo))
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def copy_bundle(dest: Path, *extra: str) -> Path:
    """gateways.yaml, policies/ and any `extra` files of the default bundle, copied to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("gateways.yaml", *extra):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "policies", dest / "policies")
    return dest


def make_repo(dest: Path, monkeypatch: pytest.MonkeyPatch, branch: Optional[str] = None,
              change: Optional[Callable[[Path], None]] = None, message: str = "a change",
              extra: tuple[str, ...] = ()) -> Path:
    """The default bundle committed on `main` in a new repository at `dest` (the current folder while the test
    runs); with `branch`, that branch checked out with `change(repo)` committed on it."""
    repo = copy_bundle(dest, *extra)
    monkeypatch.setenv("HOME", str(repo))
    for k, v in IDENTITY.items():
        monkeypatch.setenv(k, v)
    git(repo, "init", "-q")
    git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the default bundle")
    if branch is not None:
        git(repo, "checkout", "-q", "-b", branch)
        if change is not None:
            change(repo)
        git(repo, "commit", "-q", "-am", message)
    monkeypatch.chdir(repo)
    return repo
