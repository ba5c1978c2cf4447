"""Where a search's optuna study lives: its journal file, written in batches, and the lock
that makes one process at a time its owner.

optuna's journal file storage appends and fsyncs every operation: about seven writes a trial
(the trial, each parameter, its value and state), 30 ms a trial on a loaded disk. Here the
operations are kept in memory and appended to the journal in one write and one fsync once
`FLUSH_TRIALS` trials have been told, or `FLUSH_SECONDS` after the last write, and when the
search stops for any reason; a write always ends on a told trial, so the journal never holds
a trial left running. A search killed outright (SIGKILL, a power cut) loses at most the
trials told since the last write (at most `FLUSH_TRIALS`, at most about `FLUSH_SECONDS` of
work), and the next run resumes from the journal.

Because the unwritten trials live in one process, a study has one owner at a time: an
advisory lock (`flock`) on `<journal>.owner`, which the system releases when its process
dies however it dies. The file also names the owner (pid, host, start), so a second search of
the same study says who runs it, and a search that finds the record of a dead owner says so
in one line, drops the journal's stale `.lock` left by optuna (which would otherwise make
every later run wait 30 s and print optuna's warnings) and cuts a last line the kill left
half-written.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from xmtrade.errors import ConfigError
from xmtrade.sweep.owner import Owner

FLUSH_TRIALS = 100  # told trials kept in memory at most before the journal is written
FLUSH_SECONDS = 2.0  # ... or this long after the last write, whichever comes first


class StudyInUse(ConfigError):
    """Another live process owns the study."""


class StudyOwnership:
    """This process's hold on a study's journal (a context manager)."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.owner_file = journal.with_name(journal.name + ".owner")
        self._file: IO[str] | None = None
        self.took_over: Owner | None = None  # the dead owner whose record was found
        self.stale_lock = False  # optuna's lock file was left behind, and removed

    def __enter__(self) -> StudyOwnership:
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        handle = self.owner_file.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = Owner.of(_json(handle.read()))
            handle.close()
            who = owner.words() if owner is not None else "another process"
            raise StudyInUse(
                str(self.journal),
                None,
                f"this search's study is in use by {who}; wait for it to finish or stop it",
            ) from None
        handle.seek(0)
        # a record left behind: its owner died holding the study
        self.took_over = Owner.of(_json(handle.read()))
        # only the owner writes, so a lock or a torn line found now was left by a dead one
        # (by an older xmtrade, too, which kept no owner record)
        lock = Path(f"{self.journal}.lock")
        if lock.is_symlink() or lock.exists():
            lock.unlink(missing_ok=True)
            self.stale_lock = True
        cut_torn_line(self.journal)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(Owner.me().as_dict()) + "\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()  # a clean end leaves no owner record
        self._file.flush()
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def cut_torn_line(journal: Path) -> None:
    """Drop a last line without its newline (a write cut by a kill) from a file of lines."""
    if not journal.exists():
        return
    with journal.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        end = size
        while end > 0:
            step = min(65536, end)
            f.seek(end - step)
            chunk = f.read(step)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                f.truncate(end - step + cut + 1)
                return
            end -= step
        f.truncate(0)


def batched_backend(journal: Path) -> Any:
    """A journal backend that appends in batches (see the module's docstring)."""
    from optuna.storages.journal import BaseJournalBackend, JournalFileBackend

    class BatchedJournalBackend(BaseJournalBackend):
        """optuna's journal file backend with its appends held in memory until `flush`."""

        def __init__(self, path: Path) -> None:
            self._file = JournalFileBackend(str(path))
            self._unread: list[dict[str, Any]] = list(self._file.read_logs(0))
            self._first = 0  # log number of self._unread[0]
            self._pending: list[dict[str, Any]] = []
            self._told = 0  # pending logs up to the last told trial
            self.trials_unwritten = 0
            self.last_write = time.monotonic()
            self.writes = 0

        def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
            # one reader (this process's storage), which reads forward: drop what it read
            drop = max(0, min(log_number_from - self._first, len(self._unread)))
            if drop:
                del self._unread[:drop]
                self._first += drop
            start = max(0, log_number_from - self._first)
            yield from self._unread[start:]

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            self._pending.extend(logs)
            self._unread.extend(logs)

        def told(self) -> None:
            """A trial was told: the logs so far may be written; write them when due."""
            self._told = len(self._pending)
            self.trials_unwritten += 1
            due = time.monotonic() - self.last_write >= FLUSH_SECONDS
            if self.trials_unwritten >= FLUSH_TRIALS or due:
                self.flush()

        def flush(self) -> None:
            """Append every log up to the last told trial in one write and one fsync."""
            if self._told:
                self._file.append_logs(self._pending[: self._told])
                del self._pending[: self._told]
                self.writes += 1
            self._told = 0
            self.trials_unwritten = 0
            self.last_write = time.monotonic()

    return BatchedJournalBackend(journal)
