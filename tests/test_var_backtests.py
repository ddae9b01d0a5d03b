"""Value-at-risk backtests: Kupiec's and Christoffersen's statistics by hand, their edge cases, size and power."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecasting.evaluation.var_backtests import (
    density_panel_var_backtests,
    density_var_backtests,
    panel_var_backtest,
    var_backtest,
    var_hits,
)
from forecasting.model.distributions import Predictive

# day:   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
HITS = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0]


def _returns_for(hits: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Returns and a VaR that changes every day, the return 0.5 below its VaR on a hit day and 0.5 above else."""
    var = -2.0 - 0.1 * np.arange(len(hits))
    return np.where(np.array(hits) == 1, var - 0.5, var + 0.5), var


def test_kupiec_and_christoffersen_equal_their_formulas_on_a_hand_made_sequence() -> None:
    # 20 days, 7 hits (days 2, 3, 7, 12, 15, 16, 17). The 19 transitions (yesterday -> today):
    # n00: 0->1, 4->5, 5->6, 8->9, 9->10, 10->11, 13->14, 18->19     = 8
    # n01: 1->2, 6->7, 11->12, 14->15                                 = 4
    # n10: 3->4, 7->8, 12->13, 17->18                                 = 4
    # n11: 2->3, 15->16, 16->17                                       = 3
    y, var = _returns_for(HITS)
    r = var_backtest(y, var, alpha=0.2)
    assert (r.n, r.hits, r.hit_rate) == (20, 7, 0.35)
    assert (r.n00, r.n01, r.n10, r.n11) == (8, 4, 4, 3)
    # Kupiec: -2 [(n - x) ln(1 - alpha) + x ln(alpha) - (n - x) ln(1 - x/n) - x ln(x/n)]
    uc = -2 * (13 * math.log(0.8) + 7 * math.log(0.2) - 13 * math.log(13 / 20) - 7 * math.log(7 / 20))
    # Christoffersen: pi01 = 4/12, pi11 = 3/7, pi = 7/19
    ind = -2 * (
        (8 + 4) * math.log(12 / 19)
        + (4 + 3) * math.log(7 / 19)
        - 8 * math.log(8 / 12)
        - 4 * math.log(4 / 12)
        - 4 * math.log(4 / 7)
        - 3 * math.log(3 / 7)
    )
    assert r.uc_lr == pytest.approx(uc, rel=1e-12)
    assert r.ind_lr == pytest.approx(ind, rel=1e-12)
    assert r.cc_lr == pytest.approx(uc + ind, rel=1e-12)
    assert r.uc_p == pytest.approx(stats.chi2.sf(uc, 1), rel=1e-12)
    assert r.ind_p == pytest.approx(stats.chi2.sf(ind, 1), rel=1e-12)
    assert r.cc_p == pytest.approx(stats.chi2.sf(uc + ind, 2), rel=1e-12)
    assert r.meaning.startswith("35% of 20 returns fell below the 20% VaR (expected 20%); ")


def test_a_return_equal_to_its_var_is_not_a_hit_and_missing_days_are_nan() -> None:
    assert var_hits([-1.0, -1.0 - 1e-12, 0.0], [-1.0, -1.0, -0.5]).tolist() == [0.0, 1.0, 0.0]
    assert np.isnan(var_hits([-1.0, np.nan], [-2.0, -2.0])[1])
    assert np.isnan(var_hits([-1.0], [np.nan])[0])


def test_no_hits_all_hits_and_no_hit_after_a_hit_use_zero_log_zero() -> None:
    none = var_backtest(np.ones(10), np.zeros(10), alpha=0.05)
    assert none.hits == 0
    assert none.uc_lr == pytest.approx(-2 * 10 * math.log(0.95), rel=1e-12)  # -2 [10 ln 0.95 - 10 ln 1 - 0 ln 0]
    assert none.ind_lr == 0.0 and none.ind_p == 1.0
    assert "clustering cannot be judged" in none.meaning

    every = var_backtest(-np.ones(10), np.zeros(10), alpha=0.05)
    assert every.uc_lr == pytest.approx(-2 * 10 * math.log(0.05), rel=1e-12)  # -2 [10 ln 0.05 - 10 ln 1]
    assert every.uc_p is not None and every.uc_p < 1e-12 and "too many: the model understates the risk" in every.meaning

    # hits 1 1 0 0 0: n00 = 2, n01 = 0 (no hit after a day without one), n10 = 1, n11 = 1;
    # pi01 = 0/2, pi11 = 1/2, pi = 1/4; the terms 0 ln(pi01) and 2 ln(1 - pi01) = 2 ln 1 vanish
    y, var = _returns_for([1, 1, 0, 0, 0])
    lone = var_backtest(y, var, alpha=0.05)
    assert (lone.n00, lone.n01, lone.n10, lone.n11) == (2, 0, 1, 1)
    ind = -2 * ((2 + 1) * math.log(3 / 4) + (0 + 1) * math.log(1 / 4) - 1 * math.log(1 / 2) - 1 * math.log(1 / 2))
    assert lone.ind_lr == pytest.approx(ind, rel=1e-12)
    assert lone.ind_lr == pytest.approx(1.7261, abs=1e-4)


