"""The paper broker: a session's fills and holding costs, as the backtest's engine books them, on a book of shares
and cash.

The engine (:mod:`backtests.engine`, :mod:`backtests.broker`) runs every session of a period at once in
backtrader; a paper ledger gets one session a day. Both read the same numbers: the fill inputs of the engine
(:func:`backtests.engine.fill_inputs`: the volume an order may take a share of, the impact model's sigma and adv,
the half-spread each fill pays, :func:`backtests.spreads.priced_spreads`) on the data as the backtest aligned it,
and the cost model's own rates (:class:`backtests.costs.CostModel`, :func:`backtests.risk_free.day_interest`):

- an order takes at most ``participation`` of the volume known at its fill (none for a delisting's settlement);
  a fill at an open needs a real price there, else the order is cancelled;
- each fill pays commission, half-spread and ``impact * sigma / sqrt(adv) * sqrt(value)`` of its value; a
  delisting's settlement also books its return (``--delisting-return``), not a cost;
- each session, the positions held at the previous close pay the day's borrow and financing spread, valued at
  that close, and the day's interest at the risk-free rate in force then (earned on the equity no position
  commits, paid on the exposure above it).

Everything here is a number the engine also computes; ``tests/test_paper.py`` replays a backtest day by day
through it and finds the engine's fills, costs and returns to 1e-9.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtests.costs import CostModel
from backtests.engine import FILL_COLUMNS, Execution, fill_inputs
from backtests.inputs import BacktestData
from backtests.risk_free import day_interest
from backtests.spreads import priced_spreads

__all__ = ["FILL_COLUMNS", "Book", "Order", "SessionTerms", "holding_charge", "orders_from", "session_terms"]


@dataclass
class Book:
    """Shares of each ticker (the run's tickers, in order; negative: short) and cash."""

    shares: np.ndarray
    cash: float

    def value(self, price: np.ndarray) -> float:
        """The equity at the prices ``price``."""
        return self.cash + float(self.shares @ price)


@dataclass(frozen=True)
class Order:
    """An order to fill: ticker column ``column``, ``shares`` signed (positive: buy), or the whole position when
    ``close_all`` (a target of 0: no dust is left), ``delisting`` when it settles a delisted ticker."""

    column: int
    shares: float
    close_all: bool = False
    delisting: bool = False


@dataclass(frozen=True)
class SessionTerms:
    """What a fill at one session knows, per ticker: the price (the close, or the open), whether it is a real
    price, the most shares an order may take (inf: no cap), the half-spread and the impact's
    ``impact * sigma / sqrt(adv)``."""

    date: pd.Timestamp
    price: np.ndarray
    real: np.ndarray
    cap: np.ndarray
    half: np.ndarray
    unit_impact: np.ndarray


def session_terms(data: BacktestData, row: int, execution: Execution) -> SessionTerms:
    """The fill terms of row ``row`` of ``data`` (aligned as the backtest aligns, up to that row or later), under
    the run's execution and costs: the engine's :func:`~backtests.engine.fill_inputs` at that row."""
    costs: CostModel = execution.costs
    mode = execution.execution_mode
    priced = priced_spreads(data, costs)
    with warnings.catch_warnings():  # the backtest warned of tickers without volume; a ledger would every day
        warnings.simplefilter("ignore")
        volume, market = fill_inputs(priced, mode, costs)
    half = np.where(np.isfinite(market.half_spread[row]), market.half_spread[row], costs.half_spread_bps / 1e4)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = costs.impact * market.sigma[row] / np.sqrt(market.adv[row])
    cap = np.full(len(data.tickers), np.inf)
    if costs.participation < 1.0:
        cap = np.where(np.isnan(volume[row]), np.inf, costs.participation * volume[row])
    return SessionTerms(
        pd.Timestamp(data.dates[row]),
        np.asarray(data.prices[mode.price][row], dtype=float),
        np.asarray(data.tradable[row], dtype=bool),
        cap,
        half,
        np.where(np.isfinite(unit), unit, 0.0),
    )


def orders_from(
    target: np.ndarray,
    closing: np.ndarray,
    current: np.ndarray,
    equity: float,
    close: np.ndarray,
    real: np.ndarray,
    band: float,
) -> list[Order]:
    """The engine's orders for ``target`` (NaN: keep) from the weights ``current`` held at the close ``close`` on
    ``equity``: those that move a ticker by at least ``band`` (a delisting's close always) where the fill is a
    ``real`` price, ``|target - current| * equity / close`` shares, sells before buys.

    Examples
    --------
    >>> o = orders_from(np.array([0.5, 0.0]), np.zeros(2, bool), np.array([0.0, 0.2]), 100.0, np.array([10.0, 4.0]),
    ...                 np.ones(2, bool), 0.0)
    >>> [(x.column, x.shares, x.close_all) for x in o]
    [(1, -5.0, True), (0, 5.0, False)]
    """
    act = real & np.isfinite(target) & (equity > 0)
    delta = np.where(act, np.nan_to_num(target) - current, 0.0)
    act &= (np.abs(delta) > 1e-12) & ((np.abs(delta) >= band) | closing)
    out = []
    for j in np.argsort(delta, kind="stable"):
        if act[j]:
            shares = float(np.sign(delta[j]) * (abs(delta[j]) * equity / close[j]))
            zero = bool(target[j] == 0.0)
            out.append(Order(int(j), shares, close_all=zero, delisting=zero and bool(closing[j])))
    return out


def fill(book: Book, order: Order, terms: SessionTerms, execution: Execution, ticker: str) -> dict[str, object] | None:
    """Fill ``order`` at ``terms`` (the cap, the costs) into ``book``; the fill's record (:data:`FILL_COLUMNS`), or
    None when nothing executed (a cap of 0, an open that is not a real price)."""
    j = order.column
    if not terms.real[j] and execution.execution_mode.price == "open":
        return None  # nobody could deal at an open that is not a real price
    wanted = -book.shares[j] if order.close_all else order.shares
    requested = abs(wanted)
    size = requested if order.delisting else min(requested, float(terms.cap[j]))
    if not size > 0:
        return None
    price = float(terms.price[j])
    signed = float(np.sign(wanted)) * size
    value = size * price
    costs = execution.costs
    commission = costs.commission_bps / 1e4 * value
    spread = float(terms.half[j]) * value
    impact = float(terms.unit_impact[j]) * np.sqrt(size * price) * value
    delisting = (execution.delisting_return if order.delisting else 0.0) * signed * price
    book.shares[j] += signed
    book.cash -= signed * price + commission + spread + impact + delisting
    return {
        "date": terms.date,
        "ticker": ticker,
        "side": "buy" if signed > 0 else "sell",
        "requested": requested,
        "size": size,
        "price": price,
        "value": value,
        "commission": commission,
        "spread": spread,
        "impact": float(impact),
        "delisting": delisting,
    }


def holding_charge(book: Book, previous_close: np.ndarray, costs: CostModel, annual_rf: float) -> tuple[float, float]:
    """Charge one session's borrow and financing spread (a cost) and interest at ``annual_rf`` (a return) on the
    positions held at the previous close, valued at ``previous_close``; returns both in cash paid."""
    value = book.shares * previous_close
    if not value.any() and not annual_rf:
        return 0.0, 0.0
    gross = float(np.abs(value).sum())
    short = -float(np.minimum(value, 0.0).sum())
    equity = book.cash + float(value.sum())
    cost = costs.holding_cost(short_value=short, gross=gross, equity=equity)
    interest = day_interest(gross=gross, equity=equity, annual=annual_rf) if annual_rf else 0.0
    book.cash -= cost + interest
    return cost, interest
