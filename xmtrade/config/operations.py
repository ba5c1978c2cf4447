"""The sections that change no decision: when the paper account runs and whom it tells,
and how a sweep searches."""

from __future__ import annotations

import difflib
import re
from datetime import time

from pydantic import Field, field_validator, model_validator

from xmtrade.config.base import (
    MAX_COMBINATIONS,
    MAX_COUNT,
    MAX_JOBS,
    MAX_MESSAGE,
    MAX_PBO_SPLITS,
    MAX_SECONDS,
    Frozen,
    _clock_time,
)

_WEEKDAY = "(mon|tue|wed|thu|fri|sat|sun)"
_DAYS = re.compile(rf"^{_WEEKDAY}(-{_WEEKDAY})?(,{_WEEKDAY}(-{_WEEKDAY})?)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PaperScheduleConfig(Frozen):
    timezone: str
    day_of_week: str
    hour: int = Field(ge=0, le=23)
    minute: int = Field(ge=0, le=59)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (expected e.g. Asia/Hong_Kong)") from None
        return value

    @field_validator("day_of_week")
    @classmethod
    def _days(cls, value: str) -> str:
        if not _DAYS.match(value):
            raise ValueError("expected weekdays like mon-fri or mon,wed,fri")
        return value


class PaperRetryConfig(Frozen):
    initial_delay_seconds: float = Field(gt=0, le=MAX_SECONDS)
    max_delay_seconds: float = Field(gt=0, le=MAX_SECONDS)
    cutoff: time

    _quoted = field_validator("cutoff", mode="before")(_clock_time)

    @model_validator(mode="after")
    def _ordered(self) -> PaperRetryConfig:
        if self.max_delay_seconds < self.initial_delay_seconds:
            raise ValueError(
                f"max_delay_seconds ({self.max_delay_seconds:g}) is below "
                f"initial_delay_seconds ({self.initial_delay_seconds:g})"
            )
        return self


class PaperNotifyConfig(Frozen):
    apprise_urls_env: str | None
    webhook_url_env: str | None
    command: tuple[str, ...] | None = Field(min_length=1)
    timeout_seconds: float = Field(gt=0, le=MAX_SECONDS)
    max_length: int = Field(ge=200, le=MAX_MESSAGE)
    digest: bool = False  # one digest a step instead of one message per kind of event

    @field_validator("apprise_urls_env", "webhook_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "expected the NAME of an environment variable holding the URL "
                "(secrets never go in config files)"
            )
        return value


class PaperConfig(Frozen):
    schedule: PaperScheduleConfig
    retry: PaperRetryConfig
    notify: PaperNotifyConfig

    @model_validator(mode="after")
    def _cutoff_after_run(self) -> PaperConfig:
        run_at = time(self.schedule.hour, self.schedule.minute)
        if self.retry.cutoff <= run_at:
            raise ValueError(
                f"retry.cutoff ({self.retry.cutoff:%H:%M}) must be after the scheduled run "
                f"({run_at:%H:%M})"
            )
        return self


SWEEP_METRICS = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "n_trades",
    "open_tranches",
    "win_rate",
    "profit_factor",
    "exposure",
    "final_nav",
    "cap_breaches",
    "stale_decisions",
    "fees_total",
    "sessions",
)


class SweepConfig(Frozen):
    metric: str
    min_trades: int = Field(ge=0, le=MAX_COUNT)
    jobs: int = Field(ge=0, le=MAX_JOBS)
    max_combinations: int = Field(ge=1, le=MAX_COMBINATIONS)
    pbo_splits: int = Field(ge=2, le=MAX_PBO_SPLITS)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in SWEEP_METRICS:
            close = difflib.get_close_matches(value, SWEEP_METRICS, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"unknown metric (expected one of: {', '.join(SWEEP_METRICS)}){hint}")
        return value

    @field_validator("pbo_splits")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("expected an even number of blocks")
        return value
