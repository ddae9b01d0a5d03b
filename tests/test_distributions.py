from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from forecasting.model.distributions import Predictive


def _t(mean: np.ndarray, var: np.ndarray, dof: np.ndarray) -> Any:
    """scipy's Student-t with the given variance: scale^2 = var (dof - 2) / dof."""
    return stats.t(dof, loc=mean, scale=np.sqrt(var * (dof - 2) / dof))


def _crps_by_integration(cdf: Callable[[float], float], y: float, knots: list[float]) -> float:
    """The CRPS from its definition: the integral of (F(x) - 1{x >= y})^2 over the line."""
    knots = sorted({*knots, y})
    lo, hi = knots[0] - 1, knots[-1] + 1
    opts = {"limit": 2000, "epsabs": 1e-14, "epsrel": 1e-12}
    left = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, lo, **opts)[0]
    right = integrate.quad(lambda x: (1 - cdf(x)) ** 2, hi, np.inf, **opts)[0]
    middle = integrate.quad(lambda x: (cdf(x) - (x >= y)) ** 2, lo, hi, points=knots, **opts)[0]
    return left + middle + right


def _one(p: Predictive, y: float) -> tuple[Callable[[float], float], list[float]]:
    """The distribution function of a one-observation Predictive, and points where its mass is."""
    return (lambda x: float(p.cdf(np.array([x]))[0])), [float(m) for m in p.means[:, 0]]


def test_student_t_density_distribution_and_quantiles_match_scipy_with_variance_parameterisation() -> None:
    y = np.array([-3.0, -0.4, 0.0, 0.7, 5.0])
    m = np.array([0.1, -0.2, 0.0, 0.5, 1.0])
    v = np.array([0.5, 2.0, 1.0, 1.5, 4.0])
    d = np.array([2.5, 3.0, 5.0, 7.0, 30.0])
    p, ref = Predictive.single(m, v, d), _t(m, v, d)
    np.testing.assert_allclose(ref.var(), v)  # the parameterisation: var is the variance
    np.testing.assert_allclose(p.logpdf(y), ref.logpdf(y), rtol=1e-12)
    np.testing.assert_allclose(p.cdf(y), ref.cdf(y), rtol=1e-12)
    np.testing.assert_allclose(p.ppf(0.9), ref.ppf(0.9), rtol=1e-12)
    np.testing.assert_allclose(p.var, v)
    np.testing.assert_allclose(p.mean, m)
    assert round(float(-p.logpdf(y)[2]), 6) == round(float(-stats.t.logpdf(0, 5, scale=np.sqrt(0.6))), 6) == 0.713207
    # a normal component: scipy's normal
    n = Predictive.single(m, v)
    np.testing.assert_allclose(n.logpdf(y), stats.norm.logpdf(y, m, np.sqrt(v)), rtol=1e-12)
    np.testing.assert_array_equal(n.cdf(y), stats.norm.cdf((y - m) / np.sqrt(v)))


@pytest.mark.parametrize(
    ("means", "variances", "dofs", "y"),
    [
        ([0.0], [1.0], None, 0.7),
        ([0.1], [2.0], None, -9.0),
        ([0.0], [1.0], [5.0], 0.7),
        ([0.3], [0.4], [2.05], 3.0),
        ([0.0], [1.0], [60.0], -1.5),
    ],
)
def test_crps_of_a_normal_or_student_t_equals_the_integral_definition(
    means: list[float], variances: list[float], dofs: list[float] | None, y: float
) -> None:
    p = Predictive(
        np.array(means)[:, None], np.array(variances)[:, None], None if dofs is None else np.array(dofs)[:, None]
    )
    cdf, knots = _one(p, y)
    assert np.isclose(p.crps(np.array([y]))[0], _crps_by_integration(cdf, y, knots), rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    ("means", "variances", "dofs", "y"),
    [
        ([0.0, 0.3, -0.2], [1.0, 2.0, 0.5], [4.0, 6.0, 3.0], 0.4),  # an ensemble of t forecasts
        ([0.0, 0.1, -0.1, 0.05, 0.0], [1.0, 1.2, 0.8, 1.1, 0.9], [4.0, 5.0, 6.0, 4.5, 3.5], -2.5),
        ([0.0, 0.3, -0.2], [1.0, 2.0, 0.5], [2.05, np.inf, 3.0], -2.0),  # t and normal components
        ([0.0, 5.0], [1.0, 1.0], [4.0, 4.0], 10.0),  # well separated modes
        ([0.0, 0.0], [1.0, 100.0], [2.5, 8.0], 30.0),  # scales far apart, y in the tail
        ([0.0, 5.0], [1.0, 1.0], None, 1.0),  # normal mixtures: closed form
        ([0.0, 0.1, 0.2], [1.0, 1.5, 0.5], None, -30.0),
    ],
)
def test_crps_of_a_mixture_equals_the_integral_definition(
    means: list[float], variances: list[float], dofs: list[float] | None, y: float
) -> None:
    p = Predictive(
        np.array(means)[:, None], np.array(variances)[:, None], None if dofs is None else np.array(dofs)[:, None]
    )
    cdf, knots = _one(p, y)
    assert np.isclose(p.crps(np.array([y]))[0], _crps_by_integration(cdf, y, knots), rtol=1e-6, atol=0)


