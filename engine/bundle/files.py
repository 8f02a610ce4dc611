"""Which files make up a bundle: ONE listing, used by everything that reads, hashes, caches or watches one
(`read_bundle`, the compiled-bundle cache, the service's change watcher, `bundle hash`), and one walker for
folders of policy files (also `lawful test`'s).

The listing fails closed: anything under `policies/` it cannot list, classify or may not read is a
diagnostic that stops the load, never a file silently left out. A folder that cannot be listed (no
permission, removed while walked), a symbolic link that loops or leads nowhere, a `*.policy` that is a FIFO,
a device or a socket, a link to a folder or out of the bundle, a file name holding a control character:
each is an error. Files that are not `*.policy` are never read, so only their folders' readability matters.

A bundle's file names are reported relative to the bundle, with `/` separators, and sorted by code point so
that nothing depends on the order the operating system lists them in.
"""

from __future__ import annotations

import errno
import os
import stat
from engine.base.records import record
from pathlib import Path
from typing import Optional

from engine.base.diagnostics import Diagnostic, error
from engine.base.safeio import kind_of
from engine.base.source import Span
from engine.base.filenames import file_name_problem, shown  # the one name rule (also git revisions)

REGISTER_NAME = "gateways.yaml"
POLICIES_DIR = "policies"
POLICY_SUFFIX = ".policy"
MAX_WALK_ENTRIES = 200_000  # files and folders looked at below one folder: a bound on a hostile tree


@record(frozen=True)
class BundleFile:
    name: str  # relative to the bundle, `/`-separated: `gateways.yaml`, `policies/x.policy`
    path: Path


@record(frozen=True)
class Listing:
    files: tuple[BundleFile, ...]  # gateways.yaml first (when present and usable), then policies sorted
    diagnostics: tuple[Diagnostic, ...]
    has_register: bool = False
    has_policies: bool = False

    @property
    def ok(self) -> bool:
        return not self.diagnostics


def _unreadable(name: str, exc: OSError, what: str = "") -> Diagnostic:
    reason = exc.strerror or str(exc)
    return error("unreadable-path", f"cannot {what or 'read'} `{shown(name)}`: {reason.lower()}",
                 Span(shown(name), 0, 0),
                 "make it readable by the user running lawful, or remove it; the bundle is not loaded without it")


def _not_a_file(name: str, mode: int) -> Diagnostic:
    return error("not-a-file", f"`{shown(name)}` is {kind_of(mode)}, not a regular file", Span(shown(name), 0, 0),
                 "only regular files are read; replace it with the file itself")


