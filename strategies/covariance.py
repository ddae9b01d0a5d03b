"""The forecast covariance at each close: the forecasts' own standard deviations around a shrunk correlation.

``Sigma_t = diag(s_t) R_t diag(s_t)``:

- ``s_t`` is each ticker's forecast standard deviation of the simple held return (from
  :func:`strategies.sizing.simple_moments` of the forecast's mean and variance): the network's variances set
  the risk;
- ``R_t`` is the correlation of past standardised returns, ``z_u = r_u / sigma_(u|u-1)``: ``r_u`` the log return
  between consecutive real closes, ``sigma^2`` RiskMetrics' exponentially weighted mean of ``r^2`` with decay
  :data:`DECAY` up to the close before (seeded with the mean of the first :data:`SEED` squares, whose ``z`` are
  left out). The correlation is taken over the last ``window`` closes up to ``t`` (nothing later; by default
  :data:`WINDOW`), each weighted by ``0.5 ** (age / halflife)`` (``halflife=0``: equal weights), around zero
  mean, and shrunk by Ledoit and Wolf's (2004, "Honey, I shrunk the sample covariance matrix") optimal
  intensity towards the constant correlation (``target="constant"``, the average pairwise correlation off the
  diagonal) or the identity (``target="identity"``). With weights the intensity uses the effective sample size
  ``1 / sum(w^2)``.

A day without a real close (a gap, or before a listing) counts as ``z = 0`` in the window, which pulls that
ticker's correlations towards 0; a ticker with fewer than :data:`MIN_DAYS` real returns in the window is taken
as uncorrelated with the others.

The correlation is computed here rather than with scikit-learn's ``LedoitWolf``: that shrinks a covariance
towards a multiple of the identity only, and it would add a dependency whose import takes 0.4-0.5 s. The closed
form below is some thirty lines, checked in the tests against Ledoit and Wolf's reference code (``covCor.m``).
"""

from __future__ import annotations

import numpy as np

from strategies.sizing import simple_moments

__all__ = [
    "DECAY",
    "HALFLIFE",
    "MIN_DAYS",
    "SEED",
    "WINDOW",
    "forecast_covariance",
    "shrunk_correlation",
    "standardised_returns",
]

DECAY = 0.94  # RiskMetrics' daily decay of the variance that standardises each return
SEED = 20  # returns whose mean square seeds that variance (their own z are left out)
WINDOW = 504  # closes in the correlation's window (two years; risk models keep correlations longer than volatilities)
HALFLIFE = 126  # half-life of the window's weights, in closes (0: equal weights)
MIN_DAYS = 20  # real returns a ticker needs in the window to be correlated with the others
TARGETS = ("constant", "identity")


