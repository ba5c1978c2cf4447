"""The spans a table is drawn for: the whole window, each calendar year in it, and each regime
the user names in a YAML file (`regimes: {name: {start: D, end: D}}`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from xmtrade.errors import ConfigError

REGIME_KEYS = ("start", "end")


@dataclass(frozen=True)
class Span:
    """A dated span of the traded window and the positions of its sessions."""

    name: str
    kind: str  # window | year | regime
    start: date  # first session in it
    end: date  # last session in it
    first: int  # position of its first session in the run's daily series
    last: int  # position of its last session (inclusive)

    @property
    def sessions(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class Regime:
    """A span the user names, as written (clipped to the window when the spans are made)."""

    name: str
    start: date
    end: date


def load_regimes(path: Path) -> list[Regime]:
    """The regimes of a YAML file; every mistake is a one-line error naming the file and key."""
    from xmtrade.config import read_yaml_mapping

    where = str(path)
    data = read_yaml_mapping(path)
    extra = [k for k in data if k != "regimes"]
    if extra:
        raise ConfigError(where, str(extra[0]), "unknown key (expected: regimes)")
    table = data.get("regimes")
    if not isinstance(table, Mapping) or not table:
        raise ConfigError(
            where, "regimes", "expected a mapping of names to {start: YYYY-MM-DD, end: YYYY-MM-DD}"
        )
    out = []
    for name, body in table.items():
        at = f"regimes.{name}"
        if not isinstance(name, str | int) or not str(name).strip():
            raise ConfigError(where, at, "expected a name")
        if not isinstance(body, Mapping):
            raise ConfigError(where, at, "expected a mapping with start and end")
        unknown = [k for k in body if k not in REGIME_KEYS]
        if unknown:
            raise ConfigError(where, f"{at}.{unknown[0]}", "unknown key (expected: start, end)")
        days = []
        for key in REGIME_KEYS:
            value = body.get(key)
            if not isinstance(value, date):
                raise ConfigError(
                    where, f"{at}.{key}", f"expected a date YYYY-MM-DD, got {value!r}"
                )
            days.append(value)
        if days[1] < days[0]:
            raise ConfigError(where, f"{at}.end", f"{days[1]} is before start {days[0]}")
        out.append(Regime(str(name), days[0], days[1]))
    return out


def make_spans(
    sessions: Sequence[date], regimes: Sequence[Regime], where: str = "--regimes"
) -> list[Span]:
    """The whole window, each calendar year, then each regime clipped to the window (one
    that holds no session of it is a one-line error)."""
    import bisect

    days = list(sessions)
    spans = [Span("whole window", "window", days[0], days[-1], 0, len(days) - 1)]
    for year in sorted({d.year for d in days}):
        first = bisect.bisect_left(days, date(year, 1, 1))
        last = bisect.bisect_right(days, date(year, 12, 31)) - 1
        spans.append(Span(str(year), "year", days[first], days[last], first, last))
    for regime in regimes:
        first = bisect.bisect_left(days, regime.start)
        last = bisect.bisect_right(days, regime.end) - 1
        if last < first:
            raise ConfigError(
                where,
                f"regimes.{regime.name}",
                f"{regime.start} .. {regime.end} holds no session of the window "
                f"{days[0]} .. {days[-1]}",
            )
        spans.append(Span(regime.name, "regime", days[first], days[last], first, last))
    return spans
