"""The local price cache: one CSV per symbol, `<prices dir>/<symbol>.csv`, written atomically.

The file holds `date,open,high,low,close,volume` (the same layout as the shared data file);
`no_trading` is recomputed on every load, never trusted from a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from data_feeds.bars import BAR_COLUMNS, empty_bars, placeholder_mask, read_price_csv
from data_feeds.errors import DataError
from data_feeds.symbols import SYMBOL, SYMBOL_EXPECTED

REMEDY = "run `xmtrade data fetch` or `xmtrade data import FILE`"


@dataclass(frozen=True)
class Revision:
    """A cached bar whose values changed: the new values replace the old ones."""

    date: date
    old: dict[str, float]
    new: dict[str, float]

    def describe(self) -> str:
        """`2026-03-26 close 39.2 -> 39.3, volume 1e+07 -> 1.1e+07` (changed fields only)."""
        changes = [
            f"{k} {self.old[k]:g} -> {self.new[k]:g}"
            for k in BAR_COLUMNS
            if not _same(self.old[k], self.new[k])
        ]
        return f"{self.date} {', '.join(changes)}"


@dataclass(frozen=True)
class MergeReport:
    """What merging new bars into the cache changed."""

    symbol: str
    added: tuple[date, ...] = ()
    revised: tuple[Revision, ...] = ()
    unchanged: int = 0
    total: int = 0
    first: date | None = None
    last: date | None = None
    path: Path | None = field(default=None, compare=False)

    @property
    def changed(self) -> bool:
        """True when the merge added or revised at least one bar."""
        return bool(self.added or self.revised)


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


def merge_bars(
    old: pd.DataFrame, new: pd.DataFrame, symbol: str
) -> tuple[pd.DataFrame, MergeReport]:
    """`old` updated with `new` (new values win) and a report of added and revised dates.

    Both frames must be canonical with unique dates.
    """
    for frame, what in ((old, "cached"), (new, "new")):
        dup = pd.DatetimeIndex(frame.index).duplicated()
        if dup.any():
            day = pd.Timestamp(frame.index[dup][0]).date()
            raise DataError(symbol, str(day), f"duplicate date in the {what} bars; cannot merge")
    new_idx = pd.DatetimeIndex(new.index)
    old_idx = pd.DatetimeIndex(old.index)
    added_idx = new_idx.difference(old_idx)
    common = new_idx.intersection(old_idx)
    revised: list[Revision] = []
    if len(common):
        a = old.loc[common, list(BAR_COLUMNS)].to_numpy(dtype="float64")
        b = new.loc[common, list(BAR_COLUMNS)].to_numpy(dtype="float64")
        differs = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        for pos in np.flatnonzero(differs.any(axis=1)).tolist():
            revised.append(
                Revision(
                    date=pd.Timestamp(common[pos]).date(),
                    old={k: float(a[pos, i]) for i, k in enumerate(BAR_COLUMNS)},
                    new={k: float(b[pos, i]) for i, k in enumerate(BAR_COLUMNS)},
                )
            )
    kept = old.loc[~old_idx.isin(new_idx), list(BAR_COLUMNS)]
    merged = pd.concat([kept, new.loc[:, list(BAR_COLUMNS)]]).sort_index(kind="stable")
    merged.index = pd.DatetimeIndex(merged.index, name="date").as_unit("ns")
    merged = merged.astype("float64")
    merged["no_trading"] = placeholder_mask(merged)
    report = MergeReport(
        symbol=symbol,
        added=tuple(pd.Timestamp(d).date() for d in added_idx),
        revised=tuple(revised),
        unchanged=len(common) - len(revised),
        total=len(merged),
        first=pd.Timestamp(merged.index[0]).date() if len(merged) else None,
        last=pd.Timestamp(merged.index[-1]).date() if len(merged) else None,
    )
    return merged, report


class PriceCache:
    """Daily bars per symbol in `directory` (the `prices` folder of the data directory)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, symbol: str) -> Path:
        """The cache file of `symbol`."""
        if not SYMBOL.match(symbol):
            raise DataError("symbol", symbol, SYMBOL_EXPECTED)
        return self.directory / f"{symbol}.csv"

    def exists(self, symbol: str) -> bool:
        """True when a cache file for `symbol` exists."""
        return self.path_for(symbol).is_file()

    def load(self, symbol: str) -> pd.DataFrame:
        """The cached bars of `symbol`; `DataError` when missing, empty or corrupt."""
        path = self.path_for(symbol)
        if not path.is_file() or path.stat().st_size == 0:
            state = "empty" if path.is_file() else "missing"
            raise DataError(str(path), None, f"no cached prices for {symbol} ({state}); {REMEDY}")
        try:
            bars = read_price_csv(path)
        except DataError as exc:
            raise DataError(
                exc.where,
                exc.field,
                f"{exc.message} (corrupt cache file: delete it, then {REMEDY})",
            ) from None
        if bars.empty:
            raise DataError(str(path), None, f"no cached prices for {symbol} (empty); {REMEDY}")
        dup = pd.DatetimeIndex(bars.index).duplicated()
        gaps = bars.loc[:, list(BAR_COLUMNS)].isna().any(axis=1).to_numpy()
        for bad, what in ((dup, "duplicate date"), (gaps, "missing values")):
            if bad.any():
                day = pd.Timestamp(bars.index[bad][0]).date()
                raise DataError(
                    str(path), str(day), f"{what} (corrupt cache file: delete it, then {REMEDY})"
                )
        return bars

    def load_or_empty(self, symbol: str) -> pd.DataFrame:
        """The cached bars, or an empty bars frame when there is no cache file yet."""
        if not self.exists(symbol):
            return empty_bars()
        return self.load(symbol)

    def save(self, symbol: str, bars: pd.DataFrame) -> Path:
        """Write `bars` as the cache of `symbol`, atomically: all of it or nothing.

        The CSV goes to a temporary file in the same folder, is flushed to disk, then replaces
        the old file in one `os.replace`; any failure leaves the old file as it was.
        """
        path = self.path_for(symbol)
        if bars.empty:
            raise DataError(str(path), None, "refusing to write an empty price cache")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temp_name = tempfile.mkstemp(
                dir=self.directory, prefix=f".{symbol}.", suffix=".tmp"
            )
        except OSError as exc:
            raise DataError(
                str(path), None, f"cannot write the cache: {exc.strerror or exc}"
            ) from None
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                os.fchmod(out.fileno(), _file_mode(path))
                _write_bars(out, bars)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            if isinstance(exc, OSError):
                raise DataError(
                    str(path), None, f"cannot write the cache: {exc.strerror or exc}"
                ) from None
            raise
        _fsync_directory(self.directory)
        return path

    def merge(self, symbol: str, new_bars: pd.DataFrame) -> MergeReport:
        """Merge `new_bars` into the cache (new values win) and save when anything changed."""
        merged, report = merge_bars(self.load_or_empty(symbol), new_bars, symbol)
        path = self.save(symbol, merged) if report.changed else self.path_for(symbol)
        return replace(report, path=path)


def load_bars(prices_dir: Path, symbol: str) -> pd.DataFrame:
    """The cached bars of `symbol` from the prices directory (what a backtest reads)."""
    return PriceCache(prices_dir).load(symbol)


def _write_bars(out: IO[str], bars: pd.DataFrame) -> None:
    """The cache CSV: ISO dates, prices as written by Python (exact round trip), whole volumes."""
    frame = bars.loc[:, list(BAR_COLUMNS)].copy()
    volume = frame["volume"].to_numpy(dtype="float64")
    whole = np.isfinite(volume) & (volume == np.round(volume))
    if whole.all():
        frame["volume"] = volume.astype("int64")
    frame.index = pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d")
    frame.index.name = "date"
    frame.to_csv(out, lineterminator="\n")


def _file_mode(path: Path) -> int:
    """The old file's permissions, else the usual ones for a new file (mkstemp makes 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
