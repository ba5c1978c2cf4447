"""`facts add`: appended rows, revisions never overwrites, all or nothing, never the packaged
copy; the point-in-time reader sees the old figure before a revision and the new one after."""

from __future__ import annotations

import os
from datetime import date, time
from pathlib import Path

import pytest

from data_feeds.calendar import SessionCalendar
from data_feeds.errors import DataError
from data_feeds.facts_write import NewFigure, add_figures, read_new_figures
from data_feeds.fundamentals import PointInTimeFacts, read_facts

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "configs" / "fundamentals" / "1810.HK.csv"
TODAY = date(2026, 12, 1)


@pytest.fixture
def facts_copy(tmp_path: Path) -> Path:
    path = tmp_path / "facts.csv"
    path.write_bytes(SHIPPED.read_bytes())
    return path


def figure(metric: str, period: str, value: str, announced: str, **extra: str) -> NewFigure:
    return NewFigure(
        metric=metric,
        period=period,
        value=value,
        announced=announced,
        source=extra.pop("source", "results"),
        origin="command line",
        **extra,  # type: ignore[arg-type]
    )


def test_a_new_quarter_is_appended_and_the_rest_of_the_file_is_untouched(
    facts_copy: Path,
) -> None:
    before = facts_copy.read_text(encoding="utf-8")
    (added,) = add_figures(facts_copy, [figure("revenue", "2025Q4", "116500", "2026-03-24")], TODAY)
    assert (added.kind, added.row, added.previous) == ("new", 205, None)
    after = facts_copy.read_text(encoding="utf-8")
    assert after.startswith(before)
    assert after[len(before) :] == ("revenue,2025Q4,2025-12-31,2026-03-24,,116500,RMB_m,results,\n")
    assert read_facts(facts_copy)[-1].value == 116500


def test_a_known_period_becomes_a_revision_row_seen_only_from_its_own_date(
    facts_copy: Path, hkex: SessionCalendar
) -> None:
    (added,) = add_figures(
        facts_copy, [figure("revenue", "2025Q3", "113.2", "2025-12-02", unit="RMB_bn")], TODAY
    )
    assert added.kind == "revision"
    assert added.previous is not None and added.previous.value == 113121
    assert added.note == "113.2 RMB_bn = 113200 RMB_m"
    facts = read_facts(facts_copy)
    assert [f.value for f in facts if (f.metric, f.period) == ("revenue", "2025Q3")] == [
        113121,
        113200,
    ]
    pit = PointInTimeFacts(facts, hkex, time(17, 15))
    assert pit.as_of(date(2025, 12, 2)).value("revenue", "2025Q3") == 113121
    assert pit.as_of(date(2025, 12, 3)).value("revenue", "2025Q3") == 113200


def test_the_same_figure_again_writes_nothing(facts_copy: Path) -> None:
    before = facts_copy.read_bytes()
    (added,) = add_figures(facts_copy, [figure("revenue", "2025Q3", "113121", "2025-12-02")], TODAY)
    assert added.kind == "unchanged" and added.previous is not None and added.previous.row == 161
    assert facts_copy.read_bytes() == before


