"""Typed, frozen config models and the layered YAML loader.

`configs/default.yaml` (shipped with the package) is always the first layer; each `-c FILE`
is merged over it (mappings merge key by key, everything else is replaced), then CLI flags.
The models carry no default values: every number lives in the YAML files.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, time
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from xmtrade.errors import ConfigError

if TYPE_CHECKING:
    from data_feeds.calendar import SessionCalendar

DEFAULT_CONFIG_NAME = "default.yaml"


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
    if float not in kinds and isinstance(value, float) and not value.is_integer():
        raise ValueError("expected a whole number")
    return value


class InstrumentConfig(Frozen):
    symbol: str = Field(min_length=1)
    currency: str
    board_lot: int = Field(gt=0)

    @field_validator("symbol")
    @classmethod
    def _ticker(cls, value: str) -> str:
        from data_feeds.symbols import SYMBOL, SYMBOL_EXPECTED

        if not SYMBOL.match(value):
            raise ValueError(SYMBOL_EXPECTED)
        return value


class DataConfig(Frozen):
    history_start: date
    refetch_sessions: int = Field(ge=0)


class TickBand(Frozen):
    lower: float = Field(ge=0)
    upper: float
    tick: float = Field(gt=0)

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
    rate_pct: float = Field(ge=0)
    per_trade: float | None = Field(default=None, ge=0)
    minimum: float | None = Field(default=None, ge=0)
    maximum: float | None = Field(default=None, ge=0)


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
    commission_pct: float = Field(ge=0)
    commission_min: float = Field(ge=0)
    slippage_ticks: int = Field(ge=0)


class RsiConfig(Frozen):
    period: int = Field(ge=2)
    oversold: float = Field(gt=0, lt=100)


class MacdConfig(Frozen):
    fast: int = Field(ge=1)
    slow: int = Field(ge=2)
    signal: int = Field(ge=1)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> MacdConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


class DivergenceConfig(Frozen):
    lookback: int = Field(ge=2)
    swing_k: int = Field(ge=1)


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
    core_after_passes: int = Field(ge=1)
    full_after_passes: int = Field(ge=1)
    add_on: Literal["signal", "announcement"]
    min_sessions_between_tranches: int = Field(ge=0)
    one_step_per_report: bool

    @model_validator(mode="after")
    def _ordered(self) -> StagesConfig:
        if self.full_after_passes < self.core_after_passes:
            raise ValueError("full_after_passes must not be below core_after_passes")
        return self


class FundamentalsConfig(Frozen):
    file: Path
    decision_time: time
    stale_after_days: int = Field(ge=1)

    _quoted = field_validator("decision_time", mode="before")(lambda value: _clock_time(value))

    @model_validator(mode="after")
    def _file_exists(self) -> FundamentalsConfig:
        if not self.file.is_file():
            raise ValueError(f"facts file {self.file} not found (expected a CSV file)")
        return self


class EvScaleConfig(Frozen):
    enabled: bool
    min_annualised_deliveries: float = Field(ge=0)


class CapmConfig(Frozen):
    risk_free_pct: float
    beta: float
    equity_risk_premium_pct: float
    cost_of_debt_pct: float
    tax_rate_pct: float = Field(ge=0, le=100)
    debt_weight_pct: float = Field(ge=0, le=100)


class WaccConfig(Frozen):
    method: Literal["fixed", "capm"]
    fixed_pct: float
    capm: CapmConfig


class GateConfig(Frozen):
    ev_gross_margin_min_pct: float
    ev_scale: EvScaleConfig
    roic_wacc_spread_min_pp: float
    invested_capital: Literal["operating", "total"]
    wacc: WaccConfig
    on_unknown: Literal["fail", "pass"]


class FxPeriod(Frozen):
    start: date
    rate: float = Field(gt=0)


class ValuationConfig(Frozen):
    ps_ceiling: float | None = Field(gt=0)
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
    line: int = Field(ge=1)
    metric: str
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    threshold: float
    action: Literal["block", "trim", "exit"]
    reports_in_a_row: int = Field(ge=1)
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
    cooldown_sessions: int = Field(ge=0)
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
            if sessions >= 1:
                return f"after_sessions {sessions}"
        raise ValueError(f"expected {', '.join(BREAKER_RESETS)} (N >= 1)")

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


class StopConfig(Frozen):
    method: Literal["lowest_low", "atr", "lowest_low_atr", "swing_low", "fixed"]
    lookback: int = Field(ge=1)
    buffer_ticks: int = Field(ge=0)
    atr_period: int = Field(ge=1)
    atr_multiple: float = Field(gt=0)
    swing_k: int = Field(ge=1)
    fixed_price: float | None = Field(gt=0)
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
    max_holding_sessions: int | None = Field(ge=1)


class BacktestConfig(Frozen):
    initial_nav: float = Field(gt=0)
    start: date | None
    end: date | None

    @model_validator(mode="after")
    def _window(self) -> BacktestConfig:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class CashRatePeriod(Frozen):
    start: date
    rate_pct: float


class CashConfig(Frozen):
    rate: tuple[CashRatePeriod, ...] = Field(min_length=1)

    @field_validator("rate")
    @classmethod
    def _sorted(cls, rate: tuple[CashRatePeriod, ...]) -> tuple[CashRatePeriod, ...]:
        starts = [p.start for p in rate]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("periods must be in ascending order of start, one per date")
        return rate


_WEEKDAY = "(mon|tue|wed|thu|fri|sat|sun)"
_DAYS = re.compile(rf"^{_WEEKDAY}(-{_WEEKDAY})?(,{_WEEKDAY}(-{_WEEKDAY})?)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _clock_time(value: Any) -> Any:
    """YAML reads an unquoted 17:15 as a number (sexagesimal): ask for quotes instead."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('expected a time in quotes, e.g. "17:15" (unquoted, YAML reads a number)')
    return value


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
    initial_delay_seconds: float = Field(gt=0)
    max_delay_seconds: float = Field(gt=0)
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
    timeout_seconds: float = Field(gt=0)
    max_length: int = Field(ge=200)

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
    min_trades: int = Field(ge=0)
    jobs: int = Field(ge=0)
    max_combinations: int = Field(ge=1)
    pbo_splits: int = Field(ge=2)

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


