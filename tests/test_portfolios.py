"""Issue 20: portfolios from forecast risk, sleeves over the tickers that trade, and rules on the whole density.

The market with a known covariance: 6 tickers, annual volatilities 10% to 40%, correlation 0.8 inside two blocks
(2 and 4 tickers) and 0.2 across them, so that inverse-volatility weights are not risk parity; 5,000 days; the
forecasts are the true moments of each day's held return.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backtests.costs import CostModel
from backtests.engine import Execution, run_backtest
from backtests.inputs import align
from backtests.vectorized import replay
from forecasting.model.distributions import Predictive
from strategies import Bar, get, parse_params, sizing
from strategies.covariance import forecast_covariance, shrunk_correlation, standardised_returns
from strategies.portfolio import risk_contributions, risk_parity

FREE = CostModel(commission_bps=0, half_spread_bps=0, impact=0, participation=1, borrow=0, financing=0)
VOLS = np.array([0.10, 0.16, 0.22, 0.28, 0.34, 0.40])
BLOCK = np.array([0, 0, 1, 1, 1, 1])
DAYS = 5000
TEST_FROM = 300


def _true_correlation() -> np.ndarray:
    corr = np.where(BLOCK[:, None] == BLOCK[None, :], 0.8, 0.2)
    np.fill_diagonal(corr, 1.0)
    return corr


def _known_market(sharpe: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The panel, forecasts with the true daily moments of the held (next-close) log return, and the true
    covariance of the simple daily return."""
    rng = np.random.default_rng(seed)
    sd = VOLS / np.sqrt(252)
    cov_log = sd[:, None] * _true_correlation() * sd[None, :]
    m = sharpe * VOLS / 252  # daily log mean: an annual Sharpe ratio of about ``sharpe``
    x = m + rng.standard_normal((DAYS, 6)) @ np.linalg.cholesky(cov_log).T
    close = 100 * np.exp(np.cumsum(x, axis=0))
    dates = pd.bdate_range("2000-01-03", periods=DAYS)
    tickers = [f"T{j}" for j in range(6)]
    frames, fcs = [], []
    for j, t in enumerate(tickers):
        c = close[:, j]
        frames.append(
            pd.DataFrame(
                {"date": dates, "ticker": t, "open": c, "high": c * 1.001, "low": c * 0.999, "close": c, "volume": 1e12}
            )
        )
        target = np.r_[np.log(c[2:] / c[1:-1]), np.nan, np.nan]  # next-close: close of t+1 to close of t+2
        fcs.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "ticker": t,
                    "mean": m[j],
                    "variance": sd[j] ** 2,
                    "target": target,
                    "split": np.where(np.arange(DAYS) < TEST_FROM, "train", "test"),
                    "execution": "next-close",
                }
            )
        )
    panel = pd.concat(frames).set_index(["date", "ticker"]).sort_index()
    fc = pd.concat(fcs, ignore_index=True).dropna(subset=["target"]).reset_index(drop=True)
    mu = np.expm1(m + sd**2 / 2)
    cov_simple = np.outer(1 + mu, 1 + mu) * np.expm1(cov_log)
    return panel, fc, cov_simple


@pytest.fixture(scope="module")
def known() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    return _known_market(sharpe=0.5)


def _backtest(panel, fc, strategy, params=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = align(panel, fc)
        return run_backtest(data, get(strategy), parse_params(get(strategy), params), Execution(costs=FREE, **kw))


@pytest.mark.slow
def test_risk_parity_equalises_risk_under_the_covariance_it_used_and_nearly_under_the_true_one(known) -> None:
    panel, fc, true_cov = known
    result = _backtest(panel, fc, "riskparity")
    data = result.data
    z = standardised_returns(data.prices["close"], data.tradable)
    decisions = result.decisions.to_numpy()
    rows = data.dates.get_indexer(result.decisions.index)
    worst_used, spread_true = 0.0, []
    for k in range(0, len(rows), 7):  # every seventh decision
        w, i = decisions[k], rows[k]
        assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w > 0).all()
        used = forecast_covariance(data.mean[i], data.variance[i], z, i)
        rc = risk_contributions(w, used)
        worst_used = max(worst_used, float(np.abs(rc - 1 / 6).max()))
        rc_true = risk_contributions(w, true_cov)
        spread_true.append(float((rc_true.max() - rc_true.min()) / rc_true.mean()))
    assert worst_used < 1e-6
    # under the true covariance the estimate's noise shows: a two-year window of 6 tickers is no exact matrix
    typical, bad = np.percentile(spread_true, [50, 90])
    assert typical < 0.10 and bad < 0.15, (typical, bad)
    # it is not inverse volatility: the block of four correlated tickers gets less than 1/vol would give it
    inverse_vol = (1 / VOLS) / (1 / VOLS).sum()
    rc_inv = risk_contributions(inverse_vol, true_cov)
    assert (rc_inv.max() - rc_inv.min()) / rc_inv.mean() > 0.3
    assert np.abs(np.nanmean(decisions, axis=0) - inverse_vol).max() > 0.02


