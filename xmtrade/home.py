"""The one data directory that holds the price cache, backtest runs and (later) the ledger."""

from __future__ import annotations

import os
from pathlib import Path

from xmtrade.errors import ConfigError

ENV_VAR = "XMTRADE_HOME"


def resolve_data_dir(option: str | None) -> Path:
    """`--data-dir`, else `$XMTRADE_HOME`, else the per-user data directory."""
    if option:
        raw, source = option, "--data-dir"
    elif os.environ.get(ENV_VAR):
        raw, source = os.environ[ENV_VAR], ENV_VAR
    else:
        from platformdirs import user_data_dir

        raw, source = user_data_dir("xmtrade", appauthor=False), "default data directory"
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(source, None, f"{path} is a file, expected a directory")
    from data_feeds import calendar_cache

    calendar_cache.use_folder(path)  # the exchange calendar's sessions are kept there
    return path


def prices_dir(data_dir: Path) -> Path:
    """Where the price cache lives."""
    return data_dir / "prices"


def runs_dir(data_dir: Path) -> Path:
    """Where backtest run folders go unless `--out` names one."""
    return data_dir / "runs"
