"""A progress bar with an ETA on stderr; plain lines when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 28
REDRAW_SECONDS = 0.1  # at most this often on a terminal
LINE_SECONDS = 30.0  # plain mode: a line at least this often, and at every tenth


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS or M:SS."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished runs out of `total` and shows the rate, the ETA and a note."""

    def __init__(
        self,
        total: int,
        label: str = "runs",
        stream: TextIO | None = None,
        tty: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._next_tenth = 1
        self._lined = self.started

    def advance(self, count: int = 1, failed: int = 0, note: str = "") -> None:
        """`count` more runs finished (`failed` of them with an error)."""
        self.done += count
        self.failed += failed
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._drawn >= REDRAW_SECONDS or self.done >= self.total:
                self._drawn = now
                self.stream.write("\r" + self.line(now, note) + "\x1b[K")
                self.stream.flush()
            return
        tenth = self.done * 10 // max(1, self.total)
        if tenth >= self._next_tenth or now - self._lined >= LINE_SECONDS:
            self._next_tenth = tenth + 1
            self._lined = now
            self.stream.write(self.line(now, note) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None, note: str = "") -> str:
        """The progress text: bar, count, percent, rate, elapsed time, ETA, note."""
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        share = self.done / self.total if self.total else 1.0
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled) if self.tty else ""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        remaining = self.total - self.done
        eta = clock(remaining / rate) if rate > 0 else "?"
        parts = [
            f"[{bar}] " if bar else "",
            f"{self.done}/{self.total} {self.label} ({share:.0%})",
            f", {rate:.1f}/s, elapsed {clock(elapsed)}, ETA {eta}",
            f", {self.failed} failed" if self.failed else "",
            f"; {note}" if note else "",
        ]
        return "".join(parts)

    def finish(self) -> None:
        """End the bar's line on a terminal."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
