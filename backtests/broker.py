"""qtrade's backtrader broker: the stock ``BackBroker`` with qtrade's fills and costs, without the messages nobody
reads.

Fills. In the close modes (``next-close``, ``same-close``) orders fill at the close of the bar that sent them
(backtrader's cheat-on-close); in ``next-open`` at the open of the next bar, and not at all when that bar is not
a real price. An order takes at most ``participation`` of the volume known when it fills: its fill bar's at a
close, the previous session's at an open (the day's own volume is printed only at its close); whatever is left is
cancelled (the rest is not traded that bar), so every order finishes at its first execution. The close of a delisted
ticker is a settlement, not a market order: it is never capped.

Costs (:mod:`backtests.costs`). Each fill pays commission, half-spread and square-root impact in cash, through
:class:`TickerCosts`, the commission scheme of each ticker; a forced close of a delisted ticker also settles the
delisting return in cash the same way (a return of the position, kept apart from the costs). Each bar, before
its fills in ``next-open`` and after them in the close modes (when the positions held since the previous close
are known), the broker charges the borrow fee and the financing spread of the day on those positions, valued at
the previous close, and books the day's interest at the risk-free rate (:func:`backtests.risk_free.day_interest`:
the equity not committed to positions earns it, the exposure above the equity pays it). The interest is a return
of the money, not a cost: it is in ``interest``, apart from ``charged``.

Messages. ``BackBroker`` copies an order (``order.clone()``) every time it changes state; qtrade's strategy acts
only on finished orders, and a finished order never changes again, so this broker passes those on as they are.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtests.costs import CostModel, MarketStats
from backtests.risk_free import day_interest
from strategies.backtrader_compat import bt

__all__ = ["COST_PARTS", "QtradeBroker", "TickerCosts"]

COST_PARTS = ("commission", "spread", "impact", "delisting")

_FINISHED = frozenset((bt.Order.Completed, bt.Order.Canceled, bt.Order.Expired, bt.Order.Margin, bt.Order.Rejected))


class TickerCosts(bt.CommInfoBase):
    """One ticker's costs: commission + half-spread + impact of the fill under way, as a share of its value.

    ``leverage`` only sets how much cash backtrader sets aside for a long position (value / leverage); the
    account's value stays exact. It is set above the strategy's most gross exposure so that costs never make a
    rebalance fail for want of cash.
    """

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True), ("broker", None))

    def getcommission(self, size: float, price: float) -> float:
        """Cash asked for executing ``size`` (signed) at ``price``, part of the fill under way.

        Backtrader asks before it knows whether the cash suffices; the broker books what was really paid once
        the execution is done (:meth:`QtradeBroker._book`).
        """
        broker = self.p.broker
        fill = broker.fill_under_way
        part = abs(size) * price
        if fill is None:  # not part of a real fill (backtrader's own cash estimates)
            return part * broker.commission
        booked = fill.delisting_return * size * price  # a long sold at price * (1 + r): r * (-size) * price lost
        cost = (broker.commission + fill.half + fill.impact) * part + booked
        fill.asked.append(cost)
        return cost


@dataclass
class _Fill:
    """The execution under way: its fill bar (from the feeds' first), the shares the volume cap allows, its
    price, half-spread, impact rate and delisting return, and the cash backtrader asked for its parts."""

    bar: int
    size: float
    price: float
    half: float
    unit_impact: float
    delisting_return: float
    asked: list[float] = field(default_factory=list)

    @property
    def impact(self) -> float:
        return self.unit_impact * math.sqrt(self.size * self.price)


class QtradeBroker(bt.brokers.BackBroker):
    """``BackBroker`` with qtrade's fills (participation cap, next-open on real prices only) and costs.

    Set up with :meth:`configure` before the run. ``parts`` collects, per order reference, the cost parts of its
    execution and the cash its delisting return took (:data:`COST_PARTS`); ``fill_paid`` the cash that fills
    cost, by the feed bar whose price filled them; ``fill_booked`` the cash delisting returns took (negative: gave)
    by the same bars, a return of the positions, not a cost; ``charged`` the borrow and financing of each bar's
    day; ``interest`` the cash paid at the risk-free rate on each bar's day (negative: earned).
    """

    pending: collections.deque[Any]  # BackBroker's orders waiting for a fill

    def configure(
        self,
        *,
        costs: CostModel,
        stats: MarketStats,
        close: np.ndarray,
        volume: np.ndarray,
        tradable: np.ndarray,
        feeds: list[Any],
        first: int,
        close_fills: bool,
        delisting_return: float,
        rf: np.ndarray | None = None,
    ) -> None:
        """``stats``, ``close``, ``volume`` and ``tradable`` are the data's (n_dates, n_tickers) arrays (``volume``:
        the volume a fill at each row may take a share of, NaN where it is unknown: no cap); the feeds (in the
        arrays' column order) start at row ``first``. ``rf`` is the annual risk-free rate of the day that ends at each
        row (:func:`backtests.risk_free.day_rates`; None: 0)."""
        self.costs = costs
        self.commission = costs.commission_bps / 1e4
        # what a fill at (row, column) pays, but for the impact's sqrt(value): read once, not per fill
        self.half = np.where(np.isfinite(stats.half_spread), stats.half_spread, costs.half_spread_bps / 1e4)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = costs.impact * stats.sigma / np.sqrt(stats.adv)
        self.unit_impact = np.where(np.isfinite(unit), unit, 0.0)
        # NaN: the ticker's volume is unknown, and nothing caps its orders
        self.cap = (
            np.where(np.isnan(volume), np.inf, costs.participation * volume) if costs.participation < 1.0 else None
        )
        self.capped = 0  # orders the cap cut to part of their size
        self.blocked = 0  # orders the cap cut to nothing (the volume known at their fill was 0)
        self.close = close
        self.tradable = tradable
        self.columns = {feed: j for j, feed in enumerate(feeds)}
        self.first = first
        self.close_fills = close_fills
        self.delisting_return = delisting_return
        self.rf = None if rf is None or not np.any(rf) else [float(x) for x in rf]
        self.holding = bool(costs.borrow or costs.financing or self.rf)
        self._feeds = feeds
        self._held: list[Any] = []
        self._feed = feeds[0]
        self._bar = 0
        self.fill_under_way: _Fill | None = None
        self.parts: dict[int, list[float]] = {}
        self.charged: dict[int, float] = {}
        self.fill_paid: dict[int, float] = {}
        self.fill_booked: dict[int, float] = {}
        self.holding_paid = 0.0
        self.interest: dict[int, float] = {}
        self.interest_paid = 0.0
        self.set_coc(close_fills)
        self.p.filler = self._fill_size

    def start(self) -> None:
        super().start()  # new positions: keep references to them, which the broker updates in place
        self._held = [self.getposition(feed) for feed in self._feeds]

    def notify(self, order: Any) -> None:
        if order.status in _FINISHED:
            self.notifs.append(order)

    def _fill_bar(self, order: Any) -> int:
        """Row of the data arrays whose price fills ``order``: the sending bar's close, or the next bar's open."""
        return self.first + (self._bar - 1 if self.close_fills else self._bar)

    def _fill_size(self, order: Any, price: float, ago: int) -> float:
        """Shares this execution fills (at most ``participation`` of the bar's volume); prices its costs."""
        row, col = self._fill_bar(order), self.columns[order.data]
        size = abs(order.executed.remsize)
        delisting = bool(order.info.get("delisting", False))
        if self.cap is not None and not delisting:  # a delisting settles the whole position
            cap = float(self.cap[row, col])
            if cap < size:
                size = cap
                self.capped += cap > 0
                self.blocked += cap <= 0
        self.fill_under_way = _Fill(
            row - self.first,
            size,
            price,
            float(self.half[row, col]),
            float(self.unit_impact[row, col]),
            self.delisting_return if delisting else 0.0,
        )
        return size

    def _try_exec(self, order: Any) -> None:
        self._bar = len(order.data) - 1
        if not self.close_fills and not self.tradable[self._fill_bar(order), self.columns[order.data]]:
            order.cancel()  # the next open is not a real price: nobody could deal there
            self.notify(order)
            return
        super()._try_exec(order)
        fill, self.fill_under_way = self.fill_under_way, None
        if fill is not None:
            self._book(order, fill)
        if order.alive():  # filled in part, or not at all: the rest is not traded this bar
            order.cancel()
            self.notify(order)

    def _book(self, order: Any, fill: _Fill) -> None:
        """Book the costs of what ``order`` really executed: nothing when backtrader refused it for want of cash.

        A buy that covers a short and opens a long executes in two parts; when the cash cannot pay for the long,
        backtrader executes the cover alone (and marks the order ``Margin``): its costs are then those of the
        cover's shares, impact included, and the cash asked beyond them is given back.
        """
        done = abs(order.executed.size)
        if not done:  # refused, or capped to nothing: nothing was paid
            return
        value = done * fill.price
        signed = done if order.isbuy() else -done
        if order.status == order.Margin:  # the cover alone: its own impact
            fill.size = done
            cost = (self.commission + fill.half + fill.impact) * value + fill.delisting_return * signed * fill.price
            self.cash += fill.asked[0] - cost
        parts = [
            self.commission * value,
            fill.half * value,
            fill.impact * value,
            fill.delisting_return * signed * fill.price,
        ]
        self.parts[order.ref] = parts
        self.fill_paid[fill.bar] = self.fill_paid.get(fill.bar, 0.0) + parts[0] + parts[1] + parts[2]
        if parts[3]:  # a return of the position, paid in cash as the costs are, but not a cost
            self.fill_booked[fill.bar] = self.fill_booked.get(fill.bar, 0.0) + parts[3]

    def next(self) -> None:
        """``BackBroker.next`` for what qtrade sends (market orders, no brackets, no order history), without its
        per-position credit-interest and futures cash-adjustment loops (qtrade charges holding costs itself, and
        a stock's cash adjustment is always 0), with the day's borrow and financing charged in their place."""
        while self._toactivate:
            self._toactivate.popleft().activate()
        bar = len(self._feed) - 1  # every feed is on the same calendar
        if self.holding and not self.close_fills and bar > 0:  # before the open's fills: the previous close's
            self._charge_holding(bar, after_fills=False)
        pending: collections.deque[Any] = self.pending
        self.pending = collections.deque()
        for order in pending:
            if order.active():
                self._try_exec(order)  # a fill, or a cancellation: every order finishes here
            else:
                self.pending.append(order)
        self._get_value()
        if self.holding and self.close_fills and bar > 0:  # after the previous close's fills: held since then
            charge = self._charge_holding(bar, after_fills=True)
            if charge:  # backtrader's value is cached: take the charge off it too
                self._value -= charge
                self._valuelever -= charge
                self._fundval = self._value / self._fundshares

    def _charge_holding(self, bar: int, *, after_fills: bool) -> float:
        """Charge the day's borrow and financing on the positions held at the previous close, valued there, and
        book the day's interest at the risk-free rate on them; the cash both took.

        The equity at that close is the broker's last value (``after_fills=False``, before this bar's fills), or
        the value now less the day's move of the positions (``after_fills=True``, the close fills just done).
        """
        row = self.first + bar
        prev = self.close[row - 1]
        rate = self.rf[row] if self.rf is not None else 0.0
        if len(self._held) <= 16:  # numpy's per-call cost outweighs a short loop
            sizes = [p.size for p in self._held]
            if not any(sizes) and not rate:
                return 0.0
            gross = short = moved = 0.0
            now = self.close[row].tolist() if after_fills else None
            for k, (size, price) in enumerate(zip(sizes, prev.tolist(), strict=True)):
                value = size * price
                gross += abs(value)
                if value < 0:
                    short -= value
                if now is not None:
                    moved += size * (now[k] - price)
        else:
            size = np.fromiter((p.size for p in self._held), dtype=float, count=len(self._held))
            if not size.any() and not rate:
                return 0.0
            value = size * prev
            gross = float(np.abs(value).sum())
            short = -float(np.minimum(value, 0.0).sum())
            moved = float(size @ (self.close[row] - prev)) if after_fills else 0.0
        equity = self._value - moved
        charge = self.costs.holding_cost(short_value=short, gross=gross, equity=equity)
        if charge:
            self.cash -= charge
            self.holding_paid += charge
            self.charged[bar] = self.charged.get(bar, 0.0) + charge
        if not rate:
            return charge
        interest = day_interest(gross=gross, equity=equity, annual=rate)
        self.cash -= interest
        self.interest_paid += interest
        self.interest[bar] = self.interest.get(bar, 0.0) + interest
        return charge + interest
