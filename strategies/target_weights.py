"""The backtrader strategy behind every registered rule: target weights in, market-on-close orders out.

At each close t the strategy asks the rule for target weights from the forecasts made at t, skips trades
smaller than the rebalance band, and sends orders that the broker fills at the close of t (cheat-on-close,
``broker.set_coc(True)``). The position is then held from the close of t to the close of t+1: exactly the
return the forecast's target describes. Sells are sent before buys so that cash from sales pays for purchases.

Everything it decided is recorded: holdings (shares of equity after the day's trades), fills and costs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strategies.backtrader_compat import bt
from strategies.registry import Bar, StrategySpec

__all__ = ["TargetWeights"]


class TargetWeights(bt.Strategy):  # type: ignore[misc]
    """Apply ``spec`` with ``rule_params`` to all datas, which share the broker's cash.

    Parameters (backtrader ``params``)
    ----------------------------------
    spec, rule_params
        The registered strategy and its settings.
    warmup
        Bars at the start that only feed the rule's price history; trading starts after them.
    band
        Trades whose size is below this share of equity are skipped (0: always rebalance).
    short
        Allow negative weights; when False they become 0.
    """

    params = (("spec", None), ("rule_params", None), ("warmup", 0), ("band", 0.0), ("short", True))

    def __init__(self) -> None:
        self.spec: StrategySpec = self.p.spec
        self.rule_params: dict[str, Any] = dict(self.p.rule_params or {})
        self.n = len(self.datas)
        self.dates: list[Any] = []
        self.holdings: list[np.ndarray] = []
        self.fills: list[dict[str, Any]] = []
        self._first = True

    def _history(self, n: int) -> np.ndarray:
        cols = [np.asarray(d.close.get(size=n), dtype=float) for d in self.datas]
        if any(len(c) < n for c in cols):
            return np.empty((0, self.n))
        return np.column_stack(cols)

    def next(self) -> None:
        if len(self) <= self.p.warmup:
            return
        datas = self.datas
        equity = self.broker.getvalue()
        price = np.array([d.close[0] for d in datas])
        size = np.array([self.getposition(d).size for d in datas])
        current = size * price / equity if equity > 0 else np.zeros(self.n)
        mean = np.array([d.mean[0] for d in datas])
        var = np.array([d.variance[0] for d in datas])
        tradable = np.array([d.tradable[0] > 0 for d in datas])
        bar = Bar(mean=mean, variance=var, weights=current, first=self._first, history=self._history)
        self._first = False
        target = self.spec.weights(bar, self.rule_params)
        if not self.p.short:
            target = np.maximum(target, 0.0)
        act = tradable & np.isfinite(target) & (equity > 0)
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
        self.dates.append(datas[0].datetime.date(0))
        self.holdings.append(held)

    def notify_order(self, order: Any) -> None:
        if order.status == order.Completed:
            ex = order.executed
            reference = order.created.pclose
            self.fills.append(
                {
                    "date": bt.num2date(order.created.dt).date(),
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
            self.fills.append({"date": bt.num2date(order.created.dt).date(), "ticker": order.data._name,
                               "side": "rejected", "size": abs(order.created.size), "price": np.nan,
                               "close": order.created.pclose, "value": 0.0, "commission": 0.0, "slippage": 0.0})
