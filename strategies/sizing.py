"""Sizing rules: pure functions from forecast means and variances to target weights.

A weight is the share of equity held in one asset at the close where it is set (negative: short). Every rule
takes numpy arrays (or scalars) of the daily log-return forecast's ``mean`` and ``variance`` and returns
weights of the same shape. Where a forecast cannot be used (a missing mean, a variance that is missing, zero
or negative, or one so large that the simple return's moments overflow) the weight is NaN, which the backtest
reads as "no trade that day": the position is kept.

The forecast is Gaussian in the log return ``X``, but what a weight earns is the simple return
``R = exp(X) - 1``, which is log-normal: its mean ``mu = exp(m + v / 2) - 1`` exceeds ``m`` by about ``v / 2``
(see :func:`simple_moments`). The rules that size by how much is expected (:func:`kelly`, :func:`voltarget`,
:func:`volmanaged`) therefore use ``R``'s mean and variance; sizing by the log mean alone halves a full-Kelly
weight when ``m = v / 2``. The rules that act on the probability of a rise (:func:`threshold`,
:func:`betsize`, :func:`longshort`) take it from the forecast's own density when given ``prob_rise``
(:meth:`strategies.registry.Bar.prob_rise`: Student-t, normal or an ensemble's mixture); without it they take
``Phi(mean / sd)`` of the log return, exact for a normal forecast since ``R > 0`` exactly when ``X > 0``.

None of these functions knows about backtrader; they are tested against hand-computed weights.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "TRADING_DAYS",
    "betsize",
    "cap_gross",
    "kelly",
    "longshort",
    "simple_moments",
    "threshold",
    "usable",
    "volmanaged",
    "volmanaged_scale",
    "voltarget",
]

TRADING_DAYS = 252


def usable(mean: ArrayLike, variance: ArrayLike) -> np.ndarray:
    """True where a forecast can size a position: a finite mean and a finite, positive variance."""
    m, v = np.asarray(mean, dtype=float), np.asarray(variance, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(m) & np.isfinite(v) & (v > 0)


def _prepared(mean: ArrayLike, variance: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, v = np.asarray(mean, dtype=float), np.asarray(variance, dtype=float)
    ok = usable(m, v)
    return np.where(ok, m, 0.0), np.where(ok, v, 1.0), ok


def simple_moments(mean: ArrayLike, variance: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the simple return ``R = exp(X) - 1`` when the log return ``X ~ N(mean, variance)``.

    ``mu = exp(m + v / 2) - 1`` and ``var = exp(2 m + v) (exp(v) - 1)``, both through ``expm1`` so that daily
    figures keep their precision. Both are NaN where the forecast is not :func:`usable` or lies beyond
    ``|mean| <= 50`` and ``variance <= 50`` (log units: far past any market, where the moments would overflow).

    Examples
    --------
    >>> mu, var = simple_moments([0.0002, np.nan], [0.0004, 0.0004])
    >>> mu.round(8).tolist(), var.round(8).tolist()  # the log mean 0.0002 is a simple mean of 0.0004
    ([0.00040008, nan], [0.0004004, nan])
    """
    mu, var, ok = _simple(mean, variance)
    return np.where(ok, mu, np.nan), np.where(ok, var, np.nan)


