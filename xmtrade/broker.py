"""backtrader's broker taught Hong Kong rules: tick slippage, every HK charge, no fills on
placeholder bars.

Fill rules (STRATEGY §1): orders decided after the close of *t* fill at the open of *t+1*
(market) or when the stop is touched; a stop the open gaps through fills at the open. Every
fill is `costs.slippage_ticks` ticks worse than that price, never outside the bar's range.
A bar flagged `no_trading` (Yahoo's half-day placeholder) shows no real prices: nothing fills
on it, orders wait for the next real bar.

At each bar, in order: interest on the cash of the previous close is credited (`cash.rate`);
the strategy's pre-opening check (`pre_open`) looks at the open and places the entries that
pass it; then the orders are matched: resting stops and market exits first (they were placed
earlier), then the entries just placed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import backtrader as bt
from backtrader.utils.dateintern import num2date

from xmtrade.money import interest_cents, to_micro, to_rate

if TYPE_CHECKING:
    from risk.ticks import TickRules
    from xmtrade.costs import HkCostModel


_DATETIMES: dict[float, datetime] = {}  # backtrader date numbers -> naive datetimes


def bar_datetime(data: Any) -> datetime:
    """`data.datetime.datetime(0)`, memoised: the current bar's naive datetime."""
    line = data.lines.datetime
    value = line.array[line.idx]
    if line._tz is not None:
        return num2date(value, tz=line._tz, naive=True)
    known = _DATETIMES.get(value)
    if known is None:
        known = num2date(value, tz=None, naive=True)
        if len(_DATETIMES) < 100_000:
            _DATETIMES[value] = known
    return known


def bar_date(data: Any) -> date:
    """`data.datetime.date(0)`, memoised: the current bar's date."""
    return bar_datetime(data).date()


class HkCommission(bt.CommInfoBase):
    """Charges every HK fee and the commission on each fill, at the rates of the fill date."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED))

    def __init__(self, cost_model: HkCostModel, data: Any) -> None:
        super().__init__()
        self.cost_model = cost_model
        self.data = data

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        return self.cost_model.charges(bar_date(self.data), abs(size) * price).total


class HkBroker(bt.brokers.BackBroker):
    """A BackBroker whose slippage is whole ticks of the HKEX spread table in force that day."""

    # coo: a market order placed by the pre-opening check fills at the open of the bar it is
    # placed on (backtrader's cheat-on-open matching); orders decided at a close are placed
    # after the broker has matched that bar, so they still fill at the next open
    params = (("slip_open", True), ("slip_match", True), ("slip_out", False), ("coo", True))

    def __init__(
        self,
        ticks: TickRules,
        slippage_ticks: int,
        cash_rate_pct: Callable[[date], float] | None = None,
        feed: Any = None,
    ) -> None:
        super().__init__()
        self.ticks = ticks
        self.slippage_ticks = slippage_ticks
        self._fill_date: date | None = None
        self.cash_rate_pct = cash_rate_pct
        self.pre_open: Callable[[], None] | None = None  # set by the strategy
        self.feed = feed  # the priced feed (for the dates interest accrues over)
        self.interest_total = 0.0
        self.interest_today = 0.0  # credited at this bar's open
        self._last_bar: date | None = None

    def _credit_interest(self) -> None:
        """Interest on the previous close's cash for the calendar days since (ACT/365, to
        the cent), at the rate in force on the previous session."""
        if self.feed is None or self.cash_rate_pct is None:
            return
        today = bar_date(self.feed)
        self.interest_today = 0.0
        last, self._last_bar = self._last_bar, today
        if last is None or self.cash <= 0:
            return
        amount = cash_interest(self.cash, self.cash_rate_pct(last), (today - last).days)
        self.cash += amount
        self.interest_today = amount
        self.interest_total = round(self.interest_total + amount, 2)

    def notify(self, order: bt.Order) -> None:
        """Queue the order's notification for the strategy, except Submitted and Accepted,
        which the strategy ignores and which carry no execution (cloning each order for
        them is a fifth of a run's broker time)."""
        if order.status in (bt.Order.Submitted, bt.Order.Accepted):
            return
        super().notify(order)

    def _try_exec(self, order: bt.Order) -> None:
        data = order.data
        if data.no_trading[0]:
            return
        self._fill_date = bar_date(data)
        super()._try_exec(order)

    def next(self) -> None:
        """`BackBroker.next` with the steps that have nothing to do skipped (no submitted
        orders to check, no order history) and bar dates read through a memo: the same
        orders, fills, cash and value after every bar."""
        while self._toactivate:
            self._toactivate.popleft().activate()
        self._credit_interest()
        if self.pre_open is not None:
            self.pre_open()
        if self.p.checksubmit and self.submitted:
            self.check_submitted()
        credit = 0.0
        for data, pos in self.positions.items():
            if pos:
                comminfo = self.getcommissioninfo(data)
                dt0 = bar_datetime(data)
                dcredit = comminfo.get_credit_interest(data, pos, dt0)
                self.d_credit[data] += dcredit
                credit += dcredit
                pos.datetime = dt0
        self.cash -= credit
        if self._userhist:
            self._process_order_history()
        pending = self.pending
        pending.append(None)
        while True:
            order = pending.popleft()
            if order is None:
                break
            if order.expire():
                self.notify(order)
                self._ococheck(order)
                self._bracketize(order, cancel=True)
            elif not order.active():
                pending.append(order)
            else:
                self._try_exec(order)
                if order.alive():
                    pending.append(order)
                elif order.status == bt.Order.Completed:
                    self._bracketize(order)
        for data, pos in self.positions.items():
            if pos:
                comminfo = self.getcommissioninfo(data)
                self.cash += comminfo.cashadjust(pos.size, pos.adjbase, data.close[0])
                pos.adjbase = data.close[0]
        self._get_value()

    def _on(self) -> date:
        if self._fill_date is None:
            raise RuntimeError("slippage asked for outside an order execution")
        return self._fill_date

    def _slip_up(self, pmax: float, price: float, doslip: bool = True, lim: bool = False) -> float:
        on = self._on()
        slipped = self.ticks.shift(self.ticks.round_up(price, on), on, self.slippage_ticks)
        return min(slipped, max(pmax, price))

    def _slip_down(
        self, pmin: float, price: float, doslip: bool = True, lim: bool = False
    ) -> float:
        on = self._on()
        slipped = self.ticks.shift(self.ticks.round_down(price, on), on, -self.slippage_ticks)
        return max(slipped, min(pmin, price))


def cash_interest(cash: float, rate_pct: float, days: int) -> float:
    """Interest on `cash` over `days` calendar days at `rate_pct` a year (ACT/365), to the cent
    half up (`xmtrade.money.interest_cents`, the rule the kernel compiles)."""
    return interest_cents(to_micro(cash), to_rate(rate_pct), days) / 100
