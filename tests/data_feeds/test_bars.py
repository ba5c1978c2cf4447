"""Normalising the price layouts people actually have into canonical bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from price_frames import make_bars, yf_frame

from data_feeds.errors import DataError
from data_feeds.prices import ALL_COLUMNS, normalize_bars, read_price_csv

YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2024-02-07,12.50,12.80,12.30,12.70,12.70,100000
2024-02-08,12.70,12.90,12.60,12.88,12.88,120000
2024-02-09,12.46,12.46,12.46,12.46,12.46,0
"""


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_canonical(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == list(ALL_COLUMNS)
    assert isinstance(bars.index, pd.DatetimeIndex)
    assert bars.index.name == "date"
    assert pd.DatetimeIndex(bars.index).tz is None
    assert bars.index.is_monotonic_increasing
    assert (bars.index == bars.index.normalize()).all()
    assert all(bars[c].dtype == np.float64 for c in ALL_COLUMNS[:-1])
    assert bars["no_trading"].dtype == bool


def expected_dates() -> list[pd.Timestamp]:
    return [pd.Timestamp("2024-02-07"), pd.Timestamp("2024-02-08"), pd.Timestamp("2024-02-09")]


def test_yahoo_csv_export_uses_close_not_adj_close(tmp_path: Path) -> None:
    text = YAHOO_CSV.replace("12.88,12.88", "12.88,11.00")
    bars = read_price_csv(write(tmp_path, text))
    assert_canonical(bars)
    assert list(bars.index) == expected_dates()
    assert bars.loc["2024-02-08", "close"] == 12.88
    assert bars["no_trading"].tolist() == [False, False, True]


def test_lowercase_shuffled_columns_and_extras(tmp_path: Path) -> None:
    text = (
        "volume,close,Dividends,date,low,Stock Splits,high,open\n"
        "100000,12.70,0,2024-02-07,12.30,0,12.80,12.50\n"
        "120000,12.88,0,2024-02-08,12.60,0,12.90,12.70\n"
        "0,12.46,0,2024-02-09,12.46,0,12.46,12.46\n"
    )
    bars = read_price_csv(write(tmp_path, text))
    assert_canonical(bars)
    reference = read_price_csv(write(tmp_path, YAHOO_CSV, "yahoo.csv"))
    pd.testing.assert_frame_equal(bars, reference)


def test_dates_with_time_and_utc_offset_become_hong_kong_sessions(tmp_path: Path) -> None:
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "2024-02-07 00:00:00+08:00,12.50,12.80,12.30,12.70,100000\n"
        "2024-02-07T16:00:00+00:00,12.70,12.90,12.60,12.88,120000\n"  # 2024-02-08 00:00 HKT
        "2024-02-09 09:30:00,12.46,12.46,12.46,12.46,0\n"
    )
    bars = read_price_csv(write(tmp_path, text))
    assert_canonical(bars)
    assert list(bars.index) == expected_dates()


def test_rows_are_sorted_and_empty_value_rows_dropped(tmp_path: Path) -> None:
    text = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-02-09,12.46,12.46,12.46,12.46,12.46,0\n"
        "2024-02-08,12.70,12.90,12.60,12.88,12.88,120000\n"
        "\n"
        "2024-02-07,12.50,12.80,12.30,12.70,12.70,100000\n"
        "2024-02-06,null,null,null,null,null,null\n"
    )
    bars = read_price_csv(write(tmp_path, text))
    assert list(bars.index) == expected_dates()


def test_yfinance_multiindex_frame_naive_index() -> None:
    source = make_bars(
        {
            "2024-02-07": (12.5, 12.8, 12.3, 12.7, 100000),
            "2024-02-08": (12.7, 12.9, 12.6, 12.88, 120000),
            "2024-02-09": (12.46, 12.46, 12.46, 12.46, 0),
        }
    )
    bars = normalize_bars(yf_frame(source), "yfinance 1810.HK", symbol="1810.HK")
    assert_canonical(bars)
    pd.testing.assert_frame_equal(bars, source)


def test_yfinance_tz_aware_index_is_read_in_hong_kong_time() -> None:
    source = make_bars({"2024-02-07": (12.5, 12.8, 12.3, 12.7, 1e5)})
    frame = yf_frame(source, tz="Asia/Hong_Kong").tz_convert("UTC")  # 2024-02-06 16:00 UTC
    bars = normalize_bars(frame, "yfinance 1810.HK")
    assert list(bars.index) == [pd.Timestamp("2024-02-07")]
    assert pd.DatetimeIndex(bars.index).tz is None


