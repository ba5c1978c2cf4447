"""The HKEX spread table: valid prices, tick sizes, rounding and tick arithmetic.

The tables come from the config (`market.tick_tables`); this module holds no rates. Each
table is in force from its `effective` trade date until the next one. A band covers prices
from `lower` (inclusive) to `upper` (exclusive) and its grid starts at `lower`; the top
band's `upper` (HK$9,995 on HKEX) is itself a valid price, the highest one.

Prices are floats at the API boundary and `Decimal` inside, so 12.34 + 0.01 is 12.35, not
12.350000000000001. Float noise below a millionth of a HK$ is dropped on the way in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from typing import Literal, Protocol

# Precision of the float -> Decimal conversion (numerical noise, not a market rule).
_NOISE_QUANTUM = Decimal("0.000001")

Side = Literal["buy", "sell"]


# Memo of float -> Decimal conversions (a backtest converts the same prices and values again
# and again). Zero is never stored, so -0.0 and 0.0 keep their own signs; bounded in size.
_FLOAT_DECIMALS: dict[float, Decimal] = {}
_FLOAT_DECIMALS_MAX = 200_000
_MEMO_MAX = 200_000  # per TickRules: memoised float results of round_down, round_up, shift


def to_decimal(x: float | int | Decimal) -> Decimal:
    """A float as the Decimal it was meant to be (its shortest repr, noise below 1e-6 dropped)."""
    if type(x) is float and x:
        cached = _FLOAT_DECIMALS.get(x)
        if cached is not None:
            return cached
        converted = _to_decimal(x)
        if len(_FLOAT_DECIMALS) < _FLOAT_DECIMALS_MAX:
            _FLOAT_DECIMALS[x] = converted
        return converted
    return _to_decimal(x)


def _to_decimal(x: float | int | Decimal) -> Decimal:
    if isinstance(x, Decimal):
        d = x
    elif isinstance(x, int):
        d = Decimal(x)
    else:
        d = Decimal(repr(float(x)))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {x!r}")
    q = d.quantize(_NOISE_QUANTUM, rounding=ROUND_HALF_EVEN)
    if q == d:
        return d
    return q.quantize(Decimal(1)) if q == q.to_integral_value() else q.normalize()


class TickBandLike(Protocol):
    """One band of a spread table (structurally: `xmtrade.config.TickBand`)."""

    @property
    def lower(self) -> float: ...
    @property
    def upper(self) -> float: ...
    @property
    def tick(self) -> float: ...


class TickTableLike(Protocol):
    """A spread table and the trade date it takes effect (structurally: `TickTable`)."""

    @property
    def effective(self) -> date: ...
    @property
    def bands(self) -> Sequence[TickBandLike]: ...


@dataclass(frozen=True)
class _Band:
    lower: Decimal
    upper: Decimal
    tick: Decimal


@dataclass(frozen=True)
class _Table:
    effective: date
    bands: tuple[_Band, ...]

    @property
    def floor(self) -> Decimal:
        return self.bands[0].lower

    @property
    def ceiling(self) -> Decimal:
        return self.bands[-1].upper

    def band_at(self, p: Decimal) -> _Band:
        """The band holding `p` (lower <= p < upper; the top price belongs to the top band)."""
        if p < self.floor or p > self.ceiling:
            raise ValueError(
                f"price {p} is outside the spread table of {self.effective} "
                f"({self.floor} to {self.ceiling})"
            )
        for band in self.bands:
            if p < band.upper:
                return band
        return self.bands[-1]

    def band_below(self, p: Decimal) -> _Band:
        """The band holding the prices just below `p` (lower < p <= upper)."""
        if p <= self.floor or p > self.ceiling:
            raise ValueError(
                f"no valid price below {p} in the spread table of {self.effective} "
                f"(lowest price {self.floor})"
            )
        for band in self.bands:
            if p <= band.upper:
                return band
        raise AssertionError("unreachable: p <= ceiling")


class TickRules:
    """HKEX tick sizes by trade date, from the config's spread tables."""

    def __init__(self, tables: Iterable[TickTableLike]) -> None:
        built: list[_Table] = []
        for table in tables:
            bands = tuple(
                _Band(to_decimal(b.lower), to_decimal(b.upper), to_decimal(b.tick))
                for b in table.bands
            )
            if not bands:
                raise ValueError(f"spread table of {table.effective} has no bands")
            for before, after in pairwise(bands):
                if after.lower != before.upper:
                    raise ValueError(f"spread table of {table.effective}: bands not contiguous")
            for band in bands:
                if band.tick <= 0 or (band.upper - band.lower) % band.tick != 0:
                    raise ValueError(
                        f"spread table of {table.effective}: band {band.lower}-{band.upper} "
                        f"is not a whole number of {band.tick} ticks"
                    )
            built.append(_Table(table.effective, bands))
        built.sort(key=lambda t: t.effective)
        if not built:
            raise ValueError("at least one spread table is needed")
        if len({t.effective for t in built}) != len(built):
            raise ValueError("two spread tables share an effective date")
        self._tables = tuple(built)
        self._by_date: dict[date, int] = {}  # memo: trade date -> index of the table in force
        self._memo: dict[tuple[str, float, int, int], float] = {}  # float API results

    def _table_index(self, on: date) -> int:
        index = self._by_date.get(on)
        if index is not None:
            return index
        in_force = [n for n, t in enumerate(self._tables) if t.effective <= on]
        if not in_force:
            raise ValueError(
                f"no spread table in force on {on} (first: {self._tables[0].effective})"
            )
        self._by_date[on] = in_force[-1]
        return in_force[-1]

    def _table(self, on: date) -> _Table:
        return self._tables[self._table_index(on)]

    def _remember(self, key: tuple[str, float, int, int], value: float) -> float:
        if len(self._memo) < _MEMO_MAX:
            self._memo[key] = value
        return value

    def effective_date(self, on: date) -> date:
        """The effective date of the table in force on `on`."""
        return self._table(on).effective

    # ---------------------------------------------------------------- Decimal core

    def tick_size_d(self, price: Decimal, on: date) -> Decimal:
        """`tick_size` in Decimal."""
        return self._table(on).band_at(price).tick

    def round_down_d(self, price: Decimal, on: date) -> Decimal:
        """`round_down` in Decimal."""
        band = self._table(on).band_at(price)
        steps = ((price - band.lower) / band.tick).to_integral_value(rounding=ROUND_FLOOR)
        return band.lower + steps * band.tick

    def round_up_d(self, price: Decimal, on: date) -> Decimal:
        """`round_up` in Decimal (may land on the band's upper edge, a valid price)."""
        band = self._table(on).band_at(price)
        steps = ((price - band.lower) / band.tick).to_integral_value(rounding=ROUND_CEILING)
        return band.lower + steps * band.tick

    def is_valid_d(self, price: Decimal, on: date) -> bool:
        """`is_valid` in Decimal."""
        table = self._table(on)
        if price < table.floor or price > table.ceiling:
            return False
        band = table.band_at(price)
        return (price - band.lower) % band.tick == 0

    def shift_d(self, price: Decimal, on: date, ticks: int) -> Decimal:
        """`shift` in Decimal."""
        if not self.is_valid_d(price, on):
            raise ValueError(f"{price} is not a valid price on {on}; round it first")
        table = self._table(on)
        p = price
        for _ in range(abs(ticks)):
            if ticks > 0:
                if p >= table.ceiling:
                    raise ValueError(f"no valid price above {p} on {on}")
                p += table.band_at(p).tick
            else:
                p -= table.band_below(p).tick
        return p

    # ---------------------------------------------------------------- float API

    def tick_size(self, price: float, on: date) -> float:
        """The minimum tick for `price` on trade date `on`."""
        return float(self.tick_size_d(to_decimal(price), on))

    def round_down(self, price: float, on: date) -> float:
        """The highest valid price <= `price` (sell-stops round this way)."""
        key = ("down", price, self._table_index(on), 0)
        known = self._memo.get(key)
        if known is not None:
            return known
        return self._remember(key, float(self.round_down_d(to_decimal(price), on)))

    def round_up(self, price: float, on: date) -> float:
        """The lowest valid price >= `price` (buy-stops round this way)."""
        key = ("up", price, self._table_index(on), 0)
        known = self._memo.get(key)
        if known is not None:
            return known
        return self._remember(key, float(self.round_up_d(to_decimal(price), on)))

    def is_valid(self, price: float, on: date) -> bool:
        """Whether `price` is on the spread table's grid on `on`."""
        return self.is_valid_d(to_decimal(price), on)

    def shift(self, price: float, on: date, ticks: int) -> float:
        """Move a valid price `ticks` ticks up (>0) or down (<0), across band edges."""
        key = ("shift", price, self._table_index(on), ticks)
        known = self._memo.get(key)
        if known is not None:
            return known
        return self._remember(key, float(self.shift_d(to_decimal(price), on, ticks)))


def fill_price_with_slippage(
    price: float, on: date, side: Side, ticks: int, rules: TickRules
) -> float:
    """The price a fill gets after `ticks` of slippage against us.

    The quoted price is first snapped to the grid the conservative way (a buy up, a sell
    down), then a buy pays `ticks` ticks more and a sell receives `ticks` ticks less.
    """
    if ticks < 0:
        raise ValueError(f"slippage ticks must be >= 0, got {ticks}")
    p = to_decimal(price)
    if side == "buy":
        return float(rules.shift_d(rules.round_up_d(p, on), on, ticks))
    if side == "sell":
        return float(rules.shift_d(rules.round_down_d(p, on), on, -ticks))
    raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")


__all__ = [
    "Side",
    "TickBandLike",
    "TickRules",
    "TickTableLike",
    "fill_price_with_slippage",
    "to_decimal",
]
