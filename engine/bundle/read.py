"""Finding and reading a bundle: a folder holding `gateways.yaml` and `policies/` (every `*.policy` below it).

Reading is the only step that touches the file system. It enforces the input limits, refuses symbolic
links that leave the bundle, decodes strictly as UTF-8, and orders files by path so that nothing later
depends on the order the operating system lists them in.
"""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from engine.base.records import record
from pathlib import Path
from typing import Callable, Mapping, Optional

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic, error
from engine.base.safeio import FileTooLarge, NotRegularFile, read_regular
from engine.base.source import SourceFile, Span
from engine.base.filenames import file_name_problem
from engine.base.text import code_point, find_in_text
from engine.bundle.files import POLICIES_DIR, REGISTER_NAME, list_bundle_files, shown
from engine.bundle.parsecache import ParseCache

# parser (Lark) and register (YAML, JSON Schema) are imported where files are parsed, so that finding a
# bundle and answering from the compiled-bundle cache never pay for importing them.

ENV_VAR = "LAWFUL_BUNDLE"


@record(frozen=True)
class Limits:
    max_file_bytes: int = 5 * 1024 * 1024
    max_files: int = 2_000
    max_total_bytes: int = 200 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def default_bundle() -> Path:
    """The bundle shipped with the project: beside the package in a checkout (editable install), else the
    copy `pip install .` places under `<prefix>/share/lawful`."""
    here = Path(__file__).resolve().parent.parent.parent
    if (here / REGISTER_NAME).is_file() and (here / POLICIES_DIR).is_dir():
        return here
    for base in {sysconfig.get_path("data"), sys.prefix, sys.base_prefix}:
        candidate = Path(base) / "share" / "lawful"
        if (candidate / REGISTER_NAME).is_file():
            return candidate
    return here


def is_bundle(folder: Path) -> bool:
    try:
        return (folder / REGISTER_NAME).is_file() and (folder / POLICIES_DIR).is_dir()
    except OSError:  # a folder that may not be searched is not taken for a bundle (Path.is_file raises EACCES)
        return False


