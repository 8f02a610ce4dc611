"""Reading only regular files, boundedly.

`open()` on a FIFO blocks until a writer appears (for ever, if none does); reading `/dev/zero` never ends;
a path checked with `is_file()` can be swapped for either before it is opened. So every file the engine
reads from outside — a bundle's files, policy test files, a decision log, a transfer log — is opened
non-blocking, checked with `fstat` on the open descriptor (what is checked is what is read), refused unless
it is a regular file, and read no further than its size limit.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import IO, Optional

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder, not a regular file."""

    def __init__(self, path: str | os.PathLike, kind: str):
        self.kind = kind
        super().__init__(errno.EINVAL, f"it is {kind}, not a regular file", str(path))


class FileTooLarge(OSError):
    """The file is larger than the limit it is read under."""

    def __init__(self, path: str | os.PathLike, size: int, limit: int):
        self.size = size
        self.limit = limit
        super().__init__(errno.EFBIG, f"it is over the limit of {limit:,} bytes", str(path))


def kind_of(mode: int) -> str:
    """A file type in words, for messages."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY, *, follow_symlinks: bool = True,
                 dir_fd: Optional[int] = None, mode: int = 0o600) -> tuple[int, os.stat_result]:
    """Open `path` without blocking and return (descriptor, fstat) only when it is a regular file; otherwise
    close it and raise NotRegularFile. O_NONBLOCK makes opening a FIFO return at once (for writing, with
    ENXIO when no one reads it) instead of waiting for the other end; it changes nothing for a regular file."""
    flags |= _NONBLOCK | _CLOEXEC | _BINARY
    if not follow_symlinks:
        flags |= _NOFOLLOW
    try:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
    except ValueError:  # a NUL character in the name
        raise OSError(errno.EINVAL, "the name holds a NUL character", str(path)) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader, or a socket
            raise NotRegularFile(path, "a FIFO or socket") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, kind_of(st.st_mode))
        if _NONBLOCK:
            os.set_blocking(fd, True)  # a regular file: ordinary reads and writes from here on
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_fd(fd: int, limit: int, name: str | os.PathLike = "") -> bytes:
    """Everything left in `fd`, refusing more than `limit` bytes (a file may grow while it is read)."""
    chunks = []
    total = 0
    while True:
        chunk = os.read(fd, min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise FileTooLarge(name, total, limit)
    return b"".join(chunks)


def read_regular(path: str | os.PathLike, limit: int, *, follow_symlinks: bool = True,
                 dir_fd: Optional[int] = None) -> bytes:
    """The bytes of a regular file, at most `limit` of them (FileTooLarge beyond); NotRegularFile for a FIFO,
    device, socket or folder; OSError when it cannot be opened."""
    fd, st = open_regular(path, follow_symlinks=follow_symlinks, dir_fd=dir_fd)
    try:
        if st.st_size > limit:
            raise FileTooLarge(path, st.st_size, limit)
        return read_fd(fd, limit, path)
    finally:
        os.close(fd)


def open_regular_text(path: str | os.PathLike, encoding: str = "utf-8", errors: str = "strict",
                      newline: Optional[str] = None) -> IO[str]:
    """`open(path, encoding=…)` for reading, refusing anything but a regular file (for streamed logs, which
    are bounded by their readers rather than read whole)."""
    fd, _st = open_regular(path)
    raw = os.fdopen(fd, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline=newline)


def write_regular(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path`, creating it (0666 less the umask) or replacing its contents — but only when it
    is, or becomes, a regular file: a FIFO, a device or a socket given as an output is refused rather than
    waited on."""
    fd, _st = open_regular(Path(path), os.O_WRONLY | os.O_CREAT, mode=0o666)
    try:
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
