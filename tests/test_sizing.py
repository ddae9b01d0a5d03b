"""Sizing rules against weights computed by hand, and the strategy registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize_scalar

from forecasting.errors import ConfigError
from strategies import Bar, Param, available, get, parse_params, register, sizing


def _moments(m: float, v: float) -> tuple[float, float]:
    """Mean and variance of R = exp(X) - 1 for X ~ N(m, v), from the log-normal's moments."""
    return math.exp(m + v / 2) - 1, math.exp(2 * m + v) * (math.exp(v) - 1)


def _full_kelly(m: float, v: float) -> float:
    mu, var = _moments(m, v)
    return mu / (var + mu**2)  # E[R] / E[R^2]


def test_simple_moments_by_hand_and_nan() -> None:
    mu, var = sizing.simple_moments([0.001, -0.002, np.nan, 0.001], [4e-4, 1e-4, 1e-4, 0.0])
    assert mu[:2] == pytest.approx([_moments(0.001, 4e-4)[0], _moments(-0.002, 1e-4)[0]], rel=1e-9)
    assert var[:2] == pytest.approx([_moments(0.001, 4e-4)[1], _moments(-0.002, 1e-4)[1]], rel=1e-9)
    assert np.isnan(mu[2:]).all() and np.isnan(var[2:]).all()
    tiny_mu, tiny_var = sizing.simple_moments(1e-12, 1e-12)  # expm1 keeps the digits that exp(x) - 1 loses
    assert tiny_mu == pytest.approx(1.5e-12, rel=1e-9) and tiny_var == pytest.approx(1e-12, rel=1e-9)


def test_kelly_by_hand_and_capped() -> None:
    w = sizing.kelly([0.0005, -0.0005, 0.01], [0.0004, 0.0004, 0.0004], fraction=0.5, max_leverage=1.5)
    assert w == pytest.approx([0.5 * _full_kelly(0.0005, 0.0004), 0.5 * _full_kelly(-0.0005, 0.0004), 1.5])


