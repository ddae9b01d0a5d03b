"""The forecast feed: a backtrader data feed with ``mean``, ``variance`` and ``tradable`` lines beside OHLCV.

At bar t the ``mean`` and ``variance`` lines hold the forecast whose origin is t: the log return from the close
of t to the close of t+1. ``tradable`` is 1 where the close of t is a real price (not carried forward over a gap
or before the ticker's first day), so a strategy never trades at a price nobody could have dealt at.
"""

from __future__ import annotations

import pandas as pd

from strategies.backtrader_compat import bt

__all__ = ["FORECAST_LINES", "ForecastData", "forecast_feed"]

FORECAST_LINES = ("mean", "variance", "tradable")


class ForecastData(bt.feeds.PandasData):  # type: ignore[misc]
    """``PandasData`` with the forecast lines; columns are found by name."""

    lines = FORECAST_LINES
    params = (
        ("datetime", None),
        ("openinterest", None),
        *((name, -1) for name in FORECAST_LINES),
    )


def forecast_feed(frame: pd.DataFrame, name: str) -> ForecastData:
    """A feed from a frame indexed by date with open, high, low, close, volume, mean, variance, tradable."""
    return ForecastData(dataname=frame, name=name)