HASH_EXCLUDED_SECTIONS = ("paper", "sweep")
HASH_COVERS = (
    "it covers every strategy value, not the paper and sweep sections, the starting cash "
    "or the facts file, which has its own digest"
)


class AppConfig(Frozen):
    """The whole merged configuration."""

    instrument: InstrumentConfig
    data: DataConfig
    market: MarketConfig
    costs: CostsConfig
    signals: SignalsConfig
    entry: EntryConfig
    sizing: SizingConfig
    stages: StagesConfig
    fundamentals: FundamentalsConfig
    gate: GateConfig
    valuation: ValuationConfig
    risk: RiskConfig
    stop: StopConfig
    exits: ExitsConfig
    backtest: BacktestConfig
    paper: PaperConfig
    sweep: SweepConfig
    cash: CashConfig

    def config_hash(self) -> str:
        """A short stable hash of the strategy: every rule and number of the merged config.

        Not counted: the `paper` section (when to run, whom to tell) and the `sweep` section
        (how to search for a config), which change no decision; `backtest.initial_nav`, the
        starting cash, shown beside the hash (a paper account's `--cash` replaces it); and the
        facts file, which is data like the prices and has its own digest (`facts_digest`).
        So one paper account has one hash everywhere: `paper init`, `status`, `report`,
        `config validate` and `config show` print the same."""
        values = self.model_dump(mode="json")
        for section in HASH_EXCLUDED_SECTIONS:
            del values[section]
        del values["backtest"]["initial_nav"]
        del values["fundamentals"]["file"]
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def facts_digest(self) -> str:
        """The facts file's content digest (`sha256:` and 16 hex digits)."""
        digest = _content_digest(self.fundamentals.file)
        return digest[:23] if digest.startswith("sha256:") else digest

    def to_yaml(self) -> str:
        """The merged configuration as YAML (what `xmtrade config show` prints)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    # which file set each dotted key (filled by `validate_config`), for errors found later
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _layers: tuple[str, ...] = PrivateAttr(default=())

    def __eq__(self, other: object) -> bool:
        """Equal values are equal configs, whichever files set them."""
        if not isinstance(other, AppConfig):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    def source_of(self, key: str) -> str:
        """The config file that set the dotted `key` (the last layer that did), else the
        packaged defaults: an error about a value names where to change it."""
        return _origin_of(key.split("."), self._sources, list(self._layers) or ["config"])


def _content_digest(path: Path) -> str:
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"


# ---------------------------------------------------------------- loading and merging


def default_config_path() -> Path:
    """The packaged `configs/default.yaml`."""
    return Path(str(resources.files("configs").joinpath(DEFAULT_CONFIG_NAME)))


USER_CONFIG_NAME = "xmtrade.yaml"


def user_config_path(folder: Path | None = None) -> Path | None:
    """`./xmtrade.yaml` (made by `xmtrade init`) when the folder has one: the layer every
    command puts between the packaged defaults and its `-c` files."""
    candidate = folder / USER_CONFIG_NAME if folder else Path(USER_CONFIG_NAME)
    return candidate if candidate.is_file() else None


def changed_checkout_defaults(folder: Path | None = None) -> Path | None:
    """`configs/default.yaml` of an xmtrade checkout in `folder` when it differs from the
    packaged copy the program reads (an edit that `pip install .` has not picked up)."""
    here = folder or Path()
    checkout = here / "configs" / DEFAULT_CONFIG_NAME
    if not checkout.is_file() or not (here / "xmtrade" / "config.py").is_file():
        return None
    packaged = default_config_path()
    try:
        if checkout.resolve() == packaged.resolve():
            return None  # an editable install reads the checkout itself
        if checkout.read_bytes() == packaged.read_bytes():
            return None
    except OSError:
        return None
    return checkout


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping, with one-line errors for every failure."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(where, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(where, None, "is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, None, f"cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(where, None, f"invalid YAML at {at}: {problem}") from None
    except ValueError as exc:  # e.g. an unquoted impossible date such as 2024-02-30
        raise ConfigError(where, None, f"invalid value: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(where, None, f"expected a mapping of keys, got {type(data).__name__}")
    return data


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error."""