def _growth_optimal(m: float, v: float) -> float:
    """argmax over w of E[log(1 + w (exp(X) - 1))], X ~ N(m, v), by 20-point Gauss-Hermite quadrature.

    Beyond the bounds 1 + w r <= 0 at some node. For w > 1 the exact Gaussian expectation is -inf (ruin at
    10 sd or more); the nodes span +-7.6 sd, and 6 to 25 nodes, or a Gauss-Legendre rule on the normal
    truncated at 6 to 8 sd, give the same optimum to 1e-6.
    """
    z, p = hermegauss(20)
    p = p / p.sum()
    r = np.expm1(m + math.sqrt(v) * z)
    lo, hi = -1 / r.max(), -1 / r.min()
    res = minimize_scalar(
        lambda w: -float(p @ np.log1p(w * r)),
        bounds=(lo * (1 - 1e-9), hi * (1 - 1e-9)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert res.success and lo + 0.05 * (hi - lo) < res.x < hi - 0.05 * (hi - lo)  # an interior optimum
    return float(res.x)


def _near(w: float, optimum: float) -> bool:
    return abs(w - optimum) <= max(0.005 * abs(optimum), 1e-3)


REQUIRED = [(2e-4, 4e-4), (1e-3, 1e-4), (-5e-4, 2.5e-4), (0.0, 4e-4)]


@pytest.mark.parametrize(
    ("m", "v"), [*REQUIRED, (0.0005, 0.001), (-0.001, 0.0004), (0.0002, 0.0001), (-0.0002, 2.5e-05)]
)
def test_full_kelly_is_growth_optimal(m: float, v: float) -> None:
    w = float(sizing.kelly([m], [v], fraction=1.0, max_leverage=100.0)[0])
    assert _near(w, _growth_optimal(m, v))


def test_the_log_mean_formula_fails_the_growth_check() -> None:
    for m, v in REQUIRED:  # the old fraction * mean / variance of the log return: 0.5 where the optimum is 1
        assert not _near(m / v, _growth_optimal(m, v))
    mu, var = _moments(1e-3, 1e-4)  # E[R] / var(R), without the mu**2 of E[R^2], overshoots a levered optimum
    assert not _near(mu / var, _growth_optimal(1e-3, 1e-4))


def test_a_negative_log_mean_can_be_a_positive_simple_mean() -> None:
    m, v = -1e-4, 4e-4  # between -v / 2 and 0: E[R] = exp(m + v / 2) - 1 > 0
    assert sizing.kelly([m], [v])[0] > 0 and sizing.voltarget([m], [v])[0] > 0
    assert sizing.kelly([-v / 2], [v])[0] == pytest.approx(0.0, abs=1e-12)


def test_voltarget_by_hand_threshold_and_cap() -> None:
    sd = 0.02
    means = [0.001, -0.001, -0.0001]
    w = sizing.voltarget(means, [sd**2] * 3, target_vol=0.2, threshold=0.01, max_leverage=5)
    daily = 0.2 / math.sqrt(252)
    (_mu1, var1), (mu2, var2), (mu3, var3) = (_moments(m, sd**2) for m in means)
    assert abs(mu3) / math.sqrt(var3) < 0.01 < abs(mu2) / math.sqrt(var2)  # about 0.005 and 0.04
    assert w == pytest.approx([daily / math.sqrt(var1), -daily / math.sqrt(var2), 0.0])
    assert sizing.voltarget([0.001], [1e-8], target_vol=0.2, max_leverage=2.0)[0] == 2.0


def test_threshold_by_hand() -> None:
    w = sizing.threshold([0.003, -0.003, 0.001], [1e-4] * 3, k=0.2, weight=0.7)
    assert w.tolist() == [0.7, -0.7, 0.0]


def test_betsize_by_hand() -> None:
    mean, sd = 0.004, 0.01
    p = 0.5 * (1 + math.erf(mean / sd / math.sqrt(2)))
    z = (p - 0.5) / math.sqrt(p * (1 - p))
    expected = 2 * 0.5 * (1 + math.erf(z / math.sqrt(2))) - 1
    w = sizing.betsize([mean, -mean, 0.0], [sd**2] * 3, max_leverage=2.0)
    assert w == pytest.approx([2 * expected, -2 * expected, 0.0])
    assert np.all(np.abs(sizing.betsize([1.0, -1.0], [1e-6, 1e-6])) <= 1.0)


def test_longshort_equal_linear_and_dollar_neutral() -> None:
    mean = [0.004, 0.001, -0.002, 0.003, -0.004, 0.0]
    w = sizing.longshort(mean, [1e-4] * 6, k=2)
    assert w.tolist() == [0.25, 0.0, -0.25, 0.25, -0.25, 0.0]
    lin = sizing.longshort(mean, [1e-4] * 6, k=2, scheme="linear")
    assert lin.tolist() == pytest.approx([1 / 3, 0, -1 / 6, 1 / 6, -1 / 3, 0])
    assert lin.sum() == pytest.approx(0.0) and np.abs(lin).sum() == pytest.approx(1.0)


def test_longshort_ranks_by_mean_over_sd() -> None:
    # the larger mean has a much larger variance: by mean/sd it ranks below
    w = sizing.longshort([0.004, 0.001, -0.001], [1.0, 1e-6, 1e-6], k=1)
    assert w.tolist() == [0.0, 0.5, -0.5]


def test_longshort_shrinks_k_and_skips_bad_forecasts() -> None:
    w = sizing.longshort([0.002, np.nan, -0.001], [1e-4, 1e-4, 1e-4], k=3)
    assert w[0] == 0.5 and np.isnan(w[1]) and w[2] == -0.5
    assert sizing.longshort([0.002], [1e-4], k=1).tolist() == [0.0]


@pytest.mark.parametrize(
    "rule",
    [sizing.kelly, sizing.voltarget, sizing.threshold, sizing.betsize, lambda m, v: sizing.volmanaged(m, v, c=0.01)],
)
def test_unusable_forecasts_give_nan(rule) -> None:
    w = rule([0.001, 0.001, 0.001, np.nan, 0.001], [0.0, -1e-4, np.nan, 1e-4, 1e-4])
    assert np.isnan(w[:4]).all() and np.isfinite(w[4])


def test_volmanaged_by_hand_long_only_and_capped() -> None:
    w = sizing.volmanaged([0.002, -0.002, 0.0], [1e-4, 4e-4, 1e-8], c=0.01, max_leverage=1.5)
    sd = [math.sqrt(_moments(m, v)[1]) for m, v in [(0.002, 1e-4), (-0.002, 4e-4)]]
    assert w == pytest.approx([0.01 / sd[0], 0.01 / sd[1], 1.5])  # a negative mean is not a short


def _training_forecasts() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    mean = rng.normal(0.0, 0.002, (60, 3))
    variance = (0.004 + 0.02 * rng.random((60, 3))) ** 2  # sd from 0.4 % to 2.4 %: the cap binds on calm days
    mean[:5] = np.nan  # before the first forecast
    variance[10, 1] = 0.0
    return mean, variance


def _weights_by_definition(mean: np.ndarray, variance: np.ndarray, c: float, cap: float) -> np.ndarray:
    ok = np.isfinite(mean) & (variance > 0)
    sd = np.sqrt(np.exp(2 * mean[ok] + variance[ok]) * (np.exp(variance[ok]) - 1))
    return np.minimum(c / sd, cap)


def test_volmanaged_c_is_set_so_the_training_average_weight_is_1() -> None:
    spec = get("volmanaged")
    params = parse_params(spec, None)
    mean, variance = _training_forecasts()
    fitted = spec.calibrated(mean, variance, params)
    assert params["c"] == 0.0 and fitted is not params and fitted["c"] > 0  # a new dict; params left alone
    w = _weights_by_definition(mean, variance, fitted["c"], params["max_leverage"])
    assert abs(w.mean() - 1.0) < 1e-9
    assert (w == params["max_leverage"]).any() and (w < 1).any()


def test_volmanaged_puts_every_weight_at_a_cap_below_1_and_says_so() -> None:
    spec = get("volmanaged")
    mean, variance = _training_forecasts()
    with pytest.warns(UserWarning, match="cannot reach 1"):
        fitted = spec.calibrated(mean, variance, parse_params(spec, ["max_leverage=0.8"]))
    w = _weights_by_definition(mean, variance, fitted["c"], 0.8)
    assert w == pytest.approx(np.full_like(w, 0.8))
    assert (_weights_by_definition(mean, variance, 0.999 * fitted["c"], 0.8) < 0.8).any()  # the smallest such c


def test_volmanaged_keeps_a_given_c_and_needs_training_forecasts_otherwise() -> None:
    spec = get("volmanaged")
    given = parse_params(spec, ["c=0.02"])
    assert spec.calibrated(np.full((3, 2), np.nan), np.full((3, 2), np.nan), given) == given
    params = parse_params(spec, None)
    for mean, variance in [(np.full((3, 2), np.nan), np.full((3, 2), 1e-4)), (np.zeros((0, 2)), np.zeros((0, 2)))]:
        with pytest.raises(ConfigError, match=r"needs training-period forecasts to set c; .* or --param c="):
            spec.calibrated(mean, variance, params)
    with pytest.raises(ConfigError, match="needs training-period forecasts"):  # run without calibration
        spec.weights(_bar([0.001, 0.001]), params)
    with pytest.raises(ConfigError, match="c must be 0 or more"):
        parse_params(spec, ["c=-1"])


def test_calibrated_without_a_hook_returns_the_params() -> None:
    spec = get("kelly")
    params = parse_params(spec, None)
    out = spec.calibrated(np.zeros((2, 2)), np.ones((2, 2)), params)
    assert out == params and out is not params


def test_cap_gross() -> None:
    assert sizing.cap_gross([0.5, -0.25], 1.0).tolist() == [0.5, -0.25]
    assert np.abs(sizing.cap_gross([2.0, -2.0, 1.0], 1.0)).sum() == pytest.approx(1.0)


def _bar(mean, var=None, first=False, closes=None) -> Bar:
    mean = np.asarray(mean, dtype=float)
    var = np.full_like(mean, 1e-4) if var is None else np.asarray(var, dtype=float)
    hist = np.zeros((0, len(mean))) if closes is None else np.asarray(closes, dtype=float)
    return Bar(
        mean=mean,
        variance=var,
        weights=np.zeros_like(mean),
        first=first,
        history=lambda n: hist[-n:] if len(hist) >= n else np.zeros((0, len(mean))),
    )


def test_per_asset_rules_share_equity_in_sleeves() -> None:
    spec = get("kelly")
    w = spec.weights(_bar([0.01, -0.01, 0.01, 0.01]), parse_params(spec, ["max_leverage=1"]))
    assert w.tolist() == [0.25, -0.25, 0.25, 0.25]
    w = spec.weights(_bar([2e-4] * 4, [4e-4] * 4), parse_params(spec, ["fraction=0.5", "max_leverage=2"]))
    assert w == pytest.approx([0.5 * _full_kelly(2e-4, 4e-4) / 4] * 4)  # each ticker in a quarter of the equity
    vm = get("volmanaged")
    w = vm.weights(_bar([0.0, 0.0], [1e-4, 1e-4]), parse_params(vm, ["c=0.005"]))
    assert w == pytest.approx([0.005 / math.sqrt(_moments(0.0, 1e-4)[1]) / 2] * 2)
    assert vm.sleeve and spec.sleeve and not get("longshort").sleeve


def test_sma_rule_reads_history() -> None:
    spec = get("sma")
    params = parse_params(spec, ["fast=2", "slow=4"])
    rising = np.array([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]])
    assert spec.weights(_bar([np.nan, np.nan], closes=rising), params).tolist() == [0.5, 0.0]
    assert np.isnan(spec.weights(_bar([0.0, 0.0], closes=rising[:3]), params)).all()


def test_buyhold_buys_once() -> None:
    spec = get("buyhold")
    assert spec.weights(_bar([np.nan] * 2, first=True), {}).tolist() == [0.5, 0.5]
    assert np.isnan(spec.weights(_bar([0.1] * 2), {})).all()


def test_registry_lists_the_builtins() -> None:
    names = {s.name for s in available()}
    assert {"kelly", "voltarget", "volmanaged", "threshold", "betsize", "longshort", "buyhold", "sma"} <= names


def test_params_parse_by_type_and_reject_nonsense() -> None:
    spec = get("longshort")
    assert parse_params(spec, ["k=3", "scheme=linear"]) == {"k": 3, "scheme": "linear"}
    with pytest.raises(ConfigError, match="no parameter 'kk'; its parameters: k, scheme"):
        parse_params(spec, ["kk=3"])
    with pytest.raises(ConfigError, match="is not a int"):
        parse_params(spec, ["k=two"])
    with pytest.raises(ConfigError, match="scheme 'zigzag'"):
        parse_params(spec, ["scheme=zigzag"])
    with pytest.raises(ConfigError, match="not key=value"):
        parse_params(spec, ["k"])
    with pytest.raises(ConfigError, match="fast < slow"):
        parse_params(get("sma"), ["fast=50", "slow=20"])
    with pytest.raises(ConfigError, match="not known; use one of"):
        get("nosuch")


def test_a_user_registers_a_strategy() -> None:
    @register("test_long_only_kelly", "Kelly, never short", fraction=Param(0.25, "share of Kelly"))
    def rule(bar: Bar, *, fraction: float) -> np.ndarray:
        return np.maximum(sizing.kelly(bar.mean, bar.variance, fraction=fraction), 0.0)

    spec = get("test_long_only_kelly")
    w = spec.weights(_bar([0.0002, -0.0002]), parse_params(spec, None))
    assert w.tolist() == pytest.approx([0.25 * _full_kelly(0.0002, 1e-4) / 2, 0.0])
