"""Portfolio weights from a covariance matrix: risk parity, long-only minimum variance, multi-asset Kelly, and a
book scaled to a volatility.

Pure functions of numpy arrays, as :mod:`strategies.sizing`; the covariance is the forecast covariance of one
close (:mod:`strategies.covariance`), restricted by the caller to the tickers that trade.

- :func:`risk_parity`: equal risk contributions ``w_i (Sigma w)_i`` (Maillard, Roncalli and Teiletche 2010),
  long-only and fully invested, by Newton's method on Spinu's (2013) strictly convex problem
  ``min 1/2 y' Sigma y - sum b_i log y_i``, whose minimiser ``y`` gives ``w = y / sum(y)`` exactly; it converges
  to machine precision in a handful of steps.
- :func:`min_variance`: ``min w' Sigma w`` with ``sum(w) = 1`` and ``0 <= w <= max_weight``, scipy's SLSQP.
- :func:`mean_variance`: the multi-asset fractional Kelly weight ``fraction * E[R R']^-1 E[R]`` (second-moment
  matrix ``Sigma + mu mu'``: for one asset it is :func:`strategies.sizing.kelly`), per-name and gross caps.
- :func:`scale_to_volatility`: the factor that brings a book's forecast annual volatility to a target.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from strategies.sizing import TRADING_DAYS

__all__ = ["mean_variance", "min_variance", "risk_contributions", "risk_parity", "scale_to_volatility"]


def risk_contributions(weights: ArrayLike, cov: ArrayLike) -> np.ndarray:
    """Each asset's share of the portfolio variance, ``w_i (Sigma w)_i / w' Sigma w`` (they sum to 1).

    Examples
    --------
    >>> risk_contributions([0.5, 0.5], [[0.04, 0.0], [0.0, 0.01]]).round(2).tolist()
    [0.8, 0.2]
    """
    w, c = np.asarray(weights, dtype=float), np.asarray(cov, dtype=float)
    part = w * (c @ w)
    return part / part.sum()


def risk_parity(cov: ArrayLike, *, budget: ArrayLike | None = None, tol: float = 1e-30) -> np.ndarray:
    """Long-only, fully invested weights whose risk contributions are proportional to ``budget`` (equal by default).

    Examples
    --------
    >>> cov = np.array([[0.04, 0.018], [0.018, 0.01]])  # sds 20% and 10%, correlation 0.9
    >>> w = risk_parity(cov)
    >>> w.round(4).tolist(), risk_contributions(w, cov).round(10).tolist()
    ([0.3333, 0.6667], [0.5, 0.5])
    """
    c = np.asarray(cov, dtype=float)
    n = c.shape[0]
    b = np.full(n, 1.0 / n) if budget is None else np.asarray(budget, dtype=float) / np.sum(budget)
    y = 1.0 / np.sqrt(np.diag(c))
    y *= np.sqrt(1.0 / float(y @ c @ y))  # y' Sigma y = 1 = sum(b) holds at the optimum

    def objective(v: np.ndarray) -> float:
        return 0.5 * float(v @ c @ v) - float(b @ np.log(v))

    for _ in range(100):
        grad = c @ y - b / y
        hess = c + np.diag(b / y**2)
        step = np.linalg.solve(hess, grad)
        decrement = float(grad @ step)
        if decrement < tol:
            break
        t = 1.0
        if decrement > 1e-6:  # far from the optimum: backtrack so that y stays positive and f falls enough
            while np.any(y - t * step <= 0) or objective(y - t * step) > objective(y) - 0.25 * t * decrement:
                t *= 0.5
        y = y - t * step
    return y / y.sum()


def min_variance(cov: ArrayLike, *, max_weight: float = 1.0) -> np.ndarray:
    """Long-only minimum-variance weights: ``min w' Sigma w`` with ``sum(w) = 1`` and ``0 <= w <= max_weight``.

    With fewer than ``1 / max_weight`` assets no book meets the cap: it is then ``1 / n`` (equal weights).

    Examples
    --------
    >>> min_variance(np.diag([0.04, 0.01])).round(4).tolist()  # inverse variance when uncorrelated
    [0.2, 0.8]
    >>> min_variance([[0.04, 0.019], [0.019, 0.01]]).round(4).tolist()  # unconstrained it would short the first
    [0.0, 1.0]
    """
    from scipy.optimize import minimize

    c = np.asarray(cov, dtype=float)
    n = c.shape[0]
    cap = max(float(max_weight), 1.0 / n)
    start = 1.0 / np.diag(c)
    start = np.minimum(start / start.sum(), cap)
    start /= start.sum()
    scale = float(np.mean(np.diag(c)))  # a well-scaled objective for SLSQP's tolerance
    res = minimize(
        lambda w: float(w @ c @ w) / scale,
        start,
        jac=lambda w: 2.0 * (c @ w) / scale,
        method="SLSQP",
        bounds=[(0.0, cap)] * n,
        constraints=[{"type": "eq", "fun": lambda w: float(w.sum()) - 1.0, "jac": np.ones_like}],
        options={"ftol": 1e-15, "maxiter": 500},
    )
    if not res.success:
        warnings.warn(
            f"minimum variance: SLSQP did not converge ({res.message}); its last weights are used", stacklevel=2
        )
    w = np.clip(res.x, 0.0, cap)
    return w / w.sum()


def mean_variance(
    mu: ArrayLike, cov: ArrayLike, *, fraction: float = 0.5, max_weight: float = 1.0, max_gross: float = 1.0
) -> np.ndarray:
    """Multi-asset fractional Kelly: ``fraction * (Sigma + mu mu')^-1 mu``, each weight clipped to
    ``+-max_weight``, then the book scaled down so that its gross exposure is at most ``max_gross``.

    ``mu`` and ``Sigma`` are the simple returns' mean vector and covariance. The weight maximises the second-order
    expansion ``w' mu - w' E[R R'] w / 2`` of the expected log growth; with one asset it is the per-asset
    :func:`strategies.sizing.kelly`.

    Examples
    --------
    >>> mean_variance([0.001], [[0.0004]], fraction=1.0, max_weight=5.0, max_gross=5.0).round(4).tolist()
    [2.4938]
    """
    m, c = np.asarray(mu, dtype=float), np.asarray(cov, dtype=float)
    w = fraction * np.linalg.solve(c + np.outer(m, m), m)
    w = np.clip(w, -max_weight, max_weight)
    gross = float(np.abs(w).sum())
    return w * (max_gross / gross) if gross > max_gross > 0 else w


def scale_to_volatility(weights: ArrayLike, cov: ArrayLike, target_vol: float, *, max_gross: float) -> float:
    """The factor that brings the book ``weights`` to an annual forecast volatility of ``target_vol``
    (``sqrt(252 w' Sigma w)``), capped so that the scaled gross exposure stays at most ``max_gross``; 0 for an
    empty book.

    Examples
    --------
    >>> round(scale_to_volatility([1.0], [[0.0004]], 0.10, max_gross=4.0), 4)  # 2% a day is 31.7% a year
    0.315
    """
    w, c = np.asarray(weights, dtype=float), np.asarray(cov, dtype=float)
    vol = float(np.sqrt(max(float(w @ c @ w), 0.0) * TRADING_DAYS))
    gross = float(np.abs(w).sum())
    if not vol > 0 or not gross > 0:
        return 0.0
    return min(target_vol / vol, max_gross / gross)