def _simple(mean: ArrayLike, variance: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mu``, ``var`` and where they are usable; elsewhere ``mu = 0`` and ``var = 1``, harmless to divide by.

    Forecasts beyond ``|mean| <= 50`` or ``variance <= 50`` (log units: far past any market) are not usable,
    so the exponentials below never overflow and need no error-state guard on the backtest's hot path.
    """
    m, v = np.asarray(mean, dtype=float), np.asarray(variance, dtype=float)
    ok = (np.abs(m) <= 50.0) & (v > 0) & (v <= 50.0)  # False for NaN
    m, v = np.where(ok, m, 0.0), np.where(ok, v, 1.0)
    mu = np.expm1(m + 0.5 * v)
    var = np.exp(2.0 * m + v) * np.expm1(v)
    return mu, var, ok


def kelly(mean: ArrayLike, variance: ArrayLike, *, fraction: float = 0.5, max_leverage: float = 1.0) -> np.ndarray:
    """Fractional Kelly on the simple return: ``fraction * mu / (var + mu**2)``, clipped to +-``max_leverage``.

    ``mu`` and ``var`` are the simple return's mean and variance (:func:`simple_moments`); ``var + mu**2`` is
    its second moment ``E[R**2]``, and ``mu / E[R**2]`` is the weight that maximises the second-order expansion
    ``w mu - w**2 E[R**2] / 2`` of the expected log growth ``E[log(1 + w R)]``. For ``|mean|`` up to 0.001 and
    an sd up to 3 % a day it is within 0.5 % of the growth-optimal weight found by quadrature (about 1 % at
    6 % a day); ``mu / var`` overshoots a levered optimum (by 0.8 % at mean 0.001, variance 0.0001), and the
    log ``mean / variance`` is half the optimum when ``mean = variance / 2``.

    Examples
    --------
    >>> kelly([0.0002, -0.0001, -0.002], [0.0004] * 3, fraction=1.0, max_leverage=2.0).round(4)
    array([ 0.9988,  0.2499, -2.    ])

    A log mean of -0.0001 at 2 % daily volatility is a simple mean of +0.0001: Kelly is long.
    """
    mu, var, ok = _simple(mean, variance)
    w = np.clip(fraction * mu / (var + mu**2), -max_leverage, max_leverage)
    return np.where(ok, w, np.nan)


def voltarget(
    mean: ArrayLike, variance: ArrayLike, *, target_vol: float = 0.10, threshold: float = 0.0, max_leverage: float = 1.0
) -> np.ndarray:
    """Volatility targeting: ``sign(mu) * daily target volatility / sd`` of the simple return.

    ``mu`` and ``sd`` are the simple return's mean and standard deviation (:func:`simple_moments`).
    ``target_vol`` is annual (0.10 = 10 % a year, divided by sqrt(252) for a day). Positions whose
    ``|mu| / sd`` is below ``threshold`` are flat. The weight is clipped to ``max_leverage``.

    Examples
    --------
    >>> voltarget([0.001, -0.0001], [0.0004, 0.0004], target_vol=0.1 * 252**0.5, max_leverage=10.0).round(4)
    array([4.9935, 4.999 ])

    The second forecast's log mean is negative but its simple mean is positive: long.
    """
    mu, var, ok = _simple(mean, variance)
    sd = np.sqrt(var)
    w = np.sign(mu) * (target_vol / np.sqrt(TRADING_DAYS)) / sd
    w = np.where(np.abs(mu) / sd < threshold, 0.0, np.clip(w, -max_leverage, max_leverage))
    return np.where(ok, w, np.nan)


def volmanaged(mean: ArrayLike, variance: ArrayLike, *, c: float, max_leverage: float = 2.0) -> np.ndarray:
    """Volatility-managed long position (Moreira and Muir, 2017): ``min(c / sd, max_leverage)``, never short.

    ``sd`` is the forecast's simple-return standard deviation (:func:`simple_moments`); the mean is not used
    except that a forecast without one is not :func:`usable`. ``c`` is usually set with
    :func:`volmanaged_scale` on the training period, so that the average weight there is 1.

    Examples
    --------
    >>> volmanaged([0.0, 0.0, 0.0], [1e-4, 4e-4, 1e-6], c=0.01).round(4)  # sd 0.0100, 0.0200, 0.0010
    array([0.9999, 0.4999, 2.    ])
    """
    _, var, ok = _simple(mean, variance)
    w = np.minimum(c / np.sqrt(var), max_leverage)
    return np.where(ok, w, np.nan)


def volmanaged_scale(mean: ArrayLike, variance: ArrayLike, *, max_leverage: float = 2.0) -> float:
    """The ``c`` of :func:`volmanaged` whose average weight over these (training) forecasts is 1.

    Solves ``mean(min(c / sd, max_leverage)) = 1`` over the usable forecasts by bisection. When
    ``max_leverage`` is below 1 no ``c`` reaches an average of 1: it warns and returns the smallest ``c`` that
    puts every weight at the cap. NaN when no forecast is usable.

    Examples
    --------
    >>> c = volmanaged_scale([0.0, 0.0], [1e-4, 4e-4])  # sd about 0.01 and 0.02: c / 0.01 + c / 0.02 = 2
    >>> round(c, 4), round(float(volmanaged([0.0, 0.0], [1e-4, 4e-4], c=c).mean()), 12)
    (0.0133, 1.0)
    """
    _, var, ok = _simple(mean, variance)
    sd = np.sqrt(var[ok])
    if sd.size == 0:
        return float("nan")
    hi = max_leverage * float(sd.max())  # every weight at the cap: the largest average there is
    if max_leverage <= 1:
        if max_leverage < 1:
            warnings.warn(
                f"volmanaged: with max_leverage={max_leverage} the average weight cannot reach 1; "
                f"c puts every weight at the cap (raise max_leverage to 1 or more to avoid this)",
                stacklevel=2,
            )
        return hi
    lo = 0.0
    while hi - lo > 1e-15 * hi:
        mid = 0.5 * (lo + hi)
        if np.minimum(mid / sd, max_leverage).mean() < 1:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def threshold(
    mean: ArrayLike, variance: ArrayLike, *, k: float = 0.05, weight: float = 1.0, prob_rise: ArrayLike | None = None
) -> np.ndarray:
    """Long ``weight`` when the score is above ``k``, short ``weight`` when it is below ``-k``, flat otherwise.

    The score is ``Phi^-1(p)``, ``p`` the forecast's probability of a rise (``prob_rise``): for a normal forecast
    exactly the log return's ``mean / sd``, which is the score when ``prob_rise`` is not given.

    Examples
    --------
    >>> threshold([0.002, -0.002, 0.0001], [0.0001, 0.0001, 0.0001], k=0.1)
    array([ 1., -1.,  0.])
    """
    score, ok = _rise_score(mean, variance, prob_rise)
    w = np.where(score > k, weight, np.where(score < -k, -weight, 0.0))
    return np.where(ok, w, np.nan)


def _rise_score(mean: ArrayLike, variance: ArrayLike, prob_rise: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    """``Phi^-1`` of the probability of a rise (``mean / sd`` without ``prob_rise``) and where it is usable."""
    m, v, ok = _prepared(mean, variance)
    if prob_rise is None:
        return m / np.sqrt(v), ok
    from scipy import stats

    p = np.asarray(prob_rise, dtype=float)
    ok = ok & np.isfinite(p)
    return np.where(ok, stats.norm.ppf(np.where(ok, p, 0.5)), 0.0), ok


def betsize(
    mean: ArrayLike, variance: ArrayLike, *, max_leverage: float = 1.0, prob_rise: ArrayLike | None = None
) -> np.ndarray:
    """Lopez de Prado's probability sizing (Advances in Financial Machine Learning, ch. 10).

    ``p`` is the forecast's probability of a rise: ``prob_rise`` from its own density, or ``Phi(mean / sd)``
    with the log return's mean and sd (exact for a normal forecast: the simple return is positive when the log
    return is); ``z = (p - 1/2) / sqrt(p (1 - p))``; ``w = max_leverage * (2 Phi(z) - 1)``.

    Examples
    --------
    >>> betsize([0.0], [1e-4]).tolist()
    [0.0]
    >>> round(float(betsize([0.01], [1e-4])[0]), 4)  # p = Phi(1) = 0.8413, z = 0.3413 / 0.3654 = 0.9343
    0.6498
    """
    from scipy import stats  # here, not at the top: `qtrade strategies` must answer at once

    score, ok = _rise_score(mean, variance, prob_rise)
    p = stats.norm.cdf(score) if prob_rise is None else np.where(ok, np.asarray(prob_rise, dtype=float), 0.5)
    p = np.clip(p, 1e-12, 1 - 1e-12)
    z = (p - 0.5) / np.sqrt(p * (1 - p))
    w = max_leverage * (2 * stats.norm.cdf(z) - 1)
    return np.where(ok, w, np.nan)


def longshort(
    mean: ArrayLike, variance: ArrayLike, *, k: int = 1, scheme: str = "equal", prob_rise: ArrayLike | None = None
) -> np.ndarray:
    """Cross-sectional, dollar-neutral: long the ``k`` most likely to rise, short the ``k`` least likely.

    The ranking is by the forecast's probability of a rise, ``prob_rise`` (without it, the log return's
    ``mean / sd``, the same ranking for normal forecasts).

    Each side holds half the equity. ``scheme="equal"`` splits a side equally; ``scheme="linear"`` weights
    ranks linearly from 2 (the most extreme) to 1 (the k-th), as the JPX competition's score does. Tickers
    without a usable forecast get NaN (no trade); with fewer than 2 usable tickers every weight is 0; with
    fewer than ``2 k``, ``k`` shrinks to half of them.

    Examples
    --------
    >>> longshort([0.003, -0.001, 0.002, -0.004], [1e-4] * 4, k=1)
    array([ 0.5,  0. ,  0. , -0.5])
    >>> longshort([0.004, 0.003, -0.003, -0.004], [1e-4] * 4, k=2, scheme="linear").round(4).tolist()
    [0.3333, 0.1667, -0.1667, -0.3333]
    """
    if scheme not in ("equal", "linear"):
        raise ValueError(f"scheme {scheme!r} is not known; use equal or linear")
    rank, ok = _rise_score(mean, variance, prob_rise)
    w = np.where(ok, 0.0, np.nan)
    idx = np.flatnonzero(ok)
    k = min(int(k), len(idx) // 2)
    if k < 1:
        return w
    score = rank[idx]
    order = idx[np.argsort(-score, kind="stable")]
    side = np.ones(k) if scheme == "equal" else np.linspace(2.0, 1.0, k) if k > 1 else np.ones(1)
    side = 0.5 * side / side.sum()
    w[order[:k]] = side
    w[order[::-1][:k]] = -side
    return w


def cap_gross(weights: ArrayLike, max_gross: float) -> np.ndarray:
    """Scale weights down so that the sum of their absolute values is at most ``max_gross``; NaN kept.

    Examples
    --------
    >>> cap_gross([1.5, -1.5, np.nan], 2.0).tolist()
    [1.0, -1.0, nan]
    """
    w = np.asarray(weights, dtype=float)
    gross = float(np.nansum(np.abs(w)))
    return w * (max_gross / gross) if gross > max_gross > 0 else w.copy()
