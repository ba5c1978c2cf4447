"""Picking up a sweep that did not finish: `xmtrade sweep --resume DIR`.

While a sweep runs, every finished run's outcome (its metrics, its hash, its daily returns)
is appended to `outcomes.partial.jsonl` and `returns.partial.f8` in its folder, flushed as
it lands, so a sweep stopped by Ctrl-C, by SIGTERM or killed outright (SIGKILL, a lost
machine) keeps every run that finished. `sweep.json` names the sweep's owner (pid, host,
start) and everything needed to run it again: the grid and config files, the data
directory, the window, the metric, the engine.

A resumed sweep rebuilds the same combinations, checks that each kept outcome still belongs
to them (the same combination, the same config hash, the same prices), runs only the others
and then finishes as the first run would have: the same results.csv, best.yaml and
overfitting figures as a sweep that was never stopped. With the kernel engine the screening
(seconds for thousands of rows) and the confirmations run again from the start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from xmtrade.errors import ConfigError
from xmtrade.sweep.owner import Owner
from xmtrade.sweep.work import Outcome

if TYPE_CHECKING:
    import pandas as pd

    from xmtrade.config import AppConfig

OUTCOMES = "outcomes.partial.jsonl"
RETURNS = "returns.partial.f8"


def prices_digest(bars: pd.DataFrame) -> str:
    """A digest of the prices a sweep ran on (dates and every column)."""
    digest = hashlib.sha256()
    digest.update(bars.index.to_numpy(dtype="datetime64[ns]").view("i8").tobytes())
    for name in sorted(bars.columns):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(bars[name].to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()[:16]


class OutcomeLog:
    """The outcomes of a sweep's finished runs, appended as they finish."""

    def __init__(self, folder: Path, resume: bool = False) -> None:
        """A new log (its files made with the first outcome), or (`resume`) the kept one
        continued after its last whole record."""
        self.folder = folder
        self.resume = resume
        self._files: tuple[IO[str], IO[bytes]] | None = None
        self._offset = 0

    def _open(self) -> tuple[IO[str], IO[bytes]]:
        if self._files is None:
            from xmtrade.sweep.search_journal import cut_torn_line

            if self.resume:
                cut_torn_line(self.folder / OUTCOMES)
            mode = "a" if self.resume else "w"
            lines = (self.folder / OUTCOMES).open(mode, encoding="utf-8")
            returns = (self.folder / RETURNS).open(f"{mode}b")
            self._offset = returns.seek(0, 2)
            self._files = lines, returns
        return self._files

    def add(self, index: int, params: Mapping[str, Any], outcome: Outcome) -> None:
        """Keep one run's outcome (the returns first, then the line that points at them)."""
        lines, returns = self._open()
        span = None
        if outcome.returns is not None:
            data = np.ascontiguousarray(outcome.returns, dtype="<f8").tobytes()
            returns.write(data)
            returns.flush()
            span = [self._offset, len(outcome.returns)]
            self._offset += len(data)
        record = {
            "index": index,
            "params": params,
            "metrics": outcome.metrics,
            "config_hash": outcome.config_hash,
            "error": outcome.error,
            "seconds": outcome.seconds,
            "returns": span,
        }
        lines.write(json.dumps(record, default=_plain) + "\n")
        lines.flush()

    def close(self) -> None:
        """Close the files (a later `add` opens them again, appending)."""
        if self._files is not None:
            for file in self._files:
                file.close()
            self._files = None
            self.resume = True


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def read_outcomes(folder: Path) -> dict[int, tuple[dict[str, Any], Outcome]]:
    """The kept outcomes by combination index, with their parameters (a last record the
    kill cut short is left out)."""
    lines_path, returns_path = folder / OUTCOMES, folder / RETURNS
    if not lines_path.exists():
        return {}
    returns = returns_path.read_bytes() if returns_path.exists() else b""
    kept: dict[int, tuple[dict[str, Any], Outcome]] = {}
    for line in lines_path.read_text(encoding="utf-8").split("\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the empty tail, or a line cut by the kill
        span = record["returns"]
        series = None
        if span is not None:
            start, count = span
            if start + 8 * count > len(returns):
                continue
            series = np.frombuffer(returns, dtype="<f8", count=count, offset=start).copy()
        index = int(record["index"])
        outcome = Outcome(
            (None, index),
            record["metrics"],
            series,
            record["config_hash"],
            record["error"],
            float(record["seconds"]),
        )
        kept[index] = (record["params"], outcome)
    return kept


def matching(
    folder: Path,
    kept: Mapping[int, tuple[dict[str, Any], Outcome]],
    combinations: Sequence[Mapping[str, Any]],
    configs: Sequence[AppConfig],
) -> dict[int, Outcome]:
    """The kept outcomes, each checked against the combination it was run for: a grid, a
    config file or defaults that changed since is a one-line error."""
    reused: dict[int, Outcome] = {}
    for index, (params, outcome) in sorted(kept.items()):
        same = index < len(combinations) and _canonical(params) == _canonical(combinations[index])
        if same and outcome.config_hash is not None:
            same = outcome.config_hash == configs[index].config_hash()
        if not same:
            raise ConfigError(
                str(folder),
                None,
                f"combination {index + 1} is not the one this sweep ran (the grid, a config "
                "file or the defaults changed since): start a new sweep",
            )
        reused[index] = outcome
    return reused


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=_plain)


