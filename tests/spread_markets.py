"""A market with known bid-ask spreads, built from the definition alone: a mid that follows a random walk, opens
and closes printed at the bid or the ask with equal probability, highs at the day's highest ask and lows at its
lowest bid. Only numpy and pandas, so that a reference run of another qtrade version can build the same market."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["quoted_market"]


def quoted_market(
    half_spreads: dict[str, float],
    days: int,
    *,
    sigma: float = 0.015,
    ticks: int = 40,
    seed: int = 0,
    start: str = "2010-01-04",
) -> pd.DataFrame:
    """A long panel (date, ticker) -> open, high, low, close, volume; ``half_spreads`` as shares of the mid.

    The mid moves ``ticks`` times a day (no jump between days: one walk sampled in blocks), with daily volatility
    ``sigma``; bid and ask are the mid times ``1 -+ half``.
    """
    rng = np.random.default_rng(seed)
    frames = []
    dates = pd.bdate_range(start, periods=days)
    for ticker, half in half_spreads.items():
        path = np.log(20.0) + np.cumsum(rng.normal(0.0, sigma / np.sqrt(ticks), days * ticks))
        mid = np.exp(path).reshape(days, ticks)
        bid, ask = mid * (1.0 - half), mid * (1.0 + half)
        at_ask = rng.random((2, days)) < 0.5
        first, last = np.arange(days), np.full(days, ticks - 1)
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "ticker": ticker,
                    "open": np.where(at_ask[0], ask[first, 0], bid[first, 0]),
                    "high": ask.max(axis=1),
                    "low": bid.min(axis=1),
                    "close": np.where(at_ask[1], ask[first, last], bid[first, last]),
                    "volume": 1e9,
                }
            )
        )
    return pd.concat(frames).set_index(["date", "ticker"]).sort_index()