def test_a_test_without_its_data_is_none_not_a_number() -> None:
    one = var_backtest([-3.0], [-2.0], alpha=0.05)
    assert one.n == 1 and one.uc_lr == pytest.approx(-2 * math.log(0.05))
    assert one.ind_lr is None and one.ind_p is None and one.cc_lr is None and one.cc_p is None
    assert "fewer than 2 consecutive returns" in one.meaning
    empty = var_backtest([np.nan, np.nan], [-2.0, -2.0], alpha=0.05)
    assert empty.n == 0 and empty.uc_lr is None and empty.hit_rate is None
    assert empty.meaning == "No return had a 5% VaR, so coverage cannot be tested."
    gap = var_backtest([-3.0, np.nan, -3.0], [-2.0, -2.0, -2.0], alpha=0.05)  # the gap breaks the chain
    assert (gap.n, gap.hits, gap.n11) == (2, 2, 0) and gap.ind_lr is None
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        var_backtest([0.0], [0.0], alpha=5)
    with pytest.raises(ValueError, match="one VaR per return"):
        var_backtest([0.0, 1.0], [0.0], alpha=0.05)


def test_clustered_hits_are_named_in_the_meaning() -> None:
    hits = [0] * 40 + [1] * 6 + [0] * 40 + [1] * 6 + [0] * 40
    y, var = _returns_for(hits)
    r = var_backtest(y, var, alpha=0.05)
    assert r.ind_p is not None and r.ind_p < 0.001
    assert "hits cluster: 83.3% of days after a hit were hits" in r.meaning


def test_panel_counts_transitions_within_each_ticker_and_pools_the_counts() -> None:
    # A: hits 0 1 1 ; B: hits 1 0 - 1 (a missing third day). Stacked end to end, A's last hit would be followed
    # by B's first (an n11 that does not exist). A: n01 = 1, n11 = 1. B: n10 = 1, no pair across the gap.
    idx = pd.bdate_range("2024-01-01", periods=4)
    y = pd.DataFrame({"A": [0.0, -3.0, -3.0, np.nan], "B": [-3.0, 0.0, np.nan, -3.0]}, index=idx)
    var = pd.DataFrame(-2.0, index=idx, columns=["A", "B"])
    p = panel_var_backtest(y, var, alpha=0.05)
    a, b, pooled = p.per_ticker["A"], p.per_ticker["B"], p.pooled
    assert (a.n, a.hits, a.n00, a.n01, a.n10, a.n11) == (3, 2, 0, 1, 0, 1)
    assert (b.n, b.hits, b.n00, b.n01, b.n10, b.n11) == (3, 2, 0, 0, 1, 0)
    assert (pooled.n, pooled.hits, pooled.n00, pooled.n01, pooled.n10, pooled.n11) == (6, 4, 0, 1, 1, 1)
    # pooled Kupiec on 4 hits in 6; pooled Christoffersen on the summed transitions: pi01 = 1, pi11 = 1/2, pi = 2/3
    uc = -2 * (2 * math.log(0.95) + 4 * math.log(0.05) - 2 * math.log(2 / 6) - 4 * math.log(4 / 6))
    ind = -2 * (
        (0 + 1) * math.log(1 / 3)
        + (1 + 1) * math.log(2 / 3)
        - 0
        - 1 * math.log(1.0)
        - 1 * math.log(1 / 2)
        - 1 * math.log(1 / 2)
    )
    assert pooled.uc_lr == pytest.approx(uc, rel=1e-12)
    assert pooled.ind_lr == pytest.approx(ind, rel=1e-12)
    assert list(p.table().index) == ["A", "B", "pooled"]
    with pytest.raises(ValueError, match="same dates and tickers"):
        panel_var_backtest(y, var[["B", "A"]], alpha=0.05)


def _t_paths(rng: np.random.Generator, paths: int, n: int, dof: float) -> np.ndarray:
    return stats.t.rvs(dof, size=(paths, n), random_state=rng)


def test_a_correct_model_is_rejected_about_5_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    dof, n, paths = 5.0, 750, 2000
    y = _t_paths(rng, paths, n, dof)
    # the model's own density: Student-t with the true variance dof / (dof - 2), its 5% quantile
    q = Predictive.single(np.zeros(n), np.full(n, dof / (dof - 2)), np.full(n, dof)).ppf(0.05)
    assert q[0] == pytest.approx(stats.t.ppf(0.05, dof), rel=1e-9)
    results = [var_backtest(y[i], q, alpha=0.05) for i in range(paths)]
    uc = np.mean([r.uc_p < 0.05 for r in results])  # type: ignore[operator]
    cc = np.mean([r.cc_p < 0.05 for r in results])  # type: ignore[operator]
    # 2,000 paths: the standard error of a 5% rejection rate is 0.5%
    assert 0.035 < uc < 0.07
    assert 0.035 < cc < 0.07