def _inside(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _link_target(path: Path, name: str, real_root: str, diags: list[Diagnostic]) -> Optional[os.stat_result]:
    """The stat of what a symbolic link leads to, when it stays inside the bundle; else a diagnostic."""
    try:
        real = os.path.realpath(path, strict=True)
        st = os.stat(real)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            diags.append(error("unsafe-path", f"`{shown(name)}` is a symbolic link that loops", Span(shown(name), 0, 0),
                               "remove the link"))
        else:
            diags.append(_unreadable(name, exc, "follow the symbolic link"))
        return None
    except (RuntimeError, ValueError) as exc:  # a loop, on Pythons that report it so
        diags.append(error("unsafe-path", f"`{shown(name)}` is a symbolic link that cannot be followed ({exc})",
                           Span(shown(name), 0, 0), "remove the link"))
        return None
    if not _inside(real_root, real):
        diags.append(error("unsafe-path", f"`{shown(name)}` links outside the bundle folder", Span(shown(name), 1, 1),
                           "copy the file into the bundle instead of linking to it"))
        return None
    return st


def walk_policy_files(folder: Path, display: str, real_root: Optional[str], diags: list[Diagnostic],
                      max_entries: int = MAX_WALK_ENTRIES) -> list[tuple[str, Path]]:
    """Every `*.policy` below `folder` as (display name, path), sorted by name. `display` is the name shown for
    `folder` itself (`policies` in a bundle). Links to folders are not followed; a link to a file is read only
    when `real_root` is None or it stays inside `real_root`. Problems go to `diags` (fail closed); a tree of
    more than `max_entries` files and folders is refused (`too-many-files`) and [] returned. The caller
    limits the number of policy files (it knows its limit and says it in its own words)."""
    found: list[tuple[str, Path]] = []
    seen = 0
    stack: list[tuple[Path, str]] = [(folder, display)]
    while stack:
        here, here_name = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            diags.append(_unreadable(here_name, exc, "list the folder"))
            continue
        seen += len(entries)
        if seen > max_entries:
            diags.append(error("too-many-files",
                               f"`{shown(display)}` holds more than {max_entries:,} files and folders",
                               Span(shown(display), 0, 0), "a bundle's folders hold its policy files and little else"))
            return []
        subfolders = []
        for entry in entries:
            name = f"{here_name}/{entry.name}"
            path = Path(entry.path)
            is_policy = entry.name.endswith(POLICY_SUFFIX)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                diags.append(_unreadable(name, exc, "examine"))
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                target = (_link_target(path, name, real_root, diags) if real_root is not None
                          else _plain_target(path, name, diags))
                if target is None:
                    continue
                if stat.S_ISDIR(target.st_mode):
                    diags.append(error("unsafe-path",
                                       f"`{shown(name)}` is a symbolic link to a folder; it is not followed",
                                       Span(shown(name), 1, 1),
                                       "move the folder into the bundle instead of linking to it"))
                    continue
                mode = target.st_mode
            elif stat.S_ISDIR(mode):
                subfolders.append((path, name))
                continue
            if not is_policy:
                continue  # never read, so its type and name do not matter
            problem = file_name_problem(name)
            if problem is not None:
                diags.append(problem)
                continue
            if not stat.S_ISREG(mode):
                diags.append(_not_a_file(name, mode))
                continue
            found.append((name, path))
        stack.extend(reversed(subfolders))
    return sorted(found)


def _plain_target(path: Path, name: str, diags: list[Diagnostic]) -> Optional[os.stat_result]:
    try:
        return os.stat(path)
    except OSError as exc:
        diags.append(_unreadable(name, exc, "follow the symbolic link"))
        return None


def list_bundle_files(root: str | os.PathLike) -> Listing:
    """The files of the bundle at `root`: `gateways.yaml` and every `*.policy` below `policies/`.

    Problems are diagnostics (the load then stops); a missing register or policies folder is left to the
    reader to report (`has_register`, `has_policies`), as is a folder that is not there at all."""
    root = Path(root)
    diags: list[Diagnostic] = []
    files: list[BundleFile] = []
    try:
        real_root = os.path.realpath(root, strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        if isinstance(exc, OSError):
            diags.append(_unreadable(str(root), exc, "open the bundle folder"))
        else:
            diags.append(error("unsafe-path", f"the bundle folder `{shown(str(root))}` cannot be resolved ({exc})"))
        return Listing((), tuple(diags))
    has_register = has_policies = False
    reg = root / REGISTER_NAME
    try:
        st = os.lstat(reg)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        diags.append(_unreadable(REGISTER_NAME, exc, "examine"))
        st, has_register = None, True  # it may be there: not "missing", but unreadable
    if st is not None:
        has_register = True
        mode: Optional[int] = st.st_mode
        if stat.S_ISLNK(st.st_mode):
            target = _link_target(reg, REGISTER_NAME, real_root, diags)
            mode = target.st_mode if target is not None else None  # None: a dangling link, already reported
        if mode is not None:
            if stat.S_ISREG(mode):
                files.append(BundleFile(REGISTER_NAME, reg))
            elif stat.S_ISDIR(mode):
                has_register = False  # reported as a missing register
            else:
                diags.append(_not_a_file(REGISTER_NAME, mode))
    policies = root / POLICIES_DIR
    try:
        st = os.lstat(policies)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        diags.append(_unreadable(POLICIES_DIR, exc, "examine"))
        st, has_policies = None, True
    if st is not None and stat.S_ISLNK(st.st_mode):
        st = _link_target(policies, POLICIES_DIR, real_root, diags)
    if st is not None and stat.S_ISDIR(st.st_mode):
        has_policies = True
        for name, path in walk_policy_files(policies, POLICIES_DIR, real_root, diags):
            files.append(BundleFile(name, path))
    return Listing(tuple(files), tuple(diags), has_register, has_policies)