def test_yfinance_frame_with_several_tickers_picks_the_symbol() -> None:
    one = yf_frame(make_bars({"2024-02-07": (12.5, 12.8, 12.3, 12.7, 1e5)}))
    other = yf_frame(make_bars({"2024-02-07": (300, 310, 290, 305, 5e5)}), symbol="0700.HK")
    both = pd.concat([one, other], axis=1)
    assert normalize_bars(both, "yf", symbol="0700.HK")["close"].iloc[0] == 305
    with pytest.raises(DataError, match=r"several tickers \(1810.HK, 0700.HK\)"):
        normalize_bars(both, "yf")
    with pytest.raises(DataError, match=r"no columns for 9999.HK \(tickers present"):
        normalize_bars(both, "yf", symbol="9999.HK")


def test_flat_yfinance_frame_with_date_index() -> None:
    frame = pd.DataFrame(
        {"Open": [12.5], "High": [12.8], "Low": [12.3], "Close": [12.7], "Volume": [1e5]},
        index=pd.DatetimeIndex(["2024-02-07"], name="Date"),
    )
    bars = normalize_bars(frame, "frame")
    assert_canonical(bars)
    assert bars.iloc[0]["close"] == 12.7


# ------------------------------------------------------------------ malformed input


def error_of(tmp_path: Path, text: str) -> DataError:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_price_csv(path)
    assert err.value.where == str(path)
    return err.value


def test_missing_columns_are_listed(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date,Open,Close\n2024-02-07,1,2\n")
    assert err.field == "columns"
    assert err.message.startswith("missing required column(s) high, low, volume (expected Date,")
    assert "found: Date, Open, Close" in err.message


def test_unparseable_date_names_the_line(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        "Date,Open,High,Low,Close,Volume\n2024-02-07,1,2,1,2,10\n07/02/2024,1,2,1,2,10\n",
    )
    assert err.field == "line 3"
    assert err.message == (
        "date: expected a date like 2020-01-02 (optionally with time and UTC offset), "
        "got '07/02/2024'"
    )


def test_non_numeric_price_names_line_and_column(tmp_path: Path) -> None:
    err = error_of(
        tmp_path,
        "Date,Open,High,Low,Close,Volume\n2024-02-07,1,2,1,2,10\n2024-02-08,1,2,1,abc,10\n",
    )
    assert (err.field, err.message) == ("line 3", "close: expected a number, got 'abc'")


def test_empty_file(tmp_path: Path) -> None:
    err = error_of(tmp_path, "")
    assert err.message.startswith("empty file, expected a CSV with a header Date,Open,High")


def test_header_only(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date,Open,High,Low,Close,Volume\n")
    assert err.message == "no price rows after the header line"


def test_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "prices.xlsx"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(DataError, match="binary file, not a CSV"):
        read_price_csv(path)
    err = error_of(tmp_path, '{"date": "2024-02-07", "close": 12.7}\n')
    assert err.message.startswith("no date column")


def test_ragged_row_names_the_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, YAHOO_CSV + "2024-02-14,1,2,1,2,2,10,99\n")
    assert (err.field, err.message) == ("line 5", "expected 7 fields, saw 8")


def test_semicolon_separated(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date;Open;High;Low;Close;Volume\n2024-02-07;1;2;1;2;10\n")
    assert err.message == "fields are separated by ';', expected commas"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_price_csv(tmp_path / "nope.csv")


def test_shared_file(shared_prices_csv: Path) -> None:
    bars = read_price_csv(shared_prices_csv)
    assert_canonical(bars)
    assert len(bars) == 1900
    assert bars.index[0] == pd.Timestamp("2018-07-09")
    assert int(bars["no_trading"].sum()) == 12
    assert bool(bars.loc["2024-01-15", "no_trading"])


def test_frame_with_datetime_date_column_and_string_index() -> None:
    frame = pd.DataFrame(
        {
            "Date": pd.to_datetime(["2024-02-08 00:00", "2024-02-07 00:00"]).tz_localize(
                "Asia/Hong_Kong"
            ),
            "Open": [12.7, 12.5],
            "High": [12.9, 12.8],
            "Low": [12.6, 12.3],
            "Close": [12.88, 12.7],
            "Volume": [120000, 100000],
        }
    )
    bars = normalize_bars(frame, "frame")
    assert_canonical(bars)
    assert list(bars.index) == expected_dates()[:2]
    assert bars["close"].tolist() == [12.7, 12.88]
