"""backtrader's broker taught Hong Kong rules: tick slippage, every HK charge, no fills on
placeholder bars.

Fill rules (STRATEGY §1): orders decided after the close of *t* fill at the open of *t+1*
(market) or when the stop is touched; a stop the open gaps through fills at the open. Every
fill is `costs.slippage_ticks` ticks worse than that price, never outside the bar's range.
A bar flagged `no_trading` (Yahoo's half-day placeholder) shows no real prices: nothing fills
on it, orders wait for the next real bar.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import backtrader as bt

if TYPE_CHECKING:
    from risk.ticks import TickRules
    from xmtrade.costs import HkCostModel


class HkCommission(bt.CommInfoBase):
    """Charges every HK fee and the commission on each fill, at the rates of the fill date."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED))

    def __init__(self, cost_model: HkCostModel, data: Any) -> None:
        super().__init__()
        self.cost_model = cost_model
        self.data = data

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        on: date = self.data.datetime.date(0)
        return self.cost_model.charges(on, abs(size) * price).total


class HkBroker(bt.brokers.BackBroker):
    """A BackBroker whose slippage is whole ticks of the HKEX spread table in force that day."""

    params = (("slip_open", True), ("slip_match", True), ("slip_out", False))

    def __init__(self, ticks: TickRules, slippage_ticks: int) -> None:
        super().__init__()
        self.ticks = ticks
        self.slippage_ticks = slippage_ticks
        self._fill_date: date | None = None

    def _try_exec(self, order: bt.Order) -> None:
        data = order.data
        if data.no_trading[0]:
            return
        self._fill_date = data.datetime.date(0)
        super()._try_exec(order)

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
