"""Figures derived from a point-in-time facts snapshot: ROIC, WACC, TTM, year-on-year, records.

Every function reads only what the snapshot shows at its decision. A figure that cannot be
computed from visible facts is unknown (None, with a note saying what is missing), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from data_feeds.fundamentals import (
    METRICS,
    Fact,
    FactsSnapshot,
    MetricSpec,
    fiscal_year_of,
    fiscal_year_period,
    previous_quarters,
    quarter_of,
    same_quarter_last_year,
)

InvestedCapital = Literal["operating", "total"]
WaccMethod = Literal["fixed", "capm"]

NOPAT_METRICS: tuple[str, ...] = ("operating_profit", "profit_before_tax", "income_tax")
CAPITAL_METRICS: dict[str, tuple[str, ...]] = {
    # operating: equity + borrowings − cash − short-term deposits and investments
    "operating": ("total_equity", "borrowings", "cash", "short_term_investments"),
    # total: equity + borrowings
    "total": ("total_equity", "borrowings"),
}
_SUBTRACTED = ("cash", "short_term_investments")


def _quarterly(metric: str) -> MetricSpec:
    spec = METRICS.get(metric)
    if spec is None:
        raise ValueError(f"unknown metric {metric!r}")
    if spec.kind != "quarterly":
        raise ValueError(f"{metric} is {spec.kind}, not a quarterly metric")
    return spec


# --- ROIC ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoicResult:
    """ROIC of one fiscal year, with its parts and the facts behind it (value None = unknown)."""

    year: int | None
    value_pct: float | None
    nopat: float | None
    invested_capital_start: float | None
    invested_capital_end: float | None
    invested_capital: float | None
    averaged: bool
    definition: InvestedCapital
    note: str
    facts: tuple[Fact, ...]
    incomplete: bool = False  # unknown because some of the year's statements are missing

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a decision log."""
        return {
            "year": self.year,
            "value_pct": self.value_pct,
            "nopat": self.nopat,
            "invested_capital_start": self.invested_capital_start,
            "invested_capital_end": self.invested_capital_end,
            "invested_capital": self.invested_capital,
            "averaged": self.averaged,
            "definition": self.definition,
            "note": self.note,
            "facts": [f.as_dict() for f in self.facts],
        }


def latest_fiscal_year(snapshot: FactsSnapshot) -> int | None:
    """The latest fiscal year with any full-year statement visible in `snapshot`."""
    years = [
        fiscal_year_of(period)
        for metric, spec in METRICS.items()
        if spec.kind == "annual"
        for period in snapshot.periods(metric)
    ]
    return max(years) if years else None


def _latest_q4_year(snapshot: FactsSnapshot) -> int | None:
    years = [
        quarter_of(period)[0]
        for metric, spec in METRICS.items()
        if spec.kind == "quarterly"
        for period in snapshot.periods(metric)
        if period.endswith("Q4")
    ]
    return max(years) if years else None


def _capital(
    snapshot: FactsSnapshot, year: int, definition: InvestedCapital
) -> tuple[float | None, list[Fact], list[str]]:
    """Invested capital at the end of `year`: (value or None, facts found, metrics missing)."""
    period = fiscal_year_period(year)
    found: list[Fact] = []
    missing: list[str] = []
    total = 0.0
    for metric in CAPITAL_METRICS[definition]:
        fact = snapshot.fact(metric, period)
        if fact is None:
            missing.append(metric)
            continue
        found.append(fact)
        total += -fact.value if metric in _SUBTRACTED else fact.value
    return (None if missing else total), found, missing


def roic(
    snapshot: FactsSnapshot,
    *,
    fiscal_year: int | None,
    invested_capital: InvestedCapital,
) -> RoicResult:
    """ROIC = NOPAT / invested capital for `fiscal_year` (None: the latest visible year).

    NOPAT = operating profit × (1 − income tax / profit before tax). Invested capital is averaged
    over the year's start (previous year end) and end when both are known, else the year end.
    With `fiscal_year` None, a latest year whose statements are only partly entered falls back
    to the latest complete earlier year, and the note says so.
    """
    result = _roic_year(snapshot, fiscal_year=fiscal_year, invested_capital=invested_capital)
    if fiscal_year is not None or result.year is None or not result.incomplete:
        return result
    for year in range(result.year - 1, _earliest_fiscal_year(snapshot) - 1, -1):
        earlier = _roic_year(snapshot, fiscal_year=year, invested_capital=invested_capital)
        if earlier.value_pct is not None:
            note = f"{earlier.note}; FY{result.year} statements are incomplete ({result.note})"
            return replace(earlier, note=note)
    return result


