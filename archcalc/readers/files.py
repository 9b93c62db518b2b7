"""Opening what a reader reads: a regular file of bounded size, or standard input.

A FIFO, a device or a directory is refused before it is opened (reading one could block
forever or never end), and a file larger than ``limits.max_spec_bytes()`` before it is read.
"""
from __future__ import annotations

import os
import sys

from .. import limits


class NotASpecFile(OSError):
    """A path that is no regular file (a FIFO, a device, a socket), or one beyond the byte
    limit: refused before (or while) reading, so a FIFO cannot block and /dev/zero cannot
    fill memory. The command line reports it like any unreadable file (exit 2)."""

    def __init__(self, message: str):
        super().__init__(0, message)


def _file_kind(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _too_big(size: int | None, limit: int) -> NotASpecFile:
    held = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return NotASpecFile(f"it holds {held}; specs are limited to {limit:,} bytes (set "
                        f"{limits.MAX_BYTES_VARIABLE} to raise the limit)")


def check_regular_file(path: str, limit: int | None = None) -> int:
    """The size of ``path`` (symlinks followed), or NotASpecFile for anything but a regular
    file (never opened, so a FIFO cannot block) or a file above ``limit`` bytes. Every reader
    of a user's path (YAML here, ONNX in onnx_.py) calls it before opening."""
    import stat

    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotASpecFile(f"it is {_file_kind(info.st_mode)}, not a spec file")
    if limit is not None and info.st_size > limit:
        raise _too_big(info.st_size, limit)
    return info.st_size


def read_bytes(path: str) -> bytes:
    """The bytes of a spec file or of standard input (``-``), at most limits.max_spec_bytes().
    A path is stat-ed first (symlinks followed): anything but a regular file is refused
    without opening it, a regular file above the limit without reading it."""

    limit = limits.max_spec_bytes()
    if path != "-":
        check_regular_file(path, limit)
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None or stream.closed:
            raise NotASpecFile("standard input is closed")
        data = stream.read(limit + 1)
    else:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # the file may grow after the stat
    if len(data) > limit:
        raise _too_big(None, limit)
    return data
