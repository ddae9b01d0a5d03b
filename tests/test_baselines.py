"""Each baseline against a hand computation, and what each fit may see."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from forecasting.evaluation.baselines import _fixed_garch, ewma, garch11, gjr_garch_t, har_range, historical
from forecasting.evaluation.metrics import qlike
from forecasting.folds import baselines as _baselines
from forecasting.market.cleaning import clean_panel
from forecasting.market.synthetic import synthetic_panel
from forecasting.preparation.dataset import prepare
from forecasting.preparation.execution import EXECUTIONS, execution_mode
from forecasting.preparation.features import build_features
from forecasting.preparation.splits import chronological_split


def _returns(n_days: int = 700, seed: int = 3) -> np.ndarray:
    close = synthetic_panel(1, n_days, seed=seed)["close"].to_numpy()
    return np.r_[np.nan, np.diff(np.log(close))][None, :]


def test_ewma_recursion_by_hand() -> None:
    r = _returns(50)
    r[0, 20] = np.nan
    _, var = ewma(r, lam=0.94)
    state = r[0, 1] ** 2
    assert var[0, 1] == state
    for t in range(2, 50):
        if np.isfinite(r[0, t]):
            state = 0.94 * state + 0.06 * r[0, t] ** 2
        assert np.isclose(var[0, t], state, rtol=1e-12)
    assert np.isnan(var[0, 0])


def test_historical_uses_training_targets_only() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0.001, 0.02, (2, 200))
    train = np.zeros((2, 200), dtype=bool)
    train[:, :120] = True
    m, v = historical(y, train)
    assert np.allclose(m[0], y[0, :120].mean()) and np.allclose(v[1], y[1, :120].var())
    y2 = y.copy()
    y2[:, 120:] *= 10  # the future moves nothing
    m2, v2 = historical(y2, train)
    assert np.array_equal(m, m2) and np.array_equal(v, v2)


def test_garch_forecasts_follow_the_recursion_with_training_parameters() -> None:
    r = _returns(700)
    train_end = 450
    mean, var = garch11(r, train_end)
    rr = r[0, 1:] * 100
    fit = arch_model(rr, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(last_obs=train_end, disp="off")
    mu, omega, alpha, beta = fit.params
    # seq[k]: variance of rr[k] given rr[:k]; rr[k] is r[k + 1], so seq[d] is the forecast at origin date d
    seq = [fit.conditional_volatility[0] ** 2]
    for t in range(len(rr)):
        seq.append(omega + alpha * (rr[t] - mu) ** 2 + beta * seq[-1])
    expected = np.array(seq) / 1e4
    # compare after the start-up transient (arch's backcast of the first variance fades within ~100 days)
    np.testing.assert_allclose(var[0, 300:], expected[300:700], rtol=1e-6)
    assert np.allclose(mean[0, 1:], mu / 100)
    # parameters come from the training block: the future changes no forecast at or before train_end
    r2 = r.copy()
    r2[0, train_end + 1 :] *= 3
    _, var2 = garch11(r2, train_end)
    np.testing.assert_allclose(var2[0, 300 : train_end + 1], var[0, 300 : train_end + 1], rtol=1e-9)


def test_garch_two_steps_ahead_follows_the_recursion_from_the_one_step_forecast() -> None:
    """The next- modes forecast r_{t+2} at origin t: omega + (alpha + beta) sigma2_{t+1|t}, mean mu."""
    r = _returns(700)
    train_end = 450
    mean1, var1 = garch11(r, train_end)
    mean2, var2 = garch11(r, train_end, horizon=2)
    rr = r[0, 1:] * 100
    fit = arch_model(rr, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(last_obs=train_end, disp="off")
    mu, omega, alpha, beta = fit.params
    seq = [fit.conditional_volatility[0] ** 2]  # seq[d]: sigma2_{d+1|d} in percent^2, as above
    for t in range(len(rr)):
        seq.append(omega + alpha * (rr[t] - mu) ** 2 + beta * seq[-1])
    one_step = np.array(seq) / 1e4
    two_step = (omega + (alpha + beta) * np.array(seq)) / 1e4
    np.testing.assert_allclose(var1[0, 300:], one_step[300:700], rtol=1e-6)
    np.testing.assert_allclose(var2[0, 300:], two_step[300:700], rtol=1e-6)
    # the same recursion from arch's own one-step column: row t holds the forecast made with data up to t
    np.testing.assert_allclose(var2[0, 1:], omega / 1e4 + (alpha + beta) * var1[0, 1:], rtol=1e-9)
    assert np.allclose(mean2[0, 1:], mu / 100) and np.allclose(mean1[0, 1:], mu / 100)


def _perturbed_after(panel: pd.DataFrame, cut: pd.Timestamp, seed: int) -> pd.DataFrame:
    out = panel.copy()
    later = out.index.get_level_values("date") > cut
    factor = np.exp(np.random.default_rng(seed).normal(0, 0.2, int(later.sum())))
    for c in ("open", "high", "low", "close"):
        out.loc[later, c] = out.loc[later, c].to_numpy() * factor
    return out


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_no_baseline_forecast_uses_data_after_its_origin(execution: str) -> None:
    panel = synthetic_panel(3, 400, seed=11, missing=0.02)
    horizon = execution_mode(execution).horizon

    def baselines(p: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        cube = build_features(clean_panel(p), execution=execution)
        prep = prepare(cube, chronological_split(cube.dates, val=0.2, test=0.2, embargo=horizon), 10)
        samples = np.argwhere(prep.ends)
        return samples, _baselines(cube, prep, samples), cube.target

    samples, base, target = baselines(panel)
    dates = panel.index.get_level_values("date").unique()
    for cut_at in (300, 350):
        samples2, base2, target2 = baselines(_perturbed_after(panel, dates[cut_at], cut_at))
        np.testing.assert_array_equal(samples2[samples2[:, 1] <= cut_at], samples[samples[:, 1] <= cut_at])
        before = samples[:, 1] <= cut_at  # every origin up to the last day left alone
        for col, values in base.items():
            assert np.isfinite(values[before]).mean() > 0.9, col
            np.testing.assert_allclose(base2[col][before], values[before], rtol=1e-12, err_msg=col)
        # the targets of the last `horizon` origins end after the cut: those may move, no earlier one
        np.testing.assert_array_equal(target2[:, : cut_at + 1 - horizon], target[:, : cut_at + 1 - horizon])
        assert not np.allclose(target2[:, cut_at], target[:, cut_at], equal_nan=True)


# --- GJR-GARCH(1,1,1) with Student-t errors --------------------------------------------------------------------

GJR_TRUE = {"mu": 0.05, "omega": 0.1, "alpha[1]": 0.05, "gamma[1]": 0.1, "beta[1]": 0.8, "nu": 6.0}


def _gjr_sample(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Returns (1, n + 1) simulated by arch (percent / 100; NaN first, as log_returns gives) and sigma2 of each."""
    from arch.univariate import GARCH, ConstantMean, StudentsT

    model = ConstantMean(None, volatility=GARCH(1, 1, 1), distribution=StudentsT(seed=np.random.default_rng(seed)))
    sim = model.simulate(list(GJR_TRUE.values()), n, burn=500)
    r = np.r_[np.nan, sim["data"].to_numpy() / 100][None, :]
    return r, np.r_[np.nan, (sim["volatility"].to_numpy() / 100) ** 2]