def test_crps_of_a_one_member_mixture_is_that_member_and_of_identical_members_too() -> None:
    rng = np.random.default_rng(0)
    m, v, d = rng.normal(0, 1, 50), rng.uniform(0.5, 2, 50), rng.uniform(2.2, 12, 50)
    y = rng.normal(0, 2, 50)
    one = Predictive.single(m, v, d)
    twins = Predictive.mixture([one, one, one])  # numerical path, same distribution
    np.testing.assert_allclose(twins.crps(y), one.crps(y), rtol=1e-8)
    np.testing.assert_allclose(twins.logpdf(y), one.logpdf(y), rtol=1e-12)
    np.testing.assert_allclose(twins.cdf(y), one.cdf(y), rtol=1e-12)


def _mixture() -> Predictive:
    return Predictive.mixture(
        [
            Predictive.single([0.0, 1.0], [1.0, 0.5], [4.0, 6.0]),
            Predictive.single([0.8, -1.0], [2.0, 0.3]),
            Predictive.single([-0.5, 0.2], [0.6, 1.5], [9.0, 3.0]),
        ]
    )


def test_mixture_density_integrates_to_one_and_its_moments_are_the_mixture_moments() -> None:
    p = _mixture()
    for i in range(2):
        pdf = lambda x, i=i: float(np.exp(p[i : i + 1].logpdf(np.array([x])))[0])  # noqa: E731
        opts = {"limit": 500, "epsabs": 1e-12}
        assert np.isclose(integrate.quad(pdf, -np.inf, np.inf, **opts)[0], 1.0, atol=1e-9)
        mean = integrate.quad(lambda x: x * pdf(x), -np.inf, np.inf, **opts)[0]  # noqa: B023
        second = integrate.quad(lambda x: x * x * pdf(x), -np.inf, np.inf, **opts)[0]  # noqa: B023
        assert np.isclose(p.mean[i], mean, atol=1e-7) and np.isclose(p.var[i], second - mean**2, rtol=1e-6)
        # the variance as the mean of var_k + mean_k^2, less the squared mean
        hand = np.mean(p.variances[:, i] + p.means[:, i] ** 2) - np.mean(p.means[:, i]) ** 2
        assert np.isclose(p.var[i], hand, rtol=1e-12)


def test_mixture_moments_match_sampling_and_sampling_owns_its_randomness() -> None:
    p = Predictive.mixture(
        [Predictive.single([0.0, 1.0], [1.0, 0.5], [6.0, 8.0]), Predictive.single([0.8, -1.0], [2.0, 0.3])]
    )
    draws = p.sample(400_000, seed=1)
    assert draws.shape == (400_000, 2)
    se = np.sqrt(p.var / len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - p.mean) < 4 * se)
    np.testing.assert_allclose(draws.var(axis=0), p.var, rtol=0.02)
    np.testing.assert_array_equal(p.sample(10, seed=3), p.sample(10, seed=3))
    assert p.sample(seed=0).shape == (2,)


def test_mixture_quantiles_and_distribution_function_round_trip() -> None:
    p = _mixture()
    q = np.array([1e-6, 0.01, 0.05, 0.3, 0.5, 0.77, 0.95, 0.999, 1 - 1e-9])
    for i in range(2):
        x = np.array([p[i : i + 1].ppf(qq)[0] for qq in q])
        np.testing.assert_allclose(p[i : i + 1].cdf(x), q, rtol=1e-10, atol=1e-14)
    lo, hi = p.interval(0.9)
    np.testing.assert_allclose(p.cdf(lo), 0.05, rtol=1e-10)
    np.testing.assert_allclose(p.cdf(hi), 0.95, rtol=1e-10)
    assert np.all(np.isinf(p.ppf(0.0))) and np.all(p.ppf(0.0) < 0)


def test_coverage_and_pit_of_a_correct_student_t_forecast_on_t_data() -> None:
    rng = np.random.default_rng(2)
    n = 60_000
    m, v, d = rng.normal(0, 1, n), rng.uniform(0.5, 2, n), rng.uniform(2.5, 10, n)
    p = Predictive.single(m, v, d)
    y = p.sample(seed=rng)
    for level in (0.5, 0.9, 0.95):
        assert abs(p.coverage(y, level) - level) < 0.008
    counts, _ = np.histogram(p.cdf(y), bins=10, range=(0, 1))
    assert counts.min() > 0.93 * counts.mean()
    # the same data read as normal: too wide in the middle, too narrow in the tails
    normal = Predictive.single(m, v)
    assert normal.coverage(y, 0.5) > 0.53 and normal.coverage(y, 0.99) < 0.985
    # an ensemble covers its nominal share of draws from the ensemble
    ens = Predictive.mixture([p, Predictive.single(m + 0.5, v * 2, d + 3), Predictive.single(m - 0.3, v)])
    y = ens.sample(seed=3)
    for level in (0.5, 0.9):
        assert abs(ens.coverage(y, level) - level) < 0.008


def test_invalid_distributions_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="exceed 2"):
        Predictive.single([0.0], [1.0], [2.0])
    with pytest.raises(ValueError, match="same number of components"):
        Predictive.mixture([Predictive.single([0.0], [1.0]), Predictive.mixture([Predictive.single([0.0], [1.0])] * 2)])
    with pytest.raises(ValueError, match="component axis"):
        Predictive(np.float64(0.0), np.float64(1.0))
    assert Predictive.single([0.0], [1.0], [np.inf]).dofs is None  # all normal
