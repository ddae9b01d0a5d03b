from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from forecasting.evaluation.metrics import (
    crps,
    diebold_mariano,
    diebold_mariano_meaning,
    information_coefficient,
    nll,
    pit_histogram,
    qlike,
    score,
)
from forecasting.evaluation.scoring import common_rows, evaluate
from forecasting.model.distributions import Predictive


def test_crps_equals_the_integral_definition() -> None:
    y, m, s = 0.7, -0.2, 1.3
    cdf = lambda x: stats.norm.cdf(x, m, s)  # noqa: E731
    left = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, y)[0]
    right = integrate.quad(lambda x: (1 - cdf(x)) ** 2, y, np.inf)[0]
    assert np.isclose(crps(np.array([y]), np.array([m]), np.array([s**2]))[0], left + right, rtol=1e-7)


def test_coverage_and_pit_of_a_calibrated_forecast() -> None:
    rng = np.random.default_rng(1)
    sd = rng.uniform(0.5, 2.0, 40000)
    mean = rng.normal(0, 1, 40000)
    y = mean + sd * rng.standard_normal(40000)
    s = score(y, mean, sd**2, hist_mean=np.zeros_like(y), parkinson=sd**2)
    assert abs(s["coverage_50"] - 0.5) < 0.01 and abs(s["coverage_90"] - 0.9) < 0.01
    assert abs(s["coverage_95"] - 0.95) < 0.01
    counts = np.array(pit_histogram(y, mean, sd**2))
    assert counts.min() > 0.9 * counts.mean()
    # an overconfident forecast covers too little
    tight = score(y, mean, (sd / 2) ** 2, hist_mean=np.zeros_like(y), parkinson=sd**2)
    assert tight["coverage_90"] < 0.6 and tight["nll"] > s["nll"]


def test_r_squared_benchmarks_and_direction() -> None:
    y = np.array([0.01, -0.02, 0.03, -0.01])
    mean = np.array([0.005, -0.01, 0.01, 0.002])
    hist = np.full(4, 0.0025)
    s = score(y, mean, np.full(4, 1e-4), hist_mean=hist, parkinson=np.full(4, np.nan))
    sse = np.sum((y - mean) ** 2)
    assert np.isclose(s["r2_vs_zero"], 1 - sse / np.sum(y**2))
    assert np.isclose(s["r2_vs_hist_mean"], 1 - sse / np.sum((y - hist) ** 2))
    assert s["directional_accuracy"] == 0.75 and s["qlike_parkinson"] is None
    assert np.isclose(s["qlike_sq_return"], np.mean(np.log(1e-4) + y**2 / 1e-4))
    assert np.isclose(s["nll"], np.mean(nll(y, mean, np.full(4, 1e-4))))


def test_qlike_is_minimised_by_the_true_variance() -> None:
    proxy = np.full(5, 2.0)
    grid = np.array([0.5, 1.0, 2.0, 4.0])
    assert int(np.argmin([qlike(proxy, np.full(5, g)).mean() for g in grid])) == 2


