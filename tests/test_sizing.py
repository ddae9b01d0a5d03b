"""Sizing rules against weights computed by hand, and the strategy registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.errors import ConfigError
from strategies import Bar, Param, available, get, parse_params, register, sizing


def test_kelly_by_hand_and_capped() -> None:
    w = sizing.kelly([0.0005, -0.0005, 0.01], [0.0004, 0.0004, 0.0004], fraction=0.5, max_leverage=1.5)
    assert w == pytest.approx([0.5 * 0.0005 / 0.0004, -0.5 * 0.0005 / 0.0004, 1.5])


def test_voltarget_by_hand_threshold_and_cap() -> None:
    sd = 0.02
    w = sizing.voltarget([0.001, -0.001, 0.0001], [sd**2] * 3, target_vol=0.2, threshold=0.01, max_leverage=5)
    daily = 0.2 / math.sqrt(252)
    assert w == pytest.approx([daily / sd, -daily / sd, 0.0])  # 0.0001 / 0.02 = 0.005 < 0.01: flat
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


@pytest.mark.parametrize("rule", [sizing.kelly, sizing.voltarget, sizing.threshold, sizing.betsize])
def test_unusable_forecasts_give_nan(rule) -> None:
    w = rule([0.001, 0.001, 0.001, np.nan, 0.001], [0.0, -1e-4, np.nan, 1e-4, 1e-4])
    assert np.isnan(w[:4]).all() and np.isfinite(w[4])


def test_cap_gross() -> None:
    assert sizing.cap_gross([0.5, -0.25], 1.0).tolist() == [0.5, -0.25]
    assert np.abs(sizing.cap_gross([2.0, -2.0, 1.0], 1.0)).sum() == pytest.approx(1.0)


def _bar(mean, var=None, first=False, closes=None) -> Bar:
    mean = np.asarray(mean, dtype=float)
    var = np.full_like(mean, 1e-4) if var is None else np.asarray(var, dtype=float)
    hist = np.zeros((0, len(mean))) if closes is None else np.asarray(closes, dtype=float)
    return Bar(mean=mean, variance=var, weights=np.zeros_like(mean), first=first,
               history=lambda n: hist[-n:] if len(hist) >= n else np.zeros((0, len(mean))))


def test_per_asset_rules_share_equity_in_sleeves() -> None:
    spec = get("kelly")
    w = spec.weights(_bar([0.01, -0.01, 0.01, 0.01]), parse_params(spec, ["max_leverage=1"]))
    assert w.tolist() == [0.25, -0.25, 0.25, 0.25]


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
    assert {"kelly", "voltarget", "threshold", "betsize", "longshort", "buyhold", "sma"} <= names


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
    assert w.tolist() == pytest.approx([0.25 * 2 / 2, 0.0])
