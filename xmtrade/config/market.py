"""The instrument, its exchange (calendar, spread tables, charges), the broker's costs and
the interest on cash."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from xmtrade.config.base import MAX_FEE, MAX_PRICE, MAX_SESSIONS, MAX_SHARES, MAX_TICKS, Frozen


class InstrumentConfig(Frozen):
    symbol: str = Field(min_length=1)
    currency: str
    board_lot: int = Field(gt=0, le=MAX_SHARES)

    @field_validator("symbol")
    @classmethod
    def _ticker(cls, value: str) -> str:
        from data_feeds.symbols import SYMBOL, SYMBOL_EXPECTED

        if not SYMBOL.match(value):
            raise ValueError(SYMBOL_EXPECTED)
        return value


class DataConfig(Frozen):
    history_start: date
    refetch_sessions: int = Field(ge=0, le=MAX_SESSIONS)


class TickBand(Frozen):
    lower: float = Field(ge=0, le=MAX_PRICE)
    upper: float = Field(gt=0, le=MAX_PRICE)
    tick: float = Field(gt=0, le=MAX_PRICE)

    @model_validator(mode="after")
    def _ordered(self) -> TickBand:
        if self.upper <= self.lower:
            raise ValueError(f"upper ({self.upper}) must be above lower ({self.lower})")
        return self


class TickTable(Frozen):
    effective: date
    bands: tuple[TickBand, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _contiguous(self) -> TickTable:
        for before, after in zip(self.bands, self.bands[1:], strict=False):
            if after.lower != before.upper:
                raise ValueError(
                    f"bands must be contiguous and ascending: {before.upper} then {after.lower}"
                )
        return self


class ChargePeriod(Frozen):
    start: date
    rate_pct: float = Field(ge=0, le=100)
    per_trade: float | None = Field(default=None, ge=0, le=MAX_FEE)
    minimum: float | None = Field(default=None, ge=0, le=MAX_FEE)
    maximum: float | None = Field(default=None, ge=0, le=MAX_FEE)


class Charge(Frozen):
    rounding: Literal["cent", "up_dollar"]
    periods: tuple[ChargePeriod, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _sorted(self) -> Charge:
        starts = [p.start for p in self.periods]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("periods must be in ascending order of start, one per date")
        return self


class MarketConfig(Frozen):
    calendar: str
    adhoc_closures: tuple[date, ...]
    tick_tables: tuple[TickTable, ...] = Field(min_length=1)
    charges: dict[str, Charge]

    @model_validator(mode="after")
    def _tables_sorted(self) -> MarketConfig:
        dates = [t.effective for t in self.tick_tables]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ValueError("tick_tables must be in ascending order of effective date")
        return self


class CostsConfig(Frozen):
    commission_pct: float = Field(ge=0, le=100)
    commission_min: float = Field(ge=0, le=MAX_FEE)
    slippage_ticks: int = Field(ge=0, le=MAX_TICKS)


class CashRatePeriod(Frozen):
    start: date
    rate_pct: float = Field(ge=-100, le=100)


class CashConfig(Frozen):
    rate: tuple[CashRatePeriod, ...] = Field(min_length=1)

    @field_validator("rate")
    @classmethod
    def _sorted(cls, rate: tuple[CashRatePeriod, ...]) -> tuple[CashRatePeriod, ...]:
        starts = [p.start for p in rate]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("periods must be in ascending order of start, one per date")
        return rate