def test_diebold_mariano_by_hand() -> None:
    """Uncorrected: Newey-West with Bartlett weights, as before; then the HLN factor and a t(n - 1) p-value."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(1.0, 1.0, 300), rng.normal(1.1, 1.0, 300)
    d = a - b
    n, lags = len(d), int(300 ** (1 / 3))
    dc = d - d.mean()
    lrv = dc @ dc / n + sum(2 * (1 - k / (lags + 1)) * (dc[k:] @ dc[:-k]) / n for k in range(1, lags + 1))
    stat = d.mean() / np.sqrt(lrv / n)
    out = diebold_mariano(a, b)
    assert np.isclose(out["statistic_uncorrected"], stat)
    assert np.isclose(out["p_value_uncorrected"], 2 * stats.norm.sf(abs(stat)))
    hln = stat * np.sqrt((n + 1 - 2) / n)
    assert np.isclose(out["statistic"], hln) and np.isclose(out["p_value"], 2 * stats.t.sf(abs(hln), n - 1))
    assert diebold_mariano(a, a + 0.0)["statistic"] == 0.0 and diebold_mariano(a, a + 0.0)["p_value"] == 1.0


def test_diebold_mariano_hln_on_a_small_array_computed_by_hand() -> None:
    base = np.array([0.5, 1.0, 2.0, 0.25, 1.5, 0.75])
    d = np.array([1.0, -1.0, 2.0, 0.0, 1.0, 3.0])  # mean 1; deviations 0, -2, 1, -1, 0, 2
    # gamma_0 = (0 + 4 + 1 + 1 + 0 + 4) / 6 = 10/6; gamma_1 = (0 - 2 - 1 + 0 + 0) / 6 = -1/2; lags = floor(6^(1/3)) = 1
    # long-run variance 10/6 + 2 (1 - 1/2) (-1/2) = 7/6; statistic 1 / sqrt(7/6 / 6) = 6 / sqrt(7)
    out = diebold_mariano(base + d, base)
    assert out["lags"] == 1 and out["n"] == 6 and out["mean_difference"] == 1.0
    assert np.isclose(out["statistic_uncorrected"], 6 / np.sqrt(7))
    # HLN, horizon 1: times sqrt((6 + 1 - 2) / 6) = sqrt(5/6), so sqrt(30/7); p from t with 5 dof
    assert np.isclose(out["statistic"], np.sqrt(30 / 7))
    assert np.isclose(out["p_value"], 2 * stats.t.sf(np.sqrt(30 / 7), 5))
    assert np.isclose(out["p_value"], 0.0931, atol=5e-4)  # a t(5) table: P(|T| > 2.070) = 0.093
    # horizon 2: times sqrt((6 + 1 - 4 + 2 * 1 / 6) / 6) = sqrt(5/9), so sqrt(20/7)
    two = diebold_mariano(base + d, base, horizon=2)
    assert np.isclose(two["statistic"], np.sqrt(20 / 7)) and two["horizon"] == 2
    assert np.isclose(diebold_mariano(base, base + d)["statistic"], -np.sqrt(30 / 7))  # negative favours a


def test_student_t_scores_match_scipy_and_beat_the_normal_on_fat_tailed_data() -> None:
    rng = np.random.default_rng(4)
    n = 40_000
    mean, var, dof = rng.normal(0, 0.01, n), rng.uniform(1e-4, 4e-4, n), rng.uniform(3.0, 8.0, n)
    scale = np.sqrt(var * (dof - 2) / dof)
    y = mean + scale * rng.standard_t(dof)
    np.testing.assert_allclose(nll(y, mean, var, dof=dof), -stats.t.logpdf(y, dof, mean, scale), rtol=1e-10)
    pit = stats.t.cdf(y, dof, mean, scale)
    assert pit_histogram(y, mean, var, dof=dof) == np.histogram(pit, bins=10, range=(0, 1))[0].tolist()
    i = 7
    knots = [mean[i] - scale[i], mean[i], y[i], mean[i] + scale[i]]
    f = lambda x: stats.t.cdf(x, dof[i], mean[i], scale[i])  # noqa: E731
    by_definition = (
        integrate.quad(lambda x: f(x) ** 2, -np.inf, min(knots))[0]
        + integrate.quad(lambda x: (f(x) - (x >= y[i])) ** 2, min(knots), max(knots), points=knots)[0]
        + integrate.quad(lambda x: (1 - f(x)) ** 2, max(knots), np.inf)[0]
    )
    assert np.isclose(
        crps(y[i : i + 1], mean[i : i + 1], var[i : i + 1], dof=dof[i : i + 1])[0], by_definition, rtol=1e-8
    )
    t = score(y, mean, var, hist_mean=np.zeros(n), parkinson=var, dof=dof)
    normal = score(y, mean, var, hist_mean=np.zeros(n), parkinson=var)
    for level in (0.5, 0.9, 0.95):
        assert abs(t[f"coverage_{int(level * 100)}"] - level) < 0.01
    assert normal["coverage_50"] > 0.53  # the normal reads fat tails as too wide a middle
    assert t["nll"] < normal["nll"] and t["crps"] <= normal["crps"] * 1.001
    assert t["mse"] == normal["mse"] and t["qlike_sq_return"] == normal["qlike_sq_return"]
    counts = np.array(t["pit_histogram"])
    assert counts.min() > 0.9 * counts.mean()


def test_score_of_an_ensemble_uses_its_mixture() -> None:
    rng = np.random.default_rng(6)
    n = 2000
    members = [
        Predictive.single(rng.normal(0, 0.01, n), rng.uniform(1e-4, 4e-4, n), rng.uniform(3, 8, n)) for _ in range(3)
    ]
    ens = Predictive.mixture(members)
    y = ens.sample(seed=7)
    s = score(y, ens.mean, ens.var, hist_mean=np.zeros(n), parkinson=ens.var, predictive=ens)
    assert np.isclose(s["nll"], -np.mean(ens.logpdf(y))) and np.isclose(s["crps"], np.mean(ens.crps(y)))
    assert s["coverage_90"] == ens.coverage(y, 0.9)
    assert sum(s["pit_histogram"]) == n
    single = score(y, ens.mean, ens.var, hist_mean=np.zeros(n), parkinson=ens.var)
    assert s["mse"] == single["mse"] and s["nll"] < single["nll"]
    with pytest.raises(ValueError, match="not both"):
        score(y, ens.mean, ens.var, hist_mean=np.zeros(n), parkinson=ens.var, dof=np.full(n, 5.0), predictive=ens)


def test_normal_scores_are_unchanged_by_the_density_argument() -> None:
    rng = np.random.default_rng(8)
    y, m, v = rng.normal(0, 0.02, 500), rng.normal(0, 0.005, 500), rng.uniform(1e-4, 9e-4, 500)
    np.testing.assert_array_equal(nll(y, m, v), 0.5 * (np.log(2 * np.pi * v) + (y - m) ** 2 / v))
    z = (y - m) / np.sqrt(v)
    np.testing.assert_array_equal(
        crps(y, m, v), np.sqrt(v) * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    )
    s = score(y, m, v, hist_mean=np.zeros(500), parkinson=v)
    assert s["coverage_90"] == float(np.mean(np.abs(z) <= stats.norm.ppf(0.95)))
    assert s["pit_histogram"] == np.histogram(stats.norm.cdf(z), bins=10, range=(0, 1))[0].tolist()


def _scoring_frame(n_dates: int = 40, n_tickers: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = n_dates * n_tickers
    frame = pd.DataFrame(
        {
            "date": np.repeat(pd.bdate_range("2022-01-03", periods=n_dates), n_tickers),
            "ticker": np.tile([f"T{i}" for i in range(n_tickers)], n_dates),
            "split": "test",
            "target": rng.normal(0, 0.02, n),
            "parkinson": rng.uniform(1e-4, 5e-4, n),
            "entry": rng.uniform(50, 150, n),
            "lstm_mean": rng.normal(0, 0.005, n),
            "lstm_var": np.full(n, 4e-4),
            "historical_mean": np.full(n, 1e-3),
            "historical_var": np.full(n, 3e-4),
        }
    )
    frame.loc[7, "target"] = np.nan  # not realised: scored by no model
    return frame


def test_price_level_mse_prices_the_exit_from_the_entry_of_the_execution() -> None:
    frame = _scoring_frame()
    rows = frame.drop(index=7)
    for execution, prices in (
        ("next-close", ("the close of t+2", "the close of t+1")),
        ("next-open", ("the open of t+2", "the open of t+1")),
        ("same-close", ("the close of t+1", "the close of t")),
    ):
        result = evaluate(frame, ["lstm", "historical"], execution=execution)
        assert result["execution"] == execution and result["test"]["n"] == len(rows)  # type: ignore[index]
        price = result["test"]["price_level_mse"]  # type: ignore[index]
        exit_price = rows["entry"] * np.exp(rows["target"])  # entry P_{t+lag}, exit P_{t+lag+1}
        assert np.isclose(price["lstm"], np.mean((exit_price - rows["entry"] * np.exp(rows["lstm_mean"])) ** 2))
        assert np.isclose(price["persistence"], np.mean((exit_price - rows["entry"]) ** 2))
        assert price["note"].startswith(f"MSE of {prices[0]} in price units") and prices[1] in price["note"]
    assert evaluate(frame, ["lstm", "historical"], execution="next-open")["target"] == (
        "log return from the open of t+1 to the open of t+2"
    )
    assert len(common_rows(frame, ["lstm", "historical"])) == len(rows)


def _ic_by_loop(frame: pd.DataFrame, column: str) -> float | None:
    """The definition, one date at a time with scipy's Spearman correlation."""
    values = []
    for _, g in frame.groupby("date", sort=False):
        if len(g) < 3 or g[column].nunique() < 2 or g["target"].nunique() < 2:
            continue
        rho = stats.spearmanr(g[column], g["target"]).statistic
        if np.isfinite(rho):
            values.append(rho)
    return float(np.mean(values)) if values else None


