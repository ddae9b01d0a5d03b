"""The forecast feed: a backtrader data feed with ``mean``, ``variance`` and ``tradable`` lines beside OHLCV.

At bar t the ``mean`` and ``variance`` lines hold the forecast whose origin is t: the log return from the close
of t to the close of t+1. ``tradable`` is 1 where the close of t is a real price (not carried forward over a gap
or before the ticker's first day), so a strategy never trades at a price nobody could have dealt at.

Speed: the feed fills its line buffers from numpy columns in one step when backtrader preloads it (its
``PandasData`` looks every cell up through ``.iloc``, and even a lean ``_load`` costs a call and ten line moves per
bar), and it leaves the per-bar ``tick_*`` copies unset: the broker then reads the bar's own lines, which hold
the same values.
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np
import pandas as pd

from strategies.backtrader_compat import bt

__all__ = ["FORECAST_LINES", "ForecastData", "forecast_feed"]

FORECAST_LINES = ("mean", "variance", "tradable")
_COLUMNS = ("open", "high", "low", "close", "volume", *FORECAST_LINES)


class ForecastData(bt.feed.DataBase):
    """OHLCV and forecast lines from a frame indexed by date (columns by name, see ``_COLUMNS``)."""

    lines: Any = FORECAST_LINES  # backtrader turns the names into line objects
    params = (("frame", None),)

    def start(self) -> None:
        super().start()
        frame: pd.DataFrame = self.p.frame
        self._stamps = np.array([bt.date2num(d.to_pydatetime()) for d in pd.DatetimeIndex(frame.index)])
        self._columns = [(getattr(self.lines, c), frame[c].to_numpy(dtype=float)) for c in _COLUMNS]
        self._at = 0

    def preload(self) -> None:
        """Fill every line at once (backtrader's own preload calls ``_load`` once per bar)."""
        n = len(self._stamps)
        columns = [(self.lines.datetime, self._stamps), *self._columns, (self.lines.openinterest, np.zeros(n))]
        for line, _ in columns:
            if line.mode != line.UnBounded:  # exactbars: fall back to bar by bar
                super().preload()
                return
        for line, values in columns:
            line.array = array.array("d", np.ascontiguousarray(values, dtype=float).tobytes())
        self._at = n
        self._last()
        self.home()

    def _tick_fill(self, force: bool = False) -> None:
        """No per-bar ``tick_*`` copies: with them unset the broker reads ``open[0]``, ``close[0]``, ..."""

    def _tick_nullify(self) -> None:
        """Nothing to clear: ``_tick_fill`` sets nothing."""

    def _load(self) -> bool:
        i = self._at
        if i >= len(self._stamps):
            return False
        self.lines.datetime[0] = self._stamps[i]
        for line, values in self._columns:
            line[0] = values[i]
        self.lines.openinterest[0] = 0.0
        self._at = i + 1
        return True


def forecast_feed(frame: pd.DataFrame, name: str) -> ForecastData:
    """A feed from a frame indexed by date with open, high, low, close, volume, mean, variance, tradable."""
    return ForecastData(frame=frame, name=name)
