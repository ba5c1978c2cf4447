"""The notes a sweep's page and terminal put first: no combination beat 0, the winner is the
default config, the top ranks tie; and the heatmap's star beside the winner's value."""

from __future__ import annotations

from typing import Any

from xmtrade.reports.sweep_page import heatmap_figure, sweep_notes
from xmtrade.sweep.runner import Row, best_of, rank


def row(index: int, sharpe: float, trades: int = 10, **params: Any) -> Row:
    metrics = {"sharpe": sharpe, "n_trades": trades, "total_return": sharpe / 10}
    return Row(index, params or {"a": index}, metrics, None, None, None, 0.0)


def notes(rows: list[Row], default: int | None = None) -> list[str]:
    ranked = rank(rows, "sharpe", 5)
    best = best_of(ranked, "sharpe", 5)
    return sweep_notes(ranked, best, None if default is None else rows[default], "sharpe", 5)


def test_no_combination_beat_zero() -> None:
    (note,) = notes([row(0, -0.47), row(1, -0.64), row(2, 0.9, trades=2)])
    assert note.startswith("No combination beat 0: the best sharpe is -0.47")


def test_the_winner_is_the_default() -> None:
    (note,) = notes([row(0, 0.3), row(1, 0.8), row(2, 0.1)], default=1)
    assert note.startswith("The winner is the default config")


def test_ties_among_the_top_ranks() -> None:
    (note,) = notes([row(0, 0.2), row(1, 0.8), row(2, 0.8), row(3, 0.8)])
    assert note.startswith("Ranks 1 to 3 tie at sharpe 0.80: the winner is the first of them")
    assert "(combination 2)" in note


def test_a_clear_winner_needs_no_note() -> None:
    assert notes([row(0, 0.3), row(1, 0.8)], default=0) == []


def test_the_star_is_beside_the_winners_value() -> None:
    rows = [row(i, s, x=i % 2, y=i // 2) for i, s in enumerate([0.1, 0.5, -0.2, 0.3])]
    best = rows[1]
    fig = heatmap_figure(rows, "x", "y", "sharpe", 5, best, {"x": 0, "y": 0})
    cells = fig.data[0].text
    assert cells[0][1].startswith("★ 0.50") and not cells[0][0].startswith("★")
    key = next(t for t in fig.data if (t.name or "").startswith("winner"))
    assert list(key.x) == [None]  # the legend's key only: no marker drawn over a cell