def _no_duplicate_keys(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def _check_keys(data: Mapping[str, Any], model: type[BaseModel], where: str, prefix: str) -> None:
    """Reject unknown keys with a 'did you mean' hint, naming the file that has them."""
    fields = model.model_fields
    for key, value in data.items():
        path = f"{prefix}{key}"
        if not isinstance(key, str) or key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
            expected = ", ".join(fields)
            raise ConfigError(where, path, f"unknown key (expected one of: {expected}){hint}")
        sub = _submodel(fields[key].annotation)
        if sub is not None and isinstance(value, Mapping):
            _check_keys(value, sub, where, f"{path}.")


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def merge_layers(
    layers: Sequence[tuple[str, Mapping[str, Any]]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge layers in order; return the merged mapping and which layer set each key path."""
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def merge(into: dict[str, Any], src: Mapping[str, Any], where: str, prefix: str) -> None:
        for key, value in src.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping) and isinstance(into.get(key), dict):
                merge(into[key], value, where, f"{path}.")
            else:
                into[key] = _copy(value)
                for known in [p for p in origin if p.startswith(f"{path}.")]:
                    del origin[known]
                origin[path] = where
                if isinstance(value, Mapping):
                    _record_origin(value, where, f"{path}.", origin)

    for where, data in layers:
        merge(merged, data, where, "")
    return merged, origin


def _record_origin(
    data: Mapping[str, Any], where: str, prefix: str, origin: dict[str, str]
) -> None:
    for key, value in data.items():
        origin[f"{prefix}{key}"] = where
        if isinstance(value, Mapping):
            _record_origin(value, where, f"{prefix}{key}.", origin)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested mapping, creating the mappings on the way."""
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_config(
    files: Sequence[Path] = (),
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "command line",
) -> AppConfig:
    """Load the packaged defaults, each file in order, then dotted-key overrides, and validate."""
    return ConfigLayers(files).build(overrides, overrides_source)


class ConfigLayers:
    """The packaged defaults and `files`, read and key-checked once, to build many configs
    that differ only in their dotted-key overrides (a parameter sweep builds hundreds):
    `build(overrides, source)` is `load_config(files, overrides, source)` without reading
    the files again."""

    def __init__(self, files: Sequence[Path] = ()) -> None:
        default = default_config_path()
        self.files = [Path(p) for p in files]
        self.layers: list[tuple[str, Mapping[str, Any]]] = [
            (str(default), read_yaml_mapping(default))
        ]
        for path in files:
            data = read_yaml_mapping(Path(path))
            _check_keys(data, AppConfig, str(path), "")
            self.layers.append((str(path), data))

    def build(
        self,
        overrides: Mapping[str, Any] | None = None,
        overrides_source: str = "command line",
    ) -> AppConfig:
        """The config of these layers with `overrides` (dotted keys) on top, validated."""
        layers = list(self.layers)
        if overrides:
            nested: dict[str, Any] = {}
            for dotted, value in overrides.items():
                set_dotted(nested, dotted, value)
            _check_keys(nested, AppConfig, overrides_source, "")
            layers.append((overrides_source, nested))
        merged, origin = merge_layers(layers)
        _resolve_paths(merged, origin)
        return validate_config(merged, origin, [where for where, _ in layers])


PATH_KEYS = ("fundamentals.file",)


def _resolve_paths(merged: dict[str, Any], origin: Mapping[str, str]) -> None:
    """Relative paths in a config file are relative to that file's folder."""
    for dotted in PATH_KEYS:
        node: Any = merged
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), str):
            continue
        raw = Path(node[parts[-1]]).expanduser()
        source = origin.get(dotted, "")
        if not raw.is_absolute() and source.endswith((".yaml", ".yml")):
            raw = Path(source).parent / raw
        node[parts[-1]] = str(raw.absolute())


def validate_config(
    merged: Mapping[str, Any], origin: Mapping[str, str], layer_order: Sequence[str]
) -> AppConfig:
    """Build the model; turn the first validation error into a one-line `ConfigError`."""
    try:
        cfg = AppConfig.model_validate(merged)
        cfg._sources, cfg._layers = dict(origin), tuple(layer_order)
        return cfg
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = [str(part) for part in err["loc"]]
        path = ".".join(loc)
        where = _origin_of(loc, origin, layer_order)
        got = err.get("input")
        got_text = "" if isinstance(got, Mapping) else f", got {got!r}"
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        raise ConfigError(
            where, path or None, f"{_expected(err['type'], message)}{got_text}"
        ) from None


def _origin_of(loc: Sequence[str], origin: Mapping[str, str], layers: Sequence[str]) -> str:
    """The file that last set the failing key, or anything under the failing section."""
    for end in range(len(loc), 0, -1):
        prefix = ".".join(loc[:end])
        setters = [w for p, w in origin.items() if p == prefix or p.startswith(f"{prefix}.")]
        if setters:
            return max(setters, key=list(layers).index)
    return "config"


# pydantic's words that name its own classes or types, in the user's words
_KIND_WORDS = {
    "model_type": "expected a mapping of keys (indented `key: value` lines)",
    "model_attributes_type": "expected a mapping of keys (indented `key: value` lines)",
    "dict_type": "expected a mapping of keys (indented `key: value` lines)",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "is_instance_of": "expected a value of another kind",
}


def _expected(kind: str, message: str) -> str:
    if kind == "missing":
        return "missing key (expected a value; the packaged default.yaml sets every key)"
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind]
    if message.startswith("Input should be "):
        return "expected " + message.removeprefix("Input should be ")
    lowered = message[0].lower() + message[1:] if message else message
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return f"expected {lowered.removeprefix('input should be ')}"
    return lowered


def session_calendar(cfg: AppConfig) -> SessionCalendar:
    """The exchange calendar of `cfg`; an unknown calendar code is a one-line error naming
    the config file and `market.calendar`."""
    from data_feeds.calendar import SessionCalendar, UnknownCalendar

    try:
        return SessionCalendar(cfg.market.calendar, cfg.market.adhoc_closures)
    except UnknownCalendar as exc:
        raise ConfigError(
            cfg.source_of("market.calendar"), "market.calendar", f"{exc.message}, got {exc.code!r}"
        ) from None