def test_gjr_garch_t_recovers_simulated_parameters() -> None:
    r, sigma2 = _gjr_sample()
    mean, var, dof = gjr_garch_t(r, 2500)
    _, _, params = _fixed_garch(r, 2500, horizon=1, train_start=0, fit_ok=None, o=1, dist="t")
    fitted = params[0]
    assert fitted is not None
    for name, tol in (("alpha[1]", 0.04), ("gamma[1]", 0.07), ("beta[1]", 0.1), ("mu", 0.05)):
        assert abs(fitted[name] - GJR_TRUE[name]) < tol, (name, fitted[name])
    assert 4.5 < fitted["nu"] < 8.0
    assert np.all(dof[0, 1:] == fitted["nu"]) and np.isnan(dof[0, 0])
    assert np.allclose(mean[0, 1:], fitted["mu"] / 100)
    # column d forecasts r_{d+1}, whose true variance is sigma2[d + 1]
    later = slice(100, -1)
    assert np.corrcoef(var[0, later], sigma2[101:])[0, 1] > 0.95
    assert 0.85 < np.median(var[0, later] / sigma2[101:]) < 1.2


def test_gjr_two_steps_ahead_is_the_analytic_recursion() -> None:
    """For symmetric errors E[1(e < 0) e^2] = sigma2 / 2:
    sigma2_{t+2|t} = omega + (alpha + gamma/2 + beta) sigma2_{t+1|t}."""
    r, _ = _gjr_sample(1200, seed=1)
    _, var1, _ = gjr_garch_t(r, 1000)
    mean2, var2, _ = gjr_garch_t(r, 1000, horizon=2)
    p = _fixed_garch(r, 1000, horizon=1, train_start=0, fit_ok=None, o=1, dist="t")[2][0]
    assert p is not None
    persistence = p["alpha[1]"] + p["gamma[1]"] / 2 + p["beta[1]"]
    np.testing.assert_allclose(var2[0, 1:], p["omega"] / 1e4 + persistence * var1[0, 1:], rtol=1e-9)
    assert np.allclose(mean2[0, 1:], p["mu"] / 100)