def _earliest_fiscal_year(snapshot: FactsSnapshot) -> int:
    years = [
        fiscal_year_of(period)
        for metric, spec in METRICS.items()
        if spec.kind == "annual"
        for period in snapshot.periods(metric)
    ]
    return min(years) if years else 0


def _roic_year(
    snapshot: FactsSnapshot,
    *,
    fiscal_year: int | None,
    invested_capital: InvestedCapital,
) -> RoicResult:
    if invested_capital not in CAPITAL_METRICS:
        raise ValueError(f"invested_capital must be operating or total, got {invested_capital!r}")
    auto = fiscal_year is None
    year = latest_fiscal_year(snapshot) if fiscal_year is None else fiscal_year
    if year is None:
        return RoicResult(
            year=None,
            value_pct=None,
            nopat=None,
            invested_capital_start=None,
            invested_capital_end=None,
            invested_capital=None,
            averaged=False,
            definition=invested_capital,
            note=f"ROIC unknown: no full-year statements visible as of {snapshot.as_of_session}",
            facts=(),
        )
    period = fiscal_year_period(year)
    facts: list[Fact] = []
    missing: list[str] = []
    parts: dict[str, float] = {}
    for metric in NOPAT_METRICS:
        fact = snapshot.fact(metric, period)
        if fact is None:
            missing.append(metric)
        else:
            facts.append(fact)
            parts[metric] = fact.value
    end, end_facts, end_missing = _capital(snapshot, year, invested_capital)
    facts.extend(end_facts)
    missing.extend(end_missing)
    start, start_facts, start_missing = _capital(snapshot, year - 1, invested_capital)

    stale = ""
    if auto:
        q4_year = _latest_q4_year(snapshot)
        if q4_year is not None and q4_year > year:
            stale = (
                f"; {q4_year}Q4 results are visible but the facts hold no "
                f"{fiscal_year_period(q4_year)} statements"
            )

    def unknown(reason: str, nopat: float | None = None, incomplete: bool = False) -> RoicResult:
        return RoicResult(
            year=year,
            value_pct=None,
            nopat=nopat,
            invested_capital_start=start,
            invested_capital_end=end,
            invested_capital=None,
            averaged=False,
            definition=invested_capital,
            note=f"FY{year} ROIC unknown: {reason}{stale}",
            facts=tuple(facts),
            incomplete=incomplete,
        )

    if missing or end is None:
        return unknown(f"missing {', '.join(missing)} for {period}", incomplete=True)
    profit_before_tax = parts["profit_before_tax"]
    if profit_before_tax <= 0:
        return unknown(
            f"profit before tax {profit_before_tax:g} is not positive, so the tax rate is undefined"
        )
    nopat = parts["operating_profit"] * (1 - parts["income_tax"] / profit_before_tax)
    if start is not None:
        facts.extend(start_facts)
        capital = (start + end) / 2
        averaged = True
        how = (
            f"FY{year} ROIC on {invested_capital} invested capital averaged over the "
            f"{fiscal_year_period(year - 1)} and {period} year ends"
        )
    else:
        capital = end
        averaged = False
        how = (
            f"FY{year} ROIC on {invested_capital} invested capital at the {period} year end only "
            f"(start of year unknown: missing {', '.join(start_missing)} for "
            f"{fiscal_year_period(year - 1)})"
        )
    if capital <= 0:
        return unknown(f"{invested_capital} invested capital {capital:g} is not positive", nopat)
    return RoicResult(
        year=year,
        value_pct=nopat / capital * 100,
        nopat=nopat,
        invested_capital_start=start,
        invested_capital_end=end,
        invested_capital=capital,
        averaged=averaged,
        definition=invested_capital,
        note=how + stale,
        facts=tuple(facts),
    )


# --- WACC ------------------------------------------------------------------------------------


def wacc_pct(
    *,
    method: WaccMethod,
    fixed_pct: float | None,
    risk_free_pct: float | None,
    beta: float | None,
    equity_risk_premium_pct: float | None,
    cost_of_debt_pct: float | None,
    tax_rate_pct: float | None,
    debt_weight_pct: float | None,
) -> float:
    """WACC in percent: the fixed figure, or CAPM.

    CAPM: cost of equity = risk-free + beta × equity risk premium;
    WACC = (1 − debt weight) × cost of equity + debt weight × cost of debt × (1 − tax rate).
    """
    if method == "fixed":
        if fixed_pct is None:
            raise ValueError("wacc method fixed needs fixed_pct")
        return fixed_pct
    if method != "capm":
        raise ValueError(f"wacc method must be fixed or capm, got {method!r}")
    given = {
        "risk_free_pct": risk_free_pct,
        "beta": beta,
        "equity_risk_premium_pct": equity_risk_premium_pct,
        "cost_of_debt_pct": cost_of_debt_pct,
        "tax_rate_pct": tax_rate_pct,
        "debt_weight_pct": debt_weight_pct,
    }
    absent = [name for name, value in given.items() if value is None]
    if absent:
        raise ValueError(f"wacc method capm needs {', '.join(absent)}")
    known = {name: float(value) for name, value in given.items() if value is not None}
    if not 0 <= known["debt_weight_pct"] <= 100:
        raise ValueError(f"debt_weight_pct must be 0 to 100, got {debt_weight_pct}")
    cost_of_equity = known["risk_free_pct"] + known["beta"] * known["equity_risk_premium_pct"]
    debt_weight = known["debt_weight_pct"] / 100
    after_tax_debt = known["cost_of_debt_pct"] * (1 - known["tax_rate_pct"] / 100)
    return (1 - debt_weight) * cost_of_equity + debt_weight * after_tax_debt


