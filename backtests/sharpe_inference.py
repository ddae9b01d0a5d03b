"""How sure a Sharpe ratio is: its standard error and interval, the probabilistic Sharpe ratio, the minimum track
record length, and a test of the difference between two Sharpe ratios on the same days.

Sharpe ratios are of daily returns (excess returns, if the caller subtracts a rate), mean over standard deviation
(ddof 1), annualised by ``sqrt(periods)`` (252 by default); standard errors and intervals scale the same way.

- Standard error, ``method="iid"``: Mertens (2002), "Comments on variance of the IID estimator in Lo (2002)",
  and Opdyke (2007), "Comparing Sharpe ratios: so where are the p-values?", *Journal of Asset Management* 8(5):
  ``Var(SR) = (1 - skew SR + (kurtosis - 1) / 4 SR^2) / n`` for i.i.d. returns of any distribution
  (kurtosis not in excess; ``(1 + SR^2 / 2) / n`` for normal returns).
- ``method="hac"`` (the default): Lo (2002), "The statistics of Sharpe ratios", *Financial Analysts Journal*
  58(4): the same delta method on the moments ``(r - mu, r^2 - E r^2)`` with their long-run covariance instead
  of the i.i.d. one, so that autocorrelation and non-normality both count. With bandwidth 0 it is exactly
  Mertens' formula with the sample's moments. The long-run covariance is Andrews and Monahan's (1992,
  *Econometrica* 60(4)) prewhitened HAC: a VAR(1) fitted to the moments, the Newey-West (Bartlett kernel)
  covariance of its residuals with Newey and West's (1994) automatic bandwidth unless one is given
  (:class:`arch.covariance.kernel.Bartlett`), recoloured by ``(I - A)^-1``; without prewhitening when the VAR
  has a root above 0.97. Prewhitening matters: for AR(1) returns with coefficient 0.3 and 1,000 days, the
  plain Bartlett estimate came out 9% below the simulated spread of the Sharpe ratio.
- ``method="bootstrap"``: the standard deviation of the Sharpe ratio over stationary bootstrap resamples
  (Politis and Romano 1994) with Politis and White's (2004, Patton et al. 2009) block length, from
  :mod:`arch.bootstrap`.
- Probabilistic Sharpe ratio and minimum track record length: Bailey and Lopez de Prado (2012), "The Sharpe ratio
  efficient frontier", *Journal of Risk* 15(2):
  ``PSR(SR*) = Z((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))`` and
  ``MinTRL = 1 + (1 - skew SR + (kurtosis - 1) / 4 SR^2) (Z^-1(confidence) / (SR - SR*))^2``, with daily
  (not annualised) SR; both assume i.i.d. returns. :func:`backtests.sharpe_verdicts.deflated_sharpe_ratio` is the PSR
  against the Sharpe ratio that luck would reach over many trials.
- Difference of two Sharpe ratios on the same days: Ledoit and Wolf (2008), "Robust performance hypothesis testing
  with the Sharpe ratio", *Journal of Empirical Finance* 15(5), section 3.1: the delta method on
  ``(mu_1, mu_2, E r_1^2, E r_2^2)`` with the prewhitened HAC covariance above; Ledoit and Wolf prewhiten too,
  with the quadratic-spectral kernel where this uses the Bartlett kernel (their studentised
  bootstrap, which holds its size better in small samples, is not implemented).

Examples
--------
>>> r = np.random.default_rng(0).normal(0.0005, 0.01, 1000)
>>> est = sharpe_ratio(r, method="iid")
>>> round(est.sharpe, 3), round(est.se, 3)
(0.032, 0.502)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "PERIODS",
    "MinTrackRecord",
    "ProbabilisticSharpe",
    "SharpeDifference",
    "SharpeEstimate",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "sharpe_difference",
    "sharpe_ratio",
]

PERIODS = 252  # trading days a year
SIGNIFICANCE = 0.05  # the level at which ``meaning`` calls a difference significant

Method = Literal["hac", "iid", "bootstrap"]


@dataclass(frozen=True)
class SharpeEstimate:
    """A Sharpe ratio with its standard error and a confidence interval (annualised; ``*_daily`` not).

    ``bandwidth`` is the Newey-West bandwidth on the prewhitened moments (``"hac"``; 0 for ``"iid"``) or the
    mean block length (``"bootstrap"``); ``skew`` and ``kurtosis`` (not in excess) are the sample's.
    """

    sharpe: float
    se: float
    lower: float
    upper: float
    level: float
    sharpe_daily: float
    se_daily: float
    n: int
    skew: float
    kurtosis: float
    method: str
    bandwidth: float
    meaning: str


@dataclass(frozen=True)
class ProbabilisticSharpe:
    """The probability that the true Sharpe ratio exceeds ``benchmark`` (annualised), given the sample's."""

    probability: float
    sharpe: float
    benchmark: float
    n: int
    skew: float
    kurtosis: float
    meaning: str


