"""Bounded reads of the files a user names: regular files only, never more than a limit.

A size checked with stat() says nothing about a device or a pipe (a symlink to /dev/zero
has size 0 and never ends), so the type is checked on the opened file and the read itself
is capped. Callers turn `Refused` into their own one-line error naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISFIFO, "a pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Refused(Exception):
    """The file was not read: `reason` says why (e.g. 'a pipe, not a regular file')."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def describe_size(limit: int) -> str:
    for unit, name in ((2**30, "GiB"), (2**20, "MiB"), (10**6, "MB"), (10**3, "kB")):
        if limit % unit == 0:
            return f"{limit // unit} {name}"
    return f"{limit} bytes"


def not_regular(mode: int) -> str | None:
    """Why a file of this st_mode cannot be read as data, or None for a regular file."""
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    for test, kind in _KINDS:
        if test(mode):
            return f"{kind}, not a regular file"
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_regular(path: str | Path) -> os.stat_result:
    """stat() of `path` (symlinks followed) when it is a regular file, else Refused. Opening
    a pipe could block forever, so the type is known before anything is opened."""
    st = os.stat(path)
    reason = not_regular(st.st_mode)
    if reason:
        raise Refused(reason)
    return st


def read_bytes(path: str | Path, limit: int) -> bytes:
    """At most `limit` bytes of a regular file; Refused when it is not one or is larger.
    OSError (missing, permission) passes through for the caller to word."""
    check_regular(path)
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        reason = not_regular(st.st_mode)  # swapped since the stat
        if reason:
            raise Refused(reason)
        data = fh.read(limit + 1)
    if len(data) > limit:
        size = max(st.st_size, len(data))
        raise Refused(f"too large ({size} bytes; the limit is {describe_size(limit)})")
    return data


def read_text(path: str | Path, limit: int, newline: str | None = None) -> str:
    """`read_bytes` decoded as UTF-8 (UnicodeDecodeError passes through); newlines
    translated to \\n as open() does, unless newline="" (keep them, for csv)."""
    text = read_bytes(path, limit).decode("utf-8")
    if newline is None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