def test_a_too_thin_normal_is_rejected_nearly_always() -> None:
    rng = np.random.default_rng(12)
    dof, n, paths = 4.0, 750, 500
    y = _t_paths(rng, paths, n, dof)  # variance 2
    thin = Predictive.single(np.zeros(n), np.ones(n)).ppf(0.01)  # a normal with half the true variance
    results = [var_backtest(y[i], thin, alpha=0.01) for i in range(paths)]
    assert np.mean([r.uc_p < 0.05 for r in results]) > 0.97  # type: ignore[operator]
    assert np.mean([r.hit_rate for r in results]) > 0.03
    assert "too many: the model understates the risk" in results[0].meaning


def test_density_var_backtests_use_the_quantiles_of_each_forecasts_own_density() -> None:
    rng = np.random.default_rng(13)
    n = 400
    scale = np.exp(rng.normal(0, 0.3, n))  # a different density every day
    dof = np.full(n, 6.0)
    y = stats.t.rvs(6.0, size=n, random_state=rng) * scale
    density = Predictive.single(np.zeros(n), scale**2 * 6.0 / 4.0, dof)  # variance of scale x t(6)
    out = density_var_backtests(y, density, levels=(0.01, 0.05))
    assert list(out) == [0.01, 0.05]
    for level, r in out.items():
        by_hand = int(np.sum(y < scale * stats.t.ppf(level, 6.0)))
        assert r.hits == by_hand and r.alpha == level
        assert r == var_backtest(y, density.ppf(level), level)


def test_a_panel_out_of_time_order_is_refused() -> None:
    idx = pd.bdate_range("2024-01-01", periods=3)[::-1]
    y = pd.DataFrame({"A": [0.0, -3.0, 1.0]}, index=idx)
    with pytest.raises(ValueError, match="not in time order"):
        panel_var_backtest(y, pd.DataFrame(-2.0, index=idx, columns=["A"]), alpha=0.05)


def test_a_long_table_is_backtested_as_the_panel_of_its_tickers_gaps_included() -> None:
    """Rows shuffled, one ticker missing some dates: the same as panel_var_backtest on the hand-made wide panel."""
    rng = np.random.default_rng(17)
    dates = pd.bdate_range("2024-01-01", periods=120)
    wide_y = pd.DataFrame(rng.standard_t(5, (120, 3)) * 0.01, index=dates, columns=["A", "B", "C"])
    scale = pd.DataFrame(np.exp(rng.normal(-4.6, 0.3, (120, 3))), index=dates, columns=["A", "B", "C"])
    wide_y.iloc[40:45, 1] = np.nan  # B has no row for 5 days: a gap, never a transition across it
    long = pd.concat({"target": wide_y.stack(), "scale": scale.stack()}, axis=1).dropna()
    long = long.rename_axis(["date", "ticker"]).reset_index().sample(frac=1.0, random_state=0)
    density = Predictive.single(np.zeros(len(long)), long["scale"].to_numpy() ** 2, np.full(len(long), 5.0))
    out = density_panel_var_backtests(long, density, levels=(0.01, 0.05))
    assert list(out) == [0.01, 0.05] and out[0.05].per_ticker["B"].n == 115
    for level, got in out.items():
        wide_var = scale * stats.t.ppf(level, 5.0) * np.sqrt(3 / 5)  # the t(5)'s quantile at unit variance
        want = panel_var_backtest(wide_y, wide_var.where(wide_y.notna()), level)
        for t, g in [*got.per_ticker.items(), ("pooled", got.pooled)]:
            w = want.pooled if t == "pooled" else want.per_ticker[t]
            assert (g.n, g.hits, g.n00, g.n01, g.n10, g.n11) == (w.n, w.hits, w.n00, w.n01, w.n10, w.n11), t
            assert g.uc_p == pytest.approx(w.uc_p) and g.cc_p == pytest.approx(w.cc_p), t
            assert g.meaning == w.meaning


def test_a_long_table_with_two_rows_for_one_ticker_and_date_is_refused() -> None:
    f = pd.DataFrame({"date": [pd.Timestamp("2024-01-02")] * 2, "ticker": ["A", "A"], "target": [0.0, 0.1]})
    with pytest.raises(ValueError, match="two rows for one"):
        density_panel_var_backtests(f, Predictive.single(np.zeros(2), np.ones(2)))


def test_the_sentence_joins_a_failed_coverage_and_clustering_with_and_a_passed_one_with_but() -> None:
    def backtest(hits: list[int], alpha: float) -> str:
        h = np.asarray(hits, dtype=bool)
        return var_backtest(np.where(h, -1.0, 1.0), np.zeros(len(h)), alpha).meaning

    calm = [0] * 40
    clustered_right = ([*calm, 1, 1, 1, *calm]) * 5  # 15 hits in 415 days at 5%: 3.6%, coverage passes
    clustered_many = ([*calm[:10], 1, 1, 1, 1]) * 20  # 80 of 280: far too many, and they cluster
    assert ", but hits cluster" in backtest(clustered_right, 0.05)
    assert "too many" in backtest(clustered_many, 0.05) and ", and hits cluster" in backtest(clustered_many, 0.05)