def resolve_bundle(explicit: Optional[str | os.PathLike] = None, cwd: Optional[Path] = None) -> Path:
    """`--bundle`, else $LAWFUL_BUNDLE, else the current folder when it is a bundle, else the default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    cwd = cwd or Path.cwd()
    if is_bundle(cwd):
        return cwd
    return default_bundle()


def _read_text(path: Path, name: str, limits: Limits, diags: list[Diagnostic]) -> Optional[SourceFile]:
    """One file's text: a regular file only (opened without blocking, checked on the open descriptor), read
    no further than the size limit, strictly UTF-8."""
    try:
        raw = read_regular(path, limits.max_file_bytes)
    except FileTooLarge as exc:
        diags.append(error("file-too-large", f"`{shown(name)}` is {exc.size:,} bytes, over the limit of "
                           f"{limits.max_file_bytes:,}", Span(shown(name), 1, 1), "split it into several files"))
        return None
    except NotRegularFile as exc:
        diags.append(error("not-a-file", f"`{shown(name)}` is {exc.kind}, not a regular file", Span(shown(name), 0, 0),
                           "only regular files are read; replace it with the file itself"))
        return None
    except OSError as exc:
        diags.append(error("unreadable-path", f"cannot read `{shown(name)}`: {(exc.strerror or str(exc)).lower()}",
                           Span(shown(name), 0, 0), "make it readable by the user running lawful, or remove it; the "
                           "bundle is not loaded without it"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.append(error("bad-encoding", f"`{shown(name)}` is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                           Span(name, line, col), "save the file as UTF-8"))
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(name, text)


MAX_CONTROL_REPORTS = 10  # per file: a file full of them says so once it has shown enough


def control_characters(src: SourceFile) -> list[Diagnostic]:
    """`control-character` errors for every control character or bidirectional control in a file's text
    (names, titles, aliases, strings and comments alike), each at its exact line and column. Tabs, line
    feeds and the carriage return of a CRLF line end are allowed."""
    out: list[Diagnostic] = []
    for line, col, ch in find_in_text(src.text):
        if len(out) == MAX_CONTROL_REPORTS:
            out.append(error("control-character", f"`{shown(src.name)}` holds more control characters than shown "
                             "here", Span(src.name, line, col, line, col + 1)))
            break
        out.append(error("control-character", f"control character {code_point(ch)} in the text",
                         Span(src.name, line, col, line, col + 1), CONTROL_HELP))
    return out


CONTROL_HELP = ("remove it: control characters and bidirectional marks can make a terminal or an editor show "
                "something other than what the file says")


@record(frozen=True)
class ReadResult:
    bundle: Optional[m.Bundle]
    diagnostics: tuple[Diagnostic, ...]
    sources: Mapping[str, SourceFile]


def read_bundle(root: str | os.PathLike, limits: Limits = DEFAULT_LIMITS, parses: Optional[ParseCache] = None
                ) -> ReadResult:
    """Read and parse every file of the bundle (each parse remembered by content: engine/bundle/parsecache.py;
    `parses`: the cache to use, else a new one). Problems are collected, never raised."""
    root = Path(root)
    diags: list[Diagnostic] = []
    sources: dict[str, SourceFile] = {}
    try:
        st = os.stat(root)
        what = None if stat.S_ISDIR(st.st_mode) else "is a file, not a folder"
    except FileNotFoundError:
        what = "does not exist"
    except NotADirectoryError:
        what = "does not exist (a part of its path is a file)"
    except OSError as exc:  # e.g. a folder on the way that may not be searched
        diags.append(error("unreadable-path", f"cannot examine the bundle folder `{shown(str(root))}`: "
                           f"{(exc.strerror or str(exc)).lower()}", None,
                           "make it readable by the user running lawful"))
        return ReadResult(None, tuple(diags), sources)
    except ValueError:  # a NUL character: no file system has such a name
        what = "is not a possible folder name (it holds a NUL character)"
    if what is not None:
        from_env = os.environ.get(ENV_VAR) and Path(os.environ[ENV_VAR]) == root
        origin = " (from $" + ENV_VAR + ")" if from_env else ""
        diags.append(error("bad-bundle", f"bundle folder `{shown(str(root))}`{origin} {what}",
                           None, f"set ${ENV_VAR} to a folder holding gateways.yaml and policies/, or unset it"
                           if from_env else "pass --bundle DIR with a folder holding gateways.yaml and policies/"))
        return ReadResult(None, tuple(diags), sources)
    listing = list_bundle_files(root)
    diags.extend(listing.diagnostics)
    parses = ParseCache() if parses is None else parses
    register = None
    reg = [f for f in listing.files if f.name == REGISTER_NAME]
    if not listing.has_register:
        diags.append(error("missing-register", f"the bundle `{shown(str(root))}` has no {REGISTER_NAME}",
                           Span(REGISTER_NAME, 0, 0), "create gateways.yaml with a `statutes:` mapping"))
    elif reg:
        src = _read_text(reg[0].path, REGISTER_NAME, limits, diags)
        if src is not None:
            sources[src.name] = src
            diags.extend(control_characters(src))
            register, reg_diags = parses.register(src)
            diags.extend(reg_diags)
    if not listing.has_policies:
        diags.append(error("missing-policies", f"the bundle `{shown(str(root))}` has no {POLICIES_DIR}/ folder",
                           Span(POLICIES_DIR, 0, 0), "put the *.policy files in policies/"))
        return ReadResult(None, tuple(diags), sources)
    paths = [(f.name, f.path) for f in listing.files if f.name != REGISTER_NAME]
    if not paths and not listing.diagnostics:
        diags.append(error("empty-bundle", f"`{POLICIES_DIR}/` holds no *.policy file", Span(POLICIES_DIR, 0, 0)))
    if len(paths) > limits.max_files:
        diags.append(error("too-many-files", f"the bundle has {len(paths):,} policy files, over the limit of "
                           f"{limits.max_files:,}", Span(POLICIES_DIR, 0, 0)))
        paths = []
    files = []
    total = 0
    for name, p in paths:
        src = _read_text(p, name, limits, diags)
        if src is None:
            continue
        total += len(src.text)
        if total > limits.max_total_bytes:
            diags.append(error("limit-exceeded", "the bundle's policy files together exceed "
                               f"{limits.max_total_bytes:,} bytes", Span(name, 1, 1)))
            break
        sources[name] = src
        diags.extend(control_characters(src))
        parsed, file_diags = parses.parse(src)
        diags.extend(file_diags)
        if parsed is not None:
            files.append(parsed)
    parses.close()
    if register is None:
        return ReadResult(None, tuple(diags), sources)
    return ReadResult(m.Bundle(tuple(files), register, str(root)), tuple(diags), sources)


def bundle_from_texts(policies: Mapping[str, str], register_yaml: str,
                      parse: Optional[Callable[[SourceFile], tuple[Optional[m.PolicyFile], list[Diagnostic]]]] = None,
                      parse_register: Optional[
                          Callable[[SourceFile], tuple[Optional[m.Register], list[Diagnostic]]]] = None,
                      ) -> ReadResult:
    """Build a bundle from in-memory texts (tests, the HTTP service, `diff` between git revisions, the
    language server). `parse` and `parse_register` stand in for the per-file parse cache (the language server
    passes ones that keep the models of files that did not change)."""
    diags: list[Diagnostic] = []
    parses = ParseCache()
    parse_one = parse or parses.parse
    parse_yaml = parse_register or parses.register
    sources: dict[str, SourceFile] = {}
    reg_src = SourceFile(REGISTER_NAME, register_yaml)
    sources[REGISTER_NAME] = reg_src
    diags.extend(control_characters(reg_src))
    register, reg_diags = parse_yaml(reg_src)
    diags.extend(reg_diags)
    files = []
    for name in sorted(policies):
        # The same name rules as a folder's listing (a revision's names come from git, not from the listing).
        bad_name = file_name_problem(name)
        if bad_name is not None:
            diags.append(bad_name)
            continue
        src = SourceFile(name, policies[name])
        sources[name] = src
        if len(src.text.encode("utf-8")) > DEFAULT_LIMITS.max_file_bytes:
            diags.append(error("file-too-large",
                               f"`{name}` is over the limit of {DEFAULT_LIMITS.max_file_bytes:,} bytes",
                               Span(name, 1, 1)))
            continue
        diags.extend(control_characters(src))
        parsed, file_diags = parse_one(src)
        diags.extend(file_diags)
        if parsed is not None:
            files.append(parsed)
    parses.close()
    if not policies:
        diags.append(error("empty-bundle", "the bundle holds no policy file", Span(POLICIES_DIR, 0, 0)))
    if register is None:
        return ReadResult(None, tuple(diags), sources)
    return ReadResult(m.Bundle(tuple(files), register, ""), tuple(diags), sources)
