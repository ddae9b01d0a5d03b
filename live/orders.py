"""Orders from a decision: what the backtest's engine would send at that close, as a broker's order list.

Each ticker the decision moves by at least the band (``--band``; a delisting's close always) gets an order of
``|target - current| * equity / close`` shares at the decision's close, sells listed before buys; a target of
0 sells or covers the whole position. The order type is the fill the execution mode stands for:
``market-on-close`` (``next-close``: the next session's close; ``same-close``: this one, which no real order can
reach once the close is known) or ``market-on-open`` (``next-open``). ``share_limit`` is the participation cap
(``--participation``) times the volume known at the fill, as :mod:`backtests.broker` applies it: this session's
volume for a fill at this close or at the next open, none for a fill at the next close (that session's own
volume caps it: an order for at most that share of its volume), none for a delisting's close, and none while a
ticker has never printed a volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtests.engine import Execution, volume_seen
from backtests.inputs import BacktestData

__all__ = ["ORDER_COLUMNS", "ORDER_TYPES", "order_list"]

ORDER_COLUMNS = ["ticker", "side", "shares", "order_type", "share_limit", "price", "value"]
ORDER_TYPES = {"next-close": "market-on-close", "same-close": "market-on-close", "next-open": "market-on-open"}


def order_list(
    target: np.ndarray,
    closing: np.ndarray,
    current: np.ndarray,
    equity: float,
    data: BacktestData,
    row: int,
    execution: Execution,
) -> pd.DataFrame:
    """The orders that move the weights ``current`` (held at the close of ``data`` row ``row``, on ``equity``) to
    ``target`` (NaN: keep), with the engine's band and sizing; columns :data:`ORDER_COLUMNS`."""
    mode = execution.execution_mode
    price = data.prices["close"][row]
    # a fill at this close needs a real price now; a later fill's price is not known tonight
    real = data.tradable[row] if mode.lag == 0 else np.ones(len(price), dtype=bool)
    act = real & np.isfinite(target) & (equity > 0)
    delta = np.where(act, np.nan_to_num(target) - current, 0.0)
    act &= (np.abs(delta) > 1e-12) & ((np.abs(delta) >= execution.band) | closing)
    held = current * equity / price
    shares = np.where(np.nan_to_num(target, nan=1.0) == 0.0, np.abs(held), np.abs(delta) * equity / price)
    limit = np.full(len(price), np.nan)
    p = execution.costs.participation
    if p < 1.0 and mode.name != "next-close":
        volume, tradable = data.prices["volume"], data.tradable
        seen = volume_seen(volume, tradable)[row]
        last_real = np.maximum.accumulate(np.where(tradable, np.arange(len(volume))[:, None], -1), axis=0)[row]
        known = volume[np.maximum(last_real, 0), np.arange(len(price))]
        if mode.lag == 0:  # this close's own bar
            known = volume[row]
        limit = np.where(seen & ~closing, p * known, np.nan)
    order = np.argsort(delta, kind="stable")  # sells (negative) first, as the engine sends them
    rows = [
        {
            "ticker": data.tickers[j],
            "side": "buy" if delta[j] > 0 else "sell",
            "shares": float(shares[j]),
            "order_type": ORDER_TYPES[mode.name],
            "share_limit": float(limit[j]),
            "price": float(price[j]),
            "value": float(shares[j] * price[j]),
        }
        for j in order
        if act[j]
    ]
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)
