"""The strategy's own rules: signals, entry, sizing, stages, the stop, the exits and the
backtest window."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from xmtrade.config.base import (
    MAX_ATR_MULTIPLE,
    MAX_NAV,
    MAX_PERIOD,
    MAX_PRICE,
    MAX_REPORTS,
    MAX_SESSIONS,
    MAX_TICKS,
    Frozen,
)


class RsiConfig(Frozen):
    period: int = Field(ge=2, le=MAX_PERIOD)
    oversold: float = Field(gt=0, lt=100)


class MacdConfig(Frozen):
    fast: int = Field(ge=1, le=MAX_PERIOD)
    slow: int = Field(ge=2, le=MAX_PERIOD)
    signal: int = Field(ge=1, le=MAX_PERIOD)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MacdConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


class DivergenceConfig(Frozen):
    lookback: int = Field(ge=2, le=MAX_SESSIONS)
    swing_k: int = Field(ge=1, le=MAX_PERIOD)


class SignalsConfig(Frozen):
    rsi: RsiConfig
    macd: MacdConfig
    divergence: DivergenceConfig


class EntryConfig(Frozen):
    require: Literal["any", "all"]
    gap_rule: Literal["skip", "reanchor", "keep"]


class TargetWeights(Frozen):
    tactical: float = Field(gt=0, le=100)
    core: float = Field(gt=0, le=100)
    full: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ascending(self) -> TargetWeights:
        if not self.tactical <= self.core <= self.full:
            raise ValueError("weights must not fall from tactical to core to full")
        return self


class SizingConfig(Frozen):
    target_weight_pct: TargetWeights
    max_weight_pct: float = Field(gt=0, le=100)
    risk_per_trade_pct: float = Field(gt=0, le=100)


class StagesConfig(Frozen):
    max_stage: Literal[1, 2, 3]
    core_after_passes: int = Field(ge=1, le=MAX_REPORTS)
    full_after_passes: int = Field(ge=1, le=MAX_REPORTS)
    add_on: Literal["signal", "announcement"]
    min_sessions_between_tranches: int = Field(ge=0, le=MAX_SESSIONS)
    one_step_per_report: bool

    @model_validator(mode="after")
    def _ordered(self) -> StagesConfig:
        if self.full_after_passes < self.core_after_passes:
            raise ValueError("full_after_passes must not be below core_after_passes")
        return self


class StopConfig(Frozen):
    method: Literal["lowest_low", "atr", "lowest_low_atr", "swing_low", "fixed"]
    lookback: int = Field(ge=1, le=MAX_SESSIONS)
    buffer_ticks: int = Field(ge=0, le=MAX_TICKS)
    atr_period: int = Field(ge=1, le=MAX_PERIOD)
    atr_multiple: float = Field(gt=0, le=MAX_ATR_MULTIPLE)
    swing_k: int = Field(ge=1, le=MAX_PERIOD)
    fixed_price: float | None = Field(gt=0, le=MAX_PRICE)
    fixed_from: date | None
    fixed_to: date | None

    @model_validator(mode="after")
    def _fixed(self) -> StopConfig:
        if self.method == "fixed" and self.fixed_price is None:
            raise ValueError("method fixed needs stop.fixed_price (a HK$ price)")
        if self.method != "fixed" and self.fixed_price is not None:
            raise ValueError(
                f"fixed_price is used only by method fixed (method is {self.method}): "
                "set stop.method: fixed, or fixed_price: null"
            )
        if self.fixed_from and self.fixed_to and self.fixed_to < self.fixed_from:
            raise ValueError(f"fixed_to ({self.fixed_to}) is before fixed_from ({self.fixed_from})")
        return self


class ExitsConfig(Frozen):
    rsi_overbought: float | None = Field(gt=0, lt=100)
    trailing_stop: bool
    max_holding_sessions: int | None = Field(ge=1, le=MAX_SESSIONS)


class BacktestConfig(Frozen):
    initial_nav: float = Field(gt=0, le=MAX_NAV)
    start: date | None
    end: date | None

    @model_validator(mode="after")
    def _window(self) -> BacktestConfig:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self
