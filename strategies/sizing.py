"""Sizing rules: pure functions from forecast means and variances to target weights.

A weight is the share of equity held in one asset at the close where it is set (negative: short). Every rule
takes numpy arrays (or scalars) of the daily log-return forecast's ``mean`` and ``variance`` and returns
weights of the same shape. Where a forecast cannot be used (a missing mean, a variance that is missing, zero
or negative) the weight is NaN, which the backtest reads as "no trade that day": the position is kept.

None of these functions knows about backtrader; they are tested against hand-computed weights.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "TRADING_DAYS",
    "betsize",
    "cap_gross",
    "kelly",
    "longshort",
    "usable",
    "threshold",
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


def kelly(mean: ArrayLike, variance: ArrayLike, *, fraction: float = 0.5, max_leverage: float = 1.0) -> np.ndarray:
    """Fractional Kelly: ``fraction * mean / variance``, clipped to [-max_leverage, max_leverage].

    Examples
    --------
    >>> kelly([0.001, -0.002], [0.0004, 0.0004], fraction=0.5, max_leverage=2.0)
    array([ 1.25, -2.  ])
    """
    m, v, ok = _prepared(mean, variance)
    w = np.clip(fraction * m / v, -max_leverage, max_leverage)
    return np.where(ok, w, np.nan)


def voltarget(
    mean: ArrayLike,
    variance: ArrayLike,
    *,
    target_vol: float = 0.10,
    threshold: float = 0.0,
    max_leverage: float = 1.0,
) -> np.ndarray:
    """Volatility targeting: ``sign(mean) * daily target volatility / forecast volatility``.

    ``target_vol`` is annual (0.10 = 10 % a year, divided by sqrt(252) for a day). Positions whose
    ``|mean| / sd`` is below ``threshold`` are flat. The weight is clipped to ``max_leverage``.

    Examples
    --------
    >>> voltarget([0.001], [0.01**2], target_vol=0.1 * 252**0.5)
    array([1.])
    """
    m, v, ok = _prepared(mean, variance)
    sd = np.sqrt(v)
    w = np.sign(m) * (target_vol / np.sqrt(TRADING_DAYS)) / sd
    w = np.where(np.abs(m) / sd < threshold, 0.0, np.clip(w, -max_leverage, max_leverage))
    return np.where(ok, w, np.nan)


def threshold(mean: ArrayLike, variance: ArrayLike, *, k: float = 0.05, weight: float = 1.0) -> np.ndarray:
    """Long ``weight`` when ``mean / sd > k``, short ``weight`` when it is below ``-k``, flat otherwise.

    Examples
    --------
    >>> threshold([0.002, -0.002, 0.0001], [0.0001, 0.0001, 0.0001], k=0.1)
    array([ 1., -1.,  0.])
    """
    m, v, ok = _prepared(mean, variance)
    score = m / np.sqrt(v)
    w = np.where(score > k, weight, np.where(score < -k, -weight, 0.0))
    return np.where(ok, w, np.nan)


def betsize(mean: ArrayLike, variance: ArrayLike, *, max_leverage: float = 1.0) -> np.ndarray:
    """Lopez de Prado's probability sizing (Advances in Financial Machine Learning, ch. 10).

    ``p = Phi(mean / sd)`` is the forecast's probability of a rise; ``z = (p - 1/2) / sqrt(p (1 - p))``;
    ``w = max_leverage * (2 Phi(z) - 1)``.

    Examples
    --------
    >>> betsize([0.0], [1e-4]).tolist()
    [0.0]
    >>> round(float(betsize([0.01], [1e-4])[0]), 4)  # p = Phi(1) = 0.8413, z = 0.3413 / 0.3654 = 0.9343
    0.6498
    """
    from scipy import stats  # here, not at the top: `qtrade strategies` must answer at once

    m, v, ok = _prepared(mean, variance)
    p = stats.norm.cdf(m / np.sqrt(v))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    z = (p - 0.5) / np.sqrt(p * (1 - p))
    w = max_leverage * (2 * stats.norm.cdf(z) - 1)
    return np.where(ok, w, np.nan)


def longshort(mean: ArrayLike, variance: ArrayLike, *, k: int = 1, scheme: str = "equal") -> np.ndarray:
    """Cross-sectional, dollar-neutral: long the ``k`` best ``mean / sd``, short the ``k`` worst.

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
    m, v, ok = _prepared(mean, variance)
    w = np.where(ok, 0.0, np.nan)
    idx = np.flatnonzero(ok)
    k = min(int(k), len(idx) // 2)
    if k < 1:
        return w
    score = m[idx] / np.sqrt(v[idx])
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