@pytest.mark.parametrize(
    ("new", "field", "message"),
    [
        (
            figure("revenue", "2025Q3", "113200", "2025-11-18"),
            "announced",
            "already holds revenue 2025Q3 announced 2025-11-18 (113121); a revision needs a "
            "later --announced date",
        ),
        (
            figure("revenue", "2025Q3", "113200", "2025-11-17"),
            "announced",
            "a revision must be announced after the figure it revises",
        ),
        (figure("revnue", "2025Q4", "1", "2026-03-24"), "metric", "did you mean 'revenue'?"),
        (figure("revenue", "2025FY", "1", "2026-03-24"), "period", "expected a quarter"),
        (figure("revenue", "2025Q4", "1", "2025-12-30"), "announced", "before the end of 2025Q4"),
        (figure("revenue", "2025Q4", "nan", "2026-03-24"), "value", "expected a finite number"),
        (figure("revenue", "2025Q4", "1", "2026-03-24", unit="pct"), "unit", "expected RMB_m"),
        (
            figure("revenue", "2025Q4", "1", "2026-03-24", confidence="X"),
            "confidence",
            "expected H, M, L or blank",
        ),
    ],
)
def test_a_bad_figure_writes_nothing(
    facts_copy: Path, new: NewFigure, field: str, message: str
) -> None:
    before = facts_copy.read_bytes()
    with pytest.raises(DataError) as err:
        add_figures(facts_copy, [figure("revenue", "2025Q4", "116500", "2026-03-24"), new], TODAY)
    assert err.value.where == "command line" and err.value.field == field
    assert message in err.value.message
    assert facts_copy.read_bytes() == before


def test_a_file_with_errors_is_refused_untouched(facts_copy: Path) -> None:
    facts_copy.write_text(
        facts_copy.read_text(encoding="utf-8").replace(",50846.2,", ",lots,"), encoding="utf-8"
    )
    before = facts_copy.read_bytes()
    with pytest.raises(DataError) as err:
        add_figures(facts_copy, [figure("revenue", "2025Q4", "116500", "2026-03-24")], TODAY)
    assert err.value.field == "row 2, column value"
    assert "fix them first (xmtrade facts check" in err.value.message
    assert facts_copy.read_bytes() == before


def test_the_packaged_copy_is_never_written() -> None:
    before = SHIPPED.read_bytes()
    with pytest.raises(DataError) as err:
        add_figures(SHIPPED, [figure("revenue", "2025Q4", "116500", "2026-03-24")], TODAY)
    assert "xmtrade init" in err.value.message and "--file" in err.value.message
    assert SHIPPED.read_bytes() == before


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(
    facts_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = facts_copy.read_bytes()

    def broken(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(KeyboardInterrupt):
        add_figures(facts_copy, [figure("revenue", "2025Q4", "116500", "2026-03-24")], TODAY)
    assert facts_copy.read_bytes() == before
    assert [p.name for p in facts_copy.parent.iterdir()] == ["facts.csv"]


def test_many_figures_from_a_small_csv(facts_copy: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q4.csv"
    batch.write_text(
        "metric,period,announced,value,unit,source\n"
        "revenue,2025Q4,2026-03-24,116500,RMB_m,\n"
        "ev_gross_margin,2025Q4,2026-03-24,24.1,pct,results\n"
        "adjusted_net_profit,2025Q4,2026-03-24,10.2,RMB_bn,results\n",
        encoding="utf-8",
    )
    added = add_figures(facts_copy, read_new_figures(batch, "q4.csv by hand"), TODAY)
    assert [(a.kind, a.metric, a.value, a.row) for a in added] == [
        ("new", "revenue", 116500, 205),
        ("new", "ev_gross_margin", 24.1, 206),
        ("new", "adjusted_net_profit", 10200, 207),
    ]
    assert read_facts(facts_copy)[-3].source == "q4.csv by hand"


def test_a_bad_row_of_the_csv_names_its_file_and_row(facts_copy: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q4.csv"
    batch.write_text(
        "metric,period,announced,value\n"
        "revenue,2025Q4,2026-03-24,116500\n"
        "gross_margin,2025Q4,2026-03-24,22 pct\n",
        encoding="utf-8",
    )
    before = facts_copy.read_bytes()
    with pytest.raises(DataError) as err:
        add_figures(facts_copy, read_new_figures(batch, "x"), TODAY)
    assert (err.value.where, err.value.field) == (f"{batch}: row 3", "value")
    assert facts_copy.read_bytes() == before
    batch.write_text("metric,period,anounced,value\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_new_figures(batch, "x")
    assert "did you mean 'announced'?" in err.value.message