def read_marker(folder: Path) -> dict[str, Any]:
    """A sweep folder's sweep.json, or a one-line error."""
    marker = folder / "sweep.json"
    if not folder.is_dir():
        raise ConfigError("--resume", None, f"{folder} is not a folder")
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--resume", None, f"{folder} holds no sweep.json: not a sweep") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(marker), None, f"cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("kind") != "sweep":
        raise ConfigError(str(marker), "kind", "not a sweep's marker")
    return meta


def resumable(folder: Path, meta: Mapping[str, Any]) -> Owner | None:
    """Check that the sweep in `folder` may be resumed; the dead owner it takes over from,
    if it was killed."""
    status = meta.get("status")
    if status == "finished":
        raise ConfigError("--resume", None, f"the sweep in {folder} has finished: nothing to do")
    if not isinstance(meta.get("resume"), dict):
        raise ConfigError(
            "--resume",
            None,
            f"the sweep in {folder} was made by an older xmtrade that kept no settings to "
            "resume from: start a new sweep",
        )
    if status != "running":
        return None
    owner = Owner.of(meta.get("owner"))
    alive = None if owner is None else owner.alive()
    if owner is not None and alive is False:
        return owner
    who = owner.words() if owner is not None else "a process that did not say"
    if alive is None and owner is not None:
        raise ConfigError(
            "--resume", None, f"the sweep in {folder} may still be running ({who}): check there"
        )
    raise ConfigError("--resume", None, f"the sweep in {folder} is still running ({who})")


def occupied(folder: Path) -> str | None:
    """Why a non-empty `folder` given as --out holds a sweep or walk-forward, in words (None
    when it holds something else)."""
    for marker, kind in (("sweep.json", "sweep"), ("walkforward.json", "walk-forward")):
        try:
            meta = json.loads((folder / marker).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict):
            continue
        status = meta.get("status")
        if status not in ("running", "finished", "interrupted", "failed"):
            continue
        can = kind == "sweep" and isinstance(meta.get("resume"), dict)
        resume = f"; continue it with `xmtrade sweep --resume {folder}`" if can else ""
        if status == "finished":
            return f"{folder} holds a finished {kind}; choose a new folder"
        if status == "running":
            owner = Owner.of(meta.get("owner"))
            if owner is None:
                return (
                    f"{folder} holds a {kind} marked running by an older xmtrade (no owner "
                    "recorded); choose a new folder"
                )
            alive = None if owner is None else owner.alive()
            if owner is not None and alive is False:
                return (
                    f"{folder} holds a {kind} that was killed ({owner.words()}, no longer "
                    f"running){resume}, or choose a new folder"
                )
            who = "" if owner is None else f" ({owner.words()})"
            still = "may still be running" if alive is None else "is still running"
            return f"{folder} holds a {kind} that {still}{who}; choose a new folder"
        return f"{folder} holds a {kind} that was {status}{resume}, or choose a new folder"
    return None
