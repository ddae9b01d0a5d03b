"""Scores of mean and variance forecasts of returns, and the Diebold-Mariano test.

All functions take plain arrays of equal length: ``y`` the realised return, ``mean`` and ``var`` the
forecast. Lower is better for losses (MSE, MAE, NLL, CRPS, QLIKE); R-squared, directional accuracy and the
information coefficient are better higher; a coverage is best when it equals its nominal level.

The density scores (NLL, CRPS, PIT, coverage) use the forecast's own predictive distribution: normal by
default, Student-t with the variance ``var`` when ``dof`` is given, or any
:class:`~forecasting.model.distributions.Predictive` (an ensemble's mixture) passed to :func:`score`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from forecasting.model.distributions import Predictive

__all__ = [
    "COVERAGE_LEVELS",
    "crps",
    "diebold_mariano",
    "diebold_mariano_meaning",
    "information_coefficient",
    "nll",
    "pit_histogram",
    "qlike",
    "score",
]

COVERAGE_LEVELS = (0.5, 0.9, 0.95)
SIGNIFICANCE = 0.05  # the level at which a sentence calls a difference more than noise


def nll(y: ArrayLike, mean: ArrayLike, var: ArrayLike, *, dof: ArrayLike | None = None) -> np.ndarray:
    """Negative log-likelihood of each observation: Gaussian, or Student-t with variance ``var`` and ``dof``.

    Examples
    --------
    >>> round(float(nll(np.array([0.0]), np.array([0.0]), np.array([1.0]))[0]), 4)
    0.9189
    >>> round(float(nll(np.array([0.0]), np.array([0.0]), np.array([1.0]), dof=np.array([5.0]))[0]), 4)
    0.7132
    """
    return -Predictive.single(mean, var, dof).logpdf(y)


def crps(y: ArrayLike, mean: ArrayLike, var: ArrayLike, *, dof: ArrayLike | None = None) -> np.ndarray:
    """Continuous ranked probability score of a Gaussian or Student-t forecast, in closed form (Gneiting and
    Raftery 2007; Jordan, Krüger and Lerch 2019 for the t, which has variance ``var``).

    Examples
    --------
    >>> round(float(crps(np.array([0.0]), np.array([0.0]), np.array([1.0]))[0]), 4)
    0.2337
    """
    return Predictive.single(mean, var, dof).crps(y)


def qlike(proxy: np.ndarray, var: np.ndarray) -> np.ndarray:
    """QLIKE loss of a variance forecast against a variance proxy: log(var) + proxy / var (Patton 2011)."""
    return np.log(var) + proxy / var


def pit_histogram(
    y: ArrayLike, mean: ArrayLike, var: ArrayLike, bins: int = 10, *, dof: ArrayLike | None = None
) -> list[int]:
    """Counts of the probability integral transform F(y) in equal bins (F the normal, or the Student-t with
    ``dof``); flat if calibrated."""
    return _histogram(Predictive.single(mean, var, dof).cdf(y), bins)


def _histogram(pit: np.ndarray, bins: int = 10) -> list[int]:
    counts, _ = np.histogram(pit, bins=bins, range=(0.0, 1.0))
    return counts.tolist()


def information_coefficient(frame: pd.DataFrame, column: str) -> float | None:
    """Mean across dates of the Spearman correlation between forecast and return across tickers.

    Dates with fewer than 3 tickers, a constant forecast or return, or a missing value are left out; ``None`` when
    none remain. Each date's Spearman correlation is the Pearson correlation of its average ranks (as
    :func:`scipy.stats.spearmanr` computes it), for every date at once.

    Examples
    --------
    >>> frame = pd.DataFrame({"date": [1, 1, 1, 2, 2, 2], "f": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0],
    ...                       "target": [0.1, 0.3, 0.2, 0.1, 0.2, 0.3]})
    >>> information_coefficient(frame, "f")  # 0.5 on date 1, -1 on date 2
    -0.25
    """
    codes = pd.factorize(frame["date"])[0]
    x, y = frame[column].astype(float), frame["target"].astype(float)
    by = [codes]
    complete = ~(x.isna() | y.isna()).groupby(by).any()
    enough = (x.groupby(by).size() >= 3) & (x.groupby(by).nunique() >= 2) & (y.groupby(by).nunique() >= 2)
    rx, ry = x.groupby(by).rank(method="average"), y.groupby(by).rank(method="average")
    dx, dy = rx - rx.groupby(by).transform("mean"), ry - ry.groupby(by).transform("mean")
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (dx * dy).groupby(by).sum() / np.sqrt((dx**2).groupby(by).sum() * (dy**2).groupby(by).sum())
    values = rho[complete & enough & np.isfinite(rho)]
    return float(values.mean()) if len(values) else None


def score(
    y: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    *,
    hist_mean: np.ndarray,
    parkinson: np.ndarray,
    dof: np.ndarray | None = None,
    predictive: Predictive | None = None,
) -> dict[str, object]:
    """Every score of one model on one set of observations.

    ``hist_mean`` is the historical-mean forecast on the same observations (the R-squared benchmark);
    ``parkinson`` the range-based variance proxy of the target day. The NLL, CRPS, PIT histogram and
    coverages are those of a normal forecast, of a Student-t with ``dof`` degrees of freedom, or of
    ``predictive`` (for an ensemble's mixture, whose ``mean`` and ``var`` are then the point forecasts
    ``mean`` and ``var``); the other scores use ``mean`` and ``var`` alone.
    """
    if dof is not None and predictive is not None:
        raise ValueError("pass the degrees of freedom in dof or inside predictive, not both")
    density = Predictive.single(mean, var, dof) if predictive is None else predictive
    err = y - mean
    sse = float(np.sum(err**2))
    moves = (mean != 0) & (y != 0)
    out: dict[str, object] = {
        "n": len(y),
        "mse": float(np.mean(err**2)),
        "mae": float(np.mean(np.abs(err))),
        "r2_vs_zero": 1.0 - sse / float(np.sum(y**2)),
        "r2_vs_hist_mean": 1.0 - sse / float(np.sum((y - hist_mean) ** 2)),
        "directional_accuracy": float(np.mean(np.sign(mean[moves]) == np.sign(y[moves]))) if moves.any() else None,
        "nll": float(np.mean(-density.logpdf(y))),
        "crps": float(np.mean(density.crps(y))),
        "qlike_sq_return": float(np.mean(qlike(y**2, var))),
        "pit_histogram": _histogram(density.cdf(y)),
    }
    for level in COVERAGE_LEVELS:
        out[f"coverage_{int(level * 100)}"] = density.coverage(y, level)
    ok = np.isfinite(parkinson)
    out["qlike_parkinson"] = float(np.mean(qlike(parkinson[ok], var[ok]))) if ok.any() else None
    return out


def diebold_mariano(
    loss_a: ArrayLike, loss_b: ArrayLike, *, lags: int | None = None, horizon: int = 1
) -> dict[str, float | int]:
    """Diebold-Mariano test of equal expected loss with the Harvey, Leybourne and Newbold (1997) correction.

    ``loss_a`` and ``loss_b`` are time series of losses (for a panel: the cross-sectional mean loss per
    date). A negative statistic favours ``a``. ``horizon`` is the number of steps from the forecast's
    information to the end of its target (1 when the target is the next day's return; 2 when the target
    starts a day after the forecast is made), so that forecast errors are MA(horizon - 1) at best.

    The long-run variance of the loss differential ``d`` is Newey-West's, with Bartlett weights and ``lags``
    autocovariances (default floor(n^(1/3)), at least horizon - 1), rather than HLN's rectangular window of
    horizon - 1 autocovariances. That window is right only when ``d`` is (horizon - 1)-dependent, as it is for
    optimal forecasts; ours are losses of return forecasts, whose squared errors inherit volatility
    clustering, so ``d`` stays autocorrelated for many days and a window of 0 or 1 lags would understate its
    variance (the rectangular estimate can even be negative). The HLN factor
    ``sqrt((n + 1 - 2 h + h (h - 1) / n) / n)`` and the t(n - 1) reference are then applied as HLN do.

    Returns
    -------
    dict
        ``statistic`` and ``p_value`` (two-sided): HLN-corrected, from t(n - 1); ``statistic_uncorrected`` and
        ``p_value_uncorrected``: Diebold and Mariano's, from the normal; ``mean_difference`` (mean of a - b),
        ``n``, ``lags``, ``horizon``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(0, 1, 500); b = a + 0.5 + rng.normal(0, 0.1, 500)
    >>> diebold_mariano(a, b)["p_value"] < 0.001
    True
    """
    if horizon < 1:
        raise ValueError(f"horizon {horizon} must be 1 or more: the steps from the forecast to its target")
    d = np.asarray(loss_a, dtype=float) - np.asarray(loss_b, dtype=float)
    n = len(d)
    lags = max(int(n ** (1 / 3)), horizon - 1) if lags is None else lags
    dc = d - d.mean() if n else d
    lrv = float(dc @ dc) / n if n else 0.0
    for k in range(1, min(lags, n - 1) + 1):
        w = 1 - k / (lags + 1)
        lrv += 2 * w * float(dc[k:] @ dc[:-k]) / n
    stat = d.mean() / math.sqrt(lrv / n) if lrv > 0 and n > 1 else 0.0
    factor = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n if n else 0.0
    hln = stat * math.sqrt(factor) if factor > 0 else 0.0
    return {
        "statistic": float(hln),
        "p_value": float(2 * stats.t.sf(abs(hln), n - 1)) if hln != 0 else 1.0,
        "statistic_uncorrected": float(stat),
        "p_value_uncorrected": float(2 * stats.norm.sf(abs(stat))),
        "mean_difference": float(d.mean()) if n else 0.0,
        "n": n,
        "lags": lags,
        "horizon": horizon,
    }


def _p_words(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def diebold_mariano_meaning(
    nll: Mapping[str, Any],
    squared_error: Mapping[str, Any] | None = None,
    *,
    model: str,
    against: str,
    significance: float = SIGNIFICANCE,
) -> str:
    """One sentence that says what a Diebold-Mariano test on the log score (and on squared error) means.

    ``nll`` and ``squared_error`` are results of :func:`diebold_mariano` of ``model``'s losses against
    ``against``'s (a negative statistic favours ``model``); a p-value below ``significance`` is called more than
    noise.

    Examples
    --------
    >>> win = {"statistic": -2.6, "p_value": 0.0094}
    >>> tie = {"statistic": 0.4, "p_value": 0.69}
    >>> for part in diebold_mariano_meaning(win, tie, model="the LSTM", against="HAR").split("; "):
    ...     print(part)
    The log score of the LSTM is better than that of HAR (DM p = 0.0094): more than noise
    on squared error they cannot be told apart (p = 0.69).
    >>> diebold_mariano_meaning(tie, model="the LSTM", against="HAR")
    'The log scores of the LSTM and HAR cannot be told apart (DM p = 0.69).'
    """

    def verdict(test: Mapping[str, Any]) -> str:
        if float(test["p_value"]) >= significance or float(test["statistic"]) == 0:
            return "tie"
        return "better" if float(test["statistic"]) < 0 else "worse"

    p = _p_words(float(nll["p_value"]))
    first = verdict(nll)
    if first == "tie":
        out = f"The log scores of {model} and {against} cannot be told apart (DM {p})"
    else:
        out = f"The log score of {model} is {first} than that of {against} (DM {p}): more than noise"
    if squared_error is None:
        return out + "."
    q = _p_words(float(squared_error["p_value"]))
    second = verdict(squared_error)
    if second == "tie":
        return f"{out}; on squared error they cannot be told apart ({q})."
    return f"{out}; on squared error {model} is {second} ({q})."
