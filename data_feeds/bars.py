"""Reading daily price bars into one canonical shape, from whatever layout people have.

The canonical bars frame (the contract every other package relies on):

- index: tz-naive `DatetimeIndex` named `date`, session dates at midnight, ascending;
- float64 columns `open, high, low, close, volume`;
- bool column `no_trading`: True for Yahoo's placeholder bar (volume 0 and
  open == high == low == close), which must never trigger a trade.

`normalize_bars` gives that shape; whether the dates are unique HKEX sessions and the prices
consistent is `data_feeds.validation.validate_bars`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from data_feeds.errors import DataError

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
BAR_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
ALL_COLUMNS: tuple[str, ...] = (*BAR_COLUMNS, "no_trading")
EXCHANGE_TZ = "Asia/Hong_Kong"

# Names a date column may have (after lower-casing); yfinance intraday uses "Datetime".
_DATE_NAMES = ("date", "datetime", "timestamp")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T].*)?$")
_EXPECTED_HEADER = "Date,Open,High,Low,Close,Volume in any order and case"


def empty_bars() -> pd.DataFrame:
    """A canonical bars frame with no rows."""
    index = pd.DatetimeIndex([], name="date").as_unit("ns")
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in BAR_COLUMNS}, index=index)
    frame["no_trading"] = pd.Series(dtype="bool", index=index)
    return frame


def placeholder_mask(bars: pd.DataFrame) -> pd.Series:
    """True where a bar is Yahoo's no-trading placeholder: volume 0, open = high = low = close."""
    flat = (
        (bars["open"] == bars["high"])
        & (bars["high"] == bars["low"])
        & (bars["low"] == bars["close"])
    )
    mask: pd.Series = (bars["volume"] == 0) & flat
    return mask.astype(bool)


def normalize_bars(frame: pd.DataFrame, where: str, symbol: str | None = None) -> pd.DataFrame:
    """Turn a yfinance download, a Yahoo CSV export or a similar frame into canonical bars.

    Accepts MultiIndex (`Price`, `Ticker`) columns (picks `symbol`, or the only ticker), any
    case and order of column names, a date column or a date index, tz-aware dates (read in
    Hong Kong time). Extra columns (`Adj Close`, `Dividends`, ...) are dropped; `Close` is used,
    never `Adj Close`. Rows with a date but no values at all are dropped (Yahoo's `null` rows).
    """
    return _normalize(frame, where, symbol, lambda pos: f"row {pos + 1}")


