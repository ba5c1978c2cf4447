"""Errors raised by the engine; all are `UserInputError`s caught in `xmtrade.cli.main`."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from data_feeds.errors import DataError, UserInputError

if TYPE_CHECKING:
    from pathlib import Path


class ConfigError(UserInputError):
    """A config file, a config value or a command-line option that cannot be used."""


class OutputError(UserInputError):
    """A file or folder that cannot be written: a full disk, a quota, a read-only disk, no
    permission. Never a bug and never a damaged file: the user frees space and runs again."""


class ExecutorError(UserInputError):
    """The machines a sweep runs on failed it: a lost Dask scheduler or worker, a worker
    process that died. The runs finished before are kept in the partial files."""


# errno -> what the user is told; every other OSError is not about the disk being unusable
DISK_PROBLEMS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def disk_error(exc: OSError, path: Path | str | None = None, kept: str = "") -> OutputError | None:
    """The one-line error of an OSError that says the disk cannot take the write (a full
    disk, a quota, no permission), naming `path` (else the file the error names); None for
    any other OSError."""
    reason = DISK_PROBLEMS.get(exc.errno or -1)
    if reason is None:
        return None
    where = str(path if path is not None else exc.filename or "output file")
    tail = f"; {kept}" if kept else ""
    return OutputError(where, None, f"cannot write: {reason}{tail}")


@contextmanager
def writing(path: Path | str, kept: str = "nothing half-written was kept") -> Iterator[None]:
    """Turn a full disk (or a quota, no permission) while writing `path` into one line naming
    it; `kept` says what is left (the caller makes it true)."""
    try:
        yield
    except OSError as exc:
        error = disk_error(exc, path, kept)
        if error is None:
            raise
        raise error from None


@contextmanager
def removed_if_empty(folder: Path, ours: bool) -> Iterator[None]:
    """Run the block; if it fails and leaves `folder` empty, remove it when it is `ours` (made
    for this command, not given empty by the user): a refused command leaves no empty folder."""
    try:
        yield
    except BaseException:
        if ours:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


__all__ = [
    "ConfigError",
    "DataError",
    "ExecutorError",
    "OutputError",
    "UserInputError",
    "disk_error",
    "removed_if_empty",
    "writing",
]
