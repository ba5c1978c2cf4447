"""The Hong Kong cost model: statutory and exchange charges plus brokerage commission.

Every rate comes from the config (`market.charges`, `costs`); this module holds none. Each
side of a trade pays every charge on its own trade value (price x shares), at the rate in
force on the trade date. Amounts are computed in `Decimal` and rounded per charge:
`cent` is half-up to HK$0.01, `up_dollar` is up to the next whole HK$ (a whole amount stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from risk.ticks import to_decimal
from xmtrade.config import Charge, ChargePeriod, CostsConfig, MarketConfig

COMMISSION = "commission"

# The rounding units the config's `rounding` names stand for.
_ROUNDING: dict[str, tuple[Decimal, str]] = {
    "cent": (Decimal("0.01"), ROUND_HALF_UP),
    "up_dollar": (Decimal("1"), ROUND_CEILING),
}
_HUNDRED = Decimal(100)


_MEMO_MAX = 200_000  # per cost model: memoised charges of (date, trade value)


@dataclass(frozen=True)
class _Terms:
    """One charge period's numbers in Decimal, and its rounding."""

    rate_pct: Decimal
    per_trade: Decimal | None
    minimum: Decimal | None
    maximum: Decimal | None
    unit: Decimal
    mode: str

    @staticmethod
    def of(period: ChargePeriod, rounding: str) -> _Terms:
        unit, mode = _ROUNDING[rounding]
        return _Terms(
            rate_pct=to_decimal(period.rate_pct),
            per_trade=None if period.per_trade is None else to_decimal(period.per_trade),
            minimum=None if period.minimum is None else to_decimal(period.minimum),
            maximum=None if period.maximum is None else to_decimal(period.maximum),
            unit=unit,
            mode=mode,
        )


@dataclass(frozen=True)
class FillCharges:
    """What one fill paid, by kind (config charge names, then `commission`), in HK$."""

    by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """Sum of every kind, exact to the cent."""
        return float(self.total_d)

    @property
    def total_d(self) -> Decimal:
        """`total` in Decimal."""
        return sum((to_decimal(v) for v in self.by_kind.values()), Decimal(0))

    @property
    def commission(self) -> float:
        """The brokerage commission of the fill."""
        return self.by_kind[COMMISSION]


class HkCostModel:
    """Charges and commission on HKEX fills, from `market.charges` and `costs`."""

    def __init__(self, market: MarketConfig, costs: CostsConfig) -> None:
        self._charges: dict[str, Charge] = dict(market.charges)
        if COMMISSION in self._charges:
            raise ValueError(f"'{COMMISSION}' is reserved for the broker's commission")
        self._commission_pct = to_decimal(costs.commission_pct)
        self._commission_min = to_decimal(costs.commission_min)
        # Speed: each charge's periods as Decimal terms, the terms in force by date, and the
        # charges of each (date, value) seen, so the same arithmetic is not redone.
        self._terms = {
            name: [(p.start, _Terms.of(p, charge.rounding)) for p in charge.periods]
            for name, charge in self._charges.items()
        }
        self._kinds = self.kinds()
        self._terms_on: dict[date, dict[str, _Terms | None]] = {}
        self._memo: dict[tuple[date, float], tuple[tuple[float, ...], Decimal]] = {}

    def kinds(self) -> list[str]:
        """Charge names in config order, then `commission` (the fee columns of a trade log)."""
        return [*self._charges, COMMISSION]

    @staticmethod
    def period_on(charge: Charge, on: date) -> ChargePeriod | None:
        """The period of `charge` in force on `on` (latest start <= on), or None."""
        in_force = [p for p in charge.periods if p.start <= on]
        return in_force[-1] if in_force else None

    def _in_force(self, on: date) -> dict[str, _Terms | None]:
        terms = self._terms_on.get(on)
        if terms is None:
            terms = {}
            for name, periods in self._terms.items():
                in_force = [t for start, t in periods if start <= on]
                terms[name] = in_force[-1] if in_force else None
            self._terms_on[on] = terms
        return terms

    def charge_d(self, name: str, on: date, value: Decimal) -> Decimal:
        """One charge on a fill of trade value `value` on `on`, rounded."""
        if name not in self._charges:
            raise KeyError(name)
        terms = self._in_force(on)[name]
        if terms is None:
            return Decimal(0)
        amount = value * terms.rate_pct / _HUNDRED
        if terms.per_trade is not None:
            amount += terms.per_trade
        if terms.minimum is not None:
            amount = max(amount, terms.minimum)
        if terms.maximum is not None:
            amount = min(amount, terms.maximum)
        return amount.quantize(terms.unit, rounding=terms.mode)

    def commission_d(self, value: Decimal) -> Decimal:
        """Brokerage: percent of value with a minimum, rounded half-up to the cent."""
        amount = max(value * self._commission_pct / _HUNDRED, self._commission_min)
        unit, mode = _ROUNDING["cent"]
        return amount.quantize(unit, rounding=mode)

    def charges(self, on: date, value: float) -> FillCharges:
        """Every charge of one fill (either side) of trade value `value` HK$ on `on`."""
        amounts, _ = self._amounts(on, value)
        return FillCharges(by_kind=dict(zip(self._kinds, amounts, strict=True)))

    def _amounts(self, on: date, value: float) -> tuple[tuple[float, ...], Decimal]:
        """Each kind's amount in `kinds()` order, and their sum as `FillCharges.total_d`."""
        key = (on, value)
        memo = type(value) is float and value
        known = self._memo.get(key) if memo else None
        if known is not None:
            return known
        v = to_decimal(value)
        if v < 0:
            raise ValueError(f"trade value must be >= 0, got {value}")
        amounts = (
            *(float(self.charge_d(name, on, v)) for name in self._charges),
            float(self.commission_d(v)),
        )
        result = amounts, sum((to_decimal(a) for a in amounts), Decimal(0))
        if memo and len(self._memo) < _MEMO_MAX:
            self._memo[key] = result
        return result

    def round_trip_d(self, on: date, entry_value: float, exit_value: float) -> Decimal:
        """`round_trip` in Decimal."""
        return self._amounts(on, entry_value)[1] + self._amounts(on, exit_value)[1]

    def round_trip(self, on: date, entry_value: float, exit_value: float) -> float:
        """Total charges of a buy of `entry_value` plus a sell of `exit_value`, both on `on`."""
        return float(self.round_trip_d(on, entry_value, exit_value))


__all__ = ["COMMISSION", "FillCharges", "HkCostModel"]
