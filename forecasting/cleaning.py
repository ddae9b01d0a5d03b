"""Cleaning: a shared trading calendar and linear interpolation of short gaps, per ticker.

An interpolated value borrows the next real price, so it is only known once that price is. qtrade keeps a
``filled`` flag per (date, ticker); :mod:`forecasting.features` never lets a filled day be a forecast origin
or the end of a target, which is enough to keep the borrowed price out of any forecast made before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.loaders import COLUMNS

__all__ = ["CleanPanel", "clean_panel"]


@dataclass(frozen=True)
class CleanPanel:
    """A cleaned panel in wide form: ``values[c]`` is a (dates x tickers) array for column ``c``.

    Attributes
    ----------
    dates, tickers
        The shared calendar and the tickers, sorted.
    values
        Column name -> float64 array (n_dates, n_tickers); NaN outside a ticker's life and in long gaps.
    filled
        (n_dates, n_tickers) bool: at least one value of that row was interpolated.
    repaired
        Number of values filled by interpolation.
    unbridged
        Number of values left missing inside a ticker's life because their gap was longer than ``max_gap``.
    closed_dates
        Dates dropped because no ticker had a price (a market-wide outage such as TSE's 2020-10-01).
    """

    dates: pd.DatetimeIndex
    tickers: pd.Index
    values: dict[str, np.ndarray]
    filled: np.ndarray
    repaired: int
    unbridged: int
    closed_dates: pd.DatetimeIndex

    def to_frame(self) -> pd.DataFrame:
        """Back to the canonical long panel, with a boolean ``filled`` column; rows outside a life dropped."""
        idx = pd.MultiIndex.from_product([self.dates, self.tickers], names=["date", "ticker"])
        frame = pd.DataFrame({c: v.reshape(-1) for c, v in self.values.items()}, index=idx)
        frame["filled"] = self.filled.reshape(-1)
        return frame[_life(self.values).reshape(-1)]


def clean_panel(panel: pd.DataFrame, *, max_gap: int = 5) -> CleanPanel:
    """Put every ticker on the shared calendar and interpolate gaps of at most ``max_gap`` days.

    A gap is a run of missing values in one column of one ticker, counted in trading days of the shared
    calendar (a day on which at least one ticker has a price). Gaps longer than ``max_gap``, and values
    before a ticker's first or after its last price, are left missing.

    Examples
    --------
    >>> from forecasting.loaders import load_default
    >>> clean = clean_panel(load_default())
    >>> clean.values["close"].shape == (len(clean.dates), len(clean.tickers))
    True
    """
    if max_gap < 0:
        raise ValueError("max_gap must be >= 0")
    wide = {c: panel[c].unstack("ticker") for c in COLUMNS}
    close = wide["close"]
    all_missing = pd.concat([wide[c].isna().all(axis=1) for c in COLUMNS], axis=1).all(axis=1)
    closed = close.index[all_missing.to_numpy()]
    keep = ~all_missing.to_numpy()
    dates = pd.DatetimeIndex(close.index[keep], name="date")
    tickers = pd.Index(close.columns, name="ticker")

    raw = {c: wide[c].reindex(columns=tickers).to_numpy(dtype="float64")[keep] for c in COLUMNS}
    life = _life(raw)
    values: dict[str, np.ndarray] = {}
    filled = np.zeros(life.shape, dtype=bool)
    repaired = unbridged = 0
    for c in COLUMNS:
        out, did_fill = _interpolate_short_gaps(raw[c], max_gap)
        out[~life] = np.nan
        did_fill &= life
        values[c] = out
        filled |= did_fill
        repaired += int(did_fill.sum())
        unbridged += int((np.isnan(out) & life).sum())
    return CleanPanel(dates, tickers, values, filled, repaired, unbridged, pd.DatetimeIndex(closed))


def _life(raw: dict[str, np.ndarray]) -> np.ndarray:
    """True from a ticker's first to its last day with any price."""
    any_price = np.zeros(raw["close"].shape, dtype=bool)
    for c in COLUMNS[:4]:
        any_price |= ~np.isnan(raw[c])
    started = np.maximum.accumulate(any_price, axis=0)
    not_ended = np.maximum.accumulate(any_price[::-1], axis=0)[::-1]
    return started & not_ended


def _interpolate_short_gaps(a: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise linear interpolation of NaN runs of length <= max_gap that have a value on both sides."""
    n = a.shape[0]
    valid = ~np.isnan(a)
    pos = np.arange(n)[:, None]
    prev = np.maximum.accumulate(np.where(valid, pos, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(valid, pos, n)[::-1], axis=0)[::-1]
    gap = nxt - prev - 1
    fill = ~valid & (prev >= 0) & (nxt < n) & (gap <= max_gap)
    out = a.copy()
    if fill.any():
        rows, cols = np.nonzero(fill)
        p, q = prev[rows, cols], nxt[rows, cols]
        w = (rows - p) / (q - p)
        out[rows, cols] = a[p, cols] + w * (a[q, cols] - a[p, cols])
    return out, fill
