"""Each baseline against a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from forecasting.baselines import ewma, garch11, historical
from forecasting.cleaning import clean_panel
from forecasting.dataset import prepare
from forecasting.execution import EXECUTIONS, execution_mode
from forecasting.features import build_features
from forecasting.pipeline import _baselines
from forecasting.splits import chronological_split
from forecasting.synthetic import synthetic_panel


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
