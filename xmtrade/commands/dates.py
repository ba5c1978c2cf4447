"""Command-line dates: one parser for every verb's `--start`, `--end` and `--asof`."""

from __future__ import annotations

from datetime import date

from xmtrade.errors import ConfigError


def parse_day(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD command-line date, or a one-line error naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            "command line", option, f"expected a date YYYY-MM-DD, got {value!r}"
        ) from None


def parse_window(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """`--start` and `--end` parsed, with end before start refused."""
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    if first and last and last < first:
        raise ConfigError("command line", "--end", f"{last} is before --start {first}")
    return first, last