@pytest.mark.slow
def test_target_vol_realises_the_volatility_aimed_at(known) -> None:
    panel, fc, _ = known
    for strategy in ("riskparity", "buyhold"):
        result = _backtest(panel, fc, strategy, target_vol=0.10)
        realised = float(result.returns.std() * np.sqrt(252))
        assert 0.08 <= realised <= 0.12, (strategy, realised)
    unscaled = float(_backtest(panel, fc, "riskparity").returns.std() * np.sqrt(252))
    assert not 0.08 <= unscaled <= 0.12  # the scaling did the work


@pytest.mark.slow
def test_meanvar_grows_log_wealth_faster_than_per_sleeve_kelly_on_the_true_moments(known) -> None:
    panel, fc, _ = known
    growth = {}
    # both at half Kelly and neither capped: per-sleeve kelly sizes each ticker alone in a sixth of the equity,
    # meanvar sizes the book from the joint moments
    settings = {"meanvar": ["max_gross=20", "max_weight=20"], "kelly": ["max_leverage=20"]}
    for strategy in ("meanvar", "kelly"):
        result = _backtest(panel, fc, strategy, settings[strategy])
        growth[strategy] = float(np.log1p(result.returns).sum())
        # the independent replay agrees with the engine for the portfolio rules too
        again = replay(result.decisions, result.data, mode="next-close", costs=FREE, first=result.first)
        assert np.abs(again["net"].to_numpy() - result.returns.to_numpy()).max() < 1e-10
    assert growth["meanvar"] > growth["kelly"] > 0, growth