@dataclass(frozen=True)
class MinTrackRecord:
    """How many days of returns like these it takes to be ``confidence`` sure the Sharpe ratio beats ``target``.

    ``days`` and ``years`` are None when the observed Sharpe ratio does not exceed the target (no length
    suffices); ``enough`` says whether the ``n`` days at hand reach ``days``.
    """

    days: float | None
    years: float | None
    n: int
    enough: bool
    sharpe: float
    target: float
    confidence: float
    meaning: str


@dataclass(frozen=True)
class SharpeDifference:
    """Ledoit and Wolf's test of ``sharpe - sharpe_benchmark = 0`` (annualised figures; two-sided p-value)."""

    sharpe: float
    sharpe_benchmark: float
    difference: float
    se: float
    statistic: float
    p_value: float
    n: int
    bandwidth: float
    meaning: str


def _clean(r: ArrayLike, what: str = "returns") -> np.ndarray:
    x = np.asarray(r, dtype=float).ravel()
    x = x[np.isfinite(x)]
    _check(x, what)
    return x


def _check(x: np.ndarray, what: str) -> None:
    if len(x) < 3:
        raise ValueError(f"a Sharpe ratio's error needs at least 3 {what}, got {len(x)}; pass a longer series")
    if np.all(x == x[0]):
        raise ValueError(f"the {what} do not vary, so their Sharpe ratio is undefined; pass returns that move")


def _shape(x: np.ndarray) -> tuple[float, float, float]:
    """Daily Sharpe ratio (ddof 1), skew and kurtosis (not in excess, biased as Bailey and Lopez de Prado)."""
    return float(x.mean() / x.std(ddof=1)), float(stats.skew(x)), float(stats.kurtosis(x, fisher=False))


def _long_run(moments: np.ndarray, bandwidth: float | None) -> tuple[np.ndarray, float]:
    """Prewhitened Newey-West (Bartlett) long-run covariance of the rows of ``moments`` (n, k), centred, and the
    bandwidth used (on the VAR(1) residuals; on the moments themselves where prewhitening was skipped)."""
    from arch.covariance.kernel import Bartlett

    x = moments - moments.mean(axis=0)
    if bandwidth == 0:
        return np.atleast_2d(np.cov(x, rowvar=False, ddof=0)), 0.0
    coef = np.linalg.lstsq(x[:-1], x[1:], rcond=None)[0].T  # x_t = A x_{t-1} + e_t (Andrews and Monahan 1992)
    if np.max(np.abs(np.linalg.eigvals(coef))) > 0.97:
        kernel = Bartlett(x, bandwidth=bandwidth)
        return np.atleast_2d(np.asarray(kernel.cov.long_run, dtype=float)), float(kernel.bandwidth)
    resid = x[1:] - x[:-1] @ coef.T
    kernel = Bartlett(resid, bandwidth=bandwidth)
    recolour = np.linalg.inv(np.eye(x.shape[1]) - coef)
    omega = recolour @ np.atleast_2d(np.asarray(kernel.cov.long_run, dtype=float)) @ recolour.T
    return omega, float(kernel.bandwidth)


