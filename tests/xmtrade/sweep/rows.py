"""What two sweeps' rows are compared by in the tests that run one sweep two ways."""

from __future__ import annotations

from typing import Any


def series_of(row: Any) -> tuple[Any, ...]:
    """A row's daily returns where it kept them, and what the overfitting guards keep of them."""
    t = row.trial
    digest = (
        None
        if t is None
        else (
            t.observations,
            t.skewness,
            t.kurtosis,
            None if t.sums is None else t.sums.tolist(),
            None if t.squares is None else t.squares.tolist(),
        )
    )
    return (None if row.returns is None else row.returns.tolist()), digest