def read_price_csv(path: Path) -> pd.DataFrame:
    """Read a price CSV (Yahoo export, the shared file, the cache) into canonical bars."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(where, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(where, None, "is a directory, expected a CSV file") from None
    except OSError as exc:
        raise DataError(where, None, f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in raw[:4096]:
        raise DataError(where, None, "binary file, not a CSV (export the prices as CSV text)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(where, None, "not UTF-8 text, expected a CSV file") from None
    if not text.strip():
        raise DataError(where, None, f"empty file, expected a CSV with a header {_EXPECTED_HEADER}")
    from io import StringIO

    try:
        frame = pd.read_csv(StringIO(text), dtype=str, skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        raise _parser_error(where, str(exc)) from None
    except pd.errors.EmptyDataError:
        raise DataError(
            where, None, f"empty file, expected a CSV with a header {_EXPECTED_HEADER}"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame.columns) == 1:
        for separator, name in ((";", "';'"), ("\t", "tabs (a tab-delimited file)")):
            if separator in frame.columns[0]:
                raise DataError(where, "header", f"fields are separated by {name}, expected commas")
    _check_header(text, where)
    # drop the blank lines kept for line numbering (a blank line has no value at all)
    blank = frame.isna().all(axis=1)
    # data starts on line 2 (line 1 is the header); blank lines were kept, so this is exact
    bars = _normalize(frame, where, None, lambda pos: f"line {pos + 2}", drop=blank)
    if bars.empty:
        raise DataError(where, None, "no price rows after the header line")
    return bars


def _check_header(text: str, where: str) -> None:
    """A header naming a price or date column twice (`close,close`, `Close,close`) is refused:
    which one holds the prices cannot be known (pandas would rename one `close.1`)."""
    import csv

    first = text.lstrip("\n").split("\n", 1)[0]
    names = next(csv.reader([first]), [])
    seen: set[str] = set()
    for name in names:
        key = _column_key(name)
        if key in seen and (key in BAR_COLUMNS or key in _DATE_NAMES):
            raise DataError(where, "header", f"column {key!r} appears twice")
        seen.add(key)


def _parser_error(where: str, detail: str) -> DataError:
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    if match:
        expected, line, saw = match.groups()
        return DataError(where, f"line {line}", f"expected {expected} fields, saw {saw}")
    return DataError(where, None, f"not a readable CSV: {detail.strip()}")


def _select_symbol(
    frame: pd.DataFrame, columns: pd.MultiIndex, where: str, symbol: str | None
) -> pd.DataFrame:
    """Flatten yfinance's (`Price`, `Ticker`) columns to the price names of one symbol."""
    if columns.nlevels != 2:
        raise DataError(where, "columns", "expected (Price, Ticker) column levels like yfinance")
    names = [str(n) if n is not None else "" for n in columns.names]
    if "Ticker" in names:
        ticker_level = names.index("Ticker")
    else:
        # the level whose values look like price names is the price level
        lowered = {str(v).strip().lower() for v in columns.get_level_values(0)}
        ticker_level = 1 if lowered & set(BAR_COLUMNS) else 0
    price_level = 1 - ticker_level
    tickers = list(dict.fromkeys(str(t) for t in columns.get_level_values(ticker_level)))
    if symbol is not None:
        wanted = [t for t in tickers if t.upper() == symbol.upper()]
        if not wanted:
            raise DataError(
                where, "columns", f"no columns for {symbol} (tickers present: {', '.join(tickers)})"
            )
        pick = wanted[0]
    elif len(tickers) == 1:
        pick = tickers[0]
    else:
        raise DataError(
            where, "columns", f"several tickers ({', '.join(tickers)}); name the symbol to use"
        )
    mask = [str(t) == pick for t in columns.get_level_values(ticker_level)]
    picked = frame.loc[:, mask]
    picked.columns = [str(c) for c in picked.columns.get_level_values(price_level)]
    return picked


def _normalize(
    frame: pd.DataFrame,
    where: str,
    symbol: str | None,
    row_name: Callable[[int], str],
    drop: pd.Series | None = None,
) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(where, None, f"expected a table of prices, got {type(frame).__name__}")
    if isinstance(frame.columns, pd.MultiIndex):
        frame = _select_symbol(frame, frame.columns, where, symbol)
    original = [str(c) for c in frame.columns]
    renamed = [_column_key(c) for c in frame.columns]
    seen: set[str] = set()
    for key in renamed:
        if key in seen and (key in BAR_COLUMNS or key in _DATE_NAMES):
            raise DataError(where, "columns", f"column {key!r} appears twice")
        seen.add(key)
    frame = frame.set_axis(renamed, axis=1)

    date_col = next((n for n in _DATE_NAMES if n in seen), None)
    if date_col is not None:
        raw_dates = pd.Series(frame[date_col])
    elif isinstance(frame.index, pd.DatetimeIndex):
        raw_dates = pd.Series(frame.index)
    elif frame.index.name is not None and _column_key(frame.index.name) in _DATE_NAMES:
        raw_dates = pd.Series(frame.index.to_numpy(), dtype=object)
    else:
        raise DataError(
            where, "columns", f"no date column (expected {_EXPECTED_HEADER}, or a date index)"
        )

    missing = [c for c in BAR_COLUMNS if c not in seen]
    if missing:
        found = ", ".join(original) or "none"
        raise DataError(
            where,
            "columns",
            f"missing required column(s) {', '.join(missing)} "
            f"(expected {_EXPECTED_HEADER}; found: {found})",
        )

    values = frame.loc[:, list(BAR_COLUMNS)].reset_index(drop=True)
    raw_dates = raw_dates.reset_index(drop=True)
    keep = np.ones(len(values), dtype=bool)
    if drop is not None:
        keep &= ~drop.to_numpy(dtype=bool)
    numbers = {c: _to_numbers(values[c], c, where, row_name, keep) for c in BAR_COLUMNS}
    dates = _to_session_dates(raw_dates, where, row_name, keep)
    # a dated row without any value is Yahoo's `null` row: no bar that day
    keep &= ~np.logical_and.reduce([np.isnan(numbers[c]) for c in BAR_COLUMNS])

    bars = pd.DataFrame(
        {c: numbers[c][keep] for c in BAR_COLUMNS},
        index=pd.DatetimeIndex(dates[keep], name="date").as_unit("ns"),
    )
    bars = bars.sort_index(kind="stable")
    bars["no_trading"] = placeholder_mask(bars)
    return bars