def _sharpe_gradient(mu: float, gamma: float) -> np.ndarray:
    """Gradient of ``mu / sqrt(gamma - mu^2)`` in (mu, gamma), ``gamma`` the mean of the squares."""
    var = gamma - mu**2
    return np.array([gamma / var**1.5, -mu / (2 * var**1.5)])


def _hac_se_daily(x: np.ndarray, bandwidth: float | None) -> tuple[float, float]:
    mu, gamma = float(x.mean()), float(np.mean(x**2))
    moments = np.column_stack([x - mu, x**2 - gamma])
    omega, used = _long_run(moments, bandwidth)
    g = _sharpe_gradient(mu, gamma)
    return float(np.sqrt(g @ omega @ g / len(x))), used


def _bootstrap_se_daily(x: np.ndarray, reps: int, seed: int | np.random.Generator | None) -> tuple[float, float]:
    from arch.bootstrap import StationaryBootstrap, optimal_block_length

    block = max(1, round(float(optimal_block_length(x)["stationary"].iloc[0])))  # arch takes a whole number
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    boot = StationaryBootstrap(block, x, seed=rng)
    draws = boot.apply(lambda a: np.array([a.mean() / a.std(ddof=1)]), reps)
    return float(np.std(draws[:, 0], ddof=1)), float(block)


