"""The facts file, the quarterly gate, the valuation ceiling and the risk lines."""

from __future__ import annotations

import difflib
from datetime import date, time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from xmtrade.config.base import (
    MAX_BETA,
    MAX_COUNT,
    MAX_DAYS,
    MAX_FIGURE,
    MAX_FX,
    MAX_LINE,
    MAX_MULTIPLE,
    MAX_REPORTS,
    MAX_SESSIONS,
    MAX_SPREAD_PP,
    Frozen,
    _clock_time,
)


class FundamentalsConfig(Frozen):
    file: Path
    decision_time: time
    stale_after_days: int = Field(ge=1, le=MAX_DAYS)

    _quoted = field_validator("decision_time", mode="before")(lambda value: _clock_time(value))

    @model_validator(mode="after")
    def _file_exists(self) -> FundamentalsConfig:
        if not self.file.is_file():
            raise ValueError(f"facts file {self.file} not found (expected a CSV file)")
        return self


class EvScaleConfig(Frozen):
    enabled: bool
    min_annualised_deliveries: float = Field(ge=0, le=MAX_COUNT)


class CapmConfig(Frozen):
    risk_free_pct: float = Field(ge=-100, le=100)
    beta: float = Field(ge=-MAX_BETA, le=MAX_BETA)
    equity_risk_premium_pct: float = Field(ge=-100, le=100)
    cost_of_debt_pct: float = Field(ge=-100, le=100)
    tax_rate_pct: float = Field(ge=0, le=100)
    debt_weight_pct: float = Field(ge=0, le=100)


class WaccConfig(Frozen):
    method: Literal["fixed", "capm"]
    fixed_pct: float = Field(ge=-100, le=100)
    capm: CapmConfig


class GateConfig(Frozen):
    # false: every report counts as a pass (stages open on signals alone); the tests are still
    # computed and recorded. True is also the value of a config stored before the key existed.
    enabled: bool = True
    ev_gross_margin_min_pct: float = Field(ge=-100, le=100)
    ev_scale: EvScaleConfig
    roic_wacc_spread_min_pp: float = Field(ge=-MAX_SPREAD_PP, le=MAX_SPREAD_PP)
    invested_capital: Literal["operating", "total"]
    wacc: WaccConfig
    on_unknown: Literal["fail", "pass"]


class FxPeriod(Frozen):
    start: date
    rate: float = Field(gt=0, le=MAX_FX)


class ValuationConfig(Frozen):
    ps_ceiling: float | None = Field(gt=0, le=MAX_MULTIPLE)
    hkd_per_rmb: tuple[FxPeriod, ...] = Field(min_length=1)


DERIVED_METRICS = (
    "roic_pct",
    "roic_minus_wacc_pp",
    "gross_margin_yoy_pp",
    "ev_segment_result_best",
)
QUARTERLY_METRICS = (
    "revenue",
    "adjusted_net_profit",
    "gross_margin",
    "smartphone_shipments",
    "smartphone_rank",
    "ev_revenue",
    "ev_deliveries",
    "ev_gross_margin",
    "ev_segment_result",
)


class RiskRule(Frozen):
    name: str = Field(min_length=1)
    line: int = Field(ge=1, le=MAX_LINE)
    metric: str
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    threshold: float = Field(ge=-MAX_FIGURE, le=MAX_FIGURE)
    action: Literal["block", "trim", "exit"]
    reports_in_a_row: int = Field(ge=1, le=MAX_REPORTS)
    active_from: date | None

    @model_validator(mode="after")
    def _known_metric(self) -> RiskRule:
        known = (*QUARTERLY_METRICS, *DERIVED_METRICS)
        if self.metric not in known:
            close = difflib.get_close_matches(self.metric, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"unknown metric '{self.metric}' (expected one of: {', '.join(known)}){hint}"
            )
        return self


BREAKER_RESETS = ("none", "at_fire", "after_sessions N")


class DrawdownBreakerConfig(Frozen):
    max_drawdown_pct: float = Field(gt=0, lt=100)
    cooldown_sessions: int = Field(ge=0, le=MAX_SESSIONS)
    basis: Literal["nav", "allocation"]
    # what the breaker's peak does after it fires: none (stays the run's highest NAV),
    # at_fire (restarts from the NAV it fired at), after_sessions N (restarts N sessions later)
    reset: str = "at_fire"  # also the value of a config stored before the key existed

    @field_validator("reset")
    @classmethod
    def _reset_form(cls, value: str) -> str:
        words = str(value).split()
        if words in (["none"], ["at_fire"]):
            return words[0]
        if len(words) == 2 and words[0] == "after_sessions" and words[1].isdigit():
            sessions = int(words[1])
            if 1 <= sessions <= MAX_SESSIONS:
                return f"after_sessions {sessions}"
        raise ValueError(f"expected {', '.join(BREAKER_RESETS)} (1 <= N <= {MAX_SESSIONS})")

    @property
    def reset_mode(self) -> str:
        """none, at_fire or after_sessions."""
        return self.reset.split()[0]

    @property
    def reset_sessions(self) -> int:
        """N of `after_sessions N` (0 for the other modes)."""
        words = self.reset.split()
        return int(words[1]) if len(words) == 2 else 0


class RiskConfig(Frozen):
    on_unknown: Literal["ignore", "block"]
    rules: tuple[RiskRule, ...]
    drawdown_breaker: DrawdownBreakerConfig | None

    @model_validator(mode="after")
    def _unique_names(self) -> RiskConfig:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique: {', '.join(dupes)}")
        return self
