"""Finding and reading a bundle: a folder holding `gateways.yaml` and `policies/` (every `*.policy` below it).

Reading is the only step that touches the file system. It enforces the input limits, refuses symbolic
links that leave the bundle, decodes strictly as UTF-8, and orders files by path so that nothing later
depends on the order the operating system lists them in.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from engine.syntax import model as m
from engine.base.diagnostics import Diagnostic, error
from engine.base.source import SourceFile, Span
from engine.base.filenames import file_name_problem

# parser (Lark) and register (YAML, JSON Schema) are imported where files are parsed, so that finding a
# bundle and answering from the compiled-bundle cache never pay for importing them.

REGISTER_NAME = "gateways.yaml"
POLICIES_DIR = "policies"
ENV_VAR = "LAWFUL_BUNDLE"


@dataclass(frozen=True)
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
    return (folder / REGISTER_NAME).is_file() and (folder / POLICIES_DIR).is_dir()


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
    try:
        size = path.stat().st_size
    except OSError as exc:
        diags.append(error("bad-bundle", f"cannot read `{name}`: {exc.strerror or exc}", Span(name, 1, 1)))
        return None
    if size > limits.max_file_bytes:
        diags.append(error("file-too-large", f"`{name}` is {size:,} bytes, over the limit of {limits.max_file_bytes:,}",
                           Span(name, 1, 1), "split it into several files"))
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        diags.append(error("bad-bundle", f"cannot read `{name}`: {exc.strerror or exc}", Span(name, 1, 1)))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.append(error("bad-encoding", f"`{name}` is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                           Span(name, line, col), "save the file as UTF-8"))
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(name, text)


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def policy_paths(root: Path, diags: list[Diagnostic]) -> list[Path]:
    """Every `*.policy` under `root/policies`, sorted; links that leave the bundle are refused."""
    out = []
    policies = root / POLICIES_DIR
    for dirpath, dirnames, filenames in os.walk(policies, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():
                dirnames.remove(d)
                name = (here / d).relative_to(root).as_posix()
                diags.append(error("unsafe-path", f"`{name}` is a symbolic link to a folder; it is not followed",
                                   Span(name, 1, 1)))
        for f in sorted(filenames):
            if not f.endswith(".policy"):
                continue
            p = here / f
            if not _inside(root, p):
                name = p.relative_to(root).as_posix()
                diags.append(error("unsafe-path", f"`{name}` links outside the bundle folder", Span(name, 1, 1),
                                   "copy the file into the bundle instead of linking to it"))
                continue
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


@dataclass(frozen=True)
class ReadResult:
    bundle: Optional[m.Bundle]
    diagnostics: tuple[Diagnostic, ...]
    sources: Mapping[str, SourceFile]


def read_bundle(root: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    """Read and parse every file of the bundle. Problems are collected, never raised."""
    from engine.syntax.parser import parse_source
    from engine.syntax.register import parse_register

    root = Path(root)
    diags: list[Diagnostic] = []
    sources: dict[str, SourceFile] = {}
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        from_env = os.environ.get(ENV_VAR) and Path(os.environ[ENV_VAR]) == root
        diags.append(error("bad-bundle", f"bundle folder `{root}`{' (from $' + ENV_VAR + ')' if from_env else ''} {what}",
                           None, f"set ${ENV_VAR} to a folder holding gateways.yaml and policies/, or unset it"
                           if from_env else "pass --bundle DIR with a folder holding gateways.yaml and policies/"))
        return ReadResult(None, tuple(diags), sources)
    register = None
    reg_path = root / REGISTER_NAME
    if not reg_path.is_file():
        diags.append(error("missing-register", f"the bundle `{root}` has no {REGISTER_NAME}", Span(REGISTER_NAME, 0, 0),
                           "create gateways.yaml with a `statutes:` mapping"))
    elif not _inside(root, reg_path):
        diags.append(error("unsafe-path", f"`{REGISTER_NAME}` links outside the bundle folder", Span(REGISTER_NAME, 1, 1)))
    else:
        src = _read_text(reg_path, REGISTER_NAME, limits, diags)
        if src is not None:
            sources[src.name] = src
            register, reg_diags = parse_register(src)
            diags.extend(reg_diags)
    if not (root / POLICIES_DIR).is_dir():
        diags.append(error("missing-policies", f"the bundle `{root}` has no {POLICIES_DIR}/ folder",
                           Span(POLICIES_DIR, 0, 0), "put the *.policy files in policies/"))
        return ReadResult(None, tuple(diags), sources)
    paths = policy_paths(root, diags)
    if not paths:
        diags.append(error("empty-bundle", f"`{POLICIES_DIR}/` holds no *.policy file", Span(POLICIES_DIR, 0, 0)))
    if len(paths) > limits.max_files:
        diags.append(error("too-many-files", f"the bundle has {len(paths):,} policy files, over the limit of "
                           f"{limits.max_files:,}", Span(POLICIES_DIR, 0, 0)))
        paths = []
    files = []
    total = 0
    for p in paths:
        name = p.relative_to(root).as_posix()
        bad_name = file_name_problem(name)
        if bad_name is not None:  # a control character in a name could rewrite a protocol or a screen
            diags.append(bad_name)
            continue
        src = _read_text(p, name, limits, diags)
        if src is None:
            continue
        total += len(src.text)
        if total > limits.max_total_bytes:
            diags.append(error("limit-exceeded", "the bundle's policy files together exceed "
                               f"{limits.max_total_bytes:,} bytes", Span(name, 1, 1)))
            break
        sources[name] = src
        parsed, file_diags = parse_source(src)
        diags.extend(file_diags)
        if parsed is not None:
            files.append(parsed)
    if register is None:
        return ReadResult(None, tuple(diags), sources)
    return ReadResult(m.Bundle(tuple(files), register, str(root)), tuple(diags), sources)


def bundle_from_texts(policies: Mapping[str, str], register_yaml: str,
                      parse: Optional[Callable[[SourceFile], tuple[Optional[m.PolicyFile], list[Diagnostic]]]] = None,
                      parse_register: Optional[Callable[[SourceFile], tuple[Optional[m.Register], list[Diagnostic]]]] = None,
                      ) -> ReadResult:
    """Build a bundle from in-memory texts (tests, the HTTP service, `diff` between git revisions, the
    language server). `parse` and `parse_register` stand in for `parse_source` and the register's reader (the
    language server passes ones that keep the models of files that did not change)."""
    from engine.syntax.parser import parse_source as parse_one
    from engine.syntax.register import parse_register as parse_yaml

    parse_source = parse or parse_one
    parse_register = parse_register or parse_yaml

    diags: list[Diagnostic] = []
    sources: dict[str, SourceFile] = {}
    reg_src = SourceFile(REGISTER_NAME, register_yaml)
    sources[REGISTER_NAME] = reg_src
    register, reg_diags = parse_register(reg_src)
    diags.extend(reg_diags)
    files = []
    for name in sorted(policies):
        bad_name = file_name_problem(name)
        if bad_name is not None:
            diags.append(bad_name)
            continue
        src = SourceFile(name, policies[name])
        sources[name] = src
        if len(src.text.encode("utf-8")) > DEFAULT_LIMITS.max_file_bytes:
            diags.append(error("file-too-large", f"`{name}` is over the limit of {DEFAULT_LIMITS.max_file_bytes:,} bytes",
                               Span(name, 1, 1)))
            continue
        parsed, file_diags = parse_source(src)
        diags.extend(file_diags)
        if parsed is not None:
            files.append(parsed)
    if not policies:
        diags.append(error("empty-bundle", "the bundle holds no policy file", Span(POLICIES_DIR, 0, 0)))
    if register is None:
        return ReadResult(None, tuple(diags), sources)
    return ReadResult(m.Bundle(tuple(files), register, ""), tuple(diags), sources)