def test_garch11_is_the_shared_helper_with_normal_symmetric_errors() -> None:
    r = _returns(500)
    mean, var = garch11(r, 300, horizon=2)
    m2, v2, params = _fixed_garch(r, 300, horizon=2, train_start=0, fit_ok=None, o=0, dist="normal")
    assert np.array_equal(mean, m2, equal_nan=True) and np.array_equal(var, v2, equal_nan=True)
    assert params[0] is not None and "gamma[1]" not in params[0] and "nu" not in params[0]


def test_gjr_garch_t_fits_on_the_training_block_only() -> None:
    r, _ = _gjr_sample(900, seed=2)
    train_end = 600
    base = gjr_garch_t(r, train_end, horizon=2)
    later = r.copy()
    later[0, train_end + 1 :] *= 3  # the future: no forecast at or before train_end moves, nor nu
    moved = gjr_garch_t(later, train_end, horizon=2)
    for a, b in zip(base, moved, strict=False):
        np.testing.assert_array_equal(a[:, : train_end + 1], b[:, : train_end + 1])
    assert not np.allclose(base[1][0, train_end + 2 :], moved[1][0, train_end + 2 :])
    # one day s after the block: the forecasts at origins before s do not move; those from s on do
    s = 750
    one = r.copy()
    one[0, s] = -0.2
    bumped = gjr_garch_t(one, train_end, horizon=2)
    for a, b in zip(base, bumped, strict=False):
        np.testing.assert_array_equal(a[:, :s], b[:, :s])
    assert bumped[1][0, s] > 2 * base[1][0, s]
    # a return in the block moves the fit: the test above could see a change
    inside = r.copy()
    inside[0, train_end] = -0.2
    assert not np.allclose(gjr_garch_t(inside, train_end, horizon=2)[2][0, 1], base[2][0, 1])


def test_gjr_garch_t_leaves_short_tickers_out() -> None:
    r, _ = _gjr_sample(400, seed=3)
    two = np.vstack([r, r])
    two[1, :350] = np.nan  # 50 returns in the block: no fit
    mean, var, dof = gjr_garch_t(two, 300)
    assert (
        np.isfinite(var[0, 1:]).all() and np.isnan(var[1]).all() and np.isnan(mean[1]).all() and np.isnan(dof[1]).all()
    )


# --- HAR of a range-based variance ------------------------------------------------------------------------------


