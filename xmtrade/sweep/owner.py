"""Who runs a sweep or a search: the process, its host and its start time, recorded where a
later command can tell a live owner from a dead one (a run killed with SIGKILL, or a
machine that went down, cleans nothing up).

A process is named by its pid and its start time (the kernel's clock ticks since boot, read
from /proc), so a pid reused by another program after the owner died is not taken for it.
An owner on another host cannot be checked from here and is reported as possibly running.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def _process_start(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (None where /proc cannot say)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return None
    # the second field is "(command)", which may hold spaces: count from its closing ")"
    return int(text[text.rindex(")") + 2 :].split()[19])


@dataclass(frozen=True)
class Owner:
    """A process that runs (or ran) a sweep or a search."""

    pid: int
    host: str
    started: str  # when it took the work, ISO 8601 UTC
    ticks: int | None  # its process start time, to tell a reused pid

    @staticmethod
    def me() -> Owner:
        """This process."""
        return Owner(
            os.getpid(),
            socket.gethostname(),
            datetime.now(UTC).isoformat(timespec="seconds"),
            _process_start(os.getpid()),
        )

    @staticmethod
    def of(record: Any) -> Owner | None:
        """An owner read back from JSON (None for anything that is not one)."""
        if not isinstance(record, dict):
            return None
        pid, host = record.get("pid"), record.get("host")
        if not isinstance(pid, int) or not isinstance(host, str):
            return None
        ticks = record.get("ticks")
        started = str(record.get("started", ""))
        return Owner(pid, host, started, ticks if isinstance(ticks, int) else None)

    def as_dict(self) -> dict[str, Any]:
        """The owner as JSON."""
        return {"pid": self.pid, "host": self.host, "started": self.started, "ticks": self.ticks}

    def alive(self) -> bool | None:
        """True when the owner still runs, False when it is gone, None when it runs on
        another host (nothing here can tell)."""
        if self.host != socket.gethostname():
            return None
        if self.pid == os.getpid():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: it exists
        ticks = _process_start(self.pid)
        return not (self.ticks is not None and ticks is not None and ticks != self.ticks)

    def words(self) -> str:
        """'pid 123 on host h, started 2026-...'."""
        return f"pid {self.pid} on {self.host}, started {self.started}"
