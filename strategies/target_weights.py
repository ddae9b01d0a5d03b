"""The backtrader strategy behind every registered rule: target weights in, market-on-close orders out.

At each close t the strategy asks the rule for target weights from the forecasts made at t, skips trades
smaller than the rebalance band, and sends orders that the broker fills at the close of t (cheat-on-close,
``broker.set_coc(True)``). The position is then held from the close of t to the close of t+1: exactly the
return the forecast's target describes. Sells are sent before buys so that cash from sales pays for purchases.

Everything it decided is recorded: holdings (shares of equity after the day's trades), fills and costs.

Speed: each bar it reads prices and forecasts from (n_bars, n_tickers) arrays (``columns``; row i is the feeds'
bar i, so the strategy at bar i reads row i and rows before it, as it would read the lines), not through one
line lookup per ticker; and it keeps no backtrader ``Trade`` objects (nothing here reads them; the fills record
every execution). With a broker that notifies only finished orders this is most of what makes a backtest cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from strategies.backtrader_compat import bt
from strategies.registry import Bar, StrategySpec

__all__ = ["Columns", "TargetWeights"]


@dataclass(frozen=True)
class Columns:
    """What the rule reads, (n_bars, n_tickers) arrays whose row i is the feeds' bar i."""

    dates: pd.DatetimeIndex
    close: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    tradable: np.ndarray


class TargetWeights(bt.Strategy):  # type: ignore[misc]
    """Apply ``spec`` with ``rule_params`` to all datas, which share the broker's cash.

    Parameters (backtrader ``params``)
    ----------------------------------
    spec, rule_params
        The registered strategy and its settings.
    columns
        A :class:`Columns` with the datas' closes and forecasts, in the order of ``self.datas``.
    warmup
        Bars at the start that only feed the rule's price history; trading starts after them.
    band
        Trades whose size is below this share of equity are skipped (0: always rebalance).
    short
        Allow negative weights; when False they become 0.
    """

    params = (("spec", None), ("rule_params", None), ("columns", None), ("warmup", 0), ("band", 0.0),
              ("short", True))

    def __init__(self) -> None:
        self.spec: StrategySpec = self.p.spec
        self.rule_params: dict[str, Any] = dict(self.p.rule_params or {})
        self.columns: Columns = self.p.columns
        self.n = len(self.datas)
        self.dates: list[Any] = []
        self.holdings: list[np.ndarray] = []
        self.fills: list[dict[str, Any]] = []
        self._first = True
        self._positions: list[Any] = []
        self._day: dict[float, Any] = {}
        self._dates: list[Any] = []

    def start(self) -> None:
        self._positions = [self.broker.getposition(d) for d in self.datas]  # updated in place by the broker
        self._dates = [d.date() for d in self.columns.dates]

    def _addnotification(self, order: Any, quicknotify: bool = False) -> None:
        """Queue the order for ``notify_order`` without backtrader's per-execution ``Trade`` bookkeeping."""
        self._orderspending.append(order)

    def next(self) -> None:
        i = len(self) - 1
        if i < self.p.warmup:
            return
        cols, datas = self.columns, self.datas
        equity = self.broker.getvalue()
        price = cols.close[i]
        size = np.array([p.size for p in self._positions])
        current = size * price / equity if equity > 0 else np.zeros(self.n)
        close = cols.close

        def history(n: int) -> np.ndarray:
            return close[i + 1 - n : i + 1] if 0 < n <= i + 1 else np.empty((0, self.n))

        bar = Bar(mean=cols.mean[i], variance=cols.variance[i], weights=current, first=self._first, history=history)
        self._first = False
        target = self.spec.weights(bar, self.rule_params)
        if not self.p.short:
            target = np.maximum(target, 0.0)
        act = cols.tradable[i] & np.isfinite(target) & (equity > 0)
        delta = np.where(act, target - current, 0.0)
        act &= (np.abs(delta) > 1e-12) & (np.abs(delta) >= self.p.band)
        held = np.where(act, target, current)
        for j in np.argsort(delta):  # sells (negative deltas) first
            if not act[j]:
                continue
            units = abs(delta[j]) * equity / price[j]
            if target[j] == 0.0:
                self.close(data=datas[j])  # the exact position, so that no dust is left
            elif delta[j] > 0:
                self.buy(data=datas[j], size=units)
            else:
                self.sell(data=datas[j], size=units)
        self.dates.append(self._dates[i])
        self.holdings.append(held)

    def _date(self, num: float) -> Any:
        day = self._day.get(num)
        if day is None:
            day = self._day[num] = bt.num2date(num).date()
        return day

    def notify_order(self, order: Any) -> None:
        if order.status == order.Completed:
            ex = order.executed
            reference = order.created.pclose
            self.fills.append(
                {
                    "date": self._date(order.created.dt),
                    "ticker": order.data._name,
                    "side": "buy" if order.isbuy() else "sell",
                    "size": abs(ex.size),
                    "price": ex.price,
                    "close": reference,
                    "value": abs(ex.size) * ex.price,
                    "commission": ex.comm,
                    "slippage": abs(ex.price - reference) * abs(ex.size),
                }
            )
        elif order.status in (order.Margin, order.Rejected):
            self.fills.append({"date": self._date(order.created.dt), "ticker": order.data._name,
                               "side": "rejected", "size": abs(order.created.size), "price": np.nan,
                               "close": order.created.pclose, "value": 0.0, "commission": 0.0, "slippage": 0.0})