def test_information_coefficient_equals_scipys_spearman_date_by_date() -> None:
    rng = np.random.default_rng(5)
    dates = np.repeat(pd.bdate_range("2020-01-01", periods=300), 6)
    frame = pd.DataFrame(
        {
            "date": dates,
            "f": rng.integers(0, 4, len(dates)).astype(float),  # many ties
            "target": rng.normal(size=len(dates)),
        }
    )
    frame.loc[rng.random(len(frame)) < 0.03, "f"] = np.nan  # dates with a missing value are left out
    frame.loc[frame["date"] == frame["date"].iloc[0], "f"] = 1.0  # a constant forecast
    frame = frame.drop(index=frame.index[(frame["date"] == frame["date"].iloc[-1])][:4])  # a date of 2 tickers
    frame = frame.sample(frac=1.0, random_state=1)  # dates out of order
    expected = _ic_by_loop(frame, "f")
    assert expected is not None
    assert information_coefficient(frame, "f") == pytest.approx(expected, abs=1e-12)
    assert information_coefficient(frame.assign(f=1.0), "f") is None


def test_the_diebold_mariano_sentence_follows_the_sign_and_the_p_value() -> None:
    def test(stat: float, p: float) -> dict[str, float]:
        return {"statistic": stat, "p_value": p}

    say = lambda a, b=None: diebold_mariano_meaning(a, b, model="the LSTM", against="HAR")  # noqa: E731
    assert (
        say(test(-2.6, 0.01)) == "The log score of the LSTM is better than that of HAR (DM p = 0.01): more than noise."
    )
    assert (
        say(test(2.6, 0.0004)) == "The log score of the LSTM is worse than that of HAR (DM p < 0.001): more than noise."
    )
    assert say(test(-1.9, 0.05)) == "The log scores of the LSTM and HAR cannot be told apart (DM p = 0.05)."
    assert say(test(-1.0, 0.3), test(-3.0, 0.002)).endswith("; on squared error the LSTM is better (p = 0.002).")
    assert say(test(-1.0, 0.3), test(3.0, 0.002)).endswith("; on squared error the LSTM is worse (p = 0.002).")
    # evaluate's headline test carries its sentence, built from its own figures
    frame = _scoring_frame()
    dm = evaluate(frame, ["lstm", "historical"])["test"]["diebold_mariano"]
    assert dm["meaning"] == diebold_mariano_meaning(
        dm["nll"], dm["squared_error"], model="LSTM-MLE", against="historical mean/var"
    )