def test_the_shrunk_correlation_matches_ledoit_and_wolfs_reference_code() -> None:
    """Ledoit and Wolf's covCor.m (2004), transcribed from its published Matlab, on demeaned unit-variance data:
    the same intensity and matrix as the weighted estimator with equal weights."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((120, 5)) @ np.linalg.cholesky(0.3 + 0.7 * np.eye(5)).T
    x = x - x.mean(axis=0)
    x = x / np.sqrt((x**2).mean(axis=0))
    t, n = x.shape
    # covCor.m
    sample = x.T @ x / t
    var = np.diag(sample)[:, None]
    sqrtvar = np.sqrt(var)
    rbar = (np.sum(sample / (sqrtvar @ sqrtvar.T)) - n) / (n * (n - 1))
    prior = rbar * (sqrtvar @ sqrtvar.T)
    np.fill_diagonal(prior, var[:, 0])
    y = x**2
    phi_mat = y.T @ y / t - 2 * (x.T @ x) * sample / t + sample**2
    phi = phi_mat.sum()
    term1 = (x**3).T @ x / t
    help_ = x.T @ x / t
    help_diag = np.diag(help_)[:, None]
    term2 = help_diag * sample
    term3 = help_ * var
    term4 = var * sample
    theta_mat = term1 - term2 - term3 + term4
    np.fill_diagonal(theta_mat, 0)
    rho = np.sum(np.diag(phi_mat)) + rbar * np.sum((1 / sqrtvar) @ sqrtvar.T * theta_mat)
    gamma = np.linalg.norm(sample - prior, "fro") ** 2
    kappa = (phi - rho) / gamma
    shrinkage = max(0, min(1, kappa / t))
    expected = shrinkage * prior + (1 - shrinkage) * sample
    got, delta = shrunk_correlation(x, halflife=0)
    assert delta == pytest.approx(shrinkage, rel=1e-9)
    assert got == pytest.approx(expected, abs=1e-12)


def test_the_correlation_at_a_close_uses_nothing_after_it(known) -> None:
    panel, _, _ = known
    close = panel["close"].unstack().to_numpy()[:600]
    real = np.ones_like(close, dtype=bool)
    z = standardised_returns(close, real)
    moved = close.copy()
    moved[400:] *= np.exp(np.random.default_rng(9).normal(0, 0.05, moved[400:].shape))
    z_moved = standardised_returns(moved, real)
    np.testing.assert_array_equal(z[:400], z_moved[:400])
    sd2 = np.full(6, 1e-4)
    for row in (300, 399):
        np.testing.assert_array_equal(
            forecast_covariance(np.zeros(6), sd2, z, row), forecast_covariance(np.zeros(6), sd2, z_moved, row)
        )
    assert not np.array_equal(
        forecast_covariance(np.zeros(6), sd2, z, 450), forecast_covariance(np.zeros(6), sd2, z_moved, 450)
    )


def test_risk_parity_and_minimum_variance_solve_their_problems() -> None:
    from strategies.portfolio import min_variance

    cov = np.array([[0.04, 0.018, 0.0], [0.018, 0.01, 0.0], [0.0, 0.0, 0.09]])
    w = risk_parity(cov)
    assert risk_contributions(w, cov) == pytest.approx(np.full(3, 1 / 3), abs=1e-12)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8))
    cov = a @ a.T / 8 + np.diag(rng.uniform(0.1, 1, 8))
    w = min_variance(cov)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    for _ in range(200):  # no feasible long-only book has less variance
        other = rng.dirichlet(np.ones(8) * 0.5)
        assert w @ cov @ w <= other @ cov @ other + 1e-12
    assert (min_variance(cov, max_weight=0.2) <= 0.2 + 1e-9).all()


# --- sleeves over the tickers that trade, and a benchmark over the same ------------------------------------------


def _listing_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A trades from the start, B lists on day 150 (inside the test period), C's data ends on day 400 of 500."""
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2020-01-01", periods=500)
    span = {"A": (0, 500), "B": (150, 500), "C": (0, 401)}
    frames, fcs = [], []
    for t, (a, b) in span.items():
        c = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, b - a)))
        d = dates[a:b]
        frames.append(
            pd.DataFrame(
                {"date": d, "ticker": t, "open": c, "high": c * 1.01, "low": c * 0.99, "close": c, "volume": 1e9}
            )
        )
        target = np.r_[np.log(c[2:] / c[1:-1]), np.nan, np.nan]
        fcs.append(
            pd.DataFrame(
                {
                    "date": d,
                    "ticker": t,
                    "mean": 0.0005,
                    "variance": 2e-4,
                    "target": target,
                    "split": np.where(d < dates[100], "train", "test"),
                    "execution": "next-close",
                }
            )
        )
    panel = pd.concat(frames).set_index(["date", "ticker"]).sort_index()
    return panel, pd.concat(fcs, ignore_index=True).dropna(subset=["target"]).reset_index(drop=True)


