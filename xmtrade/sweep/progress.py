"""Progress of a sweep on stderr: a rich progress bar (count, percent, rate, elapsed time,
ETA, the best so far) on a terminal; plain lines when stderr is not one (a log file)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

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
        self._next_tenth = 1
        self._lined = self.started
        self._note_text = ""
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        if self.enabled and self.tty:
            self._bar, self._task = self._start_bar()

    def _start_bar(self) -> tuple[RichProgress, TaskID]:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        console = Console(file=self.stream, force_terminal=True)
        bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=False,
        )
        bar.start()
        task = bar.add_task(self.label, total=self.total, rate="", note="")
        return bar, task

    def advance(self, count: int = 1, failed: int = 0, note: str = "") -> None:
        """`count` more runs finished (`failed` of them with an error)."""
        self.done += count
        self.failed += failed
        if not self.enabled:
            return
        now = time.monotonic()
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, completed=self.done, rate=self._rate(now), note=self._note(note)
            )
            return
        tenth = self.done * 10 // max(1, self.total)
        if tenth >= self._next_tenth or now - self._lined >= LINE_SECONDS:
            self._next_tenth = tenth + 1
            self._lined = now
            self.stream.write(self.line(now, note) + "\n")
            self.stream.flush()

    def _rate(self, now: float) -> str:
        elapsed = now - self.started
        return f"{self.done / elapsed:.1f}/s" if elapsed > 0 else ""

    def _note(self, note: str) -> str:
        self._note_text = note or self._note_text
        parts = [f"{self.failed} failed" if self.failed else "", self._note_text]
        return "; ".join(p for p in parts if p)

    def line(self, now: float | None = None, note: str = "") -> str:
        """The plain progress text: count, percent, rate, elapsed time, ETA, note."""
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        share = self.done / self.total if self.total else 1.0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        remaining = self.total - self.done
        eta = clock(remaining / rate) if rate > 0 else "?"
        parts = [
            f"{self.done}/{self.total} {self.label} ({share:.0%})",
            f", {rate:.1f}/s, elapsed {clock(elapsed)}, ETA {eta}",
            f", {self.failed} failed" if self.failed else "",
            f"; {note}" if note else "",
        ]
        return "".join(parts)

    def finish(self) -> None:
        """Stop the bar (its last state stays on the terminal)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()