# --- quarterly figures -----------------------------------------------------------------------


@dataclass(frozen=True)
class TtmResult:
    """Trailing-twelve-month sum of a quarterly metric over four consecutive quarters."""

    metric: str
    value: float
    unit: str
    periods: tuple[str, ...]  # oldest first
    facts: tuple[Fact, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a decision log."""
        return {
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "periods": list(self.periods),
            "facts": [f.as_dict() for f in self.facts],
        }


def ttm(snapshot: FactsSnapshot, metric: str, as_of_period: str | None = None) -> TtmResult | None:
    """The sum of the 4 quarters ending at `as_of_period` (None: the latest visible quarter).

    None when any of the four quarters is not visible. Only for metrics that add up over
    quarters (not margins or ranks).
    """
    spec = _quarterly(metric)
    if not spec.additive:
        raise ValueError(f"{metric} ({spec.unit}) does not add up over quarters")
    if as_of_period is None:
        latest = snapshot.latest(metric)
        if latest is None:
            return None
        as_of_period = latest.period
    else:
        quarter_of(as_of_period)
    periods = [*reversed(previous_quarters(as_of_period, 3)), as_of_period]
    facts = [snapshot.fact(metric, p) for p in periods]
    known = [f for f in facts if f is not None]
    if len(known) != len(periods):
        return None
    return TtmResult(
        metric=metric,
        value=sum(f.value for f in known),
        unit=spec.unit,
        periods=tuple(periods),
        facts=tuple(known),
    )


@dataclass(frozen=True)
class YoyResult:
    """A quarter against the same quarter a year earlier (`change` in `change_unit`)."""

    metric: str
    period: str
    value: float
    prior_period: str
    prior_value: float
    change: float
    change_unit: str  # "pp" (percentage points) for pct metrics, else the metric's unit
    facts: tuple[Fact, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a decision log."""
        return {
            "metric": self.metric,
            "period": self.period,
            "value": self.value,
            "prior_period": self.prior_period,
            "prior_value": self.prior_value,
            "change": self.change,
            "change_unit": self.change_unit,
            "facts": [f.as_dict() for f in self.facts],
        }


def yoy_change(
    snapshot: FactsSnapshot, metric: str, as_of_period: str | None = None
) -> YoyResult | None:
    """The latest visible quarter (or `as_of_period`) minus the same quarter a year earlier.

    For a pct metric (gross margin) the change is in percentage points. None when either
    quarter is not visible.
    """
    spec = _quarterly(metric)
    current = snapshot.latest(metric) if as_of_period is None else None
    if as_of_period is not None:
        quarter_of(as_of_period)
        current = snapshot.fact(metric, as_of_period)
    if current is None:
        return None
    prior = snapshot.fact(metric, same_quarter_last_year(current.period))
    if prior is None:
        return None
    return YoyResult(
        metric=metric,
        period=current.period,
        value=current.value,
        prior_period=prior.period,
        prior_value=prior.value,
        change=current.value - prior.value,
        change_unit="pp" if spec.unit == "pct" else spec.unit,
        facts=(prior, current),
    )


def latest_shares_outstanding(snapshot: FactsSnapshot) -> Fact | None:
    """The most recent visible share count, or None when none is visible."""
    return snapshot.latest("shares_outstanding")


def best_quarter(snapshot: FactsSnapshot, metric: str) -> Fact | None:
    """The visible quarter with the highest value (the earliest one on a tie), or None."""
    _quarterly(metric)
    best: Fact | None = None
    for fact in snapshot.history(metric):
        if best is None or fact.value > best.value:
            best = fact
    return best


__all__ = [
    "CAPITAL_METRICS",
    "NOPAT_METRICS",
    "InvestedCapital",
    "RoicResult",
    "TtmResult",
    "WaccMethod",
    "YoyResult",
    "best_quarter",
    "latest_fiscal_year",
    "latest_shares_outstanding",
    "roic",
    "ttm",
    "wacc_pct",
    "yoy_change",
]