def test_buyhold_matches_the_benchmark_as_tickers_list_and_delist() -> None:
    panel, fc = _listing_panel()
    free = _backtest(panel, fc, "buyhold")
    # without costs, buy and hold is the benchmark: equal weights over the listed tickers, rebalanced as they
    # enter and leave
    np.testing.assert_allclose(free.returns.to_numpy(), free.benchmark.to_numpy(), rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        costly = run_backtest(align(panel, fc), get("buyhold"), {}, Execution())
    # with costs: the same path but for the costs paid (and the small cash they take from the positions)
    assert np.abs(costly.gross_returns - costly.benchmark).max() < 1e-5
    lost = float(np.log1p(costly.benchmark).sum() - np.log1p(costly.returns).sum())  # log wealth lost
    assert 0 < lost <= 1.1 * float(costly.costs.sum())
    # while two tickers trade, each holds half; three, a third each
    held = free.holdings
    dates = free.data.dates
    before_b = held.loc[held.index < dates[150]]
    assert before_b.iloc[0][["A", "C"]].tolist() == pytest.approx([0.5, 0.5], abs=1e-12)
    assert before_b.iloc[0]["B"] == 0.0
    entry = held.loc[dates[150]]
    assert entry.tolist() == pytest.approx([1 / 3] * 3, abs=1e-12)
    after_c = held.loc[held.index > dates[401]]
    assert after_c.iloc[0]["C"] == 0.0


def test_per_asset_sleeves_divide_over_the_tickers_with_a_forecast() -> None:
    panel, fc = _listing_panel()
    result = _backtest(panel, fc, "voltarget", ["max_leverage=10"])
    one = float(sizing.voltarget([0.0005], [2e-4], target_vol=0.10, max_leverage=10.0)[0])
    decisions = result.decisions
    dates = result.data.dates
    two = decisions.loc[decisions.index < dates[150]]
    three = decisions.loc[(decisions.index >= dates[150]) & (decisions.index < dates[398])]
    assert two[["A", "C"]].to_numpy() == pytest.approx(one / 2, rel=1e-12)
    assert three.to_numpy() == pytest.approx(one / 3, rel=1e-12)


def test_the_sma_rule_sees_no_price_before_a_listing() -> None:
    panel, fc = _listing_panel()
    result = _backtest(panel, fc, "sma", ["fast=5", "slow=30"])
    b = result.decisions["B"]
    dates = result.data.dates
    assert b.loc[b.index < dates[150 + 29]].isna().all()  # fewer than 30 real closes: no decision
    assert b.loc[b.index >= dates[150 + 29]].notna().all()


# --- the whole predictive density --------------------------------------------------------------------------------


def _bar(mean, variance, dof=None, members=None) -> Bar:
    mean = np.asarray(mean, dtype=float)
    return Bar(
        mean,
        np.asarray(variance, dtype=float),
        np.zeros_like(mean),
        False,
        lambda n: np.empty((0, 1)),
        dof=None if dof is None else np.asarray(dof, dtype=float),
        members=members,
    )


def test_the_probability_of_a_rise_comes_from_the_forecasts_own_density() -> None:
    mean, var, dof = np.array([0.001, -0.002, 0.0005]), np.array([1e-4, 4e-4, 2e-4]), np.array([3.0, 5.0, np.nan])
    p = _bar(mean, var, dof).prob_rise()
    scale = np.sqrt(var[:2] * (dof[:2] - 2) / dof[:2])
    assert p[:2] == pytest.approx(stats.t.cdf(mean[:2] / scale, dof[:2]), abs=1e-9)
    assert p[2] == pytest.approx(stats.norm.cdf(mean[2] / np.sqrt(var[2])), abs=1e-9)
    # an ensemble: the mixture's probability, the mean of its members' (computed with scipy alone)
    ms, vs, ds = (
        np.array([[0.001, 0.0], [-0.001, 0.002]]),
        np.array([[1e-4, 2e-4], [3e-4, 1e-4]]),
        np.array([[4.0, 3.0], [np.inf, 6.0]]),
    )
    members = Predictive(ms, vs, ds)
    got = _bar(members.mean, members.var, members=members).prob_rise()
    per = [
        [
            stats.t.sf(0, ds[k, j], loc=ms[k, j], scale=np.sqrt(vs[k, j] * (ds[k, j] - 2) / ds[k, j]))
            if np.isfinite(ds[k, j])
            else stats.norm.sf(0, ms[k, j], np.sqrt(vs[k, j]))
            for j in range(2)
        ]
        for k in range(2)
    ]
    assert got == pytest.approx(np.mean(per, axis=0), abs=1e-9)


def test_betsize_uses_the_student_t_probability() -> None:
    """The issue's figure: at mean / sd = 0.1 and 3 degrees of freedom the betsize weight is 0.102 (0.064 from
    the normal's probability)."""
    bar = _bar([0.001], [1e-4], [3.0])
    w = get("betsize").weights(bar, {"max_leverage": 1.0})
    assert w[0] == pytest.approx(0.1016, abs=5e-4)
    assert float(sizing.betsize([0.001], [1e-4])[0]) == pytest.approx(0.0635, abs=5e-4)
    # longshort ranks by the same probability: with the same variance, a t with 2.5 degrees of freedom has a
    # smaller scale, so a small positive mean makes a rise likelier than a normal's slightly larger mean does
    t_bar = _bar([0.001, 0.00105], [1e-4, 1e-4], [2.5, np.nan])
    assert get("longshort").weights(t_bar, {"k": 1, "scheme": "equal"}).tolist() == [0.5, -0.5]
    assert sizing.longshort([0.001, 0.00105], [1e-4, 1e-4], k=1).tolist() == [-0.5, 0.5]  # mean / sd alone


# --- how often the rule decides, and the command line -----------------------------------------------------------


def test_a_weekly_rule_decides_only_at_the_first_close_of_each_week() -> None:
    panel, fc = _listing_panel()
    daily = _backtest(panel, fc, "voltarget")
    weekly = _backtest(panel, fc, "voltarget", rebalance="weekly")
    decided = weekly.decisions.notna().any(axis=1).to_numpy()
    weeks = weekly.decisions.index.to_period("W")
    first_of_week = np.r_[True, weeks[1:] != weeks[:-1]]
    closing = weekly.decisions.index == weekly.data.dates[399]  # C's last decision: its fill is its last price
    forecast = np.isfinite(weekly.data.mean[weekly.data.dates.get_indexer(weekly.decisions.index)]).any(axis=1)
    np.testing.assert_array_equal(decided, (first_of_week & forecast) | closing)
    # on the days it decides, it decides what the daily rule would (the same forecasts, the same sleeves)
    same = weekly.decisions.loc[first_of_week]
    pd.testing.assert_frame_equal(same, daily.decisions.loc[first_of_week])
    assert len(weekly.fills) < len(daily.fills) / 3


def test_the_backtest_command_takes_rebalance_target_vol_and_the_portfolio_rules(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from qtrade.cli import app

    panel, fc = _listing_panel()
    data, forecasts = tmp_path / "panel.csv", tmp_path / "fc.csv"
    panel.reset_index().to_csv(data, index=False)
    fc.to_csv(forecasts, index=False)
    runner = CliRunner()
    base = ["backtest", "--data", str(data), "--forecasts", str(forecasts), "--quiet"]
    out = tmp_path / "rp"
    res = runner.invoke(
        app, [*base, "--out", str(out), "-s", "riskparity", "--target-vol", "0.08", "--rebalance", "monthly"]
    )
    assert res.exit_code == 0, res.output
    stats_ = json.loads((out / "stats.json").read_text())
    assert stats_["execution"]["rebalance"] == "monthly" and stats_["execution"]["target_vol"] == 0.08
    assert "realised net against a target of 8%" in res.output
    assert "scaled to a forecast volatility of 8% a year" in (out / "tearsheet.html").read_text(encoding="utf-8")
    held = pd.read_csv(out / "holdings.csv", index_col="date", parse_dates=["date"])
    trades = pd.read_csv(out / "trades.csv", parse_dates=["date"])
    months = set(held.index.to_period("M"))
    # trades fill on the close after the first of each month, and once more for C's delisting
    assert len(months) <= trades["date"].nunique() <= len(months) + 1
    for bad, words in (
        (["--rebalance", "hourly"], "--rebalance 'hourly' is not known; use daily, weekly, monthly"),
        (["--target-vol", "-0.1"], "--target-vol -0.1 must be an annual volatility"),
        (["--max-gross", "0"], "--max-gross 0.0 must be positive"),
    ):
        res = runner.invoke(app, [*base, "--out", str(tmp_path / "bad"), *bad])
        assert res.exit_code == 1 and words in res.output and "Traceback" not in res.output, res.output
        assert not (tmp_path / "bad").exists()


# --- what review found: kept positions hold their sleeve, target-vol never liquidates a book it cannot measure --


def _gap(fc: pd.DataFrame, tickers: list[str], days: pd.DatetimeIndex) -> pd.DataFrame:
    """The forecasts with those tickers' rows on those days removed (listed, but no forecast)."""
    return fc[~(fc["ticker"].isin(tickers) & fc["date"].isin(days))].reset_index(drop=True)


def test_a_listed_ticker_without_a_forecast_keeps_its_sleeve_and_the_gross_its_cap() -> None:
    panel, fc = _listing_panel()
    dates = pd.DatetimeIndex(sorted(fc["date"].unique()))
    gap = _gap(fc, ["B"], dates[250:255])
    for strategy, params, cap in (("kelly", ["max_leverage=1"], 1.0), ("riskparity", None, 1.0)):
        result = _backtest(panel, gap, strategy, params)
        gross = result.holdings.abs().sum(axis=1)
        assert gross.max() <= 1.02 * cap, (strategy, gross.max())  # a kept position drifts with its price
    kelly = _backtest(panel, gap, "kelly", ["max_leverage=1"])
    during = kelly.decisions.loc[dates[250:255]]
    assert during["B"].isna().all()  # B keeps its position ...
    assert during[["A", "C"]].to_numpy() == pytest.approx(1 / 3)  # ... and its third of the equity


def test_target_vol_keeps_the_book_on_days_it_cannot_measure_and_respects_max_gross() -> None:
    panel, fc = _listing_panel()
    dates = pd.DatetimeIndex(sorted(fc["date"].unique()))
    blind = _gap(fc, ["A", "B", "C"], dates[250:253])
    result = _backtest(panel, blind, "sma", ["fast=5", "slow=30"], target_vol=0.1)
    assert result.decisions.loc[dates[250:253]].isna().all().all()  # kept, not sold and bought back
    assert len(result.fills[result.fills["date"].isin(dates[250:255])]) <= 3
    some = _gap(fc, ["B"], dates[250:253])
    capped = _backtest(panel, some, "buyhold", target_vol=0.3, max_gross=1.0)
    assert capped.holdings.abs().sum(axis=1).max() <= 1.02  # B, kept while unmeasured, drifts with its price


@pytest.mark.parametrize(
    ("strategy", "kw"),
    [
        ("riskparity", {}),
        ("meanvar", {"target_vol": 0.1}),
        ("minvar", {"rebalance": "weekly"}),
        ("buyhold", {"target_vol": 0.1}),
    ],
)
def test_portfolio_decisions_use_nothing_after_their_close(strategy, kw) -> None:
    """Changing every price and forecast after day 300 (listing and delisting as before) leaves every decision and
    return up to it identical."""
    panel, fc = _listing_panel()
    dates = pd.DatetimeIndex(sorted(fc["date"].unique()))
    cut = dates[300]
    moved = panel.copy()
    later = moved.index.get_level_values("date") > cut
    noise = np.exp(np.random.default_rng(4).normal(0, 0.05, later.sum()))
    for c in ("open", "high", "low", "close"):
        moved.loc[later, c] = moved.loc[later, c].to_numpy() * noise
    fc2 = fc.copy()
    after = fc2["date"] > cut
    fc2.loc[after, "mean"] = -3 * fc2.loc[after, "mean"]
    fc2.loc[after, "variance"] = 4 * fc2.loc[after, "variance"]
    # targets from the moved prices (next-close: close of t+1 to close of t+2)
    close = moved["close"].unstack()
    held = np.log(close.shift(-2) / close.shift(-1)).stack().rename("held")
    fc2 = fc2.join(held, on=["date", "ticker"])
    fc2["target"] = fc2["held"]
    fc2 = fc2.drop(columns="held").dropna(subset=["target"]).reset_index(drop=True)
    a = _backtest(panel, fc, strategy, **kw)
    b = _backtest(moved, fc2, strategy, **kw)
    upto = a.decisions.index <= cut
    pd.testing.assert_frame_equal(a.decisions[upto], b.decisions[upto])
    days = a.returns.index <= cut
    np.testing.assert_array_equal(a.returns[days].to_numpy(), b.returns[days].to_numpy())
    assert not a.decisions.loc[~upto].equals(b.decisions.loc[~upto])


def test_ensemble_members_that_do_not_mix_to_the_file_are_refused(tmp_path) -> None:
    from backtests.inputs import load_forecasts
    from forecasting.errors import DataError

    panel, fc = _listing_panel()
    fc = fc.assign(m1_mean=fc["mean"] - 1e-3, m1_variance=fc["variance"], m2_mean=fc["mean"] + 1e-3)
    fc["m2_variance"] = fc["variance"]
    fc["variance"] = fc["variance"] + 1e-6  # the mixture's: the members' variance plus their spread
    path = tmp_path / "ens.csv"
    fc.to_csv(path, index=False)
    data = align(panel, load_forecasts(path))
    assert data.members is not None and data.members[0].shape[0] == 2
    wrong = fc.assign(m2_mean=fc["mean"] + 2e-3)
    wrong.to_csv(path, index=False)
    with pytest.raises(DataError, match="mix to mean"):
        align(panel, load_forecasts(path))
