"""What a backtest reads: forecasts in the forecaster's format, aligned with the prices they were made from.

Prices are the cleaned panel's, with one change: a value that cleaning interpolated borrows a later price, so
the backtest carries the last real price forward instead and marks the day untradable. Before a ticker's first
price its first price is used and the days are untradable too (no position can exist then).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.cleaning import clean_panel
from forecasting.errors import ConfigError, DataError
from strategies.sizing import usable

__all__ = ["SPLITS", "BacktestData", "align", "load_forecasts"]

FORECAST_COLUMNS = ["date", "ticker", "mean", "variance", "target", "split"]
SPLITS = ("test", "val", "all")


@dataclass(frozen=True)
class BacktestData:
    """Prices and forecasts on one calendar, (n_dates, n_tickers) arrays.

    ``start`` is the index of the first bar that trades (the first forecast origin of the period) and
    ``stop`` one past the last bar (the close after the last origin); bars before ``start`` are history for
    rules that need it.
    """

    dates: pd.DatetimeIndex
    tickers: list[str]
    prices: dict[str, np.ndarray]
    tradable: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    target: np.ndarray
    start: int
    stop: int
    split: str
    unusable: int = 0  # forecasts in the period with a missing mean or a missing, zero or negative variance

    def ticker_frame(self, j: int, first: int) -> pd.DataFrame:
        """The feed frame of ticker ``j`` from bar ``first`` to ``stop``."""
        sl = slice(first, self.stop)
        frame = pd.DataFrame({c: v[sl, j] for c, v in self.prices.items()}, index=self.dates[sl])
        frame["mean"] = self.mean[sl, j]
        frame["variance"] = self.variance[sl, j]
        frame["tradable"] = self.tradable[sl, j].astype(float)
        return frame

    def simple_returns(self) -> np.ndarray:
        """(n_dates, n_tickers) close-to-close simple return ending at each date; 0 on the first."""
        close = self.prices["close"]
        out = np.zeros_like(close)
        out[1:] = close[1:] / close[:-1] - 1.0
        return out


def load_forecasts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Forecasts from ``forecasts.parquet``/``.csv`` or a run folder holding one; checked and sorted."""
    p = Path(path)
    if p.is_dir():
        found = [p / n for n in ("forecasts.parquet", "forecasts.csv") if (p / n).is_file()]
        if not found:
            raise DataError(f"{p}: no forecasts.parquet or forecasts.csv inside; give a qtrade forecast --out folder")
        p = found[0]
    if not p.is_file():
        raise DataError(f"{p}: no such forecasts file; give the forecasts.csv written by qtrade forecast")
    try:
        frame = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any reader failure is one user-facing message
        raise DataError(f"{p}: cannot read forecasts ({type(exc).__name__}); give a CSV or Parquet file") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in FORECAST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{p}: forecasts lack column(s) {', '.join(missing)}; "
                        f"expected {', '.join(FORECAST_COLUMNS)} as qtrade forecast writes them")
    frame = frame[FORECAST_COLUMNS].copy()
    dates = pd.to_datetime(frame["date"], errors="coerce", format="mixed")
    if dates.isna().any():
        bad = frame.loc[dates.isna(), "date"].iloc[0]
        raise DataError(f"{p}: date {bad!r} cannot be read; use ISO dates (2013-01-31)")
    frame["date"] = dates.dt.tz_localize(None) if dates.dt.tz is not None else dates
    frame["ticker"] = frame["ticker"].astype(str)
    frame["split"] = frame["split"].astype(str)
    for col in ("mean", "variance", "target"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    dup = frame.duplicated(["date", "ticker"])
    if dup.any():
        row = frame[dup].iloc[0]
        raise DataError(f"{p}: two forecasts for {row['ticker']} on {row['date']:%Y-%m-%d}; keep one per ticker and day")
    return frame.sort_values(["date", "ticker"], ignore_index=True)


def align(panel: pd.DataFrame, forecasts: pd.DataFrame, *, split: str = "test", max_gap: int = 5,
          source: str = "data") -> BacktestData:
    """Put forecasts on the price calendar and choose the period to trade: the dates whose split is ``split``.

    ``split="all"`` trades every forecast, including those made on the training period (in-sample).
    """
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r} is not known; use one of {', '.join(SPLITS)}")
    clean = clean_panel(panel, max_gap=max_gap)
    tickers = [str(t) for t in clean.tickers]
    unknown = sorted(set(forecasts["ticker"]) - set(tickers))
    if unknown:
        raise DataError(f"forecasts for {', '.join(unknown[:5])} have no prices in {source}; "
                        "pass --data with the data the forecasts were made from")
    period = forecasts if split == "all" else forecasts[forecasts["split"] == split]
    if period.empty:
        have = ", ".join(sorted(forecasts["split"].unique()))
        raise DataError(f"no forecasts in the {split} split (the file has: {have}); choose --split among those")
    dates = clean.dates
    row = dates.get_indexer(pd.DatetimeIndex(period["date"]))
    if (row < 0).any():
        bad = period["date"].iloc[int(np.flatnonzero(row < 0)[0])]
        raise DataError(f"forecast date {bad:%Y-%m-%d} is not a trading day of {source}; "
                        "pass --data with the data the forecasts were made from")
    col = pd.Index(tickers).get_indexer(period["ticker"])
    shape = (len(dates), len(tickers))
    mean, var, target = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    mean[row, col] = period["mean"].to_numpy()
    var[row, col] = period["variance"].to_numpy()
    target[row, col] = period["target"].to_numpy()

    prices, tradable = _real_prices(clean.values, clean.filled)
    _check_targets(prices["close"], tradable, target, source)
    start, last = int(row.min()), int(row.max())
    stop = min(last + 2, len(dates))
    unusable = int((~usable(period["mean"], period["variance"])).sum())
    return BacktestData(dates, tickers, prices, tradable, mean, var, target, start, stop, split, unusable)


def _real_prices(values: dict[str, np.ndarray], filled: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    close = values["close"]
    tradable = np.isfinite(close) & ~filled
    out = {}
    for c in ("open", "high", "low", "close", "volume"):
        v = np.where(tradable, values[c], np.nan)
        frame = pd.DataFrame(v).ffill().bfill()
        out[c] = frame.to_numpy()
    out["volume"] = np.where(tradable, out["volume"], 0.0)
    for c in ("open", "high", "low"):  # a carried day is a flat bar at the carried close
        out[c] = np.where(tradable, out[c], out["close"])
    if not np.isfinite(out["close"]).all():
        raise DataError("a ticker has no price at all; drop it from the data")
    return out, tradable


def _check_targets(close: np.ndarray, tradable: np.ndarray, target: np.ndarray, source: str) -> None:
    """The forecasts' targets must be the close-to-close log returns of these prices."""
    realised = np.full_like(close, np.nan)
    realised[:-1] = np.log(close[1:] / close[:-1])
    both = np.isfinite(target) & np.isfinite(realised) & tradable
    both[:-1] &= tradable[1:]
    both[-1] = False
    if both.any():
        gap = np.abs(target[both] - realised[both])
        if np.median(gap) > 1e-6:
            raise DataError(f"the forecasts' targets are not the close-to-close returns of {source} "
                            f"(median gap {np.median(gap):.2g}); pass --data with the data the forecasts were made from")
