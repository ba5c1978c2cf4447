"""The price cache: loading with remedies, atomic saves, merges that report revisions."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path
from typing import IO

import pandas as pd
import pytest
from price_frames import make_bars

import data_feeds.cache as cache_module
from data_feeds.errors import DataError
from data_feeds.prices import PriceCache, load_bars, merge_bars

REMEDY = "run `xmtrade data fetch` or `xmtrade data import FILE`"


def three_bars() -> pd.DataFrame:
    return make_bars(
        {
            "2024-02-07": (12.5, 12.8, 12.3, 12.7, 100000),
            "2024-02-08": (12.7, 12.9, 12.6, 12.88, 120000),
            "2024-02-09": (12.46, 12.46, 12.46, 12.46, 0),
        }
    )


def test_round_trip_is_exact_and_readable(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path / "prices")
    bars = three_bars()
    path = cache.save("1810.HK", bars)
    assert path == tmp_path / "prices" / "1810.HK.csv"
    assert path.read_text().splitlines()[:2] == [
        "date,open,high,low,close,volume",
        "2024-02-07,12.5,12.8,12.3,12.7,100000",
    ]
    pd.testing.assert_frame_equal(cache.load("1810.HK"), bars)
    pd.testing.assert_frame_equal(load_bars(tmp_path / "prices", "1810.HK"), bars)


def test_permissions_are_those_of_a_normal_file(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path)
    previous = os.umask(0o022)
    try:
        path = cache.save("1810.HK", three_bars())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    path.chmod(0o640)
    cache.save("1810.HK", three_bars().iloc[:2])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_shared_file_round_trip(tmp_path: Path, shared_prices_csv: Path) -> None:
    from data_feeds.prices import read_price_csv

    bars = read_price_csv(shared_prices_csv)
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", bars)
    pd.testing.assert_frame_equal(cache.load("1810.HK"), bars)


def test_missing_or_empty_cache_names_the_remedy(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path)
    with pytest.raises(DataError) as err:
        cache.load("1810.HK")
    assert err.value.line() == (
        f"{tmp_path / '1810.HK.csv'}: no cached prices for 1810.HK (missing); {REMEDY}"
    )
    (tmp_path / "1810.HK.csv").write_text("")
    with pytest.raises(DataError, match=r"\(empty\); run `xmtrade data fetch`"):
        cache.load("1810.HK")
    (tmp_path / "1810.HK.csv").write_text("date,open,high,low,close,volume\n")
    with pytest.raises(DataError, match="no price rows after the header line"):
        cache.load("1810.HK")


def test_corrupt_cache_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "1810.HK.csv"
    path.write_text("date,open,high,low,close,volume\n2024-02-07,12.5,12.8,12.3,12.7,1\n2024-02-0")
    with pytest.raises(DataError) as err:
        PriceCache(tmp_path).load("1810.HK")
    assert (err.value.where, err.value.field) == (str(path), "line 3")
    assert "corrupt cache file: delete it, then run `xmtrade data fetch`" in err.value.message
    path.write_text("date,open,high,low,close,volume\n2024-02-07,1,2,1,2,5\n2024-02-07,1,2,1,2,5\n")
    with pytest.raises(DataError, match="duplicate date") as err:
        PriceCache(tmp_path).load("1810.HK")
    assert err.value.field == "2024-02-07"
    path.write_text("date,open,high,low,close,volume\n2024-02-07,1,2,1,2,5\n2024-02-08,1,2\n")
    with pytest.raises(DataError, match=r"missing values \(corrupt cache file") as err:
        PriceCache(tmp_path).load("1810.HK")
    assert err.value.field == "2024-02-08"


def test_no_trading_is_recomputed_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "1810.HK.csv").write_text(
        "date,open,high,low,close,volume,no_trading\n"
        "2024-02-08,12.7,12.9,12.6,12.88,120000,True\n"
        "2024-02-09,12.46,12.46,12.46,12.46,0,False\n"
    )
    assert PriceCache(tmp_path).load("1810.HK")["no_trading"].tolist() == [False, True]


def test_bad_symbol_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"expected a ticker like 1810\.HK"):
        PriceCache(tmp_path).path_for("../etc/passwd")


# ------------------------------------------------------------------ atomic saves


def old_cache(tmp_path: Path) -> tuple[PriceCache, str]:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", three_bars().iloc[:2])
    return cache, (tmp_path / "1810.HK.csv").read_text()


def only_the_cache_file(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1810.HK.csv"]


def test_failed_replace_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, before = old_cache(tmp_path)

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.os, "replace", refuse)
    with pytest.raises(DataError) as err:
        cache.save("1810.HK", three_bars())
    assert err.value.line() == (
        f"{tmp_path / '1810.HK.csv'}: cannot write the cache: No space left on device"
    )
    assert (tmp_path / "1810.HK.csv").read_text() == before
    only_the_cache_file(tmp_path)


@pytest.mark.parametrize("failure", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_write_failing_midway_leaves_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    cache, before = old_cache(tmp_path)
    real_write = cache_module._write_bars

    def half_then_fail(out: IO[str], bars: pd.DataFrame) -> None:
        real_write(out, bars.iloc[:1])
        out.flush()
        raise failure

    monkeypatch.setattr(cache_module, "_write_bars", half_then_fail)
    with pytest.raises((DataError, KeyboardInterrupt)):
        cache.save("1810.HK", three_bars())
    assert (tmp_path / "1810.HK.csv").read_text() == before
    only_the_cache_file(tmp_path)
    monkeypatch.undo()
    cache.save("1810.HK", three_bars())  # the next save works
    assert len(cache.load("1810.HK")) == 3


def test_empty_bars_are_not_written(tmp_path: Path) -> None:
    cache, before = old_cache(tmp_path)
    with pytest.raises(DataError, match="refusing to write an empty price cache"):
        cache.save("1810.HK", three_bars().iloc[0:0])
    assert (tmp_path / "1810.HK.csv").read_text() == before


# ------------------------------------------------------------------ merges


def test_merge_reports_added_and_revised_new_values_win(tmp_path: Path) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", three_bars().iloc[:2])
    update = make_bars(
        {
            "2024-02-08": (12.7, 12.9, 12.6, 12.90, 125000),  # Yahoo revised close and volume
            "2024-02-09": (12.46, 12.46, 12.46, 12.46, 0),
            "2024-02-14": (12.6, 13.0, 12.5, 12.9, 90000),
        }
    )
    report = cache.merge("1810.HK", update)
    assert report.added == (date(2024, 2, 9), date(2024, 2, 14))
    assert [r.date for r in report.revised] == [date(2024, 2, 8)]
    revision = report.revised[0]
    assert (revision.old["close"], revision.new["close"]) == (12.88, 12.90)
    assert revision.describe() == "2024-02-08 close 12.88 -> 12.9, volume 120000 -> 125000"
    assert (report.unchanged, report.total) == (0, 4)
    assert (report.first, report.last) == (date(2024, 2, 7), date(2024, 2, 14))
    assert report.path == tmp_path / "1810.HK.csv"
    loaded = cache.load("1810.HK")
    assert loaded.loc["2024-02-08", "close"] == 12.90
    assert loaded["no_trading"].tolist() == [False, False, True, False]


def test_merge_of_same_bars_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PriceCache(tmp_path)
    cache.save("1810.HK", three_bars())

    def must_not_save(*args: object) -> None:
        raise AssertionError("an unchanged merge must not rewrite the cache")

    monkeypatch.setattr(PriceCache, "save", must_not_save)
    report = cache.merge("1810.HK", three_bars().iloc[1:])
    assert not report.changed
    assert (report.added, report.revised, report.unchanged) == ((), (), 2)


def test_merge_into_empty_and_duplicate_input() -> None:
    from data_feeds.prices import empty_bars

    merged, report = merge_bars(empty_bars(), three_bars(), "1810.HK")
    assert len(report.added) == 3
    pd.testing.assert_frame_equal(merged, three_bars())
    dup = pd.concat([three_bars(), three_bars().iloc[:1]]).sort_index()
    with pytest.raises(DataError, match="duplicate date in the new bars"):
        merge_bars(three_bars(), dup, "1810.HK")
