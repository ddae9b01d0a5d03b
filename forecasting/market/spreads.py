"""The bid-ask spread of each ticker estimated from its own daily prices, for data without quotes.

Three estimators from the literature, each over a trailing window of real bars and using nothing printed after
the bar it is reported at:

- ``abdi-ranaldo`` (Abdi and Ranaldo 2017, close-high-low): with ``c`` the log close and ``eta`` the log
  mid-range ``(log H + log L) / 2``, ``s^2 = 4 E[(c_t - eta_t)(c_t - eta_{t+1})]``, the mean of the two-day
  products over the window, set to 0 where negative;
- ``corwin-schultz`` (Corwin and Schultz 2012, high-low): the two-day estimate from the high-low ranges of one
  day and of the two days together, with the paper's overnight adjustment (the second day's range shifted to
  include the first day's close), negative two-day estimates set to 0 and averaged over the window;
- ``edge`` (Ardia, Guidotti and Kroencke 2024, open-high-low-close): two moment conditions on two days' open,
  high, low and close, each with expectation ``s^2``, averaged over the window and combined with weights inverse
  to their variances; 0 where negative;
- ``roll`` (Roll 1984, closes only): ``s = 2 sqrt(-cov(dc_t, dc_{t-1}))`` over the window, 0 where the
  covariance is positive.

``auto`` takes :data:`RANGE_METHOD` (EDGE) for a ticker whose highs and lows carry information (the high above the
low on most real bars) and Roll for one whose file holds only closes (open = high = low = close).
``benchmarks/spread_estimators.py`` measures how well each recovers known spreads on simulated markets (EDGE
best at every level, and the only one within 35% of a 20 bp half-spread on every market without overnight moves;
all fail at 5 bp against a 1.5% daily volatility); the README reports it.

Every estimate is the *full* spread as a share of the price (0.004: 40 bp, a half-spread of 20 bp). The estimate
at row t uses the real bars up to and including t (the close of t is printed when it is reported): a fill at
t that may not see its own bar reads the row before (:func:`last_before`). A pair of bars counts only when both
are real and adjacent rows, so an interpolated gap (a price borrowed from later) never enters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError

__all__ = [
    "METHODS",
    "MIN_PAIRS",
    "RANGE_METHOD",
    "WINDOW",
    "SpreadEstimate",
    "estimate_spreads",
    "last_before",
    "recent_half_spreads",
]

METHODS = ("abdi-ranaldo", "corwin-schultz", "edge", "roll")
RANGE_METHOD = "edge"
"""The estimator ``auto`` takes where highs and lows are real: the best of the simulated markets' figures."""
WINDOW = 126
"""Trailing window in rows (about half a year of trading days): on the simulated markets its daily estimates
missed by a third less than a 63-day window's, with the same median."""
MIN_PAIRS = 21
"""Fewest two-day pairs in the window for an estimate (NaN before: a ticker's first weeks)."""
RANGE_SHARE = 0.5
"""A ticker's highs and lows carry information when the high exceeds the low on more than this share of its real
bars; otherwise its file holds only closes and ``auto`` takes Roll."""


@dataclass(frozen=True)
class SpreadEstimate:
    """Estimated full spreads, (n_dates, n_tickers), as shares of the price; NaN on rows that are not real bars
    and where the window holds fewer than :data:`MIN_PAIRS` pairs. ``methods`` names the estimator of each
    ticker."""

    spread: np.ndarray
    methods: tuple[str, ...]
    window: int


