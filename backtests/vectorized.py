"""An independent recomputation of a backtest in numpy, from the holdings the strategy set each close.

It shares nothing with backtrader: weights set at the close of t earn the tickers' close-to-close returns to
t+1; trading costs are the commission plus slippage in basis points of the value traded, where the value
traded is the distance between the new weights and the old ones after a day's drift. The tests hold
backtrader's daily returns to this within a basis point a day; ``stats.json`` reports the gap of every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["replay"]


def replay(holdings: pd.DataFrame, simple_returns: pd.DataFrame, cost_bps: float) -> pd.DataFrame:
    """Daily net and gross returns of holding ``holdings`` (rows: the close each was set).

    ``simple_returns`` holds every ticker's close-to-close return ending at each date and must cover the day
    after each holding date. Returns a frame indexed by the day each return is earned, with ``net``,
    ``gross`` and ``cost``.

    Examples
    --------
    >>> days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])
    >>> h = pd.DataFrame({"A": [1.0, 1.0]}, index=days[:2])
    >>> r = pd.DataFrame({"A": [0.0, 0.10, -0.05]}, index=days)
    >>> replay(h, r, cost_bps=10.0).round(4).to_dict("list")
    {'net': [0.099, -0.05], 'gross': [0.1, -0.05], 'cost': [0.001, 0.0]}
    """
    dates = simple_returns.index
    at = dates.get_indexer(holdings.index)
    if (at < 0).any() or at.max() + 1 >= len(dates):
        raise ValueError("simple_returns must cover every holding date and the day after the last one")
    w = holdings.to_numpy(dtype=float)
    nxt = simple_returns.to_numpy(dtype=float)[at + 1]
    gross = np.sum(w * nxt, axis=1)
    cost = np.empty(len(w))
    drifted = np.zeros(w.shape[1])
    for t in range(len(w)):
        cost[t] = cost_bps / 1e4 * np.abs(w[t] - drifted).sum()
        net_t = gross[t] - cost[t]
        drifted = w[t] * (1.0 + nxt[t]) / (1.0 + net_t)
    return pd.DataFrame({"net": gross - cost, "gross": gross, "cost": cost}, index=dates[at + 1])
