"""Errors raised by the engine; all are `UserInputError`s caught in `xmtrade.cli.main`."""

from __future__ import annotations

from data_feeds.errors import DataError, UserInputError


class ConfigError(UserInputError):
    """A config file, a config value or a command-line option that cannot be used."""


__all__ = ["ConfigError", "DataError", "UserInputError"]