def _p(p: float) -> str:
    """A p-value as the tables print it: three decimals, or below 0.001."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def sharpe_ratio(
    returns: ArrayLike,
    *,
    method: Method = "hac",
    level: float = 0.95,
    periods: int = PERIODS,
    bandwidth: float | None = None,
    reps: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> SharpeEstimate:
    """The Sharpe ratio of daily returns with a standard error for non-normal, autocorrelated returns.

    Parameters
    ----------
    returns
        Daily returns; missing values (not finite) are left out.
    method
        ``"hac"`` (Lo 2002 with a prewhitened Newey-West covariance), ``"iid"`` (Mertens 2002 / Opdyke 2007) or
        ``"bootstrap"`` (stationary block bootstrap); see the module's docstring.
    level
        Confidence of the interval ``sharpe +- z se``.
    periods
        Periods a year, for annualising.
    bandwidth
        Newey-West bandwidth for ``"hac"`` (on the prewhitened moments); None chooses it from the data (Newey
        and West 1994); 0 gives the i.i.d. formula.
    reps, seed
        Bootstrap resamples and their randomness, for ``"bootstrap"``.

    Examples
    --------
    >>> r = np.random.default_rng(0).normal(0.0004, 0.01, 489)
    >>> est = sharpe_ratio(r)
    >>> round(est.se, 2), est.lower < 0 < est.upper
    (0.71, True)
    >>> est.meaning.split(":")[1]
    ' the 95% interval -1.12 to 1.66 includes 0, so these 489 days cannot tell it from zero.'
    """
    x = _clean(returns)
    if not 0 < level < 1:
        raise ValueError(f"the interval's level must lie strictly between 0 and 1, got {level}; pass e.g. 0.95")
    sr, skew, kurt = _shape(x)
    if method == "bootstrap":
        se, used = _bootstrap_se_daily(x, reps, seed)
        how = f"stationary block bootstrap, mean block {used:.1f} days"
    elif method in ("hac", "iid"):
        se, used = _hac_se_daily(x, 0.0 if method == "iid" else bandwidth)
        how = (
            "i.i.d., skew and kurtosis included"
            if method == "iid"
            else f"prewhitened Newey-West, bandwidth {used:.1f} days, skew and kurtosis included"
        )
    else:
        raise ValueError(f"unknown method {method!r}; choose 'hac', 'iid' or 'bootstrap'")
    a = float(np.sqrt(periods))
    z = float(stats.norm.ppf(0.5 + level / 2))
    lo, hi = (sr - z * se) * a, (sr + z * se) * a
    pct = f"{100 * level:.3g}%"
    if lo > 0 or hi < 0:
        verdict = f"the {pct} interval {_f(lo)} to {_f(hi)} excludes 0."
    else:
        verdict = (
            f"the {pct} interval {_f(lo)} to {_f(hi)} includes 0, so these {len(x)} days cannot tell it from zero."
        )
    meaning = f"Sharpe ratio {_f(sr * a)} a year, standard error {_f(se * a)} ({how}): {verdict}"
    return SharpeEstimate(
        sharpe=sr * a,
        se=se * a,
        lower=lo,
        upper=hi,
        level=level,
        sharpe_daily=sr,
        se_daily=se,
        n=len(x),
        skew=skew,
        kurtosis=kurt,
        method=method,
        bandwidth=used,
        meaning=meaning,
    )


def _psr_spread(sr: float, skew: float, kurt: float) -> float:
    """``1 - skew SR + (kurtosis - 1) / 4 SR^2``: n times the variance of the daily Sharpe ratio (Mertens)."""
    return 1 - skew * sr + (kurt - 1) / 4 * sr**2


def probabilistic_sharpe_ratio(
    returns: ArrayLike, benchmark: float = 0.0, *, periods: int = PERIODS
) -> ProbabilisticSharpe:
    """Bailey and Lopez de Prado's probabilistic Sharpe ratio: the probability that the true Sharpe ratio of the
    process behind ``returns`` exceeds ``benchmark`` (annualised, e.g. a benchmark's own Sharpe ratio).

    Examples
    --------
    >>> r = np.random.default_rng(2).normal(0.0006, 0.01, 750)
    >>> psr = probabilistic_sharpe_ratio(r)
    >>> round(psr.probability, 3), round(probabilistic_sharpe_ratio(r, benchmark=psr.sharpe).probability, 3)
    (0.622, 0.5)
    """
    x = _clean(returns)
    sr, skew, kurt = _shape(x)
    a = float(np.sqrt(periods))
    z = (sr - benchmark / a) * np.sqrt(len(x) - 1) / np.sqrt(_psr_spread(sr, skew, kurt))
    p = float(stats.norm.cdf(z))
    meaning = (
        f"Probability {p:.3f} that the true Sharpe ratio exceeds {_f(benchmark)} a year (observed "
        f"{_f(sr * a)} over {len(x)} days, skew {skew:.2f}, kurtosis {kurt:.1f}; i.i.d. returns assumed)."
    )
    return ProbabilisticSharpe(
        probability=p, sharpe=sr * a, benchmark=float(benchmark), n=len(x), skew=skew, kurtosis=kurt, meaning=meaning
    )


def min_track_record_length(
    returns: ArrayLike, target: float = 0.0, *, confidence: float = 0.95, periods: int = PERIODS
) -> MinTrackRecord:
    """Bailey and Lopez de Prado's minimum track record length: the days of returns like these needed for the
    probabilistic Sharpe ratio against ``target`` (annualised) to reach ``confidence``.

    Examples
    --------
    >>> r = np.random.default_rng(3).normal(0.0006, 0.01, 500)
    >>> m = min_track_record_length(r, target=0.0)
    >>> round(m.days), m.enough
    (209, True)
    >>> min_track_record_length(r, target=5.0).days is None
    True
    """
    x = _clean(returns)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}; pass e.g. 0.95")
    sr, skew, kurt = _shape(x)
    a = float(np.sqrt(periods))
    gap = sr - target / a
    head = f"To be {100 * confidence:.3g}% sure the true Sharpe ratio exceeds {_f(target)} a year"
    if gap <= 0:
        meaning = (
            f"{head}, no track record suffices: the observed Sharpe ratio {_f(sr * a)} does not exceed it "
            f"({len(x)} days at hand)."
        )
        return MinTrackRecord(
            days=None,
            years=None,
            n=len(x),
            enough=False,
            sharpe=sr * a,
            target=float(target),
            confidence=confidence,
            meaning=meaning,
        )
    days = float(1 + _psr_spread(sr, skew, kurt) * (stats.norm.ppf(confidence) / gap) ** 2)
    enough = len(x) >= days
    meaning = (
        f"{head}, {days:,.0f} days ({days / periods:.1f} years) of returns like these (Sharpe ratio "
        f"{_f(sr * a)}) are needed; {len(x)} are at hand, {'enough' if enough else 'not enough'}."
    )
    return MinTrackRecord(
        days=days,
        years=days / periods,
        n=len(x),
        enough=enough,
        sharpe=sr * a,
        target=float(target),
        confidence=confidence,
        meaning=meaning,
    )


def sharpe_difference(
    returns: ArrayLike, benchmark: ArrayLike, *, periods: int = PERIODS, bandwidth: float | None = None
) -> SharpeDifference:
    """Ledoit and Wolf's (2008) HAC test that two return series on the same days have the same Sharpe ratio.

    Parameters
    ----------
    returns, benchmark
        Daily returns of the strategy and the benchmark, aligned day by day (same length); a day where either
        is missing is left out of both.
    periods
        Periods a year, for annualising the difference and its standard error.
    bandwidth
        Newey-West bandwidth on the prewhitened moments; None chooses it from the data (Newey and West 1994).

    Examples
    --------
    >>> rng = np.random.default_rng(4)
    >>> common = rng.normal(0.0003, 0.01, 1000)
    >>> d = sharpe_difference(common + rng.normal(0.0004, 0.004, 1000), common)
    >>> round(d.difference, 2), round(d.p_value, 4)
    (0.69, 0.0002)
    """
    r, b = np.asarray(returns, dtype=float).ravel(), np.asarray(benchmark, dtype=float).ravel()
    if r.shape != b.shape:
        raise ValueError(f"the strategy has {len(r)} returns and the benchmark {len(b)}; align them day by day")
    ok = np.isfinite(r) & np.isfinite(b)
    r, b = r[ok], b[ok]
    _check(r, "strategy returns")
    _check(b, "benchmark returns")
    mu1, mu2, g1, g2 = r.mean(), b.mean(), np.mean(r**2), np.mean(b**2)
    moments = np.column_stack([r - mu1, b - mu2, r**2 - g1, b**2 - g2])
    omega, used = _long_run(moments, bandwidth)
    d1, d2 = _sharpe_gradient(mu1, g1), _sharpe_gradient(mu2, g2)
    grad = np.array([d1[0], -d2[0], d1[1], -d2[1]])
    se = float(np.sqrt(grad @ omega @ grad / len(r)))
    sr1, sr2 = float(r.mean() / r.std(ddof=1)), float(b.mean() / b.std(ddof=1))
    diff = float(sr1 - sr2)
    stat = diff / se
    p = float(2 * stats.norm.sf(abs(stat)))
    a = float(np.sqrt(periods))
    head = (
        f"The strategy's Sharpe ratio {_f(sr1 * a)} minus the benchmark's {_f(sr2 * a)} is {_f(diff * a)} a "
        f"year, standard error {_f(se * a)} (Ledoit-Wolf, prewhitened HAC)"
    )
    if p < SIGNIFICANCE:
        verdict = f"the strategy's is {'higher' if diff > 0 else 'lower'} ({_p(p)})."
    else:
        verdict = f"these {len(r)} days cannot tell the two apart ({_p(p)})."
    return SharpeDifference(
        sharpe=sr1 * a,
        sharpe_benchmark=sr2 * a,
        difference=diff * a,
        se=se * a,
        statistic=stat,
        p_value=p,
        n=len(r),
        bandwidth=used,
        meaning=f"{head}: {verdict}",
    )
