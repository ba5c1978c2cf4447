"""A sweep's or walk-forward's folder when the run does not finish: what it keeps.

While it runs, a folder holds its marker (`sweep.json`, `walkforward.json`, saying
"running") and tables named `*.partial.*`. The finished names (results.csv, best.yaml,
windows.csv, ...) appear only once every run is done, and the marker says "finished" last.

- stopped (Ctrl-C, SIGTERM): only the `*.partial.*` files are kept, rewritten from every
  finished run, and the marker says "interrupted";
- failed (a lost Dask scheduler or worker): the same, and the marker says "failed" and why;
- a full disk: nothing is kept (the folder is removed, or emptied when it was given empty),
  and the error names the folder.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xmtrade.errors import UserInputError, disk_error
from xmtrade.interrupts import critical
from xmtrade.sweep.output import write_json

PARTIAL_RESULTS = "results.partial.csv"
PARTIAL = ".partial."


class Stopped(Exception):
    """The runs were stopped by a signal: keep the partial files and say "interrupted"."""


def partial_name(name: str) -> str:
    """`windows.csv` -> `windows.partial.csv`."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}{PARTIAL}{suffix}" if dot else f"{name}{PARTIAL.rstrip('.')}"


class RunFolder:
    """The output folder of one sweep or walk-forward, from its first file to its last."""

    def __init__(
        self,
        folder: Path,
        created: bool,
        marker: str,
        meta: dict[str, Any],
        resumed: bool = False,
    ) -> None:
        self.folder = folder
        self.created = created  # made by this run (else it was given, empty)
        self.resumed = resumed  # a stopped run's folder, continued: its partial files stay
        self.marker = marker
        self.meta = meta
        self.stopped = False

    def write_marker(self, **update: Any) -> None:
        """The marker file with `update` applied to its contents."""
        self.meta.update(update)
        write_json(self.folder / self.marker, self.meta)

    @contextmanager
    def guard(self, keep: Callable[[], Mapping[str, Any]]) -> Iterator[None]:
        """Run the block; when it is stopped or fails, `keep()` writes the partial tables and
        returns what the marker adds (a stop ends the block quietly with `stopped` set)."""
        try:
            yield
        except (Stopped, KeyboardInterrupt):
            with critical():
                self._keep(keep, status="interrupted")
            self.stopped = True
        except OSError as exc:
            error = disk_error(exc, self.folder, self._nothing_kept())
            if error is None:
                with critical():
                    self._keep(keep, status="failed", error=f"{type(exc).__name__}: {exc}")
                raise
            with critical():
                self.remove()
            raise error from None
        except BaseException as exc:
            reason = exc.line() if isinstance(exc, UserInputError) else type(exc).__name__
            with critical(), contextlib.suppress(Exception):
                self._keep(keep, status="failed", error=reason)
            raise

    def _keep(self, keep: Callable[[], Mapping[str, Any]], **status: Any) -> None:
        try:
            self.drop_finished()
            self.meta.update(keep())
            self.write_marker(**status)
        except OSError as exc:
            error = disk_error(exc, self.folder, self._nothing_kept())
            if error is None:
                raise
            self.remove()
            raise error from None

    def drop_finished(self) -> None:
        """Remove everything but the marker and the `*.partial.*` files (the folder held
        nothing when the run began, so everything in it is this run's)."""
        marker = self.folder / self.marker
        for path in sorted(self.folder.rglob("*"), reverse=True):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()  # only when empty
                continue
            partial = PARTIAL in path.name and not path.name.startswith(".")
            if path != marker and not partial:
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Remove every file of this run (and the folder, when this run made it); in a
        resumed folder, everything but the partial files the stopped run kept."""
        if self.resumed:
            self.drop_finished()
            return
        if self.created:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        for child in self.folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def _nothing_kept(self) -> str:
        if self.resumed:
            return "the runs finished before this resume were kept"
        return "nothing was kept (the folder was removed)" if self.created else "nothing was kept"