def _sv_ohlc(n_tickers: int, n_days: int, seed: int, *, steps: int = 40) -> dict[str, np.ndarray]:
    """Prices whose volatility persists: log sigma an AR(1) (phi 0.98); each day an overnight gap (a sixth of the
    variance) and a Brownian session of ``steps`` moves that gives the open, high, low and close."""
    rng = np.random.default_rng(seed)
    h = np.zeros((n_tickers, n_days))
    for t in range(1, n_days):
        h[:, t] = 0.98 * h[:, t - 1] + 0.1 * rng.standard_normal(n_tickers)
    sigma = 0.015 * np.exp(h)
    gap = np.sqrt(1 / 6) * sigma * rng.standard_normal((n_tickers, n_days))
    moves = rng.standard_normal((n_tickers, n_days, steps)) * (np.sqrt(5 / 6 / steps) * sigma)[..., None]
    path = np.concatenate([np.zeros((n_tickers, n_days, 1)), np.cumsum(moves, axis=2)], axis=2)
    log_close = np.log(50.0) + np.cumsum(gap + path[..., -1], axis=1)
    log_open = log_close - path[..., -1]
    return {
        "open": np.exp(log_open),
        "high": np.exp(log_open + path.max(axis=2)),
        "low": np.exp(log_open + path.min(axis=2)),
        "close": np.exp(log_close),
    }


def _target(p: dict[str, np.ndarray], execution: str) -> np.ndarray:
    mode = execution_mode(execution)
    log_p = np.log(p[mode.price])
    y = np.full(log_p.shape, np.nan)
    lag = mode.lag
    y[:, : -(lag + 1)] = log_p[:, lag + 1 :] - log_p[:, lag : log_p.shape[1] - 1]
    return y