def estimate_spreads(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    real: np.ndarray,
    *,
    method: str = "auto",
    window: int = WINDOW,
    min_pairs: int = MIN_PAIRS,
) -> SpreadEstimate:
    """Each ticker's spread at each real bar from the ``window`` rows up to it (see the module docstring).

    ``real`` marks the bars that are real prices (not interpolated, not carried); only they are used.

    Examples
    --------
    Closes at the bid or the ask (by a coin toss) around a constant mid of 100, with a 1% spread:

    >>> close = 100.0 + 0.5 * np.random.default_rng(0).choice([-1.0, 1.0], (500, 1))
    >>> est = estimate_spreads(close, close, close, close, np.ones((500, 1), bool))
    >>> est.methods, bool(0.008 < np.nanmedian(est.spread) < 0.012)  # only closes: Roll
    (('roll',), True)
    """
    if method != "auto" and method not in METHODS:
        raise ConfigError(f"spread estimator {method!r} is not known; use auto or one of {', '.join(METHODS)}")
    if window < 2 or not 1 <= min_pairs <= window:
        raise ConfigError(f"spread window {window} and minimum pairs {min_pairs}: need 2 <= pairs <= window")
    real = np.asarray(real, dtype=bool) & np.isfinite(close) & (close > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.log(np.where(real, close, np.nan))
        o = np.log(np.where(real, open_, np.nan))
        h = np.log(np.where(real, high, np.nan))
        lo = np.log(np.where(real, low, np.nan))
    # a high below the open or close (or a low above) is a data error: the range holds both
    h = np.fmax(h, np.fmax(c, o))
    lo = np.fmin(lo, np.fmin(c, o))
    methods = tuple(method if method != "auto" else _auto_method(h, lo, real, j) for j in range(close.shape[1]))
    out = np.full(close.shape, np.nan)
    for name in set(methods):
        cols = [j for j, m in enumerate(methods) if m == name]
        if name == "edge":
            out[:, cols] = _edge(o[:, cols], c[:, cols], h[:, cols], lo[:, cols], window, min_pairs)
            continue
        estimator = {"abdi-ranaldo": _abdi_ranaldo, "corwin-schultz": _corwin_schultz, "roll": _roll}[name]
        out[:, cols] = estimator(c[:, cols], h[:, cols], lo[:, cols], window, min_pairs)
    return SpreadEstimate(np.where(real, out, np.nan), methods, window)


def last_before(values: np.ndarray, real: np.ndarray) -> np.ndarray:
    """(n_dates, n_tickers) value at the last real row strictly before each row; NaN where there is none.

    >>> v = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> last_before(v, np.array([[True], [True], [False], [True]]))[:, 0].tolist()
    [nan, 1.0, 2.0, 2.0]
    """
    rows = np.arange(len(values))[:, None]
    last = np.maximum.accumulate(np.where(real, rows, -1), axis=0)
    before = np.vstack([np.full((1, values.shape[1]), -1), last[:-1]])
    picked = np.take_along_axis(values, np.maximum(before, 0), axis=0)
    return np.where(before >= 0, picked, np.nan)


def recent_half_spreads(estimate: SpreadEstimate, days: int = 252) -> np.ndarray:
    """Each ticker's median estimated half-spread (a share of the price) over its last ``days`` real bars with an
    estimate; NaN where it has none."""
    out = np.full(estimate.spread.shape[1], np.nan)
    for j in range(len(out)):
        known = estimate.spread[:, j][np.isfinite(estimate.spread[:, j])]
        if len(known):
            out[j] = float(np.median(known[-days:])) / 2.0
    return out


def _auto_method(h: np.ndarray, lo: np.ndarray, real: np.ndarray, j: int) -> str:
    rows = real[:, j]
    if not rows.any():
        return "roll"
    ranged = float(np.mean(h[rows, j] - lo[rows, j] > 1e-12))
    return RANGE_METHOD if ranged > RANGE_SHARE else "roll"


def _pairs(values: np.ndarray) -> np.ndarray:
    """``values`` shifted down a row: the previous (adjacent) row's value at each row, NaN at the first."""
    out = np.full(values.shape, np.nan)
    out[1:] = values[:-1]
    return out


def _window_mean(x: np.ndarray, window: int, min_pairs: int) -> np.ndarray:
    """Mean of the finite values among the ``window`` rows up to each row; NaN with fewer than ``min_pairs``."""
    return pd.DataFrame(x).rolling(window, min_periods=min_pairs).mean().to_numpy()


def _abdi_ranaldo(c: np.ndarray, h: np.ndarray, lo: np.ndarray, window: int, min_pairs: int) -> np.ndarray:
    """Reported at the second day of each pair (eta_{t+1} is known at its close)."""
    eta = (h + lo) / 2.0
    c0, eta0 = _pairs(c), _pairs(eta)
    products = 4.0 * (c0 - eta0) * (c0 - eta)  # NaN unless both days are real
    s2 = _window_mean(products, window, min_pairs)
    return np.sqrt(np.maximum(s2, 0.0))


KAPPA = 3.0 - 2.0 * np.sqrt(2.0)


def _corwin_schultz(c: np.ndarray, h: np.ndarray, lo: np.ndarray, window: int, min_pairs: int) -> np.ndarray:
    """Reported at the second day of each pair; the second day's range is moved by the overnight gap when it
    does not hold the first day's close (the paper's adjustment)."""
    c0, h0, l0 = _pairs(c), _pairs(h), _pairs(lo)
    up = np.where(lo > c0, lo - c0, 0.0)  # the second day opened above the first close: move its range down
    down = np.where(h < c0, c0 - h, 0.0)  # ... below it: move its range up
    h1, l1 = h - up + down, lo - up + down
    beta = (h0 - l0) ** 2 + (h1 - l1) ** 2
    gamma = (np.fmax(h0, h1) - np.fmin(l0, l1)) ** 2
    with np.errstate(invalid="ignore"):
        alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / KAPPA - np.sqrt(gamma / KAPPA)
    s = 2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha))
    return _window_mean(np.maximum(s, 0.0), window, min_pairs)  # NaN stays NaN


