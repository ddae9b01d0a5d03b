from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import integrate, stats

from forecasting.evaluation import common_rows, evaluate
from forecasting.metrics import crps, diebold_mariano, nll, pit_histogram, qlike, score


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
    rng = np.random.default_rng(2)
    a, b = rng.normal(1.0, 1.0, 300), rng.normal(1.1, 1.0, 300)
    d = a - b
    n, lags = len(d), int(300 ** (1 / 3))
    dc = d - d.mean()
    lrv = dc @ dc / n + sum(2 * (1 - k / (lags + 1)) * (dc[k:] @ dc[:-k]) / n for k in range(1, lags + 1))
    stat = d.mean() / np.sqrt(lrv / n)
    out = diebold_mariano(a, b)
    assert np.isclose(out["statistic"], stat) and np.isclose(out["p_value"], 2 * stats.norm.sf(abs(stat)))
    assert diebold_mariano(a, a + 0.0)["statistic"] == 0.0


def _scoring_frame(n_dates: int = 40, n_tickers: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = n_dates * n_tickers
    frame = pd.DataFrame({
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
    })
    frame.loc[7, "target"] = np.nan  # not realised: scored by no model
    return frame


def test_price_level_mse_prices_the_exit_from_the_entry_of_the_execution() -> None:
    frame = _scoring_frame()
    rows = frame.drop(index=7)
    for execution, prices in (("next-close", ("the close of t+2", "the close of t+1")),
                              ("next-open", ("the open of t+2", "the open of t+1")),
                              ("same-close", ("the close of t+1", "the close of t"))):
        result = evaluate(frame, ["lstm", "historical"], execution=execution)
        assert result["execution"] == execution and result["test"]["n"] == len(rows)  # type: ignore[index]
        price = result["test"]["price_level_mse"]  # type: ignore[index]
        exit_price = rows["entry"] * np.exp(rows["target"])  # entry P_{t+lag}, exit P_{t+lag+1}
        assert np.isclose(price["lstm"], np.mean((exit_price - rows["entry"] * np.exp(rows["lstm_mean"])) ** 2))
        assert np.isclose(price["persistence"], np.mean((exit_price - rows["entry"]) ** 2))
        assert price["note"].startswith(f"MSE of {prices[0]} in price units") and prices[1] in price["note"]
    assert evaluate(frame, ["lstm", "historical"], execution="next-open")["target"] == (
        "log return from the open of t+1 to the open of t+2")
    assert len(common_rows(frame, ["lstm", "historical"])) == len(rows)
