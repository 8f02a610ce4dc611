"""Running `lawful` the way an attack meets it: as a separate process, with a time limit, and — where file
permissions are the point — as a user without root's power to read everything (`nobody`, via setpriv).

Root reads an unreadable folder regardless (CAP_DAC_OVERRIDE), so a test of "what happens when the engine
cannot read a file" run as root proves nothing. When the tests run as root, the victim process is started
as `nobody` with `setpriv --reuid=nobody --regid=nogroup --clear-groups`; when they already run as another
user, it is started as that user. Files it must read are made in a world-readable temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
SETPRIV = shutil.which("setpriv")


def drop_privileges_prefix() -> list[str]:
    """The command prefix that runs a process without root's file-permission override, or a skip."""
    if os.geteuid() != 0:
        return []  # already an ordinary user: permissions apply
    if SETPRIV is None:
        pytest.skip("the tests run as root and `setpriv` (util-linux) is not installed, so no process can be "
                    "started without root's power to read unreadable files")
    return [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def world_dir(prefix: str = "lawful-adversarial-") -> Path:
    """A fresh temporary folder everyone may enter and read (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(folder, 0o755)
    return folder


def make_world_readable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = Path(dirpath) / f
            if not p.is_symlink():
                os.chmod(p, 0o644)


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LAWFUL_")}
    out.update({"LAWFUL_NO_CACHE": "1", "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    out.update(extra)
    return out


def lawful(args: Sequence[str], cwd: Path, *, as_nobody: bool = False, timeout: float = 60,
           extra_env: Optional[dict] = None, input_: Optional[str] = None) -> subprocess.CompletedProcess:
    """`lawful ARGS` in a fresh process (as `nobody` when asked), failing the test if it does not finish in
    `timeout` seconds — a hang is what several of these attacks produced."""
    prefix = drop_privileges_prefix() if as_nobody else []
    cmd = [*prefix, sys.executable, "-c", "import cli; cli.app()", *args]
    try:
        return subprocess.run(cmd, cwd=cwd, env=env(**(extra_env or {})), capture_output=True, text=True,
                              timeout=timeout, input=input_, errors="surrogateescape")
    except subprocess.TimeoutExpired:
        pytest.fail(f"`lawful {' '.join(map(str, args))}` did not finish in {timeout} s (it hangs)")


def python(code: str, cwd: Path, *, as_nobody: bool = False, timeout: float = 60,
           extra_env: Optional[dict] = None) -> subprocess.Popen:
    """A Python process running `code` (started, not waited for: the caller talks to it)."""
    prefix = drop_privileges_prefix() if as_nobody else []
    return subprocess.Popen([*prefix, sys.executable, "-c", code], cwd=cwd, env=env(**(extra_env or {})),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_no_traceback(p: subprocess.CompletedProcess) -> None:
    out = p.stdout + p.stderr
    assert "Traceback" not in out and "internal-error" not in out, out
