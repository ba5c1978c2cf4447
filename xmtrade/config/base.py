"""What every config model shares: strict scalars (a number or a yes/no is never read
from something else), immutability, no unknown keys, and the upper bound of every number."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

# Upper bounds of the numbers a config may hold (beyond them the arithmetic overflows, or the
# value cannot be meant): every numeric field has one, checked when the config is validated.
MAX_NAV = 1e11  # HK$ of starting cash (HK$100bn; the money arithmetic keeps 28 digits)
MAX_PRICE = 100_000.0  # HK$ a share (the spread table ends at 9,995)
MAX_FEE = 1_000_000.0  # HK$ of one fee, minimum or maximum
MAX_SHARES = 1_000_000  # shares in a board lot
MAX_SESSIONS = 10_000  # sessions (about 40 years): lookbacks, holding limits, cooldowns
MAX_PERIOD = 1_000  # sessions of an indicator period (RSI, MACD, ATR, swing k)
MAX_TICKS = 1_000  # ticks of slippage or stop buffer
MAX_REPORTS = 100  # quarterly reports (25 years)
MAX_LINE = 99  # a line of defence's number
MAX_DAYS = 3_660  # calendar days (ten years)
MAX_COUNT = 1e9  # counts: deliveries a year, trades
MAX_BETA = 10.0
MAX_SPREAD_PP = 1_000.0  # percentage points of ROIC - WACC
MAX_FX = 1_000.0  # HKD per RMB
MAX_MULTIPLE = 1_000.0  # price / sales
MAX_FIGURE = 1e15  # a risk rule's threshold, in the metric's own unit (RMB for revenue)
MAX_ATR_MULTIPLE = 100.0
MAX_SECONDS = 86_400.0  # a day
MAX_MESSAGE = 100_000  # characters of a notification
MAX_JOBS = 1_024
MAX_COMBINATIONS = 10_000_000
MAX_PBO_SPLITS = 64


class Frozen(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable, and a
    number or a yes/no is never read from something else (`oversold: true`, `period: "14"`
    are errors naming the file and the key, not 1.0 and 14)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        return value if field is None else _strict_scalar(field.annotation, value)


def _scalar_kinds(annotation: Any) -> set[type]:
    """Which of int, float and bool a field's type is made of (through `X | None`)."""
    if annotation in (int, float, bool):
        return {annotation}
    if get_origin(annotation) in (Union, UnionType):
        return {k for arg in get_args(annotation) for k in _scalar_kinds(arg)}
    return set()


def _strict_scalar(annotation: Any, value: Any) -> Any:
    """`value` unchanged, or a ValueError when a number or yes/no field gets another kind."""
    kinds = _scalar_kinds(annotation)
    if not kinds or value is None:
        return value
    if bool in kinds:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    what = "a number" if float in kinds else "a whole number"
    if isinstance(value, bool):
        raise ValueError(f"expected {what}")
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            raise ValueError(f"expected {what}") from None
        raise ValueError(f"expected {what} without quotes")
    if float not in kinds and isinstance(value, float):
        if not value.is_integer():
            raise ValueError("expected a whole number")
        return int(value)  # 1e6 is a whole number; its bound then says if it is too large
    return value


def _clock_time(value: Any) -> Any:
    """YAML reads an unquoted 17:15 as a number (sexagesimal): ask for quotes instead."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('expected a time in quotes, e.g. "17:15" (unquoted, YAML reads a number)')
    return value


# percent keys where a small value is almost surely a fraction meant as a percent (0.15 for
# 15%): the value below which it is refused, unless `allow_small_percent` lists the key
SMALL_PERCENT_RULES: dict[str, float] = {
    "sizing.target_weight_pct": 1.0,  # all three stage targets under 1% of NAV
    "sizing.max_weight_pct": 1.0,
    "sizing.risk_per_trade_pct": 0.1,
    "risk.drawdown_breaker.max_drawdown_pct": 1.0,
    "gate.ev_gross_margin_min_pct": 1.0,
    "gate.wacc.fixed_pct": 1.0,
    "gate.wacc.capm.tax_rate_pct": 1.0,
    "gate.wacc.capm.debt_weight_pct": 1.0,
}
