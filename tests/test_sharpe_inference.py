"""Sharpe ratio inference: standard errors against simulation, PSR and MinTRL by hand, the Ledoit-Wolf test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from backtests.sharpe_inference import (
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_difference,
    sharpe_ratio,
)
from backtests.sharpe_verdicts import deflated_sharpe_ratio

# eight daily returns, in per cent of a unit
R = [0.012, -0.004, 0.007, 0.021, -0.013, 0.003, 0.009, -0.002]


def _moments_by_hand(r: list[float]) -> tuple[float, float, float, float, float]:
    """Mean, sd (ddof 1), sd (ddof 0), skew and kurtosis (central moments over n, not in excess)."""
    n = len(r)
    m = sum(r) / n
    m2 = sum((x - m) ** 2 for x in r) / n
    m3 = sum((x - m) ** 3 for x in r) / n
    m4 = sum((x - m) ** 4 for x in r) / n
    return m, math.sqrt(m2 * n / (n - 1)), math.sqrt(m2), m3 / m2**1.5, m4 / m2**2


def _ar1(rng: np.random.Generator, paths: int, n: int, phi: float, mean: float) -> np.ndarray:
    e = rng.standard_normal((paths, n + 100))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / math.sqrt(1 - phi**2)
    for t in range(1, n + 100):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return mean + x[:, 100:] * math.sqrt(1 - phi**2)  # unit variance


def test_the_iid_standard_error_is_mertens_formula_with_the_sample_moments() -> None:
    m, _, sd0, skew, kurt = _moments_by_hand(R)
    sr = m / sd0
    want = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / len(R))  # Mertens (2002) / Opdyke (2007)
    got = sharpe_ratio(R, method="iid")
    assert got.se_daily == pytest.approx(want, rel=1e-9)
    assert got.se == pytest.approx(want * math.sqrt(252), rel=1e-9)
    assert got.skew == pytest.approx(skew, rel=1e-9) and got.kurtosis == pytest.approx(kurt, rel=1e-9)
    z = stats.norm.ppf(0.975)
    assert (got.lower, got.upper) == pytest.approx((got.sharpe - z * got.se, got.sharpe + z * got.se), rel=1e-12)
    assert sharpe_ratio(R, method="hac", bandwidth=0).se_daily == pytest.approx(want, rel=1e-9)


def test_the_standard_error_matches_simulation_for_iid_normal_returns() -> None:
    rng = np.random.default_rng(21)
    n, paths, sr = 1000, 2000, 0.1
    x = rng.normal(sr, 1.0, (paths, n))
    spread = float(np.std(x.mean(axis=1) / x.std(axis=1, ddof=1), ddof=1))
    closed = math.sqrt((1 + sr**2 / 2) / n)  # the SE of the daily Sharpe ratio of normal returns
    assert spread == pytest.approx(closed, rel=0.04)  # 2,000 estimates: the spread itself is known to 1.6%
    iid = np.array([sharpe_ratio(x[i], method="iid").se_daily for i in range(300)])
    hac = np.array([sharpe_ratio(x[i]).se_daily for i in range(300)])
    assert iid.mean() == pytest.approx(closed, rel=0.01)
    assert hac.mean() == pytest.approx(closed, rel=0.03)


def test_the_hac_standard_error_follows_autocorrelation() -> None:
    rng = np.random.default_rng(22)
    n, paths, phi, sr = 1000, 2000, 0.3, 0.1
    x = _ar1(rng, paths, n, phi, sr)
    spread = float(np.std(x.mean(axis=1) / x.std(axis=1, ddof=1), ddof=1))
    # the long-run variance of the mean of an AR(1) is (1 + phi) / (1 - phi) times the i.i.d. one
    assert spread == pytest.approx(math.sqrt((1 + phi) / (1 - phi) * (1 + sr**2 / 2) / n), rel=0.05)
    iid = np.mean([sharpe_ratio(x[i], method="iid").se_daily for i in range(300)])
    hac = np.mean([sharpe_ratio(x[i]).se_daily for i in range(300)])
    assert iid < 0.8 * spread  # the i.i.d. formula misses the autocorrelation
    assert hac > 1.2 * iid
    assert hac == pytest.approx(spread, rel=0.06)  # measured 0.96-1.00 of the spread; 0.91 without prewhitening


def test_the_bootstrap_standard_error_is_near_the_simulated_spread() -> None:
    rng = np.random.default_rng(23)
    n, paths, phi = 1000, 2000, 0.3
    x = _ar1(rng, paths, n, phi, 0.1)
    spread = float(np.std(x.mean(axis=1) / x.std(axis=1, ddof=1), ddof=1))
    boot = [sharpe_ratio(x[i], method="bootstrap", reps=300, seed=i) for i in range(20)]
    assert np.mean([b.se_daily for b in boot]) == pytest.approx(spread, rel=0.2)
    assert all(b.bandwidth > 1 for b in boot)  # a block longer than a day for autocorrelated returns
    again = sharpe_ratio(x[0], method="bootstrap", reps=300, seed=0)
    assert again.se == boot[0].se


def test_psr_and_min_track_record_by_hand() -> None:
    m, sd1, _, skew, kurt = _moments_by_hand(R)
    sr, n = m / sd1, len(R)
    spread = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    psr0 = stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(spread))  # Bailey and Lopez de Prado (2012)
    assert probabilistic_sharpe_ratio(R).probability == pytest.approx(psr0, rel=1e-9)
    bench = 1.5  # annualised: 1.5 / sqrt(252) a day
    psr_b = stats.norm.cdf((sr - 1.5 / math.sqrt(252)) * math.sqrt(n - 1) / math.sqrt(spread))
    got = probabilistic_sharpe_ratio(R, benchmark=bench)
    assert got.probability == pytest.approx(psr_b, rel=1e-9)
    assert got.probability < psr0
    # one trial: the deflated Sharpe ratio is the PSR against zero
    assert deflated_sharpe_ratio(np.array(R), [sr])["dsr"] == pytest.approx(psr0, rel=1e-9)

    trl = 1 + spread * (stats.norm.ppf(0.95) / (sr - 1.5 / math.sqrt(252))) ** 2
    mt = min_track_record_length(R, target=bench, confidence=0.95)
    assert mt.days == pytest.approx(trl, rel=1e-9)
    assert mt.years == pytest.approx(trl / 252, rel=1e-9)
    assert mt.enough is bool(n >= trl) and mt.enough is False  # 8 days against about 34
    # at the minimum track record length, the PSR (same moments) is the confidence asked for
    assert stats.norm.cdf((sr - 1.5 / math.sqrt(252)) * math.sqrt(trl - 1) / math.sqrt(spread)) == pytest.approx(0.95)
    never = min_track_record_length(R, target=sr * math.sqrt(252) + 0.1)
    assert never.days is None and not never.enough and "no track record suffices" in never.meaning


def test_the_sharpe_difference_holds_its_size_on_correlated_series() -> None:
    rng = np.random.default_rng(24)
    n, paths, rho = 750, 1000, 0.7
    common = rng.standard_normal((paths, n))
    a = 0.05 + rho * common + math.sqrt(1 - rho**2) * rng.standard_normal((paths, n))
    b = 0.05 + rho * common + math.sqrt(1 - rho**2) * rng.standard_normal((paths, n))
    tests = [sharpe_difference(a[i], b[i]) for i in range(paths)]
    size = np.mean([t.p_value < 0.05 for t in tests])
    assert 0.035 < size < 0.075  # 1,000 paths: the standard error of a 5% rate is 0.7%
    stat = np.array([t.statistic for t in tests])
    assert abs(stat.mean()) < 0.1 and stat.std() == pytest.approx(1.0, abs=0.08)


def test_the_sharpe_difference_holds_its_size_on_autocorrelated_series() -> None:
    rng = np.random.default_rng(26)
    n, paths, rho, phi = 750, 1000, 0.7, 0.3
    common = rng.standard_normal((paths, n + 100))
    own = rng.standard_normal((2, paths, n + 100))

    def ar1(e: np.ndarray) -> np.ndarray:  # unit-variance AR(1) filter of the shocks, first 100 days dropped
        x = np.empty_like(e)
        x[:, 0] = e[:, 0] / math.sqrt(1 - phi**2)
        for t in range(1, e.shape[1]):
            x[:, t] = phi * x[:, t - 1] + e[:, t]
        return x[:, 100:] * math.sqrt(1 - phi**2)

    a = 0.05 + ar1(rho * common + math.sqrt(1 - rho**2) * own[0])
    b = 0.05 + ar1(rho * common + math.sqrt(1 - rho**2) * own[1])
    size = np.mean([sharpe_difference(a[i], b[i]).p_value < 0.05 for i in range(paths)])
    iid = np.mean([sharpe_difference(a[i], b[i], bandwidth=0).p_value < 0.05 for i in range(paths)])
    assert 0.03 < size < 0.075  # measured 4.8-6.3% over three seeds
    assert iid > 0.1  # ignoring the autocorrelation rejects a true null far too often


def test_the_sharpe_difference_detects_a_real_difference() -> None:
    rng = np.random.default_rng(25)
    n, paths, rho = 750, 300, 0.7
    common = rng.standard_normal((paths, n))
    a = 0.15 + rho * common + math.sqrt(1 - rho**2) * rng.standard_normal((paths, n))  # daily Sharpe 0.15
    b = 0.05 + rho * common + math.sqrt(1 - rho**2) * rng.standard_normal((paths, n))  # daily Sharpe 0.05
    tests = [sharpe_difference(a[i], b[i]) for i in range(paths)]
    assert np.mean([t.p_value < 0.05 and t.difference > 0 for t in tests]) > 0.7
    assert np.mean([t.difference for t in tests]) == pytest.approx(0.1 * math.sqrt(252), rel=0.05)
    assert "the strategy's is higher" in min(tests, key=lambda t: t.p_value).meaning


def test_inputs_that_leave_a_sharpe_ratio_undefined_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 returns, got 2"):
        sharpe_ratio([0.01, np.nan, 0.02])
    with pytest.raises(ValueError, match="do not vary"):
        probabilistic_sharpe_ratio([0.01] * 10)
    with pytest.raises(ValueError, match="align them day by day"):
        sharpe_difference(R, R[:-1])
    with pytest.raises(ValueError, match="unknown method"):
        sharpe_ratio(R, method="nope")  # type: ignore[arg-type]
