"""The whole merged configuration, and where each of its keys was set."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import yaml
from pydantic import BaseModel, PrivateAttr, field_validator

from xmtrade.config.base import SMALL_PERCENT_RULES, Frozen
from xmtrade.config.fundamentals import (
    FundamentalsConfig,
    GateConfig,
    RiskConfig,
    ValuationConfig,
)
from xmtrade.config.hashing import content_digest, strategy_hash
from xmtrade.config.market import (
    CashConfig,
    CostsConfig,
    DataConfig,
    InstrumentConfig,
    MarketConfig,
)
from xmtrade.config.operations import PaperConfig, SweepConfig
from xmtrade.config.strategy import (
    BacktestConfig,
    EntryConfig,
    ExitsConfig,
    SignalsConfig,
    SizingConfig,
    StagesConfig,
    StopConfig,
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
    allow_small_percent: tuple[str, ...]

    @field_validator("allow_small_percent")
    @classmethod
    def _known_percent_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        known = tuple(SMALL_PERCENT_RULES)
        for key in keys:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(
                    f"{key!r} is not a percent key checked for unit mistakes (expected some of: "
                    f"{', '.join(known)}){hint}"
                )
        return keys

    def config_hash(self) -> str:
        """A short stable hash of the strategy: every rule and number of the merged config.

        Not counted: the `paper` section (when to run, whom to tell) and the `sweep` section
        (how to search for a config), which change no decision; `backtest.initial_nav`, the
        starting cash, shown beside the hash (a paper account's `--cash` replaces it); and the
        facts file, which is data like the prices and has its own digest (`facts_digest`).
        So one paper account has one hash everywhere: `paper init`, `status`, `report`,
        `config validate` and `config show` print the same."""
        return strategy_hash(self.model_dump(mode="json"))

    def facts_digest(self) -> str:
        """The facts file's content digest (`sha256:` and 16 hex digits)."""
        digest = content_digest(self.fundamentals.file)
        return digest[:23] if digest.startswith("sha256:") else digest

    def to_yaml(self) -> str:
        """The merged configuration as YAML (what `xmtrade config show` prints)."""
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, when installed
        return yaml.dump(
            self.model_dump(mode="json"), Dumper=dumper, sort_keys=False, allow_unicode=True
        )

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


def _origin_of(loc: Sequence[str], origin: Mapping[str, str], layers: Sequence[str]) -> str:
    """The file that last set the failing key, or anything under the failing section."""
    for end in range(len(loc), 0, -1):
        prefix = ".".join(loc[:end])
        setters = [w for p, w in origin.items() if p == prefix or p.startswith(f"{prefix}.")]
        if setters:
            return max(setters, key=list(layers).index)
    return "config"