def _har(p: dict[str, np.ndarray], train_end: int, execution: str, **kw: object) -> tuple[np.ndarray, ...]:
    return har_range(p["open"], p["high"], p["low"], p["close"], train_end, execution=execution, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_har_beats_a_constant_variance_when_volatility_persists(execution: str) -> None:
    p = _sv_ohlc(4, 1600, seed=0)
    train_end = 999
    mean, var, dof = _har(p, train_end, execution)
    y = _target(p, execution)
    test = slice(train_end + 1, 1590)
    const = np.nanvar(y[:, 22 : train_end - 1], axis=1, keepdims=True)
    har_qlike = np.mean(qlike(y[:, test] ** 2, var[:, test]))
    const_qlike = np.mean(qlike(y[:, test] ** 2, np.broadcast_to(const, var[:, test].shape)))
    assert har_qlike < const_qlike - 0.1, (har_qlike, const_qlike)
    z2 = (y[:, test] - mean[:, test]) ** 2 / var[:, test]
    assert 0.85 < z2.mean() < 1.15  # the variance is of the return, not of the proxy: calibrated
    assert np.isfinite(dof[:, 22:]).all() and (dof[:, 22:] > 2).all()


@pytest.mark.parametrize("execution", ["next-close", "next-open"])
def test_har_is_the_log_regression_on_the_target_interval_by_hand(execution: str) -> None:
    """The fit of one ticker redone from the definitions; the t density by scipy's own maximum likelihood."""
    from scipy import stats

    p = {k: v[:1] for k, v in _sv_ohlc(1, 700, seed=5).items()}
    train_end = 499
    mean, var, dof = _har(p, train_end, execution)
    o, h, lo, c = (p[k][0] for k in ("open", "high", "low", "close"))
    gk = 0.5 * np.log(h / lo) ** 2 - (2 * np.log(2) - 1) * np.log(c / o) ** 2
    gap2 = np.r_[np.nan, np.log(o[1:] / c[:-1]) ** 2]
    rv = gk + gap2
    t_all = np.arange(700)
    weekly = np.array([np.mean(rv[max(t - 4, 1) : t + 1]) if t >= 3 else np.nan for t in t_all])
    monthly = np.array([np.mean(rv[max(t - 21, 1) : t + 1]) if t >= 11 else np.nan for t in t_all])
    if execution == "next-close":  # log(C_{t+2} / C_{t+1}): the whole day t+2
        response = np.r_[rv[2:], np.nan, np.nan]
        y = np.r_[np.log(c[2:] / c[1:-1]), np.nan, np.nan]
    else:  # log(O_{t+2} / O_{t+1}): the session of day t+1, then the gap into day t+2
        response = np.r_[gk[1:-1] + gap2[2:], np.nan, np.nan]
        y = np.r_[np.log(o[2:] / o[1:-1]), np.nan, np.nan]
    floor = 0.05 * np.median(rv[1 : train_end + 1])
    rows = np.arange(11, train_end - 1)  # the 22-day mean needs 11 days; t + 2 <= train_end
    x = np.column_stack([np.ones(700), np.log(np.maximum(np.c_[rv, weekly, monthly], floor))])
    beta = np.linalg.lstsq(x[rows], np.log(np.maximum(response[rows], floor)), rcond=None)[0]
    core = np.exp(x @ beta)
    mu = y[rows].mean()
    df, _, scale = stats.t.fit((y[rows] - mu) / np.sqrt(core[rows]), floc=0)
    k = scale**2 * df / (df - 2)  # the variance of scale * t_df
    assert np.allclose(mean[0, 11:], mu, rtol=1e-12)
    np.testing.assert_allclose(var[0, 11:], k * np.maximum(core[11:], floor), rtol=2e-3)
    assert dof[0, 20] == pytest.approx(df, rel=2e-2)
    assert np.isnan(var[0, :11]).all()


@pytest.mark.parametrize("execution", EXECUTIONS)
def test_har_fits_on_the_training_block_and_forecasts_from_the_past_only(execution: str) -> None:
    p = _sv_ohlc(2, 600, seed=7)
    train_end = 400
    base = _har(p, train_end, execution)

    def moved(first: int, last: int | None = None) -> tuple[np.ndarray, ...]:
        q = {k: v.copy() for k, v in p.items()}
        factor = np.exp(np.random.default_rng(first).normal(0, 0.1, (2, (last or 600) - first)))
        for v in q.values():
            v[:, first:last] *= factor
        q["high"][:, first:last] *= 1.05  # and a wider range
        return _har(q, train_end, execution)

    after = moved(train_end + 1)  # every price after the block: parameters and forecasts up to train_end stay
    for a, b in zip(base, after, strict=False):
        np.testing.assert_array_equal(a[:, : train_end + 1], b[:, : train_end + 1])
    assert not np.allclose(base[1][:, train_end + 1 :], after[1][:, train_end + 1 :], equal_nan=True)
    s = 500  # one day after the block: the origins before it do not move, the origin s does
    day = moved(s, s + 1)
    for a, b in zip(base, day, strict=False):
        np.testing.assert_array_equal(a[:, :s], b[:, :s])
    assert not np.allclose(base[1][:, s], day[1][:, s])
    # the last day of the block moves the fit: the checks above could see a change
    assert not np.array_equal(moved(train_end, train_end + 1)[2][:, 50], base[2][:, 50])


def test_har_is_fitted_without_values_interpolated_from_after_the_training_block() -> None:
    """The gap of tests/test_fit_rows.py: the last two training days filled from the first day after the block."""
    from tests.test_fit_rows import _gap_at_training_end, _moved_after

    panel, last, dates = _gap_at_training_end(seed=5)
    guarded, unguarded = [], []
    for p in (panel, _moved_after(panel, dates, last + 1)):
        clean = clean_panel(p)
        v = {k: a.T for k, a in clean.values.items()}
        cube = build_features(clean)
        args = (v["open"], v["high"], v["low"], v["close"], last)
        guarded.append(har_range(*args, fit_ok=cube.real))
        unguarded.append(har_range(*args))
    for a, b in zip(*guarded, strict=False):
        np.testing.assert_array_equal(a[:, : last - 1], b[:, : last - 1])
    assert not np.array_equal(unguarded[0][1][0, : last - 1], unguarded[1][1][0, : last - 1])


def test_har_leaves_short_tickers_out() -> None:
    p = _sv_ohlc(2, 300, seed=9)
    for k in p:
        p[k][1, :200] = np.nan
    _mean, var, dof = _har(p, 250, "next-close")
    assert np.isfinite(var[0, 22:]).all() and np.isnan(var[1]).all() and np.isnan(dof[1]).all()
