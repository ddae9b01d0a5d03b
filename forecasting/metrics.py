"""Scores of mean and variance forecasts of returns, and the Diebold-Mariano test.

All functions take plain arrays of equal length: ``y`` the realised return, ``mean`` and ``var`` the
forecast. Lower is better for losses (MSE, MAE, NLL, CRPS, QLIKE); R-squared, directional accuracy and the
information coefficient are better higher; a coverage is best when it equals its nominal level.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "COVERAGE_LEVELS",
    "crps",
    "diebold_mariano",
    "information_coefficient",
    "nll",
    "pit_histogram",
    "qlike",
    "score",
]

COVERAGE_LEVELS = (0.5, 0.9, 0.95)


def nll(y: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Gaussian negative log-likelihood of each observation.

    Examples
    --------
    >>> round(float(nll(np.array([0.0]), np.array([0.0]), np.array([1.0]))[0]), 4)
    0.9189
    """
    return 0.5 * (np.log(2 * np.pi * var) + (y - mean) ** 2 / var)


def crps(y: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of a Gaussian forecast (closed form, Gneiting and Raftery 2007).

    Examples
    --------
    >>> round(float(crps(np.array([0.0]), np.array([0.0]), np.array([1.0]))[0]), 4)
    0.2337
    """
    sd = np.sqrt(var)
    z = (y - mean) / sd
    return sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))


def qlike(proxy: np.ndarray, var: np.ndarray) -> np.ndarray:
    """QLIKE loss of a variance forecast against a variance proxy: log(var) + proxy / var (Patton 2011)."""
    return np.log(var) + proxy / var


def pit_histogram(y: np.ndarray, mean: np.ndarray, var: np.ndarray, bins: int = 10) -> list[int]:
    """Counts of the probability integral transform Phi((y - mean) / sd) in equal bins; flat if calibrated."""
    pit = stats.norm.cdf((y - mean) / np.sqrt(var))
    counts, _ = np.histogram(pit, bins=bins, range=(0.0, 1.0))
    return counts.tolist()


def information_coefficient(frame: pd.DataFrame, column: str) -> float | None:
    """Mean across dates of the Spearman correlation between forecast and return across tickers.

    Dates with fewer than 3 tickers or a constant forecast are left out; ``None`` when none remain.
    """
    values = []
    for _, g in frame.groupby("date", sort=False):
        if len(g) < 3 or g[column].nunique() < 2 or g["target"].nunique() < 2:
            continue
        rho = stats.spearmanr(g[column], g["target"]).statistic
        if np.isfinite(rho):
            values.append(rho)
    return float(np.mean(values)) if values else None


def score(
    y: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    *,
    hist_mean: np.ndarray,
    parkinson: np.ndarray,
) -> dict[str, object]:
    """Every score of one model on one set of observations.

    ``hist_mean`` is the historical-mean forecast on the same observations (the R-squared benchmark);
    ``parkinson`` the range-based variance proxy of the target day.
    """
    err = y - mean
    sse = float(np.sum(err**2))
    z = np.abs(err) / np.sqrt(var)
    moves = (mean != 0) & (y != 0)
    out: dict[str, object] = {
        "n": int(len(y)),
        "mse": float(np.mean(err**2)),
        "mae": float(np.mean(np.abs(err))),
        "r2_vs_zero": 1.0 - sse / float(np.sum(y**2)),
        "r2_vs_hist_mean": 1.0 - sse / float(np.sum((y - hist_mean) ** 2)),
        "directional_accuracy": float(np.mean(np.sign(mean[moves]) == np.sign(y[moves]))) if moves.any() else None,
        "nll": float(np.mean(nll(y, mean, var))),
        "crps": float(np.mean(crps(y, mean, var))),
        "qlike_sq_return": float(np.mean(qlike(y**2, var))),
        "pit_histogram": pit_histogram(y, mean, var),
    }
    for level in COVERAGE_LEVELS:
        out[f"coverage_{int(level * 100)}"] = float(np.mean(z <= stats.norm.ppf(0.5 + level / 2)))
    ok = np.isfinite(parkinson)
    out["qlike_parkinson"] = float(np.mean(qlike(parkinson[ok], var[ok]))) if ok.any() else None
    return out


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, lags: int | None = None) -> dict[str, float]:
    """Diebold-Mariano test of equal expected loss, with a Newey-West long-run variance.

    ``loss_a`` and ``loss_b`` are time series of losses (for a panel: the cross-sectional mean loss per
    date). A negative statistic favours ``a``. ``lags`` defaults to floor(n^(1/3)).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(0, 1, 500); b = a + 0.5 + rng.normal(0, 0.1, 500)
    >>> diebold_mariano(a, b)["p_value"] < 0.001
    True
    """
    d = np.asarray(loss_a, dtype=float) - np.asarray(loss_b, dtype=float)
    n = len(d)
    lags = int(n ** (1 / 3)) if lags is None else lags
    dc = d - d.mean()
    lrv = float(dc @ dc) / n
    for k in range(1, lags + 1):
        w = 1 - k / (lags + 1)
        lrv += 2 * w * float(dc[k:] @ dc[:-k]) / n
    stat = d.mean() / math.sqrt(lrv / n) if lrv > 0 else 0.0
    return {"statistic": float(stat), "p_value": float(2 * stats.norm.sf(abs(stat))), "mean_difference": float(d.mean()), "n": n}
