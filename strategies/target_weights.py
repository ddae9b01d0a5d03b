"""The backtrader strategy behind every registered rule: target weights in, orders out, filled as the execution
mode says.

At each close t the rule gets the forecasts whose origin is t and the closes up to t (nothing later) and returns
target weights. The mode decides when they trade (:mod:`forecasting.preparation.execution`):

- ``same-close``: orders go out at the close of t and fill at that close (cheat-on-close; optimistic);
- ``next-close``: the targets wait one bar; orders go out at the close of t+1 and fill at that close;
- ``next-open``: orders go out at the close of t and fill at the open of t+1 (backtrader's default fill).

A per-asset rule's equity is shared among the tickers active at that close (listed, and with a usable forecast
when the rule uses forecasts; :class:`~strategies.registry.Bar`). ``rebalance`` (weekly, monthly) lets the rule
decide only at the first origin of each week or month (every other origin keeps the positions, save a delisting's
close); ``target_vol`` scales each decided book to that annual forecast volatility under the forecast covariance
(:mod:`strategies.covariance`), its gross exposure at most ``max_gross``.

Orders are sized from the equity and the close of the bar that sends them: ``|target - current| * equity /
close``, where ``current`` is the weight held at that close; trades below the rebalance band are skipped, sells go
before buys. A ticker whose data ends (a delisting) is closed by the last decision whose fill is still a real
price: its forecast then has no held return, so it never opens a position.

Everything is recorded: the rule's targets (``decisions``, the input of the numpy replay; the rule is applied by
:class:`Decider`, which ``qtrade signal`` shares), the weights held at each decision's close before its orders
(``before``) and after it (``holdings``), the account's value at each close (``values``: no analyzer is needed for the
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
from strategies.covariance import HALFLIFE, WINDOW, forecast_covariance, standardised_returns
from strategies.portfolio import scale_to_volatility
from strategies.registry import Bar, StrategySpec
from strategies.sizing import usable

__all__ = ["Columns", "Decider", "TargetWeights"]


@dataclass(frozen=True)
class Columns:
    """What the rule reads, (n_bars, n_tickers) arrays whose row i is the feeds' bar i.

    ``closing[i, j]`` is True where bar i is the last decision of ticker j whose fill is a real price (its data
    ends after it): that decision closes the position whatever the rule says. ``listed[i, j]``: ticker j's first
    real price is at or before bar i and its delisting is not yet decided. ``seen_close`` is ``close`` with NaN
    before each ticker's first real price (what the rule's ``history`` shows); ``full_close`` and ``full_tradable`` are
    the data's closes and real bars from row 0 (row ``first + i`` is bar i), whose standardised returns
    (:func:`strategies.covariance.standardised_returns`, computed when a rule first asks for a covariance) let
    the correlation's window reach before the first bar; ``rebalance[i]``:
    the rule decides at bar i. ``dof`` and ``members`` (means, variances, dofs of an ensemble's K members, each of shape
    (K, n_bars, n_tickers)) complete the forecast's density when there are some.
    """

    dates: pd.DatetimeIndex
    close: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    tradable: np.ndarray
    closing: np.ndarray
    listed: np.ndarray
    seen_close: np.ndarray
    full_close: np.ndarray
    full_tradable: np.ndarray
    rebalance: np.ndarray
    first: int = 0
    dof: np.ndarray | None = None
    members: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


class Decider:
    """The rule applied at one origin: its targets from the forecasts and closes up to that close and the weights
    held then, with the sleeves, ``--no-short``, the delistings' closes, the rebalance days and ``target_vol``.

    The backtest's :class:`TargetWeights` and ``qtrade signal`` both decide through it, so that a signal made
    from the data of a close is the decision the backtest made there. What it carries from one decision to the
    next is ``first`` (True until the first decision) and ``was_active`` (the tickers active at the previous
    decision of the rule, :attr:`~strategies.registry.Bar.was_active`); a caller that decides at one origin
    alone sets both first (:meth:`active` gives the tickers active at an origin).

    Parameters
    ----------
    spec, rule_params
        The registered strategy and its settings (calibrated).
    columns
        A :class:`Columns`: row ``i`` is origin ``i``.
    short, target_vol, max_gross
        As :class:`TargetWeights`' parameters of those names.
    """

    def __init__(
        self,
        spec: StrategySpec,
        rule_params: dict[str, Any],
        columns: Columns,
        *,
        short: bool = True,
        target_vol: float | None = None,
        max_gross: float = 2.0,
    ) -> None:
        self.spec = spec
        self.rule_params = dict(rule_params)
        self.columns = columns
        self.short = short
        self.target_vol = target_vol
        self.max_gross = max_gross
        self.n = columns.close.shape[1]
        self.first = True
        self.was_active: np.ndarray | None = None
        self._zs: np.ndarray | None = None

    def decides(self, i: int) -> bool:
        """Whether the rule is asked at origin ``i`` (the first decision, and every rebalance day)."""
        return bool(self.first or self.columns.rebalance[i])

    def active(self, i: int) -> np.ndarray:
        """(n_tickers,) the tickers active at origin ``i``: listed and, for a rule that uses forecasts, with a usable
        forecast (:attr:`~strategies.registry.Bar.active`)."""
        cols = self.columns
        listed = cols.listed[i]
        return listed & (usable(cols.mean[i], cols.variance[i]) if self.spec.uses_forecast else True)

    def decide(self, i: int, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The targets at origin ``i`` (NaN: keep) given the weights ``current`` held at its close, and which
        tickers the decision must close (a delisting)."""
        cols = self.columns
        closing = cols.closing[i]
        target = np.full(self.n, np.nan)
        covariance = None
        if self.decides(i):
            target, covariance = self._rule(i, current)
        if not self.short:
            target = np.maximum(target, 0.0)
        target[closing] = 0.0
        if self.target_vol and covariance is not None:
            target = self._scaled(target, current, covariance(**self._cov_settings()))
            target[closing] = 0.0
        return target, closing

    def _cov_settings(self) -> dict[str, Any]:
        """The covariance the rule asked for (its window, halflife and shrink settings), else the defaults."""
        p = self.rule_params
        return {
            "window": int(p.get("window", WINDOW)),
            "halflife": float(p.get("halflife", HALFLIFE)),
            "target": str(p.get("shrink", "constant")),
        }

    def _z(self) -> np.ndarray:
        """The standardised returns of the correlation, computed once, when a rule first asks for a covariance."""
        if self._zs is None:
            self._zs = standardised_returns(self.columns.full_close, self.columns.full_tradable)
        return self._zs

    def _rule(self, i: int, current: np.ndarray) -> tuple[np.ndarray, Any]:
        cols = self.columns
        seen = cols.seen_close

        def history(n: int) -> np.ndarray:
            return seen[i + 1 - n : i + 1] if 0 < n <= i + 1 else np.empty((0, self.n))

        mean, variance = cols.mean[i], cols.variance[i]
        cache: dict[tuple[Any, ...], np.ndarray] = {}

        def covariance(**settings: Any) -> np.ndarray:
            full = {"window": WINDOW, "halflife": float(HALFLIFE), "target": "constant", **settings}
            full["window"], full["halflife"] = int(full["window"]), float(full["halflife"])
            key = tuple(sorted(full.items()))
            if key not in cache:
                cache[key] = forecast_covariance(mean, variance, self._z(), cols.first + i, **full)
            return cache[key]

        listed = cols.listed[i]
        active = self.active(i)
        members = None
        if cols.members is not None:
            from forecasting.model.distributions import Predictive

            m, v, d = (a[:, i] for a in cols.members)
            members = Predictive(m, v, np.where(np.isfinite(d), d, np.inf))
        bar = Bar(
            mean=mean,
            variance=variance,
            weights=current,
            first=self.first,
            history=history,
            dof=None if cols.dof is None else cols.dof[i],
            members=members,
            listed=listed,
            active=active,
            was_active=self.was_active,
            covariance=covariance,
        )
        self.first = False
        self.was_active = active
        return np.array(self.spec.weights(bar, self.rule_params), dtype=float), covariance

    def _scaled(self, target: np.ndarray, current: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """The book (the targets, and the positions kept where they are NaN) scaled to ``target_vol``.

        Only the tickers with a forecast covariance are scaled; the others keep their targets (NaN: their
        positions), and their gross exposure counts against ``max_gross``. On a day when no position of the book
        has a known risk nothing can be measured, and every position is kept (NaN).
        """
        known = np.isfinite(np.diag(cov))
        book = np.where(np.isnan(target), current, target)
        at = np.flatnonzero(known)
        room = self.max_gross - float(np.abs(np.nan_to_num(book[~known])).sum())
        k = scale_to_volatility(book[at], cov[np.ix_(at, at)], float(self.target_vol or 0.0), max_gross=max(room, 0.0))
        if not k > 0:
            return np.full(self.n, np.nan)
        return np.where(known, book * k, target)


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
    target_vol, max_gross
        Scale each decided book to this annual forecast volatility (None: as the rule says), its gross exposure at
        most ``max_gross``.
    """

    params = (
        ("spec", None),
        ("rule_params", None),
        ("columns", None),
        ("mode", None),
        ("warmup", 0),
        ("band", 0.0),
        ("short", True),
        ("target_vol", None),
        ("max_gross", 2.0),
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
        self.before: list[np.ndarray] = []  # the weights held at each decision's close, before its orders
        self.decider = Decider(
            self.spec,
            self.rule_params,
            self.columns,
            short=self.p.short,
            target_vol=self.p.target_vol,
            max_gross=self.p.max_gross,
        )
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
        """The rule's targets at origin ``i`` (NaN: keep) and which tickers must be closed; recorded."""
        target, closing = self.decider.decide(i, current)
        self.dates.append(self._dates[i])
        self.decisions.append(target)
        self.before.append(np.array(current, dtype=float))
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
