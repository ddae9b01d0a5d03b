"""qtrade's backtrader broker: the stock ``BackBroker`` with qtrade's fills and costs, without the messages nobody
reads.

Fills. In the close modes (``next-close``, ``same-close``) orders fill at the close of the bar that sent them
(backtrader's cheat-on-close); in ``next-open`` at the open of the next bar, and not at all when that bar is not
a real price. An order takes at most ``participation`` of its fill bar's volume; whatever is left is cancelled
(the rest is not traded that bar), so every order finishes at its first execution. The close of a delisted
ticker is a settlement, not a market order: it is never capped.

Costs (:mod:`backtests.costs`). Each fill pays commission, half-spread and square-root impact in cash, through
:class:`TickerCosts`, the commission scheme of each ticker; a forced close of a delisted ticker also books the
delisting return. Each bar, before its fills in ``next-open`` and after them in the close modes (when the
positions held since the previous close are known), the broker charges the borrow fee and the financing of the
day on those positions, valued at the previous close.

Messages. ``BackBroker`` copies an order (``order.clone()``) every time it changes state; qtrade's strategy acts
only on finished orders, and a finished order never changes again, so this broker passes those on as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backtests.costs import CostModel, MarketStats
from strategies.backtrader_compat import bt

__all__ = ["QtradeBroker", "TickerCosts"]

_FINISHED = frozenset(
    (bt.Order.Completed, bt.Order.Canceled, bt.Order.Expired, bt.Order.Margin, bt.Order.Rejected)
)


class TickerCosts(bt.CommInfoBase):  # type: ignore[misc]
    """One ticker's costs: commission + half-spread + impact of the fill under way, as a share of its value.

    ``leverage`` only sets how much cash backtrader sets aside for a long position (value / leverage); the
    account's value stays exact. It is set above the strategy's most gross exposure so that costs never make a
    rebalance fail for want of cash.
    """

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True),
              ("broker", None), ("column", 0))

    def getcommission(self, size: float, price: float) -> float:
        """Cash paid for executing ``size`` (signed) at ``price``, part of the fill under way."""
        fill = self.p.broker.fill_under_way
        if fill is None:  # not part of a real fill (backtrader's own cash estimates)
            return abs(size) * price * self.p.broker.costs.commission_bps / 1e4
        part = abs(size) * price
        costs: CostModel = self.p.broker.costs
        paid = fill["parts"]
        paid["commission"] += costs.commission_bps / 1e4 * part
        paid["spread"] += fill["half_spread"] * part
        paid["impact"] += fill["impact_rate"] * part
        delisting = fill["delisting"] * size * price  # a long sold at price * (1 + r): r * (-size) * price lost
        paid["delisting"] += delisting
        return (costs.commission_bps / 1e4 + fill["half_spread"] + fill["impact_rate"]) * part + delisting


class QtradeBroker(bt.brokers.BackBroker):  # type: ignore[misc]
    """``BackBroker`` with qtrade's fills (participation cap, next-open on real prices only) and costs.

    Set up with :meth:`configure` before the run. ``fills`` collects, per order reference, the cost parts of its
    execution; ``charged`` the cash each bar's processing cost (fills and holding), by bar number.
    """

    def configure(self, *, costs: CostModel, stats: MarketStats, volume: np.ndarray, tradable: np.ndarray,
                  columns: dict[Any, int], first: int, close_fills: bool, delisting_return: float) -> None:
        """``stats``, ``volume`` and ``tradable`` are the data's (n_dates, n_tickers) arrays; the feeds start at
        row ``first``; ``columns`` maps each feed to its ticker's column."""
        self.costs = costs
        self.stats = stats
        self.volume = volume
        self.tradable = tradable
        self.columns = columns
        self.first = first
        self.close_fills = close_fills
        self.delisting_return = delisting_return
        self.fill_under_way: dict[str, Any] | None = None
        self.parts: dict[int, dict[str, float]] = {}
        self.fill_dates: dict[int, float] = {}
        self.charged: dict[int, float] = {}
        self.fill_paid: dict[int, float] = {}
        self.holding_paid = 0.0
        self.set_coc(close_fills)
        self.p.filler = self._fill_size

    def notify(self, order: Any) -> None:
        if order.status in _FINISHED:
            self.notifs.append(order)

    def _fill_bar(self, order: Any) -> int:
        """Row of the data arrays whose price fills ``order``: the sending bar's close, or the next bar's open."""
        bar = len(order.data) - 1
        return self.first + (bar - 1 if self.close_fills else bar)

    def _fill_size(self, order: Any, price: float, ago: int) -> float:
        """Shares this execution fills (at most ``participation`` of the bar's volume); prices its costs."""
        row, col = self._fill_bar(order), self.columns[order.data]
        size = abs(order.executed.remsize)
        delisting = bool(order.info.get("delisting", False))
        if self.costs.participation < 1.0 and not delisting:  # a delisting settles the whole position
            size = min(size, self.costs.participation * float(self.volume[row, col]))
        value = size * price
        rate = self.costs.fill_rate(value=value, sigma=self.stats.sigma[row, col], adv=self.stats.adv[row, col],
                                    half_spread=self.stats.half_spread[row, col])
        hs = self.stats.half_spread[row, col]
        half = float(hs) if np.isfinite(hs) else self.costs.half_spread_bps / 1e4
        parts = {"commission": 0.0, "spread": 0.0, "impact": 0.0, "delisting": 0.0}
        self.parts[order.ref] = parts
        self.fill_dates[order.ref] = order.data.datetime[-1 if self.close_fills else 0]
        self.fill_under_way = {
            "parts": parts, "half_spread": half,
            "impact_rate": rate - self.costs.commission_bps / 1e4 - half,
            "delisting": self.delisting_return if delisting else 0.0,
        }
        return size

    def _execute(self, order: Any, ago: Any = None, price: Any = None, cash: Any = None, position: Any = None,
                 dtcoc: Any = None) -> Any:
        try:
            return super()._execute(order, ago=ago, price=price, cash=cash, position=position, dtcoc=dtcoc)
        finally:
            if ago is not None:
                parts = self.fill_under_way["parts"] if self.fill_under_way else {}
                bar = len(order.data) - 1 - (1 if self.close_fills else 0)  # the bar whose price filled it
                self.fill_paid[bar] = self.fill_paid.get(bar, 0.0) + sum(parts.values())
                self.fill_under_way = None

    def _try_exec(self, order: Any) -> None:
        if not self.close_fills and not self.tradable[self._fill_bar(order), self.columns[order.data]]:
            order.cancel()  # the next open is not a real price: nobody could deal there
            self.notify(order)
            return
        super()._try_exec(order)
        if order.alive():  # filled in part, or not at all: the rest is not traded this bar
            order.cancel()
            self.notify(order)

    def next(self) -> None:
        if not self.close_fills:
            self._charge_holding(self._value)
        super().next()
        if self.close_fills:
            # the positions now held have been held since the previous close; the equity then, after its fills:
            moved = sum(pos.size * (d.close[0] - d.close[-1]) for d, pos in self.positions.items()
                        if pos.size and len(d) > 1)
            if self._charge_holding(self._value - moved):
                self._get_value()

    def _charge_holding(self, equity: float) -> float:
        """Charge the day's borrow and financing on the positions held at the previous close."""
        short = gross = 0.0
        bar = -1
        for d, pos in self.positions.items():
            bar = max(bar, len(d) - 1)
            if pos.size and len(d) > 1:
                value = pos.size * d.close[-1]
                gross += abs(value)
                short += max(-value, 0.0)
        if not gross:
            return 0.0
        charge = self.costs.holding_cost(short_value=short, gross=gross, equity=equity)
        if charge:
            self.cash -= charge
            self.holding_paid += charge
            self.charged[bar] = self.charged.get(bar, 0.0) + charge
        return charge
