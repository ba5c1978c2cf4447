"""Errors raised by the engine; all are `UserInputError`s caught in `xmtrade.cli.main`."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator, Sequence
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
def removed_if_empty(folder: Path, ours: bool, made: Sequence[Path] = ()) -> Iterator[None]:
    """Run the block; if it fails and leaves `folder` empty, remove it when it is `ours` (made
    for this command, not given empty by the user), and then each of the parents in `made`
    (`missing_dirs`, taken before the folder was created) left empty: a refused command
    leaves no empty folder, nor an empty `runs/` or `sweeps/` above it."""
    try:
        yield
    except BaseException:
        if ours:
            with contextlib.suppress(OSError):
                folder.rmdir()
        for parent in made:
            with contextlib.suppress(OSError):
                parent.rmdir()  # only when empty
        raise


def missing_dirs(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first: what a command
    creating `path` makes (and `removed_if_empty` removes again)."""
    missing: list[Path] = []
    current = path.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


__all__ = [
    "ConfigError",
    "DataError",
    "ExecutorError",
    "OutputError",
    "UserInputError",
    "disk_error",
    "missing_dirs",
    "removed_if_empty",
    "writing",
]
