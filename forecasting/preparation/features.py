"""Stationary features and the target of an execution mode, per ticker, on the shared calendar.

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
ticker's whole past, and a row uses nothing dated after it.

The target of origin t is the return that the execution mode (:mod:`forecasting.preparation.execution`) holds,
log(P_{t+lag+1} / P_{t+lag}) with P its price (close or open): log(Close_{t+2} / Close_{t+1}) for the default
``next-close``, log(Open_{t+2} / Open_{t+1}) for ``next-open`` and log(Close_{t+1} / Close_t) for
``same-close``. It is missing unless both prices are real (neither day was filled by interpolation) and
finite, and day t is never an origin when it was filled (a filled value borrows a later price).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.market.cleaning import CleanPanel
from forecasting.preparation.execution import DEFAULT_EXECUTION, ExecutionMode, execution_mode

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
        float64 (n_tickers, n_dates): the return ``execution`` holds from each origin t,
        log(P_{t+lag+1} / P_{t+lag}); NaN where it is not realised from two real prices.
    origin_ok
        bool (n_tickers, n_dates): the date may be a forecast origin (a real, complete row).
    close
        float64 (n_tickers, n_dates): adjusted close.
    parkinson
        float64 (n_tickers, n_dates): Parkinson's variance proxy, log(High/Low)^2 / (4 ln 2), of the day the
        target spans, aligned with ``target``: day t+lag+1 for a close-to-close target, day t+lag (the day
        after its first open) for an open-to-open one.
    price
        float64 (n_tickers, n_dates): the execution's price P (adjusted close or open) of each date.
    real
        bool (n_tickers, n_dates): the row holds real prices, not values cleaning interpolated (which borrow a
        later price, so no fit may use them: a validation price would reach a training statistic).
    execution
        The name of the execution mode whose return ``target`` holds.
    prices
        ``open``, ``high``, ``low``, ``close`` -> float64 (n_tickers, n_dates): the cleaned prices, for the
        range-based baselines.
    """

    dates: pd.DatetimeIndex
    tickers: pd.Index
    x: np.ndarray
    target: np.ndarray
    origin_ok: np.ndarray
    close: np.ndarray
    parkinson: np.ndarray
    price: np.ndarray
    real: np.ndarray
    execution: str = DEFAULT_EXECUTION
    features: tuple[str, ...] = FEATURES
    prices: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        n, t, f = self.x.shape
        return n, t, f

    @property
    def mode(self) -> ExecutionMode:
        """The :class:`~forecasting.preparation.execution.ExecutionMode` of ``execution``."""
        return execution_mode(self.execution)

    @property
    def entry(self) -> np.ndarray:
        """float64 (n_tickers, n_dates): the price P_{t+lag} the target of origin t starts from (NaN past the end).

        The target's exit price is ``entry * exp(target)``.
        """
        return _lead(self.price, self.mode.lag)


def build_features(clean: CleanPanel, *, execution: str | ExecutionMode = DEFAULT_EXECUTION) -> FeatureCube:
    """Compute :data:`FEATURES` and the target of ``execution`` from a cleaned panel.

    Parameters
    ----------
    clean
        The cleaned panel.
    execution
        The execution mode (:func:`~forecasting.preparation.execution.execution_mode`) whose return is the target.

    Examples
    --------
    >>> from forecasting.market.cleaning import clean_panel
    >>> from forecasting.market.loaders import load_default
    >>> clean = clean_panel(load_default())
    >>> cube = build_features(clean)
    >>> cube.x.shape[2], cube.execution
    (6, 'next-close')
    >>> close = clean.values["close"][:, 0]
    >>> bool(np.isclose(cube.target[0, 0], np.log(close[2] / close[1])))
    True
    >>> bool(np.isclose(build_features(clean, execution="same-close").target[0, 0], np.log(close[1] / close[0])))
    True
    """
    mode = execution_mode(execution)
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
        log_price = np.log(v[mode.price])
        target = _lead(log_price, mode.lag + 1) - _lead(log_price, mode.lag)
        range_day = mode.lag + 1 if mode.price == "close" else mode.lag
        parkinson = _lead(np.log(v["high"] / v["low"]) ** 2, range_day) / (4.0 * np.log(2.0))
    complete = np.isfinite(x).all(axis=-1)
    real = ~filled
    origin_ok = complete & real
    target_ok = _lead(real, mode.lag, fill=False) & _lead(real, mode.lag + 1, fill=False) & np.isfinite(target)
    target = np.where(target_ok, target, np.nan)
    parkinson = np.where(target_ok, parkinson, np.nan)
    close = v["close"].copy()
    return FeatureCube(
        dates=clean.dates,
        tickers=clean.tickers,
        x=x,
        target=target,
        origin_ok=origin_ok,
        close=close,
        parkinson=parkinson,
        price=close if mode.price == "close" else v["open"].copy(),
        real=real,
        execution=mode.name,
        prices={c: v[c] for c in ("open", "high", "low", "close")},
    )


def _lag(a: np.ndarray) -> np.ndarray:
    out = np.full_like(a, np.nan)
    out[:, 1:] = a[:, :-1]
    return out


def _lead(a: np.ndarray, k: int = 1, fill: float | bool = np.nan) -> np.ndarray:
    """``out[:, t] = a[:, t + k]``, ``fill`` past the last date."""
    if k == 0:
        return a.copy()
    out = np.full_like(a, fill)
    out[:, :-k] = a[:, k:]
    return out
