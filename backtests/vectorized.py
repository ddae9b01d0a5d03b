"""An independent recomputation of a backtest in numpy, from the rule's decisions, sharing nothing with backtrader.

It keeps shares and cash itself and applies the execution mode and every cost from their definitions
(:mod:`forecasting.preparation.execution`, :mod:`backtests.costs`): a decision made at origin t is sent at the close of t
(``same-close``, ``next-open``) or of t+1 (``next-close``), sized as ``|target - current| * equity / close`` and
skipped below the band; it fills at the close it was sent at, or at the next open when that is a real price; it
takes at most ``participation`` of the fill bar's volume; each fill pays commission, half-spread and impact; each
day the positions held at the previous close pay borrow and financing; a delisted ticker is closed by its last
decision with a real fill, booking the delisting return. ``stats.json`` reports the largest daily gap to
backtrader's returns; the tests hold it under 1e-6 bp.

A loop over days is fine here: its body is a few numpy operations on (n_tickers,) arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.costs import CostModel, MarketStats
from backtests.inputs import BacktestData
from forecasting.preparation.execution import ExecutionMode, execution_mode

__all__ = ["replay"]


def replay(decisions: pd.DataFrame, data: BacktestData, *, mode: str | ExecutionMode, costs: CostModel,
           market: MarketStats, closing: np.ndarray, first: int, cash: float = 1_000_000.0, band: float = 0.0,
           delisting_return: float = 0.0) -> pd.DataFrame:
    """Daily net and gross returns of trading ``decisions`` (rows: forecast origins; NaN keeps a position).

    ``closing`` (n_dates, n_tickers) marks the decisions that close a delisted ticker; ``first`` is the row of
    ``data`` the simulation starts at. Returns a frame indexed by the close each return ends at (the period's
    days after its first), with ``net``, ``gross``, ``cost`` (as shares of the previous close's equity) and
    ``equity``.

    Examples
    --------
    One ticker bought with all the equity at the close of the first day (``same-close``), no costs:

    >>> from backtests.costs import market_stats
    >>> from backtests.inputs import BacktestData
    >>> days = pd.bdate_range("2020-01-01", periods=3)
    >>> px = np.array([[100.0], [110.0], [99.0]])
    >>> ok = np.ones((3, 1), bool)
    >>> data = BacktestData(days, ["A"], {"open": px, "close": px, "volume": np.full((3, 1), 1e9)}, ok,
    ...                     px, px, px, start=0, stop=3, split="test")
    >>> free = CostModel(commission_bps=0, half_spread_bps=0, impact=0, participation=1, borrow=0, financing=0)
    >>> out = replay(pd.DataFrame({"A": [1.0, 1.0]}, index=days[:2]), data, mode="same-close", costs=free,
    ...              market=market_stats(px, data.prices["volume"], ok), closing=np.zeros((3, 1), bool), first=0)
    >>> out["net"].round(4).tolist()
    [0.1, -0.1]
    """
    mode = execution_mode(mode)
    close, opens, volume = data.prices["close"], data.prices["open"], data.prices["volume"]
    tradable = data.tradable
    n = close.shape[1]
    rows = data.dates.get_indexer(decisions.index)
    if (rows < 0).any():
        raise ValueError("every decision date must be a date of data")
    targets = {int(r): decisions.to_numpy(dtype=float)[k] for k, r in enumerate(rows)}
    state = _Book(np.zeros(n), float(cash), costs, market, delisting_return)
    at_close = mode.price == "close"
    queued: int | None = None
    at_open: list[tuple[int, float, bool]] = []  # next-open orders from the previous close
    base = float(cash)  # the equity the day's return is measured from: the previous close's, after its fills
    out_rows = []
    seen = np.zeros(n)  # the volume of each ticker's last real session: all that an open fill knows of volume
    for b in range(first, data.stop):
        paid = 0.0
        if b > first:  # borrow and financing of the day, on the positions held at the previous close
            paid += state.pay(_holding(costs, state.q, close[b - 1], state.cash + float(state.q @ close[b - 1])))
        if not at_close:
            for j, shares, delisting in at_open:
                if tradable[b, j]:
                    paid += state.fill(j, shares, delisting, price=opens[b, j], row=b, volume=seen[j])
            at_open = []
        mark = state.cash + float(state.q @ close[b])  # the equity that sizes this close's orders
        current = state.q * close[b] / mark if mark > 0 else np.zeros(n)
        orders: list[tuple[int, float, bool]] = []
        if at_close and mode.lag == 1:  # next-close: yesterday's decision trades at this close
            if queued is not None:
                orders = _orders(targets[queued], closing[queued], current, mark, close[b], tradable[b], band)
            queued = b if b in targets else None
        elif b in targets:
            fill_real = tradable[b] if at_close else np.ones(n, dtype=bool)
            orders = _orders(targets[b], closing[b], current, mark, close[b], fill_real, band)
        if b == data.stop - 1:  # nothing after the last close: its orders would hold nothing in the period
            orders = []
        if at_close:
            for j, shares, delisting in orders:
                paid += state.fill(j, shares, delisting, price=close[b, j], row=b, volume=volume[b, j])
        else:
            at_open = orders
        equity = state.cash + float(state.q @ close[b])
        if b == data.start:  # the first close's fill costs land in the first day's return
            equity, carried = mark, paid
        elif b > data.start:
            out_rows.append((data.dates[b], equity / base - 1.0, (paid + carried) / base, equity))
            carried = 0.0
        base = equity
        seen = np.where(tradable[b], volume[b], seen)
    frame = pd.DataFrame(out_rows, columns=["date", "net", "cost", "equity"]).set_index("date")
    frame["gross"] = frame["net"] + frame["cost"]
    return frame[["net", "gross", "cost", "equity"]]


class _Book:
    """Shares and cash; :meth:`fill` executes one order and returns its costs."""

    def __init__(self, q: np.ndarray, cash: float, costs: CostModel, market: MarketStats, delisting_return: float):
        self.q, self.cash, self.costs, self.market, self.delisting_return = q, cash, costs, market, delisting_return

    def pay(self, amount: float) -> float:
        self.cash -= amount
        return amount

    def fill(self, j: int, shares: float, delisting: bool, *, price: float, row: int, volume: float) -> float:
        signed = -self.q[j] if np.isnan(shares) else shares  # NaN: close the whole position
        size = abs(signed)
        if self.costs.participation < 1.0 and not delisting:
            size = min(size, self.costs.participation * volume)
        signed = float(np.sign(signed)) * size
        value = size * price
        m = self.market
        rate = self.costs.fill_rate(value=value, sigma=m.sigma[row, j], adv=m.adv[row, j],
                                    half_spread=m.half_spread[row, j])
        cost = rate * value + (self.delisting_return * signed * price if delisting else 0.0)
        self.q[j] += signed
        self.cash -= signed * price
        return self.pay(cost)


def _holding(costs: CostModel, q: np.ndarray, price: np.ndarray, equity: float) -> float:
    """A day's borrow and financing on shares ``q`` valued at ``price`` (the previous close)."""
    value = q * price
    gross = float(np.abs(value).sum())
    if not gross:
        return 0.0
    return costs.holding_cost(short_value=float(np.maximum(-value, 0.0).sum()), gross=gross, equity=equity)


def _orders(target: np.ndarray, closing: np.ndarray, current: np.ndarray, equity: float, close: np.ndarray,
            fill_real: np.ndarray, band: float) -> list[tuple[int, float, bool]]:
    """Orders that move ``current`` weights to ``target``: sells first; a zero target closes the whole position."""
    act = fill_real & np.isfinite(target) & (equity > 0)
    delta = np.where(act, target - current, 0.0)
    act &= (np.abs(delta) > 1e-12) & ((np.abs(delta) >= band) | closing)
    orders = []
    for j in np.argsort(delta, kind="stable"):
        if act[j]:
            shares = np.nan if target[j] == 0.0 else float(np.sign(delta[j]) * abs(delta[j]) * equity / close[j])
            orders.append((int(j), shares, bool(closing[j] and target[j] == 0.0)))
    return orders