def standardised_returns(close: np.ndarray, real: np.ndarray) -> np.ndarray:
    """(n_dates, n_tickers) ``z``: each log return between consecutive real closes over the EWMA sd up to the close
    before; NaN where there is no return or not yet a seeded variance.

    Examples
    --------
    >>> c = np.exp(np.cumsum(np.r_[0.0, np.tile([0.01, -0.01], 15)]))[:, None]
    >>> z = standardised_returns(c, np.ones_like(c, bool))
    >>> int(np.isnan(z[:, 0]).sum()), round(float(z[21, 0]), 6)  # the first close and the 20 seeds have none
    (21, 1.0)
    """
    close = np.asarray(close, dtype=float)
    real = np.asarray(real, dtype=bool) & np.isfinite(close)
    r = np.full(close.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        r[1:] = np.where(real[1:] & real[:-1], np.log(close[1:] / close[:-1]), np.nan)
    finite = np.isfinite(r)
    count = np.cumsum(finite, axis=0)  # returns seen up to each row, per ticker
    squares = np.cumsum(np.where(finite, r * r, 0.0), axis=0)
    z = np.full(close.shape, np.nan)
    var = np.full(close.shape[1], np.nan)
    for t in range(len(r)):  # one step of every ticker's recursion at a time
        step = finite[t] & (count[t] > SEED)
        with np.errstate(invalid="ignore", divide="ignore"):
            z[t] = np.where(step & (var > 0), r[t] / np.sqrt(var), np.nan)
        var = np.where(step, DECAY * var + (1.0 - DECAY) * np.where(step, r[t], 0.0) ** 2, var)
        var = np.where(finite[t] & (count[t] == SEED), squares[t] / SEED, var)  # the seed, once 20 are in
    return z


def shrunk_correlation(
    z: np.ndarray, *, halflife: float = HALFLIFE, target: str = "constant"
) -> tuple[np.ndarray, float]:
    """The shrunk correlation of the rows of ``z`` (oldest first, NaN: no return) and the shrinkage intensity.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal((2000, 2)) @ np.linalg.cholesky([[1.0, 0.5], [0.5, 1.0]]).T
    >>> r, delta = shrunk_correlation(z, halflife=0)
    >>> round(float(r[0, 1]), 1), 0 <= delta <= 1
    (0.5, True)
    """
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not known; use constant or identity")
    z = np.asarray(z, dtype=float)
    t, n = z.shape
    ok = np.isfinite(z)
    weights = 0.5 ** (np.arange(t)[::-1] / halflife) if halflife > 0 else np.ones(t)
    weights = weights / weights.sum()
    x = np.where(ok, z, 0.0)
    scale = np.sqrt((x**2 * weights[:, None]).sum(axis=0))
    known = (ok.sum(axis=0) >= MIN_DAYS) & (scale > 0)
    x = np.where(known, x / np.where(known, scale, 1.0), 0.0)
    xw = x * weights[:, None]
    r = xw.T @ x
    np.fill_diagonal(r, 1.0)
    idx = np.flatnonzero(known)
    if len(idx) < 2:
        return np.eye(n), 1.0
    xs, rs = x[:, idx], r[np.ix_(idx, idx)]
    m = len(idx)
    off = ~np.eye(m, dtype=bool)
    rbar = float(rs[off].mean()) if target == "constant" else 0.0
    f = np.full((m, m), rbar)
    np.fill_diagonal(f, 1.0)
    x2 = xs**2
    pi = (x2 * weights[:, None]).T @ x2 - rs**2  # the variance of each sqrt(T) r_ij
    a = ((xs**3) * weights[:, None]).T @ xs  # a_ij = E[x_i^3 x_j]; theta_ii,ij = a_ij - r_ij
    rho = rbar * float(((a - rs)[off]).sum())
    gamma = float(((f - rs) ** 2).sum())
    effective = 1.0 / float((weights**2).sum())
    kappa = (float(pi[off].sum()) - rho) / gamma if gamma > 0 else 0.0
    delta = float(np.clip(kappa / effective, 0.0, 1.0)) if gamma > 0 else 1.0
    out = np.eye(n)
    out[np.ix_(idx, idx)] = delta * f + (1.0 - delta) * rs
    return out, delta


def forecast_covariance(
    mean: np.ndarray,
    variance: np.ndarray,
    z: np.ndarray,
    row: int,
    *,
    window: int = WINDOW,
    halflife: float = HALFLIFE,
    target: str = "constant",
) -> np.ndarray:
    """``diag(s) R diag(s)`` at the close ``row`` of ``z``: ``s`` the forecasts' simple-return sds, ``R`` the shrunk
    correlation of ``z`` over the ``window`` rows up to ``row``; NaN rows and columns where a forecast is unusable.

    Examples
    --------
    >>> z = np.random.default_rng(1).standard_normal((300, 2))
    >>> cov = forecast_covariance(np.zeros(2), np.array([1e-4, 4e-4]), z, 299)
    >>> np.sqrt(np.diag(cov)).round(4).tolist()
    [0.01, 0.02]
    """
    _, var = simple_moments(mean, variance)
    sd = np.sqrt(var)
    corr, _ = shrunk_correlation(z[max(row + 1 - int(window), 0) : row + 1], halflife=halflife, target=target)
    return sd[:, None] * corr * sd[None, :]