def _column_key(name: object) -> str:
    return re.sub(r"[\s_]+", "_", str(name).strip().lower())


def _to_numbers(
    column: pd.Series, name: str, where: str, row_name: Callable[[int], str], keep: np.ndarray
) -> np.ndarray:
    """float64 values; a cell that is present but not a number is a `DataError` on its row."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    cleaned = column.map(lambda v: v.strip() if isinstance(v, str) else v)
    cleaned = cleaned.replace({"": None, "null": None, "NaN": None, "nan": None})
    parsed = pd.to_numeric(cleaned, errors="coerce")
    bad = parsed.isna().to_numpy() & cleaned.notna().to_numpy() & keep
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            where, row_name(pos), f"{name}: expected a number, got {column.iloc[pos]!r}"
        )
    return parsed.to_numpy(dtype="float64", na_value=np.nan)


def _to_session_dates(
    raw: pd.Series, where: str, row_name: Callable[[int], str], keep: np.ndarray
) -> np.ndarray:
    """Session dates (midnight, tz-naive); tz-aware values are read in Hong Kong time."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        local = pd.DatetimeIndex(raw).tz_convert(EXCHANGE_TZ).tz_localize(None)
        if local.isna().any():
            _bad_date(where, row_name, raw, int(np.flatnonzero(local.isna() & keep)[0]))
        return local.normalize().as_unit("ns").to_numpy()
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        naive = pd.DatetimeIndex(raw)
        missing = naive.isna() & keep
        if missing.any():
            _bad_date(where, row_name, raw, int(np.flatnonzero(missing)[0]))
        return naive.normalize().as_unit("ns").to_numpy()
    out = np.full(len(raw), np.datetime64("NaT", "ns"))
    cache: dict[object, np.datetime64] = {}
    for pos, value in enumerate(raw.tolist()):
        if not keep[pos]:
            continue
        key = value if isinstance(value, str | pd.Timestamp) else repr(value)
        if key not in cache:
            cache[key] = _one_date(value)
        parsed = cache[key]
        if np.isnat(parsed):
            _bad_date(where, row_name, raw, pos)
        out[pos] = parsed
    return out


def _one_date(value: object) -> np.datetime64:
    nat = np.datetime64("NaT", "ns")
    if isinstance(value, str):
        text = value.strip()
        if not _ISO_DATE.match(text):
            return nat
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, OverflowError):
            return nat
    elif isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "year"):
        try:
            stamp = pd.Timestamp(value)  # type: ignore[arg-type]
        except (ValueError, TypeError, OverflowError):
            return nat
    else:
        return nat
    if stamp is pd.NaT:
        return nat
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(EXCHANGE_TZ).tz_localize(None)
    return stamp.normalize().as_unit("ns").to_datetime64()


def _bad_date(where: str, row_name: Callable[[int], str], raw: pd.Series, pos: int) -> None:
    value = raw.iloc[pos]
    shown = "an empty cell" if value is None or value is pd.NaT or value != value else repr(value)
    raise DataError(
        where,
        row_name(pos),
        f"date: expected a date like 2020-01-02 (optionally with time and UTC offset), got {shown}",
    )
