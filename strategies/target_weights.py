"""The backtrader strategy behind every registered rule: target weights in, orders out, filled as the execution
mode says.

At each close t the rule gets the forecasts whose origin is t and the closes up to t (nothing later) and returns
target weights. The mode decides when they trade (:mod:`forecasting.preparation.execution`):

- ``same-close``: orders go out at the close of t and fill at that close (cheat-on-close; optimistic);
- ``next-close``: the targets wait one bar; orders go out at the close of t+1 and fill at that close;
- ``next-open``: orders go out at the close of t and fill at the open of t+1 (backtrader's default fill).

Orders are sized from the equity and the close of the bar that sends them: ``|target - current| * equity /
close``, where ``current`` is the weight held at that close; trades below the rebalance band are skipped, sells go
before buys. A ticker whose data ends (a delisting) is closed by the last decision whose fill is still a real
price: its forecast then has no held return, so it never opens a position.

Everything is recorded: the rule's targets (``decisions``, the input of the numpy replay), the weights held after
each decision (``holdings``), the account's value at each close (``values``: no analyzer is needed for the
daily returns) and every fill with its costs.

Speed: each bar it reads prices and forecasts from (n_bars, n_tickers) arrays (``columns``; row i is the feeds'
bar i), not through one line lookup per ticker, and it keeps no backtrader ``Trade`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.preparation.execution import ExecutionMode
from strategies.backtrader_compat import bt
from strategies.registry import Bar, StrategySpec

__all__ = ["Columns", "TargetWeights"]


@dataclass(frozen=True)
class Columns:
    """What the rule reads, (n_bars, n_tickers) arrays whose row i is the feeds' bar i.

    ``closing[i, j]`` is True where bar i is the last decision of ticker j whose fill is a real price (its data
    ends after it): that decision closes the position whatever the rule says.
    """

    dates: pd.DatetimeIndex
    close: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    tradable: np.ndarray
    closing: np.ndarray


class TargetWeights(bt.Strategy):
    """Apply ``spec`` with ``rule_params`` to all datas, which share the broker's cash.

    Parameters (backtrader ``params``)
    ----------------------------------
    spec, rule_params
        The registered strategy and its settings.
    columns
        A :class:`Columns` with the datas' closes and forecasts, in the order of ``self.datas``.
    mode
        The :class:`~forecasting.preparation.execution.ExecutionMode`.
    warmup
        Bars at the start that only feed the rule's price history; decisions start after them.
    band
        Trades whose size is below this share of equity are skipped (0: always rebalance).
    short
        Allow negative weights; when False they become 0.
    """

    params = (
        ("spec", None),
        ("rule_params", None),
        ("columns", None),
        ("mode", None),
        ("warmup", 0),
        ("band", 0.0),
        ("short", True),
    )

    def __init__(self) -> None:
        self.spec: StrategySpec = self.p.spec
        self.rule_params: dict[str, Any] = dict(self.p.rule_params or {})
        self.columns: Columns = self.p.columns
        self.mode: ExecutionMode = self.p.mode
        self.n = len(self.datas)
        self.dates: list[Any] = []
        self.decisions: list[np.ndarray] = []
        self.holdings: list[np.ndarray] = []
        self.values: list[float] = []  # the account's value at each close, after the broker's work for the bar
        self.fills: list[dict[str, Any]] = []
        self._first = True
        self._queued: tuple[np.ndarray, np.ndarray] | None = None
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
        equity = self.broker.getvalue()
        self.values.append(equity)
        price = self.columns.close[i]
        size = np.array([p.size for p in self._positions])
        current = size * price / equity if equity > 0 else np.zeros(self.n)
        delayed = self.mode.lag == 1 and self.mode.price == "close"
        if delayed:  # next-close: yesterday's decision fills at this close, then today's is made
            if self._queued is not None:
                current = self._send(i, *self._queued, current, equity)
                self._queued = None
            if i >= self.p.warmup:
                self._queued = self._decide(i, current)
        elif i >= self.p.warmup:
            self._send(i, *self._decide(i, current), current, equity)

    def _decide(self, i: int, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rule's targets at origin ``i`` (NaN: keep) and which tickers must be closed."""
        cols = self.columns
        close = cols.close

        def history(n: int) -> np.ndarray:
            return close[i + 1 - n : i + 1] if 0 < n <= i + 1 else np.empty((0, self.n))

        bar = Bar(mean=cols.mean[i], variance=cols.variance[i], weights=current, first=self._first, history=history)
        self._first = False
        target = np.array(self.spec.weights(bar, self.rule_params), dtype=float)
        if not self.p.short:
            target = np.maximum(target, 0.0)
        closing = cols.closing[i]
        target[closing] = 0.0
        self.dates.append(self._dates[i])
        self.decisions.append(target)
        return target, closing

    def _send(self, i: int, target: np.ndarray, closing: np.ndarray, current: np.ndarray, equity: float) -> np.ndarray:
        """Orders from ``target`` at bar ``i``; returns the weights held once they fill.

        At the last bar nothing is sent: nothing after it could be held in the period (nor fill at a next open).
        """
        if i == len(self.columns.dates) - 1:
            return current
        datas, price = self.datas, self.columns.close[i]
        fill_bar_real = self.columns.tradable[i] if self.mode.price == "close" else np.ones(self.n, dtype=bool)
        act = fill_bar_real & np.isfinite(target) & (equity > 0)
        delta = np.where(act, target - current, 0.0)
        act &= (np.abs(delta) > 1e-12) & ((np.abs(delta) >= self.p.band) | closing)
        held = np.where(act, target, current)
        for j in np.argsort(delta, kind="stable"):  # sells (negative deltas) first
            if not act[j]:
                continue
            if target[j] == 0.0:
                self.close(data=datas[j], delisting=bool(closing[j]))  # the exact position: no dust is left
            elif delta[j] > 0:
                self.buy(data=datas[j], size=abs(delta[j]) * equity / price[j])
            else:
                self.sell(data=datas[j], size=abs(delta[j]) * equity / price[j])
        self.holdings.append(held)
        return held

    def _date(self, num: float) -> Any:
        day = self._day.get(num)
        if day is None:
            day = self._day[num] = bt.num2date(num).date()
        return day

    def _record_fill(self, order: Any, ex: Any) -> None:
        # a close fill is processed (and notified) at the bar after the close it filled at
        bar = len(self) - 1 - (1 if self.mode.price == "close" else 0)
        commission, spread, impact, delisting = self.broker.parts.pop(order.ref)
        self.fills.append(
            {
                "date": self._dates[bar],
                "ticker": order.data._name,
                "side": "buy" if order.isbuy() else "sell",
                "requested": abs(order.created.size),
                "size": abs(ex.size),
                "price": ex.price,
                "value": abs(ex.size) * ex.price,
                "commission": commission,
                "spread": spread,
                "impact": impact,
                "delisting": delisting,
            }
        )

    def notify_order(self, order: Any) -> None:
        ex = order.executed
        if order.status in (order.Completed, order.Canceled) and ex.size:
            self._record_fill(order, ex)
        elif order.status in (order.Margin, order.Rejected):
            if ex.size:  # a cover executed before the cash refused the rest (the new position)
                self._record_fill(order, ex)
            self.broker.parts.pop(order.ref, None)
            self.fills.append(
                {
                    "date": self._date(order.created.dt),
                    "ticker": order.data._name,
                    "side": "rejected",
                    "requested": abs(order.created.size),
                    "size": 0.0,
                    "price": np.nan,
                    "value": 0.0,
                    "commission": 0.0,
                    "spread": 0.0,
                    "impact": 0.0,
                    "delisting": 0.0,
                }
            )
        elif order.status == order.Canceled:
            self.broker.parts.pop(order.ref, None)
