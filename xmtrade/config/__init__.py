"""Typed, frozen config models and the layered YAML loader, by responsibility:

- `base`: what every model shares (strict scalars, immutability, the upper bound of every number);
- `market`, `strategy`, `fundamentals`, `operations`: the models of each component;
- `app`: the whole merged `AppConfig` and where each key was set;
- `checks`: percent written as a fraction, lookbacks longer than the history;
- `hashing`: the config hash and the facts digest;
- `yaml_loader`: the bounded, plain-YAML loader every YAML file goes through;
- `loading`: the layers (defaults, `./xmtrade.yaml`, each `-c FILE`, dotted keys) merged and
  validated, every problem one line naming the file and the key.

`configs/default.yaml` (shipped with the package) is always the first layer; each `-c FILE`
is merged over it (mappings merge key by key, everything else is replaced), then CLI flags.
The models carry no default values: every number lives in the YAML files. Every name is
importable from `xmtrade.config` itself.
"""

from __future__ import annotations

from xmtrade.config.app import (
    AppConfig,
)
from xmtrade.config.app import (
    _origin_of as _origin_of,
)
from xmtrade.config.base import (
    MAX_ATR_MULTIPLE,
    MAX_BETA,
    MAX_COMBINATIONS,
    MAX_COUNT,
    MAX_DAYS,
    MAX_FEE,
    MAX_FIGURE,
    MAX_FX,
    MAX_JOBS,
    MAX_LINE,
    MAX_MESSAGE,
    MAX_MULTIPLE,
    MAX_NAV,
    MAX_PBO_SPLITS,
    MAX_PERIOD,
    MAX_PRICE,
    MAX_REPORTS,
    MAX_SECONDS,
    MAX_SESSIONS,
    MAX_SHARES,
    MAX_SPREAD_PP,
    MAX_TICKS,
    Frozen,
)
from xmtrade.config.base import (
    _clock_time as _clock_time,
)
from xmtrade.config.base import (
    _scalar_kinds as _scalar_kinds,
)
from xmtrade.config.base import (
    _strict_scalar as _strict_scalar,
)
from xmtrade.config.checks import (
    LOOKBACK_KEYS,
    SMALL_PERCENT_RULES,
    lookbacks,
    require_history,
)
from xmtrade.config.checks import (
    _percent_values as _percent_values,
)
from xmtrade.config.checks import (
    _refuse_unit_mistakes as _refuse_unit_mistakes,
)
from xmtrade.config.fundamentals import (
    DERIVED_METRICS,
    QUARTERLY_METRICS,
    CapmConfig,
    DrawdownBreakerConfig,
    EvScaleConfig,
    FundamentalsConfig,
    FxPeriod,
    GateConfig,
    RiskConfig,
    RiskRule,
    ValuationConfig,
    WaccConfig,
)
from xmtrade.config.hashing import (
    HASH_COVERS,
    HASH_EXCLUDED_SECTIONS,
    content_digest,
    strategy_hash,
)
from xmtrade.config.hashing import content_digest as _content_digest  # noqa: F401
from xmtrade.config.loading import (
    _KIND_WORDS as _KIND_WORDS,
)
from xmtrade.config.loading import (
    DEFAULT_CONFIG_NAME,
    PATH_KEYS,
    USER_CONFIG_NAME,
    ConfigLayers,
    changed_checkout_defaults,
    default_config_path,
    load_config,
    merge_layers,
    session_calendar,
    set_dotted,
    user_config_path,
    validate_config,
)
from xmtrade.config.loading import (
    _bound_words as _bound_words,
)
from xmtrade.config.loading import (
    _check_keys as _check_keys,
)
from xmtrade.config.loading import (
    _copy as _copy,
)
from xmtrade.config.loading import (
    _expected as _expected,
)
from xmtrade.config.loading import (
    _number as _number,
)
from xmtrade.config.loading import (
    _record_origin as _record_origin,
)
from xmtrade.config.loading import (
    _resolve_paths as _resolve_paths,
)
from xmtrade.config.loading import (
    _shown as _shown,
)
from xmtrade.config.loading import (
    _submodel as _submodel,
)
from xmtrade.config.market import (
    CashConfig,
    CashRatePeriod,
    Charge,
    ChargePeriod,
    CostsConfig,
    DataConfig,
    InstrumentConfig,
    MarketConfig,
    TickBand,
    TickTable,
)
from xmtrade.config.operations import (
    _DAYS as _DAYS,
)
from xmtrade.config.operations import (
    _ENV_NAME as _ENV_NAME,
)
from xmtrade.config.operations import (
    _WEEKDAY as _WEEKDAY,
)
from xmtrade.config.operations import (
    SWEEP_METRICS,
    PaperConfig,
    PaperNotifyConfig,
    PaperRetryConfig,
    PaperScheduleConfig,
    SweepConfig,
)
from xmtrade.config.strategy import (
    BacktestConfig,
    DivergenceConfig,
    EntryConfig,
    ExitsConfig,
    MacdConfig,
    RsiConfig,
    SignalsConfig,
    SizingConfig,
    StagesConfig,
    StopConfig,
    TargetWeights,
)
from xmtrade.config.yaml_loader import (
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_VALUES,
    PLAIN_TAGS,
    load_yaml_text,
    read_yaml_mapping,
)
from xmtrade.config.yaml_loader import (
    _check_tree as _check_tree,
)
from xmtrade.config.yaml_loader import (
    _date_or_text as _date_or_text,
)
from xmtrade.config.yaml_loader import (
    _FastSafeLoader as _FastSafeLoader,
)
from xmtrade.config.yaml_loader import (
    _no_duplicate_keys as _no_duplicate_keys,
)
from xmtrade.config.yaml_loader import (
    _refused as _refused,
)
from xmtrade.config.yaml_loader import (
    _SafeBase as _SafeBase,
)
from xmtrade.config.yaml_loader import (
    _StrictLoader as _StrictLoader,
)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DERIVED_METRICS",
    "HASH_COVERS",
    "HASH_EXCLUDED_SECTIONS",
    "LOOKBACK_KEYS",
    "MAX_ATR_MULTIPLE",
    "MAX_BETA",
    "MAX_COMBINATIONS",
    "MAX_COUNT",
    "MAX_DAYS",
    "MAX_FEE",
    "MAX_FIGURE",
    "MAX_FX",
    "MAX_JOBS",
    "MAX_LINE",
    "MAX_MESSAGE",
    "MAX_MULTIPLE",
    "MAX_NAV",
    "MAX_PBO_SPLITS",
    "MAX_PERIOD",
    "MAX_PRICE",
    "MAX_REPORTS",
    "MAX_SECONDS",
    "MAX_SESSIONS",
    "MAX_SHARES",
    "MAX_SPREAD_PP",
    "MAX_TICKS",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_VALUES",
    "PATH_KEYS",
    "PLAIN_TAGS",
    "QUARTERLY_METRICS",
    "SMALL_PERCENT_RULES",
    "SWEEP_METRICS",
    "USER_CONFIG_NAME",
    "AppConfig",
    "BacktestConfig",
    "CapmConfig",
    "CashConfig",
    "CashRatePeriod",
    "Charge",
    "ChargePeriod",
    "ConfigLayers",
    "CostsConfig",
    "DataConfig",
    "DivergenceConfig",
    "DrawdownBreakerConfig",
    "EntryConfig",
    "EvScaleConfig",
    "ExitsConfig",
    "Frozen",
    "FundamentalsConfig",
    "FxPeriod",
    "GateConfig",
    "InstrumentConfig",
    "MacdConfig",
    "MarketConfig",
    "PaperConfig",
    "PaperNotifyConfig",
    "PaperRetryConfig",
    "PaperScheduleConfig",
    "RiskConfig",
    "RiskRule",
    "RsiConfig",
    "SignalsConfig",
    "SizingConfig",
    "StagesConfig",
    "StopConfig",
    "SweepConfig",
    "TargetWeights",
    "TickBand",
    "TickTable",
    "ValuationConfig",
    "WaccConfig",
    "changed_checkout_defaults",
    "content_digest",
    "default_config_path",
    "load_config",
    "load_yaml_text",
    "lookbacks",
    "merge_layers",
    "read_yaml_mapping",
    "require_history",
    "session_calendar",
    "set_dotted",
    "strategy_hash",
    "user_config_path",
    "validate_config",
]