def _edge(o: np.ndarray, c: np.ndarray, h: np.ndarray, lo: np.ndarray, window: int, min_pairs: int) -> np.ndarray:
    """Ardia, Guidotti and Kroencke (2024): two moment conditions on open, high, low and close of two days, each
    with expectation ``s^2``, averaged over the window and combined with weights inverse to their variances."""
    m = (h + lo) / 2.0
    h1, l1, c1, m1 = _pairs(h), _pairs(lo), _pairs(c), _pairs(m)
    ok = np.isfinite(m) & np.isfinite(m1) & np.isfinite(o) & np.isfinite(c1)
    r1, r2, r3, r4, r5 = m - o, o - m1, m - c1, c1 - m1, o - c1
    tau = (h != lo) | (lo != c1)
    parts = {
        "tau": tau,
        "po": (tau & (o != h)).astype(float) + (tau & (o != lo)).astype(float),
        "pc": (tau & (c1 != h1)).astype(float) + (tau & (c1 != l1)).astype(float),
        "r1": r1,
        "r2": r2,
        "r3": r3,
        "r4": r4,
        "r5": r5,
    }
    out = np.full(c.shape, np.nan)
    n, k = c.shape
    if n < window:
        return out
    step = max(1, 2_000_000 // (n * window))  # tickers per chunk: the windows of a chunk take ~16 MB an array
    for a in range(0, k, step):
        cols = slice(a, min(a + step, k))
        w = {
            name: np.lib.stride_tricks.sliding_window_view(
                np.where(ok[:, cols], np.asarray(v, dtype=float)[:, cols], np.nan), window, axis=0
            )
            for name, v in parts.items()
        }
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: NaN
            count = np.isfinite(w["r1"]).sum(axis=-1)
            pt, po, pc = (np.nanmean(w[x], axis=-1) for x in ("tau", "po", "pc"))
            d1 = w["r1"] - w["tau"] * (np.nanmean(w["r1"], axis=-1) / pt)[..., None]
            d3 = w["r3"] - w["tau"] * (np.nanmean(w["r3"], axis=-1) / pt)[..., None]
            d5 = w["r5"] - w["tau"] * (np.nanmean(w["r5"], axis=-1) / pt)[..., None]
            x1 = -4.0 / po[..., None] * d1 * w["r2"] - 4.0 / pc[..., None] * d3 * w["r4"]
            x2 = -4.0 / po[..., None] * d1 * w["r5"] - 4.0 / pc[..., None] * d5 * w["r4"]
            e1, e2 = np.nanmean(x1, axis=-1), np.nanmean(x2, axis=-1)
            v1, v2 = np.nanvar(x1, axis=-1), np.nanvar(x2, axis=-1)
            s2 = np.where(v1 + v2 > 0, (v2 * e1 + v1 * e2) / (v1 + v2), (e1 + e2) / 2.0)
            s = np.where((count >= min_pairs) & (pt > 0) & (po > 0) & (pc > 0), np.sqrt(np.maximum(s2, 0.0)), np.nan)
        out[window - 1 :, cols] = s
    return out


def _roll(c: np.ndarray, h: np.ndarray, lo: np.ndarray, window: int, min_pairs: int) -> np.ndarray:
    """Serial covariance of consecutive close-to-close log returns over the window (three adjacent real bars)."""
    r = c - _pairs(c)
    r0 = _pairs(r)
    both = np.isfinite(r) & np.isfinite(r0)
    a, b = np.where(both, r, np.nan), np.where(both, r0, np.nan)
    cov = _window_mean(a * b, window, min_pairs) - _window_mean(a, window, min_pairs) * _window_mean(
        b, window, min_pairs
    )
    return 2.0 * np.sqrt(np.maximum(-cov, 0.0))
