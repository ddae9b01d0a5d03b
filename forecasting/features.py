"""Stationary features and the next-day target, per ticker, on the shared calendar.

The original project fed Open, High, Low, Close, Volume and the daily range. Prices are not stationary and
their levels differ across tickers, so qtrade feeds each as a log ratio (the choice is documented in the
README):

==============  ==========================================  =================================
feature         formula (row t, previous row t-1)           what it carries
==============  ==========================================  =================================
``open``        log(Open_t / Close_{t-1})                   the overnight gap
``high``        log(High_t / Close_{t-1})                   the upside excursion
``low``         log(Low_t / Close_{t-1})                    the downside excursion
``close``       log(Close_t / Close_{t-1})                  the day's return
``volume``      log((Volume_t + 1) / (Volume_{t-1} + 1))    the change in activity
``range``       log(High_t / Low_t)                         the daily range (Parkinson's input)
==============  ==========================================  =================================

Every feature is a ratio of prices of one ticker, so it does not change when a split adjustment rescales a
ticker's whole past, and a row uses nothing dated after it. The target of origin t is
log(Close_{t+1} / Close_t); it is missing when day t or t+1 was filled by interpolation, and day t is never
an origin when it was filled (a filled value borrows a later price).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.cleaning import CleanPanel

__all__ = ["FEATURES", "FeatureCube", "build_features"]

FEATURES = ("open", "high", "low", "close", "volume", "range")


@dataclass(frozen=True)
class FeatureCube:
    """Features, targets and the facts the evaluation needs, as (tickers x dates) arrays.

    Attributes
    ----------
    x
        float32 (n_tickers, n_dates, n_features), unscaled; NaN where a value is missing.
    target
        float64 (n_tickers, n_dates): the log return from the close of a date to the next close.
    origin_ok
        bool (n_tickers, n_dates): the date may be a forecast origin (a real, complete row).
    close
        float64 (n_tickers, n_dates): adjusted close, for price-level scores.
    parkinson
        float64 (n_tickers, n_dates): Parkinson's variance proxy of the *next* day,
        log(High_{t+1}/Low_{t+1})^2 / (4 ln 2), aligned with ``target``.
    """

    dates: pd.DatetimeIndex
    tickers: pd.Index
    x: np.ndarray
    target: np.ndarray
    origin_ok: np.ndarray
    close: np.ndarray
    parkinson: np.ndarray
    features: tuple[str, ...] = FEATURES

    @property
    def shape(self) -> tuple[int, int, int]:
        n, t, f = self.x.shape
        return n, t, f


def build_features(clean: CleanPanel) -> FeatureCube:
    """Compute :data:`FEATURES` and the next-day target from a cleaned panel.

    Examples
    --------
    >>> from forecasting.cleaning import clean_panel
    >>> from forecasting.loaders import load_default
    >>> cube = build_features(clean_panel(load_default()))
    >>> cube.x.shape[2]
    6
    """
    v = {c: a.T for c, a in clean.values.items()}  # (tickers, dates)
    filled = clean.filled.T
    with np.errstate(divide="ignore", invalid="ignore"):
        prev_close = _lag(v["close"])
        cols = [
            np.log(v["open"] / prev_close),
            np.log(v["high"] / prev_close),
            np.log(v["low"] / prev_close),
            np.log(v["close"] / prev_close),
            np.log((v["volume"] + 1.0) / (_lag(v["volume"]) + 1.0)),
            np.log(v["high"] / v["low"]),
        ]
        x = np.stack(cols, axis=-1).astype(np.float32)
        target = _lead(np.log(v["close"])) - np.log(v["close"])
        parkinson = _lead(np.log(v["high"] / v["low"]) ** 2) / (4.0 * np.log(2.0))
    complete = np.isfinite(x).all(axis=-1)
    real = ~filled
    origin_ok = complete & real
    target_ok = real & _lead(real, fill=False) & np.isfinite(target)
    target = np.where(target_ok, target, np.nan)
    parkinson = np.where(target_ok, parkinson, np.nan)
    return FeatureCube(
        dates=clean.dates,
        tickers=clean.tickers,
        x=x,
        target=target,
        origin_ok=origin_ok,
        close=v["close"].copy(),
        parkinson=parkinson,
    )


def _lag(a: np.ndarray) -> np.ndarray:
    out = np.full_like(a, np.nan)
    out[:, 1:] = a[:, :-1]
    return out


def _lead(a: np.ndarray, fill: float | bool = np.nan) -> np.ndarray:
    out = np.full_like(a, fill)
    out[:, :-1] = a[:, 1:]
    return out
